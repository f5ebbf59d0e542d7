package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vedfolnir/sessions/bench"
)

// isTerminal: the progress line rewrites itself on a terminal, and is one
// line per second otherwise.
var isTerminal = func() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}()

// op is one kind of request of the mix.
type op int

const (
	opRead op = iota
	opWrite
	opSwitch
	opUntouched
	nOps
)

var opNames = [nOps]string{"read", "write", "switch", "untouched"}

// mix is the cumulative weights of the ops, out of total.
type mix struct {
	cum   [nOps]int
	total int
	text  string
}

// parseMix reads "read=70,write=20,switch=10".
func parseMix(s string) (mix, error) {
	var m mix
	var w [nOps]int
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(val)
		i := slices.Index(opNames[:], name)
		if !ok || err != nil || n < 0 || i < 0 {
			return m, fmt.Errorf("-mix %q: want name=weight,... with names %s", s, strings.Join(opNames[:], ", "))
		}
		w[i] += n
	}
	for i := range w {
		m.total += w[i]
		m.cum[i] = m.total
	}
	if m.total == 0 {
		return m, fmt.Errorf("-mix %q: all weights are zero", s)
	}
	m.text = s
	return m, nil
}

func (m mix) pick(r *rand.Rand) op {
	x := r.IntN(m.total)
	for i, c := range m.cum {
		if x < c {
			return op(i)
		}
	}
	return opRead
}

// loadConfig is one run of the virtual users against one server.
type loadConfig struct {
	impl      string
	base      string
	users     int
	firstUser int // user id of virtual user 0
	duration  time.Duration
	warmup    time.Duration
	rate      float64 // requests/s in total; 0 = closed loop
	mix       mix
	progress  bool
	onWindow  func(start bool) // called at the start and the end of the measured window

	// shared: every virtual user sends the same session (the busy-session
	// scenario: concurrent writers of one session). cookies > 0: that many
	// sessions, logged in up front, and each request sends the next one in
	// rotation (many sessions through few connections). Either way the
	// cookies are sent as they were at login, and a read checks only the
	// session's user (a switch would race the other senders).
	shared  bool
	cookies int

	// fleet: cfg.base is a balancer in front of several instances; reads
	// check the whole session against the user's last acknowledged write
	// (see fleetStep), and requests are counted per instance.
	fleet bool
}

// pooled is a session of the shared or rotated scenarios.
type pooled struct {
	cookie string // the Cookie header
	user   int
}

// sessionPool is the shared or rotated sessions.
type sessionPool struct {
	s    []pooled
	next atomic.Uint64
}

func (p *sessionPool) pick() *pooled {
	return &p.s[(p.next.Add(1)-1)%uint64(len(p.s))]
}

// loginPool logs n sessions in (users first, first+1, ...) and keeps the
// cookies their logins set.
func loginPool(cfg *loadConfig, n int) (*sessionPool, error) {
	p := &sessionPool{s: make([]pooled, n)}
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range p.s {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			user := cfg.firstUser + i
			resp, err := hc.Post(cfg.base+bench.PathLogin+"?u="+strconv.Itoa(user), "", nil)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("login: %d", resp.StatusCode)
				}
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			var parts []string
			for _, ck := range resp.Cookies() {
				if ck.MaxAge >= 0 {
					parts = append(parts, ck.Name+"="+ck.Value)
				}
			}
			p.s[i] = pooled{cookie: strings.Join(parts, "; "), user: user}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, *e
	}
	if bench.HasSession(cfg.impl) && p.s[0].cookie == "" {
		return nil, errors.New("the login set no cookie")
	}
	return p, nil
}

// result is what one run measured.
type result struct {
	requests  int64
	errors    int64
	firstErrs []string
	elapsed   time.Duration
	lat       []time.Duration // from sending to the end of the answer, sorted
	sched     []time.Duration // open loop: from the scheduled time, sorted
	byOp      [nOps]int64
	fleet     *fleetCounts // nil unless loadConfig.fleet
}

// merge adds another round's figures to r; lat stays sorted.
func (r *result) merge(o *result) {
	r.requests += o.requests
	r.errors += o.errors
	for _, e := range o.firstErrs {
		if len(r.firstErrs) < 5 {
			r.firstErrs = append(r.firstErrs, e)
		}
	}
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	slices.Sort(r.lat)
	r.sched = append(r.sched, o.sched...)
	slices.Sort(r.sched)
	for i := range r.byOp {
		r.byOp[i] += o.byOp[i]
	}
	if o.fleet != nil {
		if r.fleet == nil {
			r.fleet = &fleetCounts{}
		}
		r.fleet.merge(o.fleet)
	}
}

func (r *result) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// pct returns the p-quantile (0..1) of the latencies.
func (r *result) pct(p float64) time.Duration { return quantile(r.lat, p) }

