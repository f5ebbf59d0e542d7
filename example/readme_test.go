package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/internal/testserver"
)

// curlBlock returns the shell block under "## A curl session" in
// README.md.
func curlBlock(t *testing.T) string { t.Helper(); return shBlock(t, "## A curl session") }

// shBlock returns the first shell block under heading in README.md.
func shBlock(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), heading)
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("README.md's %q has no sh block", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// The README's curl session, run as written with sh and curl against the
// app on a real HTTP server, logs in, switches platform and logs out.
func TestREADMECurlSession(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			testserver.Unavailable(t, "%s is not installed: %v", tool, err)
		}
	}
	e := startApp(t, backends[0].env(t))
	block := curlBlock(t)
	const base = "B=http://127.0.0.1:8080;"
	if !strings.Contains(block, base) {
		t.Fatalf("the block does not start from %q", base)
	}
	script := "set -e\n" + strings.Replace(block, base, "B="+e.base+";", 1)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's curl session failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 answers (platform, session, logout), got %d:\n%s", len(lines), out)
	}
	platform := `"id":2,"name":"pixelfed-photos","type":"pixelfed"`
	for i, want := range []*regexp.Regexp{
		regexp.MustCompile(`^\{` + platform + `\}$`),
		regexp.MustCompile(`"authenticated":true.*"platform":\{` + platform + `\}`),
		regexp.MustCompile(`"authenticated":false.*"platform":null`),
	} {
		if !want.MatchString(lines[i]) {
			t.Errorf("answer %d = %s, want %s", i+1, lines[i], want)
		}
	}
	// What the README says it prints.
	readme, _ := os.ReadFile("README.md")
	for _, s := range []string{`"authenticated":true`, `"platform":{` + platform + `}`, `"authenticated":false`} {
		if !strings.Contains(string(readme), s) {
			t.Errorf("README.md does not show %s", s)
		}
	}
}

// The README's API client, run as written: a bearer token sets and reads a
// preference with no CSRF header; beside the cookie it is refused.
func TestREADMEBearerSession(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			testserver.Unavailable(t, "%s is not installed: %v", tool, err)
		}
	}
	e := startApp(t, backends[0].env(t))
	block := shBlock(t, "## An API client")
	const base = "B=http://127.0.0.1:8080;"
	if !strings.Contains(block, base) {
		t.Fatalf("the block does not start from %q", base)
	}
	script := "set -e\n" + strings.Replace(block, base, "B="+e.base+";", 1)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's API client failed: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "\"nb\"\n400" {
		t.Errorf("the README's API client printed %q, want \"nb\" and 400", got)
	}
}
