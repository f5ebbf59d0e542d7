package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// login logs the client in as user (password = user) through base and
// takes the new CSRF token.
func (c *fleetClient) login(t *testing.T, base, user string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": user})
	req, _ := http.NewRequest("POST", base+"/api/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	var s struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	c.csrf = s.CSRF
}

// post sends an unsafe request with the CSRF header.
func (c *fleetClient) post(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// stream opens the session's event stream on base and returns the event
// names as they arrive.
func (c *fleetClient) stream(t *testing.T, base string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/events: %v %v", err, resp)
	}
	out := make(chan string, 16)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				out <- name
			}
		}
	}()
	return out
}

// A stream opened on one instance before a Redis restart still hears what
// happens on another instance after it: a logout there reaches this tab
// (no ghost tab after the restart).
func TestFleetEventsAcrossRestart(t *testing.T) {
	fl := startFleet(t, 2)
	a, b := fl.apps[0].base, fl.apps[1].base
	c := newFleetClient(t, a)
	c.login(t, a, "alice")
	events := c.stream(t, b)
	time.Sleep(300 * time.Millisecond) // the stream subscribes

	fl.redis.Kill(syscall.SIGKILL)
	time.Sleep(2 * time.Second)
	fl.redis.Restart()
	fl.waitHealthy(t, 10*time.Second)

	// go-redis resubscribes the shared connection after the restart; the
	// stream must hear the logout within the bound.
	deadline := time.Now().Add(5 * time.Second)
	if code := c.post(t, a+"/api/logout"); code != 200 {
		t.Fatalf("logout through the other instance: %d", code)
	}
	for {
		select {
		case name, ok := <-events:
			if !ok {
				t.Fatal("the stream ended without the logout")
			}
			if name == "logout" {
				return
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("the logout on one instance did not reach the other instance's stream within 5 s of a Redis restart")
		}
	}
}
