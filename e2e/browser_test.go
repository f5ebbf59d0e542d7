package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vedfolnir/sessions/internal/testserver"
)

// chromiumPath finds Chromium or Chrome, or makes the test unavailable
// (skipped, or failed under CI / REQUIRE_SERVICES).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testserver.Unavailable(t, "no chromium binary (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless Chromium for t (closed at cleanup) and
// returns its first tab, already running.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	udd := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(udd), chromedp.WindowSize(1200, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelT := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelT(); cancelA(); cancel() })
	t0 := time.Now()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Logf("chromium started in %v", time.Since(t0).Round(time.Millisecond))
	return tab
}

// waitFor evaluates the JavaScript expression in tab until it is true or
// timeout passes, and returns how long that took. Errors while the tab
// navigates are retried.
func waitFor(tab context.Context, expr string, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	var last error
	for time.Since(t0) < timeout {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return time.Since(t0), nil
		}
		last = err
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(t0), fmt.Errorf("%s still false after %v (last error %v)", expr, timeout, last)
}

// do runs actions in tab, again when they failed because the page
// replaced its document under chromedp (a navigation the page's script
// started: node ids of the old document are then gone). The actions must
// be safe to repeat.
func do(tab context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	var err error
	for range 5 {
		if err = chromedp.Do(tab, actions...); err == nil || !strings.Contains(err.Error(), "(-32000)") {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// text reads an element's text through JavaScript, which, unlike a DOM
// query by node id, cannot race a navigation.
func text(tab context.Context, id string) (string, error) {
	return chromedp.Run(tab, chromedp.Evaluate[string](`(document.getElementById(`+strconv.Quote(id)+`) || {}).textContent || ""`))
}
