package ginsession_test

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
)

// A handler that redirects leaves typed flashes; the page after it shows
// them, once.
func ExampleFlashes() {
	st, keys, done := exampleSetup()
	defer done()
	type Toast struct {
		Level, Text string
	}
	r := gin.New()
	r.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	r.POST("/save", func(c *gin.Context) {
		s := ginsession.Current(c)
		_ = s.AddFlash("profile saved")                                    // text, default category
		_ = s.AddFlash(Toast{"warn", "your email is unverified"}, "toast") // any type, in a category
		c.String(200, "redirect")
	})
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Current(c)
		texts, _ := s.Flashes() // Flashes[string] of the default category
		toasts, _ := ginsession.Flashes[Toast](s, "toast")
		c.String(200, "%v %+v", texts, toasts)
	})
	r.POST("/count", func(c *gin.Context) {
		_ = ginsession.Current(c).AddFlash("not a number", "count")
		c.String(200, "added")
	})
	r.GET("/count", func(c *gin.Context) {
		n, err := ginsession.Flashes[int](ginsession.Current(c), "count")
		c.String(200, "%v %v", n, errors.Is(err, ginsession.ErrFlashType))
	})
	r.GET("/count-text", func(c *gin.Context) {
		text, _ := ginsession.Flashes[string](ginsession.Current(c), "count")
		c.String(200, "%v", text) // the mismatched flash was kept for this reader
	})
	browse(r, "+/save", "/", "/", "+/count", "/count", "/count-text")
	// Output:
	// redirect
	// [profile saved] [{Level:warn Text:your email is unverified}]
	// [] []
	// added
	// [] true
	// [not a number]
}
