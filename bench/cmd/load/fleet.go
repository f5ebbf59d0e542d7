package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vedfolnir/sessions/bench"
)

// fleetCounts are the fleet scenario's figures of the measured window.
type fleetCounts struct {
	// byInstance counts requests by the instance that answered them, as
	// nginx names it ($upstream_addr); "" is a request that no instance
	// answered (nginx answered itself, or nothing came back).
	byInstance map[string]int64
	fivexx     int64
	reads      int64 // reads checked against the user's last write
	// cross counts the checked reads that an instance other than the one
	// that acknowledged the user's last write answered: the reads that
	// test the sharing, not one process's memory.
	cross    int64
	stale    int64 // the session is there, but older than an acknowledged write
	lost     int64 // the session is gone (anonymous, or another user's)
	examples []string
}

// served counts one measured request.
func (c *fleetCounts) served(instance string, status int) {
	if c.byInstance == nil {
		c.byInstance = map[string]int64{}
	}
	c.byInstance[instance]++
	if status >= 500 {
		c.fivexx++
	}
}

func (c *fleetCounts) note(format string, args ...any) {
	if len(c.examples) < 5 {
		c.examples = append(c.examples, fmt.Sprintf(format, args...))
	}
}

// merge adds o's figures to c.
func (c *fleetCounts) merge(o *fleetCounts) {
	for k, n := range o.byInstance {
		if c.byInstance == nil {
			c.byInstance = map[string]int64{}
		}
		c.byInstance[k] += n
	}
	c.fivexx += o.fivexx
	c.reads += o.reads
	c.cross += o.cross
	c.stale += o.stale
	c.lost += o.lost
	for _, e := range o.examples {
		if len(c.examples) < 5 {
			c.examples = append(c.examples, e)
		}
	}
}

// fleetUser is what one virtual user knows of its own session in the
// fleet scenario.
type fleetUser struct {
	next  int // the last value written: values increase, so an older one is recognisable
	acked int // the last value an instance acknowledged
	// pending is a written value whose write got no clear answer (an
	// error, a timeout): it may or may not have landed, so a read may show
	// it or acked. 0: none.
	pending         int
	pendingPlatform int    // the same for a switch
	ackedBy         string // the instance that acknowledged the last write or switch
	counts          fleetCounts
}

// fleetStep sends one request of the mix through the balancer. Writes
// store an increasing value; reads fetch the whole session (PathDump) and
// check its user, its platform and that value against the user's last
// acknowledged write, wherever that write landed.
func (v *vu) fleetStep(cfg *loadConfig, o op) error {
	b, f := cfg.base, &v.fl
	switch o {
	case opWrite:
		f.next++
		k := f.next
		if err := v.do(http.MethodPost, b+bench.PathWrite+"?v="+strconv.Itoa(k), "ok"); err != nil {
			f.pending = k
			return err
		}
		f.acked, f.pending, f.ackedBy = k, 0, v.upstream
		return nil
	case opSwitch:
		p := 3 - v.platform // 1 <-> 2
		if err := v.do(http.MethodPost, b+bench.PathSwitch+"?p="+strconv.Itoa(p), "ok"); err != nil {
			f.pendingPlatform = p
			return err
		}
		v.platform, f.pendingPlatform, f.ackedBy = p, 0, v.upstream
		return nil
	case opUntouched:
		return v.do(http.MethodGet, b+bench.PathUntouched, "ok")
	}
	status, body, err := v.send(http.MethodGet, b+bench.PathDump)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %q", bench.PathDump, status, body)
	}
	var d bench.Seed
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("GET %s: %v in %q", bench.PathDump, err, body)
	}
	c := &f.counts
	if v.inWindow {
		c.reads++
		if f.ackedBy != "" && v.upstream != f.ackedBy {
			c.cross++
		}
	}
	if want := bench.Username(v.user); d.Username != want {
		if v.inWindow {
			c.lost++
			c.note("user %d: %s answered a session of %q", v.user, v.upstream, d.Username)
		}
		return fmt.Errorf("lost session: %s answered a session of %q, want %q", v.upstream, d.Username, want)
	}
	seenOK := int(d.LastSeen) == f.acked || (f.pending != 0 && int(d.LastSeen) == f.pending)
	platOK := d.PlatformConnectionID == v.platform || (f.pendingPlatform != 0 && d.PlatformConnectionID == f.pendingPlatform)
	if !seenOK || !platOK {
		if v.inWindow {
			c.stale++
			c.note("user %d: %s read value %d platform %d, %s acknowledged %d platform %d",
				v.user, v.upstream, d.LastSeen, d.PlatformConnectionID, f.ackedBy, f.acked, v.platform)
		}
		return fmt.Errorf("stale read: %s read value %d platform %d, %s acknowledged %d platform %d",
			v.upstream, d.LastSeen, d.PlatformConnectionID, f.ackedBy, f.acked, v.platform)
	}
	// A read that shows the unanswered write settles it: it landed.
	if f.pending != 0 && int(d.LastSeen) == f.pending {
		f.acked, f.pending = f.pending, 0
	}
	if f.pendingPlatform != 0 && d.PlatformConnectionID == f.pendingPlatform {
		v.platform, f.pendingPlatform = f.pendingPlatform, 0
	}
	return nil
}