// schedPct returns the p-quantile of the latencies from the scheduled
// times.
func (r *result) schedPct(p float64) time.Duration { return quantile(r.sched, p) }

func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// vu is one virtual user: its own connection, its own cookie jar, its own
// session.
type vu struct {
	id       int
	user     int
	client   *http.Client
	platform int
	rng      *rand.Rand
	lat      []time.Duration // from sending to the end of the answer
	sched    []time.Duration // from the scheduled time (open loop) to the end of the answer
	errs     int64
	firstErr string

	pool *sessionPool // shared or rotated sessions; nil: the user's own
	sess *pooled      // the pool's session of the request being sent

	status   int    // of the last request; 0 when it got no answer
	upstream string // the instance that answered the last request (fleet)
	inWindow bool   // the request being sent is measured
	fl       fleetUser
}

func newVU(i, user int) *vu {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	return &vu{
		id: i, user: user, platform: 1,
		client: &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second},
		rng:    rand.New(rand.NewPCG(uint64(i)+1, 0x5e55)),
	}
}

func (v *vu) close() { v.client.CloseIdleConnections() }

// do sends one request and checks its answer; want "" accepts any 200.
func (v *vu) do(method, target, want string) error {
	status, body, err := v.send(method, target)
	if err != nil {
		return err
	}
	if status != http.StatusOK || (want != "" && string(body) != want) {
		return fmt.Errorf("%s %s: %d %q, want %q", method, strings.SplitN(target, "/", 4)[3], status, body, want)
	}
	return nil
}

// send sends one request and returns its status and body. It keeps the
// status and the answering instance (behind a balancer) in v.status and
// v.upstream, for the fleet's per-instance counts.
func (v *vu) send(method, target string) (int, []byte, error) {
	v.status, v.upstream = 0, ""
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return 0, nil, err
	}
	if v.sess != nil {
		req.Header.Set("Cookie", v.sess.cookie)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	v.status, v.upstream = resp.StatusCode, resp.Header.Get(upstreamHeader)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// step sends one request of the mix and checks that the session answers
// what this user last wrote.
func (v *vu) step(cfg *loadConfig, o op) error {
	if cfg.fleet {
		return v.fleetStep(cfg, o)
	}
	b := cfg.base
	if v.pool != nil {
		v.sess = v.pool.pick()
		switch o {
		case opWrite:
			return v.do(http.MethodPost, b+bench.PathWrite+"?v="+strconv.Itoa(v.rng.IntN(1<<30)), "ok")
		case opUntouched:
			return v.do(http.MethodGet, b+bench.PathUntouched, "ok")
		case opSwitch:
			return errors.New("no switch with shared or rotated sessions")
		}
		want := bench.ReadBody(bench.SeedUsername, 1)
		if bench.HasSession(cfg.impl) {
			want = bench.ReadBody(bench.Username(v.sess.user), 1)
		}
		return v.do(http.MethodGet, b+bench.PathRead, want)
	}
	switch o {
	case opWrite:
		return v.do(http.MethodPost, b+bench.PathWrite+"?v="+strconv.Itoa(v.rng.IntN(1<<30)), "ok")
	case opSwitch:
		p := 3 - v.platform // 1 <-> 2
		if err := v.do(http.MethodPost, b+bench.PathSwitch+"?p="+strconv.Itoa(p), "ok"); err != nil {
			return err
		}
		if bench.HasSession(cfg.impl) {
			v.platform = p
		}
		return nil
	case opUntouched:
		return v.do(http.MethodGet, b+bench.PathUntouched, "ok")
	default:
		want := bench.ReadBody(bench.SeedUsername, 1)
		if bench.HasSession(cfg.impl) {
			want = bench.ReadBody(bench.Username(v.user), v.platform)
		}
		return v.do(http.MethodGet, b+bench.PathRead, want)
	}
}

func (v *vu) fail(err error) {
	v.errs++
	if v.firstErr == "" {
		v.firstErr = err.Error()
	}
}

// runLoad logs every virtual user in, warms up, then measures the mix for
// cfg.duration.
func runLoad(cfg loadConfig) (*result, error) {
	vus := make([]*vu, cfg.users)
	for i := range vus {
		vus[i] = newVU(i, cfg.firstUser+i)
	}
	defer func() {
		for _, v := range vus {
			v.close()
		}
	}()
	var wg sync.WaitGroup
	if cfg.shared || cfg.cookies > 0 {
		pool, err := loginPool(&cfg, max(cfg.cookies, 1))
		if err != nil {
			return nil, fmt.Errorf("login of the sessions: %w", err)
		}
		for _, v := range vus {
			v.pool = pool
			v.client.Jar = nil
		}
	}
	// Log in, 64 at a time.
	var loginErr atomic.Pointer[error]
	sem := make(chan struct{}, 64)
	for _, v := range vus {
		if v.pool != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := v.do(http.MethodPost, cfg.base+bench.PathLogin+"?u="+strconv.Itoa(v.user), "ok"); err != nil {
				loginErr.CompareAndSwap(nil, &err)
			}
		}()
	}
	wg.Wait()
	if p := loginErr.Load(); p != nil {
		return nil, fmt.Errorf("login of the virtual users: %w", *p)
	}
	if bench.HasSession(cfg.impl) && vus[0].pool == nil {
		u, _ := url.Parse(cfg.base)
		if len(vus[0].client.Jar.Cookies(u)) == 0 {
			return nil, errors.New("the login set no cookie the client keeps")
		}
	}

	t0 := time.Now()
	start := t0.Add(cfg.warmup)
	end := start.Add(cfg.duration)
	var sent atomic.Int64
	var failed atomic.Int64
	var slowest atomic.Int64 // ns, since the last progress line
	var byOp [nOps]atomic.Int64
	for _, v := range vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.run(&cfg, start, end, &sent, &failed, &slowest, &byOp)
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	var inWindow atomic.Bool
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		lastT := time.Now()
		for {
			select {
			case <-stopProgress:
				if cfg.progress && isTerminal {
					fmt.Fprint(os.Stderr, "\r\033[K")
				}
				return
			case now := <-tick.C:
				if !cfg.progress {
					continue
				}
				n := sent.Load()
				phase, el, total := "warm-up", now.Sub(t0), cfg.warmup
				if inWindow.Load() {
					phase, el, total = "measure", now.Sub(start), cfg.duration
				}
				rate := float64(n-last) / now.Sub(lastT).Seconds()
				last, lastT = n, now
				line := fmt.Sprintf("  %-12s %s %3.0fs/%.0fs %9d req %7.0f req/s %6d errors  slowest %s",
					cfg.impl, phase, el.Seconds(), total.Seconds(), n, rate, failed.Load(), ms(time.Duration(slowest.Swap(0))))
				if isTerminal {
					fmt.Fprint(os.Stderr, "\r\033[K"+line)
				} else {
					fmt.Fprintln(os.Stderr, line)
				}
			}
		}
	}()
	time.Sleep(time.Until(start))
	inWindow.Store(true)
	if cfg.onWindow != nil {
		cfg.onWindow(true)
	}
	time.Sleep(time.Until(end))
	if cfg.onWindow != nil {
		cfg.onWindow(false)
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone

	res := &result{elapsed: cfg.duration}
	for _, v := range vus {
		res.lat = append(res.lat, v.lat...)
		res.sched = append(res.sched, v.sched...)
		res.errors += v.errs
		if v.firstErr != "" && len(res.firstErrs) < 5 {
			res.firstErrs = append(res.firstErrs, v.firstErr)
		}
	}
	slices.Sort(res.lat)
	slices.Sort(res.sched)
	res.requests = int64(len(res.lat))
	if cfg.fleet {
		res.fleet = &fleetCounts{}
		for _, v := range vus {
			res.fleet.merge(&v.fl.counts)
		}
	}
	for i := range byOp {
		res.byOp[i] = byOp[i].Load()
	}
	return res, nil
}

