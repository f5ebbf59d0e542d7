package main

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/platform"
)

//go:embed web/templates/*.html
var templateFS embed.FS

//go:embed web/static
var staticFS embed.FS

var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{"describe": describe}).ParseFS(templateFS, "web/templates/page.html"))

// pageData is what page.html renders.
type pageData struct {
	CSRF                               string
	Storage                            string
	Theme                              string
	User                               *userJSON
	Initial                            string
	Handle                             string
	Platform                           *platform.Context
	Platforms                          []platform.Context
	CreatedAt, LastActivity, ExpiresAt string
	Sessions                           []sessionItem
	Audit                              []auditItem
	RememberDays                       int // the "remember me" box's promise
}

// staticRoutes serves the embedded CSS and script.
func (a *App) staticRoutes(r *gin.Engine) error {
	sub, err := fs.Sub(staticFS, "web/static")
	if err != nil {
		return err
	}
	files := http.FileServer(http.FS(sub))
	r.GET("/static/*file", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Request.URL.Path = c.Param("file")
		files.ServeHTTP(c.Writer, c.Request)
	})
	return nil
}

// contentSecurityPolicy allows this origin's script and style only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// GET /: the login form, or the dashboard.
func (a *App) page(c *gin.Context) {
	st, err := a.sessionState(c)
	if err != nil {
		a.log.Warn("page: session store", "err", err)
		c.Header("Retry-After", "1")
		c.String(http.StatusServiceUnavailable, "The session store is unavailable. Try again in a moment.")
		return
	}
	// Storage details (addresses, file paths) are for admins; everyone
	// else sees the mode alone.
	desc := a.cfg.Storage
	if st.User != nil && st.User.Role == "admin" {
		desc = a.StorageDesc
	}
	d := pageData{CSRF: st.CSRFToken, Storage: desc, Theme: "light", User: st.User, Platform: st.Platform,
		RememberDays: int(a.sessions.Config().RememberLifetime / (24 * time.Hour))}
	s := ginsession.Current(c)
	if raw, err := ginsession.Get[[]byte](s, prefPrefix+"theme"); err == nil && string(raw) == `"dark"` {
		d.Theme = "dark"
	}
	if st.User != nil {
		d.Initial = strings.ToUpper(st.User.Username[:1])
		d.Handle = s.Handle()
		if u, ok := userByID(strconvID(st.User.ID)); ok {
			d.Platforms = u.Platforms
		}
		d.CreatedAt, d.LastActivity, d.ExpiresAt = deref(st.CreatedAt), deref(st.LastActivity), deref(st.ExpiresAt)
		if d.Sessions, err = a.userSessions(c); err != nil {
			a.log.Warn("page: sessions", "err", err)
		}
		if d.Audit, err = a.history(c, strconvID(st.User.ID), 20); err != nil {
			a.log.Warn("page: audit", "err", err)
		}
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	var buf strings.Builder
	if err := pageTemplate.Execute(&buf, d); err != nil {
		a.log.Error("page: template", "err", err)
		c.String(http.StatusInternalServerError, "page could not be rendered")
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(buf.String()))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// describe says what an audit record means, in words, for the page (the
// script's describe does the same for records it fetches).
func describe(it auditItem) string {
	switch it.Type {
	case "login":
		return "Signed in"
	case "logout":
		return "Signed out"
	case "rotated":
		return "Session id renewed"
	case "platform_switched":
		if it.Detail == "" {
			return "Platform cleared"
		}
		for _, u := range demoUsers {
			for _, pc := range u.Platforms {
				if strconv.FormatInt(pc.ConnectionID, 10) == it.Detail {
					return "Switched to " + pc.Name
				}
			}
		}
		return "Switched to platform " + it.Detail
	case "revoked":
		return "Ended from another session"
	case "evicted":
		return "Ended: too many sessions"
	case "expired":
		return "Expired"
	case "created":
		return "Session started"
	case "rejected":
		return "Cookie refused (" + it.Detail + ")"
	}
	if it.Detail != "" {
		return it.Detail
	}
	return it.Type
}