// fleetReport is the fleet section of the report: requests per instance,
// then the cross-instance correctness figures.
func fleetReport(r *implResult) string {
	if r.err != nil || r.res == nil || r.res.fleet == nil {
		return ""
	}
	c := r.res.fleet
	var b strings.Builder
	fmt.Fprintf(&b, "\n## %s: %s behind nginx (round-robin)\n\n", r.name, instances(len(r.instances)))
	b.WriteString("| instance | requests | share | server CPU | CPU share |\n|---|---:|---:|---:|---:|\n")
	var total int64
	for _, n := range c.byInstance {
		total += n
	}
	share := func(n int64) string {
		if total == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
	}
	var cpuTotal time.Duration
	for _, d := range r.instanceCPU {
		cpuTotal += d
	}
	for i, addr := range r.instances {
		n := c.byInstance[addr]
		cpu, cpuShare := "–", "–"
		if i < len(r.instanceCPU) && cpuTotal > 0 {
			cpu = r.instanceCPU[i].Round(time.Millisecond).String()
			cpuShare = fmt.Sprintf("%.1f%%", 100*float64(r.instanceCPU[i])/float64(cpuTotal))
		}
		fmt.Fprintf(&b, "| %d (%s) | %d | %s | %s | %s |\n", i+1, addr, n, share(n), cpu, cpuShare)
	}
	known := map[string]bool{"": true}
	for _, addr := range r.instances {
		known[addr] = true
	}
	for addr, n := range c.byInstance {
		if !known[addr] {
			// nginx names several addresses when it tried more than one;
			// proxy_next_upstream off should make this impossible.
			fmt.Fprintf(&b, "| other (%s) | %d | %s | | |\n", addr, n, share(n))
		}
	}
	if n := c.byInstance[""]; n > 0 {
		fmt.Fprintf(&b, "| no instance (nginx answered, or no answer) | %d | %s | | |\n", n, share(n))
	}
	cross := "–"
	if c.reads > 0 {
		cross = fmt.Sprintf("%.1f%%", 100*float64(c.cross)/float64(c.reads))
	}
	fmt.Fprintf(&b, "\n- reads checked against the user's last acknowledged write: %d, of which %d (%s) answered by another instance than the one that acknowledged it\n", c.reads, c.cross, cross)
	fmt.Fprintf(&b, "- stale reads: %d; lost sessions: %d; 5xx: %d; errors of any kind: %d\n", c.stale, c.lost, c.fivexx, r.res.errors)
	for _, e := range c.examples {
		fmt.Fprintf(&b, "  - %s\n", e)
	}
	return b.String()
}

// instances is "1 instance", "3 instances".
func instances(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return strconv.Itoa(n) + " instances"
}
