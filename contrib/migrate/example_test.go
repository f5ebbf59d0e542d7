package migrate_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/cookie"
	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/contrib/migrate"
	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/store"
)

// Move from gin-contrib/sessions' cookie store to ginsession on SQLite
// without logging anybody out: the old user id becomes a ginsession login.
func ExampleImporter() {
	// The old app, as it ran before the switch.
	oldStore := cookie.NewStore([]byte("the old app's 32-byte hash key!!"))
	oldStore.Options(sessions.Options{Path: "/", MaxAge: 3600})
	gin.SetMode(gin.ReleaseMode)
	oldApp := gin.New()
	oldApp.Use(sessions.Sessions("mysession", oldStore))
	oldApp.GET("/login", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user_id", 42)
		s.Set("theme", "dark")
		_ = s.Save()
	})
	w := httptest.NewRecorder()
	oldApp.ServeHTTP(w, httptest.NewRequest("GET", "/login", nil))
	oldCookie := w.Result().Cookies()[0]

	// The new app: ginsession, then the importer with the old store.
	dir, _ := os.MkdirTemp("", "migrate-example-")
	defer os.RemoveAll(dir)
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "s.db"), dbstore.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	keys, _ := store.ParseKeyring(store.GenerateKey())
	app := gin.New()
	app.Use(ginsession.New(ginsession.Config{Store: st, Keyring: keys}))
	app.Use(migrate.Importer(migrate.Options{
		OldStore: oldStore,
		OldName:  "mysession",
		Map: func(c *gin.Context, old map[any]any, s *ginsession.Session) error {
			if err := migrate.CopyValues(c, old, s); err != nil {
				return err
			}
			if id, ok := old["user_id"].(int); ok {
				return s.Login(ginsession.User{ID: strconv.Itoa(id)})
			}
			return nil
		},
	}))
	app.GET("/", func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		theme := ginsession.GetOr(ginsession.Current(c), "theme", "light")
		c.String(200, "user %s, theme %s", u.ID, theme)
	})

	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(oldCookie)
	w = httptest.NewRecorder()
	app.ServeHTTP(w, req)
	fmt.Println(w.Body.String())
	for _, ck := range w.Result().Cookies() {
		fmt.Printf("%s expired=%v\n", ck.Name, ck.MaxAge < 0)
	}
	// Output:
	// user 42, theme dark
	// __Host-session expired=false
	// mysession expired=true
}
