// Package e2e holds the end-to-end tests that drive a real headless
// Chromium: the reference app built and run as its own process, and the
// cross-tab client script of ginsession/live. It is a module of its own so
// that the browser driver (chromedp) reaches only these tests, never a
// program that imports the library.
//
// Run with go test ./... from this directory (the root's scripts/test.sh
// does); Chromium comes from the chromium Debian package. Without it the
// tests skip, and fail under CI or REQUIRE_SERVICES.
package e2e
