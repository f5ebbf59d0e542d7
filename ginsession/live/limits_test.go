package live_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testapp"
)

// A session holds at most MaxStreamsPerSession streams and a client
// address at most MaxStreamsPerClient: one more is a 429 with Retry-After,
// and a closed stream frees its slot.
func TestStreamCaps(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(),
		live.Options{MaxStreamsPerSession: 3, MaxStreamsPerClient: 5})
	one, other := newBrowser(t), newBrowser(t)
	one.must("POST", a.Srv.URL+"/login/1")
	other.must("POST", a.Srv.URL+"/login/2")
	var open []*sse
	for i := range 3 {
		st, code, body := one.openSSE(a.Srv.URL+"/events", nil)
		require.Equal(t, 200, code, "stream %d: %s", i, body)
		open = append(open, st)
	}
	_, code, body := one.openSSE(a.Srv.URL+"/events", nil)
	assert.Equal(t, http.StatusTooManyRequests, code, "a fourth stream of one session")
	assert.Contains(t, body, "this session")
	for i := range 2 {
		st, code, body := other.openSSE(a.Srv.URL+"/events", nil)
		require.Equal(t, 200, code, "other session's stream %d: %s", i, body)
		open = append(open, st)
	}
	_, code, body = other.openSSE(a.Srv.URL+"/events", nil)
	assert.Equal(t, http.StatusTooManyRequests, code, "a sixth stream from one address")
	assert.Contains(t, body, "this address")

	open[0].close()
	require.Eventually(t, func() bool {
		st, code, _ := one.openSSE(a.Srv.URL+"/events", nil)
		if code == 200 {
			st.close()
		}
		return code == 200
	}, 2*time.Second, 20*time.Millisecond, "a closed stream frees its slot")
}

// A server with ReadTimeout and WriteTimeout (as every public server
// should have) still streams past both: the stream lifts the read
// deadline of its connection and bounds each write instead.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	a := newInstance(t, dbFile(t), testapp.Keyring(t), live.NewLocalBroker(), live.Options{Heartbeat: 100 * time.Millisecond})
	srv := httptest.NewUnstartedServer(a.Srv.Config.Handler)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	br := newBrowser(t)
	br.must("POST", srv.URL+"/login/1")
	st, code, body := br.openSSE(srv.URL+"/events", nil)
	require.Equal(t, 200, code, body)
	defer st.close()
	time.Sleep(time.Second)
	br.must("POST", srv.URL+"/platform/4")
	ev, ok := st.next(2 * time.Second)
	require.True(t, ok, "the stream ended or missed the event after the server's timeouts passed")
	assert.Equal(t, "platform_switched", ev.Kind)
	assert.Greater(t, st.pings.Load(), int64(3), "heartbeats kept flowing")
}