// run is the user's loop: closed (next request when the last answered) or,
// with a rate, open (Poisson arrivals, latency counted from the scheduled
// time, so a stalled server cannot hide its queue).
func (v *vu) run(cfg *loadConfig, start, end time.Time, sent, failed, slowest *atomic.Int64, byOp *[nOps]atomic.Int64) {
	var mean time.Duration
	next := time.Now()
	if cfg.rate > 0 {
		mean = time.Duration(float64(cfg.users) / cfg.rate * float64(time.Second))
		next = next.Add(time.Duration(v.rng.ExpFloat64() * float64(mean)))
	}
	for {
		if !next.Before(end) {
			return
		}
		if cfg.rate > 0 {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
		} else {
			next = time.Now()
		}
		o := cfg.mix.pick(v.rng)
		v.inWindow = !next.Before(start)
		sentAt := time.Now()
		err := v.step(cfg, o)
		done := time.Now()
		if cfg.fleet && v.inWindow {
			v.fl.counts.served(v.upstream, v.status)
		}
		sent.Add(1)
		for lat := int64(done.Sub(sentAt)); ; {
			cur := slowest.Load()
			if lat <= cur || slowest.CompareAndSwap(cur, lat) {
				break
			}
		}
		if !next.Before(start) {
			v.lat = append(v.lat, done.Sub(sentAt))
			v.sched = append(v.sched, done.Sub(next))
			byOp[o].Add(1)
			if err != nil {
				v.fail(err)
				failed.Add(1)
			}
		}
		if cfg.rate > 0 {
			next = next.Add(time.Duration(v.rng.ExpFloat64() * float64(mean)))
		}
	}
}
