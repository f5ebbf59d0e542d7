package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Response is what a [Doer] returns.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Doer sends one request to an implementation: in-process ([App.Doer]) or
// over HTTP (the load driver). cookie is the session cookie's value, ""
// for none.
type Doer func(method, target, cookie string) (Response, error)

// Doer returns a Doer that serves requests in-process.
func (a *App) Doer() Doer {
	return func(method, target, cookie string) (Response, error) {
		rec := a.Do(method, target, cookie)
		return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}, nil
	}
}

// Login logs a new client in through PathLogin and returns its session
// cookie's value ("" for the implementations without sessions).
func Login(a *App, do Doer) (string, error) {
	r, err := do(http.MethodPost, PathLogin, "")
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusOK || r.Body != "ok" {
		return "", fmt.Errorf("login: %d %q", r.Status, r.Body)
	}
	cookie := a.SessionCookie(r.Header)
	if HasSession(a.Name) && cookie == "" {
		return "", fmt.Errorf("login: no %q cookie in the response (Set-Cookie: %q)", a.CookieName, r.Header.Values("Set-Cookie"))
	}
	return cookie, nil
}

// Verify checks that the implementation really keeps its session before it
// is timed: a login sets a cookie, the session's keys exist in Redis (when
// rdb is not nil), reads answer from the session (and differ without the
// cookie), a write and a platform switch are read back by later requests,
// and the dump holds all nine seed fields. do nil serves in-process. It
// returns the first failure, naming the step.
func Verify(ctx context.Context, a *App, do Doer, rdb goredis.UniversalClient) error {
	inProcess := do == nil
	if inProcess {
		do = a.Doer()
	}
	if err := verify(ctx, a, do, rdb, inProcess); err != nil {
		return fmt.Errorf("bench: %s does not pass its correctness check: %w", a.Name, err)
	}
	return nil
}

func verify(ctx context.Context, a *App, do Doer, rdb goredis.UniversalClient, inProcess bool) error {
	cookie, err := Login(a, do)
	if err != nil {
		return err
	}
	if a.Redis && rdb != nil {
		keys, err := a.SessionKeys(cookie, SeedUserID)
		if err != nil {
			return fmt.Errorf("session keys of the cookie: %w", err)
		}
		for _, k := range keys {
			n, err := rdb.Exists(ctx, k).Result()
			if err != nil {
				return err
			}
			if n != 1 {
				return fmt.Errorf("login: key %q is not in Redis", k)
			}
		}
	}
	// call sends a request and follows a changed cookie.
	call := func(method, target string, withCookie bool, want string) error {
		ck := ""
		if withCookie {
			ck = cookie
		}
		r, err := do(method, target, ck)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK || (want != "" && r.Body != want) {
			return fmt.Errorf("%s %s: %d %q, want 200 %q", method, target, r.Status, r.Body, want)
		}
		if withCookie {
			if v := a.SessionCookie(r.Header); v != "" {
				cookie = v
			}
		}
		return nil
	}
	if err := call(http.MethodGet, PathRead, true, ReadBody(SeedUsername, 1)); err != nil {
		return err
	}
	if err := call(http.MethodGet, PathUntouched, true, "ok"); err != nil {
		return err
	}
	if !HasSession(a.Name) {
		if a.Redis && inProcess && a.RoundTrips() == 0 {
			return fmt.Errorf("%s made no Redis round trip", a.Name)
		}
		return nil
	}
	if r, err := do(http.MethodGet, PathRead, ""); err != nil || r.Body == ReadBody(SeedUsername, 1) {
		return fmt.Errorf("read without a cookie answered %q (%v): the answer does not come from the session", r.Body, err)
	}
	v := rand.IntN(1_000_000) + 1
	if err := call(http.MethodPost, PathWrite+"?v="+strconv.Itoa(v), true, "ok"); err != nil {
		return err
	}
	if err := call(http.MethodPost, PathSwitch+"?p=2", true, "ok"); err != nil {
		return err
	}
	if err := call(http.MethodGet, PathRead, true, ReadBody(SeedUsername, 2)); err != nil {
		return err
	}
	r, err := do(http.MethodGet, PathDump, cookie)
	if err != nil {
		return err
	}
	var d Seed
	if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
		return fmt.Errorf("dump: %w (%q)", err, r.Body)
	}
	p := Platforms[1]
	now := time.Now()
	switch {
	case d.UserID != SeedUserID || d.Username != SeedUsername || d.Role != SeedRole:
		return fmt.Errorf("dump: user %d %q %q", d.UserID, d.Username, d.Role)
	case d.PlatformConnectionID != p.ID || d.PlatformName != p.Name || d.PlatformType != p.Type:
		return fmt.Errorf("dump: platform %d %q %q after switching to %d", d.PlatformConnectionID, d.PlatformName, d.PlatformType, p.ID)
	case d.CreatedAt.IsZero() || d.CreatedAt.After(now) || d.LastActivity.Before(d.CreatedAt):
		return fmt.Errorf("dump: created %v, last activity %v", d.CreatedAt, d.LastActivity)
	case len(d.CSRFToken) != 22: // 16 bytes, base64url
		return fmt.Errorf("dump: csrf token %q", d.CSRFToken)
	case d.LastSeen != int64(v):
		return fmt.Errorf("dump: last_seen %d, want %d", d.LastSeen, v)
	}
	return call(http.MethodPost, PathSwitch+"?p=1", true, "ok")
}
