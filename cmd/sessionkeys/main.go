// Command sessionkeys prints values for SESSION_ENCRYPTION_KEYS, the key
// ring that seals session values, so no Go needs writing to make one.
//
//	go run github.com/vedfolnir/sessions/cmd/sessionkeys new
//	go run github.com/vedfolnir/sessions/cmd/sessionkeys rotate        # reads SESSION_ENCRYPTION_KEYS
//	go run github.com/vedfolnir/sessions/cmd/sessionkeys rotate 'KEY1,KEY2'
//
// new prints one fresh key (43 base64url characters from crypto/rand).
// rotate prints a fresh key followed by the current ring's keys: the new
// key seals from the next start on, and the old ones still open what they
// sealed. A fleet rotates in two rolls instead, so that no instance meets a
// session sealed with a key it lacks: stage prints the ring with a fresh
// key added at the end (every instance can open it, none seals with it),
// and, once every instance runs that ring, promote prints it with its
// last key moved to the front. Drop an old key from the end once every session it sealed has
// expired (the absolute timeout after the rotation). The output is the
// value alone, one line, for `export SESSION_ENCRYPTION_KEYS=$(...)` or an
// .env file; errors go to standard error with exit status 1 (2 for bad
// usage), and never repeat a key.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vedfolnir/sessions/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

const usage = `usage:
  sessionkeys new              print a new SESSION_ENCRYPTION_KEYS value (one key)
  sessionkeys rotate [VALUE]   print VALUE (default: $SESSION_ENCRYPTION_KEYS) with a new key first
  sessionkeys stage [VALUE]    print VALUE with a new key last (a fleet's first roll)
  sessionkeys promote [VALUE]  print VALUE with its last key moved first (the second roll)
`

// run is the command, with its environment passed in for tests.
func run(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "new":
		if len(args) != 1 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		fmt.Fprintln(stdout, store.GenerateKey())
		return 0
	case "rotate", "stage", "promote":
		var cur string
		switch len(args) {
		case 1:
			cur, _ = lookup(store.EnvKeys)
			if strings.TrimSpace(cur) == "" {
				fmt.Fprintf(stderr, "sessionkeys: %s: %s is not set: pass the current value as an argument, or use \"sessionkeys new\" for a first key\n", args[0], store.EnvKeys)
				return 1
			}
		case 2:
			cur = args[1]
		default:
			fmt.Fprint(stderr, usage)
			return 2
		}
		if _, err := store.ParseKeyring(cur); err != nil {
			fmt.Fprintf(stderr, "sessionkeys: %s: %v\n", args[0], err)
			return 1
		}
		var keys []string
		for _, k := range strings.Split(cur, ",") {
			keys = append(keys, strings.TrimSpace(k))
		}
		switch args[0] {
		case "rotate":
			keys = append([]string{store.GenerateKey()}, keys...)
		case "stage":
			keys = append(keys, store.GenerateKey())
		case "promote":
			if len(keys) < 2 {
				fmt.Fprintf(stderr, "sessionkeys: promote: the ring has one key: stage a new one first\n")
				return 1
			}
			keys = append([]string{keys[len(keys)-1]}, keys[:len(keys)-1]...)
		}
		next := strings.Join(keys, ",")
		if _, err := store.ParseKeyring(next); err != nil { // a repeated key, say
			fmt.Fprintf(stderr, "sessionkeys: %s: %v\n", args[0], err)
			return 1
		}
		fmt.Fprintln(stdout, next)
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "sessionkeys: unknown command %q\n%s", args[0], usage)
	return 2
}
