package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	name string
	data struct {
		Kind    string `json:"kind"`
		Time    string `json:"time"`
		Session string `json:"session"`
		Detail  string `json:"detail"`
	}
}

// stream opens GET /api/events with c's cookies and returns its events.
func (c *client) stream(t *testing.T) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.e.base+"/api/events", nil)
	hc := &http.Client{Jar: c.hc.Jar} // no timeout: the stream stays open
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 16)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// next returns the next event, within a second.
func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	deadline := time.After(time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("stream closed")
			}
			return ev
		case <-deadline:
			t.Fatal("no event within 1 s")
		}
	}
}

// TestEventsRoute: the stream tells a session's tabs what happened to it.
func TestEventsRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		tab1 := e.client(t, "")
		tab1.login("alice")
		tab2 := &client{t: t, e: e, hc: &http.Client{Jar: tab1.hc.Jar}} // same browser, same cookie
		events := tab2.stream(t)
		handle := tab1.sessions()[0].ID

		tab1.do("POST", "/api/platform", map[string]int{"platform_connection_id": 2}, csrfValid)
		ev := next(t, events)
		if ev.name != "platform_switched" || ev.data.Detail != "2" || ev.data.Kind != ev.name || ev.data.Session != handle {
			t.Fatalf("got %+v", ev)
		}
		mustRFC3339UTC(t, "time", ev.data.Time)

		// Revocation from another device.
		other := e.client(t, "")
		other.login("alice")
		otherEvents := other.stream(t)
		var otherHandle string
		for _, s := range tab1.sessions() {
			if !s.Current {
				otherHandle = s.ID
			}
		}
		if r := tab1.do("DELETE", "/api/sessions/"+otherHandle, nil, csrfValid); r.status != 204 {
			t.Fatalf("revoke: %d", r.status)
		}
		if ev := next(t, otherEvents); ev.name != "revoked" || ev.data.Session != otherHandle {
			t.Fatalf("other device got %+v", ev)
		}

		// Logout in tab 1 reaches tab 2.
		tab1.do("POST", "/api/logout", nil, csrfValid)
		if ev := next(t, events); ev.name != "logout" {
			t.Fatalf("got %+v", ev)
		}
		// The stream ends after it: the tab leaves for the login page.
		select {
		case ev, ok := <-events:
			if ok {
				t.Errorf("stream went on after logout: %+v", ev)
			}
		case <-time.After(time.Second):
			t.Error("stream still open after logout")
		}

		// An anonymous visitor has no stored session, hence no stream.
		anon := e.client(t, "")
		anon.state()
		if r := anon.get("/api/events"); r.status != 401 {
			t.Errorf("anonymous visitor: %d %s", r.status, r.body)
		}
		// Once it set a value it has one; a login rotates it, and the
		// stream hears it.
		if r := anon.do("PUT", "/api/prefs/theme", `"dark"`, csrfValid); r.status >= 300 {
			t.Fatalf("set a pref: %d %s", r.status, r.body)
		}
		anonEvents := anon.stream(t)
		anon.login("bob")
		if ev := next(t, anonEvents); ev.name != "rotated" || ev.data.Detail == "" {
			t.Fatalf("got %+v", ev)
		}

		// No session: no stream.
		if r := e.client(t, "").get("/api/events"); r.status != 401 {
			t.Errorf("without a session: %d %s", r.status, r.body)
		}
	})
}

// TestEventsEndOnShutdown: App.Shutdown ends open streams, so a graceful
// server shutdown does not wait for them.
func TestEventsEndOnShutdown(t *testing.T) {
	e := startApp(t, backends[0].env(t))
	c := e.client(t, "")
	c.login("alice")
	events := c.stream(t)
	e.app.Shutdown()
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the stream outlived Shutdown")
	}
}
