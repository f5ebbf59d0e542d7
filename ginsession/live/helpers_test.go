package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/internal/testserver"
	"github.com/vedfolnir/sessions/store"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func init() { gin.SetMode(gin.TestMode) }

// instance is one app instance (see [testapp.Live]).
type instance = testapp.Live

// newInstance builds an instance on the SQLite file at dbURL.
func newInstance(t testing.TB, dbURL string, kr *store.Keyring, b store.Broker, opts live.Options, tweak ...func(*ginsession.Config)) *instance {
	return testapp.NewLive(t, dbURL, kr, b, opts, tweak...)
}

// browser is a cookie jar shared by every instance (cookies are per host,
// not per port), like one browser with several tabs.
type browser struct {
	t   testing.TB
	hc  *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, hc: &http.Client{Jar: jar, Transport: tr}, jar: jar}
}

func (b *browser) do(method, u string, header http.Header) (int, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	require.NoError(b.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) must(method, u string) string {
	b.t.Helper()
	code, body := b.do(method, u, nil)
	require.Equal(b.t, 200, code, "%s %s: %s", method, u, body)
	return body
}

// cookie returns the session cookie header the browser would send to u.
func (b *browser) cookie(u string) string {
	pu, _ := url.Parse(u)
	var parts []string
	for _, ck := range b.jar.Cookies(pu) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// event is one parsed SSE event.
type event struct {
	ID, Kind string
	Msg      live.Message
	At       time.Time
}

// sse is an open event stream.
type sse struct {
	t      testing.TB
	resp   *http.Response
	events chan event
	pings  atomic.Int64
	done   chan struct{}
	cancel context.CancelFunc
}

// openSSE opens u as an event stream; it returns the status when the
// answer is not a stream.
func (b *browser) openSSE(u string, header http.Header) (*sse, int, string) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	require.NoError(b.t, err)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	require.NoError(b.t, err)
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, string(body)
	}
	s := &sse{t: b.t, resp: resp, events: make(chan event, 64), done: make(chan struct{}), cancel: cancel}
	b.t.Cleanup(s.close)
	go s.read()
	return s, 200, ""
}

func (s *sse) read() {
	defer close(s.done)
	sc := bufio.NewScanner(s.resp.Body)
	var ev event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Kind != "" {
				ev.At = time.Now()
				select {
				case s.events <- ev:
				default: // the test stopped reading
				}
			}
			ev = event{}
		case strings.HasPrefix(line, ":"):
			if strings.Contains(line, "ping") {
				s.pings.Add(1)
			}
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Kind = line[7:]
		case strings.HasPrefix(line, "data: "):
			_ = json.Unmarshal([]byte(line[6:]), &ev.Msg)
		}
	}
}

// next waits up to d for the next event.
func (s *sse) next(d time.Duration) (event, bool) {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev, true
	case <-time.After(d):
		return event{}, false
	}
}

// ended reports whether the server ended the stream within d.
func (s *sse) ended(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (s *sse) close() {
	s.cancel()
	_ = s.resp.Body.Close()
	<-s.done
}

func dbFile(t testing.TB) string { return filepath.Join(t.TempDir(), "sessions.db") }
