package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

func TestSessionKeys(t *testing.T) {
	old1, old2 := store.GenerateKey(), store.GenerateKey()
	for _, tc := range []struct {
		name     string
		args     []string
		env      string
		code     int
		keys     int      // keys in the printed ring
		keep     []string // the printed ring's keys after the first
		errMatch string
	}{
		{name: "new", args: []string{"new"}, keys: 1},
		{name: "rotate from env", args: []string{"rotate"}, env: old1, keys: 2, keep: []string{old1}},
		{name: "rotate two", args: []string{"rotate", old1 + ", " + old2}, keys: 3, keep: []string{old1, old2}},
		{name: "rotate unset", args: []string{"rotate"}, code: 1, errMatch: "SESSION_ENCRYPTION_KEYS is not set"},
		{name: "rotate bad", args: []string{"rotate", "not-a-key"}, code: 1, errMatch: "item 1 is not a 32-byte key"},
		{name: "no command", code: 2, errMatch: "usage"},
		{name: "unknown", args: []string{"make"}, code: 2, errMatch: `unknown command "make"`},
		{name: "new with extra", args: []string{"new", "x"}, code: 2, errMatch: "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			lookup := func(k string) (string, bool) {
				if k == store.EnvKeys && tc.env != "" {
					return tc.env, true
				}
				return "", false
			}
			code := run(tc.args, lookup, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if tc.errMatch != "" {
				if !strings.Contains(errb.String(), tc.errMatch) {
					t.Errorf("stderr %q, want %q", errb.String(), tc.errMatch)
				}
				if strings.Contains(errb.String(), "not-a-key") {
					t.Errorf("stderr repeats the bad key: %q", errb.String())
				}
				return
			}
			line := strings.TrimSuffix(out.String(), "\n")
			if strings.Contains(line, "\n") {
				t.Fatalf("output %q is not one line", out.String())
			}
			ring, err := store.ParseKeyring(line)
			if err != nil || ring.Len() != tc.keys {
				t.Fatalf("output %q: ring of %d keys, %v; want %d", line, ring.Len(), err, tc.keys)
			}
			parts := strings.Split(line, ",")
			for i, k := range tc.keep {
				if parts[i+1] != k {
					t.Errorf("key %d = %q, want the old %q", i+2, parts[i+1], k)
				}
			}
			if parts[0] == old1 || parts[0] == old2 {
				t.Error("the first key is not new")
			}
		})
	}
}

// A fleet's two rolls: stage adds a key at the end, promote moves it to
// the front; the old keys stay, in order.
func TestStageThenPromote(t *testing.T) {
	old1, old2 := store.GenerateKey(), store.GenerateKey()
	none := func(string) (string, bool) { return "", false }
	call := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := run(args, none, &out, &errb)
		return strings.TrimSpace(out.String()), errb.String(), code
	}
	staged, _, code := call("stage", old1+","+old2)
	parts := strings.Split(staged, ",")
	if code != 0 || len(parts) != 3 || parts[0] != old1 || parts[1] != old2 || parts[2] == old1 || parts[2] == old2 {
		t.Fatalf("stage: %q (exit %d): want the ring with a new key last", staged, code)
	}
	promoted, _, code := call("promote", staged)
	if want := parts[2] + "," + old1 + "," + old2; code != 0 || promoted != want {
		t.Fatalf("promote: %q (exit %d), want %q", promoted, code, want)
	}
	if _, msg, code := call("promote", old1); code != 1 || !strings.Contains(msg, "stage a new one first") {
		t.Fatalf("promote of a one-key ring: exit %d, %q", code, msg)
	}
}
