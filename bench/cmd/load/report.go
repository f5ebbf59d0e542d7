package main

import (
	"fmt"
	"html"
	"math"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/bench"
)

// find returns the result of name, or nil.
func find(results []*implResult, name string) *implResult {
	for _, r := range results {
		if r.name == name && r.err == nil {
			return r
		}
	}
	return nil
}

// sched is the p99 from the scheduled send times, in an open-loop run.
func sched(o options, res *result) string {
	if o.rate <= 0 {
		return "–"
	}
	return ms(res.schedPct(0.99))
}

// columns are the table's cells for one implementation.
func columns(o options, r, ours *implResult) []string {
	if r.err != nil {
		return []string{r.name, "failed: " + r.err.Error()}
	}
	res := r.res
	tput := res.throughput()
	oursX, p99X := "", ""
	if ours != nil && ours != r && tput > 0 {
		oursX = fmt.Sprintf("%.2f×", ours.res.throughput()/tput)
		if p := ours.res.pct(0.99); p > 0 {
			p99X = fmt.Sprintf("%.2f×", float64(res.pct(0.99))/float64(p))
		}
	}
	cmds, one, scale := "–", "–", "–"
	if r.cmdsBy != nil || r.cmds > 0 {
		cmds = fmt.Sprintf("%.2f", r.cmdsPerReq())
	}
	if r.bytesOne > 0 {
		one = fmt.Sprint(r.bytesOne)
	}
	if r.bytesScale > 0 {
		scale = fmt.Sprintf("%.0f", r.bytesScale)
	}
	srvCPU, cpuX, rCPU := "–", "", "–"
	if c := r.perReq(r.serverCPU); c > 0 {
		srvCPU = fmt.Sprintf("%.1f", c)
		if ours != nil && ours != r {
			if oc := ours.perReq(ours.serverCPU); oc > 0 {
				cpuX = fmt.Sprintf("%.2f×", c/oc)
			}
		}
	}
	if c := r.perReq(r.redisCPU); c > 0 {
		rCPU = fmt.Sprintf("%.1f", c)
	}
	return []string{
		r.name, fmt.Sprintf("%.0f", tput), oursX, srvCPU, cpuX, rCPU,
		ms(res.pct(0.50)), ms(res.pct(0.90)), ms(res.pct(0.99)), ms(res.pct(1)), p99X, sched(o, res),
		fmt.Sprint(res.errors), cmds, one, scale,
	}
}

var header = []string{"impl", "req/s", "ours ÷ this", "server CPU µs/req", "this ÷ ours (CPU)", "Redis CPU µs/req",
	"p50", "p90", "p99", "max", "p99 ÷ ours", "p99 from schedule", "errors", "Redis cmds/req", "Redis B/session", "B/session at scale"}

// table is the plain-text table for the terminal.
func table(o options, results []*implResult) string {
	ours := find(results, bench.Ours)
	rows := [][]string{header}
	for _, r := range results {
		rows = append(rows, columns(o, r, ours))
	}
	width := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(c)))
			}
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			if i >= len(width) {
				b.WriteString(c)
				continue
			}
			pad := width[i] - len([]rune(c))
			if i == 0 {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString(strings.Repeat(" ", pad) + c)
			}
			b.WriteString("  ")
		}
		b.WriteString("\n")
	}
	for _, r := range results {
		if r.res != nil && len(r.res.firstErrs) > 0 {
			fmt.Fprintf(&b, "%s errors, first: %s\n", r.name, strings.Join(r.res.firstErrs, "; "))
		}
	}
	return b.String()
}

// command is the command line that reproduces the run.
func command(o options) string {
	args := make([]string, len(o.args))
	for i, a := range o.args {
		args[i] = redactURL(a)
	}
	return "go run ./cmd/load " + strings.Join(args, " ")
}

// redactURL hides the password of a URL argument ("-database=URL" or a
// bare URL): the command line goes into load.md and load.svg, which are
// committed.
func redactURL(arg string) string {
	flagPart, rest := "", arg
	if i := strings.Index(arg, "="); i > 0 && strings.HasPrefix(arg, "-") && i < strings.Index(arg, "://") {
		flagPart, rest = arg[:i+1], arg[i+1:]
	}
	u, err := url.Parse(rest)
	if err != nil || u.User == nil {
		return arg
	}
	if _, ok := u.User.Password(); !ok {
		return arg
	}
	return flagPart + u.Redacted()
}

