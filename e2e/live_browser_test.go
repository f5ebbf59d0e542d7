package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession/live"
	"github.com/vedfolnir/sessions/internal/testapp"
)

// until evaluates expr in tab until it is true, for up to d.
func until(t *testing.T, tab context.Context, expr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still false after %v (last error %v)", expr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post runs fetch(path, POST) in tab and returns the status.
func post(t *testing.T, tab context.Context, path string) int {
	t.Helper()
	code, err := chromedp.Run(tab, chromedp.Evaluate[int](
		fmt.Sprintf(`fetch(%q, {method: "POST"}).then(r => r.status)`, path), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	return code
}

// The client script in a real browser: one tab follows what another does
// (platform switch), reconnects with the new cookie after a rotation, and
// leaves for the login page on logout.
func TestScriptInBrowser(t *testing.T) {
	b := live.NewLocalBroker()
	a := testapp.NewLive(t, filepath.Join(t.TempDir(), "sessions.db"), testapp.Keyring(t), b, live.Options{})
	tab1 := newBrowser(t)
	require.NoError(t, chromedp.Do(tab1, chromedp.Navigate(a.Srv.URL+"/bye")))
	require.Equal(t, 200, post(t, tab1, "/login/1"))
	require.NoError(t, chromedp.Do(tab1, chromedp.Navigate(a.Srv.URL+"/page")))
	waitSubs := func(n int) {
		t.Helper()
		require.Eventually(t, func() bool { return b.Subscribers() == n }, 5*time.Second, 10*time.Millisecond,
			"subscriptions: %d", b.Subscribers())
	}
	waitSubs(2) // the page's stream: session and user topics

	tab2, cancel := chromedp.NewContext(tab1) // another tab, same cookies
	defer cancel()
	require.NoError(t, chromedp.Do(tab2, chromedp.Navigate(a.Srv.URL+"/bye")))
	require.Equal(t, 200, post(t, tab2, "/platform/2"))
	until(t, tab1, `window.got.includes("2")`, 2*time.Second)

	streams := a.Streams.Load()
	t0 := time.Now()
	require.Equal(t, 200, post(t, tab2, "/rotate"))
	until(t, tab1, `window.kinds.includes("rotated")`, 2*time.Second)
	require.Eventually(t, func() bool { return a.Streams.Load() > streams }, 2*time.Second, 5*time.Millisecond)
	reconnect := time.Since(t0)
	t.Logf("rotated: the page reconnected with its new cookie %v after the rotation", reconnect)
	require.Less(t, reconnect, 450*time.Millisecond, "at once, not after the error backoff (>= 500 ms)")
	waitSubs(2)
	require.Equal(t, 200, post(t, tab2, "/platform/3"))
	until(t, tab1, `window.got.includes("3")`, 2*time.Second)

	require.Equal(t, 200, post(t, tab2, "/logout"))
	until(t, tab1, `location.pathname === "/bye"`, 2*time.Second)
	waitSubs(0)
}
