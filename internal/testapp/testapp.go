// Package testapp holds the pieces of a test app that several packages'
// tests share: a fresh key ring and the identity routes their HTTP tests
// drive. It is imported by tests only.
package testapp

import (
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// Keyring returns a ring of one freshly generated key.
func Keyring(t testing.TB) *store.Keyring {
	t.Helper()
	kr, err := store.ParseKeyring(store.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// IdentityRoutes registers POST /login/:id (user id, username "u"+id, role
// "user"; answers "in"), POST /logout ("out") and GET /whoami (the user id,
// or "anonymous"). A failure answers 500 with the error.
func IdentityRoutes(r gin.IRoutes) {
	r.POST("/login/:id", func(c *gin.Context) {
		if err := ginsession.Current(c).Login(ginsession.User{ID: c.Param("id"), Username: "u" + c.Param("id"), Role: "user"}); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "in")
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := ginsession.Current(c).Logout(); err != nil {
			c.String(500, err.Error())
			return
		}
		c.String(200, "out")
	})
	r.GET("/whoami", func(c *gin.Context) {
		u, ok := ginsession.CurrentUser(c)
		if !ok {
			c.String(200, "anonymous")
			return
		}
		c.String(200, u.ID)
	})
}
