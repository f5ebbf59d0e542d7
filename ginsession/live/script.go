package live

import (
	"crypto/sha256"
	_ "embed" // the client script
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Script is the client for [Handler]: about 40 lines of dependency-free
// JavaScript that defines SessionLive.connect({url, stateURL, loginURL,
// onPlatform, onEvent}). On platform_switched it calls onPlatform (default:
// reload the page); on logout, revoked and evicted it goes to loginURL; on
// rotated it reconnects at once, with the new cookie; a lost stream
// reconnects with exponential backoff (1 s to 30 s, jittered), first asking
// stateURL, when given, whether the session still exists. The file's
// header comment shows the full usage.
//
//go:embed live.js
var Script string

var scriptETag = func() string {
	sum := sha256.Sum256([]byte(Script))
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// ScriptHandler returns a GET handler serving [Script] as JavaScript, with
// an ETag (and 304 to a matching If-None-Match).
func ScriptHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("ETag", scriptETag)
		c.Header("Cache-Control", "public, max-age=300")
		c.Header("X-Content-Type-Options", "nosniff")
		if strings.Contains(c.GetHeader("If-None-Match"), scriptETag) {
			c.Status(http.StatusNotModified)
			return
		}
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", []byte(Script))
	}
}