// report is the Markdown report.
func report(o options, results []*implResult) string {
	var b strings.Builder
	ours := find(results, bench.Ours)
	fmt.Fprintf(&b, "# Load run %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "```\n%s\n```\n\n", command(o))
	who := "each its own connection, cookie jar and session"
	switch {
	case o.shared:
		who = "each its own connection, all sending one session: concurrent writers of one busy session"
	case o.cookies > 0:
		who = fmt.Sprintf("each its own connection; %d sessions, the next one in rotation on every request", o.cookies)
	}
	fmt.Fprintf(&b, "%d virtual users (%s), %s, mix %s, %s measured per implementation in %d turn(s) taken in rotation, each after %s of warm-up; %d live sessions of other users pre-created. Each server is a separate process with GOMAXPROCS=%d on loopback; each implementation gets a fresh redis-server (%s). Machine: %d cores (%s, %s), shared with other work: compare ratios within this run, not absolute figures across runs.\n\n",
		o.users, who, loopText(o.rate), o.mix.text, o.duration, max(o.rounds, 1), o.warmup, o.sessions, o.procs, redisVersion(), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version())
	if o.fleet > 0 {
		db := "one SQLite file"
		if o.database != "" {
			db = "one PostgreSQL database"
		}
		fmt.Fprintf(&b, "Fleet: %d server process(es) of the implementation on that one redis-server (one key prefix) and %s, nginx (one worker, round-robin, kept-alive upstream connections, no retry on the next instance) in front; every request goes through nginx. Server CPU is the sum over the instances. Reads fetch the whole session and check its user, its platform and the last value written against the user's last acknowledged write, wherever it landed.\n\n", o.fleet, db)
	}
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, r := range results {
		cols := columns(o, r, ours)
		for len(cols) < len(header) {
			cols = append(cols, "")
		}
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	}
	b.WriteString(`
- **ours ÷ this**: ours' throughput divided by this implementation's (above 1: ours serves more). **p99 ÷ ours**: this p99 over ours'.
- **server CPU µs/req**: CPU time (user + system, all threads) of the server process in the measured window, per request; **this ÷ ours (CPU)** divides it by ours' (above 1: this costs more per request). On a machine shared with other work this is the steadier efficiency figure: throughput also depends on how much CPU the driver, Redis and everyone else took. **Redis CPU µs/req**: the same for redis-server (INFO cpu).
- **Redis cmds/req**: commands Redis ran per request in the measured window (INFO commandstats deltas; commands that Lua scripts run count too).
- **Redis B/session**: MEMORY USAGE of one fresh session's keys, for ours with its user's index key (a user with one session).
- **B/session at scale**: growth of Redis used_memory per pre-created session (every one a different user).
- Latency is from sending a request to the end of its answer; every read is checked against the user's own last write. **p99 from schedule** (open loop only) counts from the time the request was due instead, so it also holds any delay of the driver itself in sending it (on a loaded machine, the driver's own goroutines wake late).
`)
	if ours != nil {
		b.WriteString("\n## Ours against the targets\n\n")
		p99 := ours.res.pct(0.99)
		fmt.Fprintf(&b, "- p99 %s at %d connections with %d live sessions (target: < 5 ms at 1,000 connections with 100,000 live sessions).\n", ms(p99), o.users, o.sessions)
		if ours.bytesOne > 0 {
			fmt.Fprintf(&b, "- %d Redis bytes for one session with its index (target ≤ 360).\n", ours.bytesOne)
		}
		if ours.bytesScale > 0 {
			fmt.Fprintf(&b, "- %.0f bytes of used_memory per session at scale (%d sessions: %.1f MB → %.1f MB); 250,000 sessions ≈ %.1f MB (target < 100 MB).\n",
				ours.bytesScale, o.sessions, float64(ours.usedBefore)/1e6, float64(ours.usedAfter)/1e6, ours.bytesScale*250000/1e6)
		}
		if ours.precreate > 0 {
			fmt.Fprintf(&b, "- %d sessions pre-created in %s.\n", o.sessions, ours.precreate.Round(time.Millisecond))
		}
		for _, peer := range []string{bench.SCS, bench.SCSNoIdle, bench.GinContrib, bench.Floor, bench.None} {
			if p := find(results, peer); p != nil && p.res.throughput() > 0 {
				line := fmt.Sprintf("- ours vs %s: throughput %.2f×", peer, ours.res.throughput()/p.res.throughput())
				if oc, pc := ours.perReq(ours.serverCPU), p.perReq(p.serverCPU); oc > 0 && pc > 0 {
					line += fmt.Sprintf(", server CPU per request %.2f× (requests per server CPU second: %.2f×)", oc/pc, pc/oc)
				}
				b.WriteString(line + "\n")
			}
		}
		if len(ours.cmdsBy) > 0 {
			fmt.Fprintf(&b, "- ours' Redis commands per request, by command: %s\n", byCommand(ours))
		}
	}
	for _, r := range results {
		b.WriteString(fleetReport(r))
	}
	for _, r := range results {
		if r.res != nil && len(r.res.firstErrs) > 0 {
			fmt.Fprintf(&b, "\n%s errors, first: `%s`\n", r.name, strings.Join(r.res.firstErrs, "`; `"))
		}
	}
	b.WriteString("\n![latency chart](load.svg)\n")
	return b.String()
}

func byCommand(r *implResult) string {
	var parts []string
	for _, name := range sortedKeys(r.cmdsBy) {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, float64(r.cmdsBy[name])/float64(r.res.requests)))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "redis-server"
	}
	for f := range strings.FieldsSeq(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return "Redis " + v
		}
	}
	return "redis-server"
}

