// Command benchtab turns the output of the bench package's benchmarks into
// Markdown tables with the ratios to ours, and checks them against the
// targets:
//
//	go test . -run '^$' -bench . -benchtime 2s -cpu 1 | tee bench.txt | go run ./cmd/benchtab
//
// With -count > 1, each figure is the median of its runs.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// sample is one benchmark's figures by unit ("ns/op", "allocs/op", ...).
type sample map[string][]float64

func (s sample) get(unit string) (float64, bool) {
	v := s[unit]
	if len(v) == 0 {
		return 0, false
	}
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2], true
}

// table is one benchmark function: route → implementation → sample.
type table struct {
	name   string
	routes []string
	impls  []string
	data   map[string]map[string]sample
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) ([]*table, []string, error) {
	var tables []*table
	var info []string
	byName := map[string]*table{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"goos:", "goarch:", "cpu:", "pkg:"} {
			if strings.HasPrefix(line, p) {
				info = append(info, line)
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		parts := strings.Split(procSuffix.ReplaceAllString(f[0], ""), "/")
		if len(parts) != 3 {
			continue
		}
		t := byName[parts[0]]
		if t == nil {
			t = &table{name: parts[0], data: map[string]map[string]sample{}}
			byName[parts[0]] = t
			tables = append(tables, t)
		}
		route, impl := parts[1], parts[2]
		if !slices.Contains(t.routes, route) {
			t.routes = append(t.routes, route)
		}
		if !slices.Contains(t.impls, impl) {
			t.impls = append(t.impls, impl)
		}
		if t.data[route] == nil {
			t.data[route] = map[string]sample{}
		}
		s := t.data[route][impl]
		if s == nil {
			s = sample{}
			t.data[route][impl] = s
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			s[f[i+1]] = append(s[f[i+1]], v)
		}
	}
	return tables, info, sc.Err()
}

func num(s sample, unit, format string) string {
	v, ok := s.get(unit)
	if !ok {
		return "–"
	}
	return fmt.Sprintf(format, v)
}

// render writes one Markdown table per route.
func render(w io.Writer, t *table) {
	fmt.Fprintf(w, "\n### %s\n", t.name)
	for _, route := range t.routes {
		fmt.Fprintf(w, "\n**%s**\n\n", route)
		fmt.Fprintln(w, "| impl | ns/op | req/s | ours ÷ this (speed) | B/op | allocs/op | Redis round trips/op | Redis cmds/op | Redis B/session |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		oursNs, haveOurs := t.data[route]["ours"].get("ns/op")
		for _, impl := range t.impls {
			s := t.data[route][impl]
			if s == nil {
				continue
			}
			ns, _ := s.get("ns/op")
			ratio := ""
			if haveOurs && impl != "ours" && ns > 0 {
				ratio = fmt.Sprintf("%.2f×", ns/oursNs)
			}
			rps := "–"
			if ns > 0 {
				rps = fmt.Sprintf("%.0f", 1e9/ns)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", impl, num(s, "ns/op", "%.0f"), rps, ratio,
				num(s, "B/op", "%.0f"), num(s, "allocs/op", "%.0f"), num(s, "rtt/op", "%.2f"), num(s, "cmds/op", "%.2f"), num(s, "redis-B/session", "%.0f"))
		}
	}
}

// target is one check of ours against a peer or a bound.
type target struct {
	text string
	pass bool
	ok   bool // measurable
	got  string
}

// targets checks the figures of one table.
func targets(t *table) []target {
	get := func(route, impl, unit string) (float64, bool) {
		if t.data[route] == nil || t.data[route][impl] == nil {
			return 0, false
		}
		return t.data[route][impl].get(unit)
	}
	speed := func(route, peer string, atLeast float64, text string) target {
		o, ok1 := get(route, "ours", "ns/op")
		p, ok2 := get(route, peer, "ns/op")
		if !ok1 || !ok2 || o == 0 {
			return target{text: text}
		}
		r := p / o
		return target{text: text, ok: true, pass: r >= atLeast, got: fmt.Sprintf("%.2f×", r)}
	}
	bound := func(route, unit string, atMost float64, text string) target {
		v, ok := get(route, "ours", unit)
		if !ok {
			return target{text: text}
		}
		return target{text: text, ok: true, pass: v <= atMost, got: fmt.Sprintf("%.2f", v)}
	}
	out := []target{
		speed("read", "scs", 1.6, "read ≥ 1.6× scs"),
		speed("read", "floor", 0.8, "read ≥ 0.8× floor"),
		speed("write", "scs", 1.4, "write ≥ 1.4× scs"),
		speed("untouched", "none", 0.95, "untouched ≥ 0.95× none"),
		bound("read", "rtt/op", 1, "read: 1 Redis round trip"),
		bound("write", "rtt/op", 2, "write: 2 Redis round trips"),
		bound("login", "redis-B/session", 360, "≤ 360 Redis bytes per session"),
	}
	a, ok1 := get("read", "ours", "allocs/op")
	n, ok2 := get("read", "none", "allocs/op")
	added := target{text: "≤ 80 added allocations per read"}
	if ok1 && ok2 {
		added.ok, added.pass, added.got = true, a-n <= 80, fmt.Sprintf("%.0f", a-n)
	}
	return append(out, added)
}

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go test . -run '^$' -bench . | go run ./cmd/benchtab")
	}
	flag.Parse()
	tables, info, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtab:", err)
		os.Exit(1)
	}
	if len(tables) == 0 {
		fmt.Fprintln(os.Stderr, "benchtab: no Benchmark<Name>/<route>/<impl> lines on stdin")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if len(info) > 0 {
		fmt.Fprintf(w, "```\n%s\n```\n", strings.Join(info, "\n"))
	}
	for _, t := range tables {
		render(w, t)
		fmt.Fprintf(w, "\n**Targets (%s)**\n\n| target | ours | met |\n|---|---:|---|\n", t.name)
		for _, tg := range targets(t) {
			met := "n/a"
			if tg.ok {
				met = map[bool]string{true: "yes", false: "**no**"}[tg.pass]
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", tg.text, tg.got, met)
		}
	}
}
