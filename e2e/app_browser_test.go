package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the dashboard screenshot to the example's testdata/dashboard.png (the README shows it)")

const (
	jsLive      = `!!document.querySelector('#live-status.on')`
	jsLoginPage = `document.readyState === 'complete' && location.pathname === '/' && !!document.querySelector('#login-form') && !document.querySelector('#sessions')`
)

// TestBrowser drives real Chromium tabs through the whole product: log
// in, switch platform in one tab and watch another follow, revoke a second
// browser's session, log out and watch the other tab follow.
func TestBrowser(t *testing.T) {
	bin := exampleBinary(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := startApp(t, bin, b.env(t))
			browserFlow(t, e, b.name == "sqlite")
		})
	}
}

func browserFlow(t *testing.T, e *app, screenshot bool) {
	tab1 := newBrowser(t)
	step := func(name string, f func() error) {
		t.Helper()
		t0 := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%-64s %6.0f ms", name, float64(time.Since(t0).Microseconds())/1000)
	}
	// fill types the credentials into the login form and submits it.
	fill := func(tab context.Context, user, pass string) error {
		if _, err := waitFor(tab, jsLoginPage, 5*time.Second); err != nil {
			return err
		}
		return do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById('username').value = ''; document.getElementById('password').value = ''`),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), pass),
			chromedp.Click(chromedp.ID("login-submit")))
	}
	login := func(tab context.Context, user, pass string) error {
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/")); err != nil {
			return err
		}
		return fill(tab, user, pass)
	}

	step("wrong password shows an error", func() error {
		if err := login(tab1, "alice", "wrong"); err != nil {
			return err
		}
		if _, err := waitFor(tab1, `!document.querySelector('#login-error').hidden`, 3*time.Second); err != nil {
			return err
		}
		msg, err := text(tab1, "login-error")
		if err != nil || msg != "Wrong username or password." {
			return fmt.Errorf("error text %q, %v", msg, err)
		}
		return nil
	})
	step("log in as alice (tab 1)", func() error {
		if err := fill(tab1, "alice", "alice"); err != nil {
			return err
		}
		if _, err := waitFor(tab1, `!!document.querySelector('#platform-name')`, 5*time.Second); err != nil {
			dbg, _ := chromedp.Run(tab1, chromedp.Evaluate[string](`document.querySelector('#login-error').textContent + ' | ' + document.querySelector('#password').value + ' | ' + document.querySelector('#username').value`))
			return fmt.Errorf("%w (page: %s)", err, dbg)
		}
		name, err := text(tab1, "user-name")
		if err != nil || name != "alice" {
			return fmt.Errorf("user %q, %v", name, err)
		}
		_, err = waitFor(tab1, jsLive, 5*time.Second)
		return err
	})

	tab2, cancel2 := chromedp.NewContext(tab1) // a second tab of the same browser: same cookies
	defer cancel2()

	step("open tab 2 (same browser, same session)", func() error {
		if err := chromedp.Do(tab2, chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.ID("platform-name"))); err != nil {
			return err
		}
		if _, err := waitFor(tab2, jsLive, 5*time.Second); err != nil {
			return err
		}
		p, err := text(tab2, "platform-name")
		if err != nil || p != "None selected" {
			return fmt.Errorf("tab 2 platform %q, %v", p, err)
		}
		// A marker that a reload would wipe.
		return chromedp.Do(tab2, chromedp.Evaluate[chromedp.Void](`window.__noReload = true`))
	})

	step("switch platform in tab 1, tab 2 follows within 1 s", func() error {
		if err := do(tab1, chromedp.Click(chromedp.ID("platform-2"))); err != nil {
			return err
		}
		t0 := time.Now()
		d, err := waitFor(tab2, `document.querySelector('#platform-name').textContent === 'pixelfed-photos'`, time.Second)
		if err != nil {
			return err
		}
		t.Logf("  tab 2 showed the new platform %v after the click", time.Since(t0).Round(time.Millisecond))
		_ = d
		still, err := chromedp.Run(tab2, chromedp.Evaluate[bool](`window.__noReload === true && document.querySelector('#platform-2').getAttribute('aria-pressed') === 'true'`))
		if err != nil || !still {
			return fmt.Errorf("tab 2 reloaded or did not mark the button (%v)", err)
		}
		// Tab 1 renders from its own answer, which may land after tab 2's event.
		_, err = waitFor(tab1, `document.querySelector('#platform-name').textContent === 'pixelfed-photos'`, time.Second)
		return err
	})

	other, cancelO := chromedp.NewContext(tab1, chromedp.WithNewBrowserContext()) // an isolated browser
	defer cancelO()
	step("log in as alice in a second browser context", func() error {
		if err := login(other, "alice", "alice"); err != nil {
			return err
		}
		if _, err := waitFor(other, `!!document.querySelector('#sessions')`, 5*time.Second); err != nil {
			return err
		}
		p, err := text(other, "platform-name")
		if err != nil || p != "None selected" {
			return fmt.Errorf("the other browser shares tab 1's platform: %q, %v", p, err)
		}
		_, err = waitFor(other, jsLive, 5*time.Second)
		return err
	})
	step("tab 1's session list shows the new session after a reload", func() error {
		if err := chromedp.Do(tab1, chromedp.Reload()); err != nil {
			return err
		}
		if _, err := waitFor(tab1, `document.querySelectorAll('#sessions tr').length === 2 && document.querySelector('#sessions-count').textContent === '2'`, 2*time.Second); err != nil {
			return err
		}
		_, err := waitFor(tab1, jsLive, 5*time.Second)
		return err
	})

	if screenshot {
		step("screenshot of the dashboard", func() error {
			if _, err := waitFor(tab1, `document.querySelectorAll('#audit li:not(.empty)').length >= 5`, 3*time.Second); err != nil {
				return err
			}
			png, err := chromedp.Run(tab1, chromedp.FullScreenshot(100))
			if err != nil {
				return err
			}
			if len(png) < 10_000 {
				return fmt.Errorf("screenshot of %d bytes", len(png))
			}
			path := filepath.Join(t.ArtifactDir(), "dashboard.png")
			if *updateScreenshot {
				path = filepath.Join("..", "example", "testdata", "dashboard.png")
			}
			t.Logf("  wrote %s (%d bytes)", path, len(png))
			return os.WriteFile(path, png, 0o644)
		})
	}

	step("revoke the other browser from tab 1: it goes to login within 1 s", func() error {
		if err := do(tab1, chromedp.Click(chromedp.CSS("#sessions button.revoke"))); err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := waitFor(other, jsLoginPage, time.Second); err != nil {
			return err
		}
		t.Logf("  the revoked browser showed the login page %v after the click", time.Since(t0).Round(time.Millisecond))
		_, err := waitFor(tab1, `document.querySelectorAll('#sessions tr').length === 1`, 2*time.Second)
		return err
	})

	step("log out in tab 1: tab 2 goes to login within 1 s", func() error {
		if err := do(tab1, chromedp.Click(chromedp.ID("logout"))); err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := waitFor(tab2, jsLoginPage, time.Second); err != nil {
			return err
		}
		t.Logf("  tab 2 showed the login page %v after the click", time.Since(t0).Round(time.Millisecond))
		_, err := waitFor(tab1, jsLoginPage, 2*time.Second)
		return err
	})

	step("log in again in tab 2: tab 1 follows to the dashboard", func() error {
		if err := fill(tab2, "bob", "bob"); err != nil {
			return err
		}
		_, err := waitFor(tab1, `document.querySelector('#user-name') && document.querySelector('#user-name').textContent === 'bob'`, 2*time.Second)
		return err
	})
}