// chart draws throughput bars and p50/p90/p99 latency bars (log scale) per
// implementation, as SVG.
func chart(o options, results []*implResult) string {
	var ok []*implResult
	for _, r := range results {
		if r.err == nil && r.res != nil && len(r.res.lat) > 0 {
			ok = append(ok, r)
		}
	}
	const (
		rowH   = 30
		top    = 64
		left1  = 110 // throughput panel
		width1 = 300
		left2  = 520 // latency panel
		width2 = 340
		W      = 1000
	)
	H := top + rowH*len(ok) + 56
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("%d users, %s, mix %s, %d live sessions, server GOMAXPROCS=%d", o.users, loopText(o.rate), o.mix.text, o.sessions, o.procs)))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">throughput (req/s)</text>`+"\n", left1, top-16)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">latency, log scale: </text>`+"\n", left2, top-16)
	colors := []string{"#1f5fa8", "#5b9bd5", "#b7d3ee"}
	labels := []string{"p50", "p90", "p99"}
	for i, l := range labels {
		x := left2 + 140 + i*60
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, top-25, colors[i], x+14, top-16, l)
	}
	var maxT float64
	var maxL time.Duration
	for _, r := range ok {
		maxT = max(maxT, r.res.throughput())
		maxL = max(maxL, r.res.pct(0.99))
	}
	lo := 0.1 // ms
	hi := math.Max(1, float64(maxL)/float64(time.Millisecond)*1.3)
	logX := func(msv float64) float64 {
		msv = math.Max(msv, lo)
		return float64(left2) + float64(width2)*math.Log(msv/lo)/math.Log(hi/lo)
	}
	for i, r := range ok {
		y := top + i*rowH
		fill := "#888"
		if r.name == bench.Ours {
			fill = "#c0392b"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left1-8, y+18, html.EscapeString(r.name))
		t := r.res.throughput()
		w := 0.0
		if maxT > 0 {
			w = float64(width1) * t / maxT
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left1, y+4, w, rowH-10, fill)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.0f</text>`+"\n", float64(left1)+w+4, y+18, t)
		// Latency bars: p99 widest and lightest, p50 on top and darkest.
		for j, q := range []float64{0.99, 0.90, 0.50} {
			v := float64(r.res.pct(q)) / float64(time.Millisecond)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left2, y+4, logX(v)-float64(left2), rowH-10, colors[2-j])
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", logX(float64(r.res.pct(0.99))/float64(time.Millisecond))+4, y+18,
			html.EscapeString(fmt.Sprintf("%.2f / %.2f ms", float64(r.res.pct(0.5))/1e6, float64(r.res.pct(0.99))/1e6)))
	}
	// Log axis ticks.
	axisY := top + rowH*len(ok) + 6
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`+"\n", left2, axisY, left2+width2, axisY)
	for _, t := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000} {
		if t < lo || t > hi {
			continue
		}
		x := logX(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#444"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
			x, axisY, x, axisY+5, x, axisY+18, strings.TrimSuffix(fmt.Sprintf("%g", t), ".0")+" ms")
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">%s</text>`+"\n", H-8, html.EscapeString(command(o)))
	b.WriteString("</svg>\n")
	return b.String()
}
