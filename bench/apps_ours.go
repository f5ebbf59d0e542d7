package bench

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/dbstore"
	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/ginsession/metrics"
	"github.com/vedfolnir/sessions/hybrid"
	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"

	_ "github.com/jackc/pgx/v5/stdlib" // ours-hybrid's mirror on PostgreSQL (Env.DatabaseURL)
	_ "modernc.org/sqlite"             // ours-sqlite and ours-hybrid's mirror
)

// ours: the session layer of this module, on each of its stores.

// oursConfig is the ginsession configuration of ours: defaults (idle 2h,
// absolute 24h), with the cookie's Secure attribute dropped so that the load
// driver's cookie jars send it over plain loopback HTTP.
func oursConfig(st store.Store, kr *store.Keyring) ginsession.Config {
	return ginsession.Config{Store: st, Keyring: kr, Cookie: ginsession.CookieOptions{Insecure: true}}
}

func buildOurs(a *App, env Env, plain, observed bool) error {
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	o := redisstore.UniversalOptions(env.RedisAddr)
	o.Dialer = a.rt.Dialer
	o.PoolSize = env.PoolSize
	// The fail-fast 250 ms read timeout of session traffic would turn a
	// scheduling stall of this shared benchmark machine into an error.
	// The hybrid store keeps it: there a timeout is a failover, not an
	// error, and whether a saturated server's stalls engage the fallback
	// is what its runs measure.
	if a.Name != OursHybrid {
		o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = 2*time.Second, 2*time.Second, 3*time.Second
	}
	client := goredis.NewUniversalClient(o)
	a.closers = append(a.closers, client.Close)
	prefix := env.Prefix + redisstore.DefaultPrefix
	var obs store.Observer
	if observed {
		mt, err := metrics.New(prometheus.NewRegistry(), metrics.Options{Stores: []string{"redis"}})
		if err != nil {
			return err
		}
		obs = mt.Observer()
	}
	st, err := redisstore.New(client, redisstore.Options{Prefix: prefix, Observer: obs})
	if err != nil {
		return err
	}
	a.store = st
	cfg := oursConfig(st, kr)
	cfg.Observer = obs
	m, err := ginsession.NewManager(cfg)
	if err != nil {
		return err
	}
	a.Redis = true
	a.CookieName = m.CookieName()
	a.SessionKeys = func(cookie string, user int) ([]string, error) {
		if _, err := store.ParseToken(cookie); err != nil {
			return nil, err
		}
		keys := []string{redisstore.KeyName(prefix, store.KeyFromToken(cookie))}
		if !plain {
			keys = append(keys, redisstore.IndexKeyName(prefix, strconv.Itoa(user)))
		}
		return keys, nil
	}
	if plain {
		a.Handler = oursPlainRoutes(m)
	} else {
		a.Handler = oursRoutes(m)
	}
	return nil
}

func buildOursSQLite(a *App, env Env) error {
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	dir := env.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-sqlite-"); err != nil {
			return err
		}
		a.closers = append(a.closers, func() error { return os.RemoveAll(dir) })
	}
	st, err := dbstore.Open(context.Background(), filepath.Join(dir, "sessions.db"), dbstore.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, st.Close)
	m, err := ginsession.NewManager(oursConfig(st, kr))
	if err != nil {
		return err
	}
	a.CookieName = m.CookieName()
	a.Handler = oursRoutes(m)
	return nil
}

// buildOursHybrid is ours on Redis with an SQLite mirror (package
// hybrid, write-through): the deployment the library recommends.
func buildOursHybrid(a *App, env Env) error {
	if err := buildOurs(a, env, false, false); err != nil {
		return err
	}
	rs := a.store
	dir := env.Dir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-hybrid-"); err != nil {
			return err
		}
		a.closers = append(a.closers, func() error { return os.RemoveAll(dir) })
	}
	url := filepath.Join(dir, "mirror.db")
	if env.DatabaseURL != "" {
		url = env.DatabaseURL
	}
	db, err := dbstore.Open(context.Background(), url, dbstore.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, db.Close)
	h, err := hybrid.New(rs, db, hybrid.Options{})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, h.Close)
	a.Hybrid = h
	kr, err := store.NewKeyring(env.Secret)
	if err != nil {
		return err
	}
	m, err := ginsession.NewManager(oursConfig(h, kr))
	if err != nil {
		return err
	}
	a.Handler = oursRoutes(m)
	return nil
}

// oursRoutes uses the library as intended: Login keeps the user (id,
// username, role) and renews the CSRF token; the entry keeps the created
// and last-activity times. Only the platform fields are application values.
func oursRoutes(m *ginsession.Manager) http.Handler {
	r := newEngine()
	r.Use(m.Middleware())
	r.POST(PathLogin, func(c *gin.Context) {
		id := loginUser(c)
		u := ginsession.User{ID: strconv.Itoa(id), Username: Username(id), Role: SeedRole}
		if err := ginsession.Current(c).Login(u); err != nil {
			fail(c, err)
			return
		}
		if err := setPlatform(ginsession.Current(c), Platforms[0]); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathRead, func(c *gin.Context) {
		u, _ := ginsession.CurrentUser(c)
		pid := ginsession.GetOr(ginsession.Current(c), kPlatformID, 0)
		c.String(http.StatusOK, ReadBody(u.Username, pid))
	})
	r.POST(PathWrite, oursWrite)
	r.POST(PathSwitch, oursSwitch)
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		s := ginsession.Current(c)
		u, err := s.User()
		if err != nil {
			fail(c, err)
			return
		}
		info, _, err := s.Info()
		if err != nil {
			fail(c, err)
			return
		}
		var d Seed
		d.UserID, _ = strconv.Atoi(u.ID)
		d.Username, d.Role = u.Username, u.Role
		d.CreatedAt, d.LastActivity = info.Created, info.LastActivity
		if u.ID != "" {
			d.CSRFToken, _ = s.CSRFToken()
		}
		getPlatform(s, &d)
		d.LastSeen = int64(ginsession.GetOr(s, kLastSeen, 0))
		c.JSON(http.StatusOK, d)
	})
	return r
}

// oursPlainRoutes keeps the nine seed fields as plain values, as the peers
// do: no Login, no rotation, no library-kept identity or CSRF token.
func oursPlainRoutes(m *ginsession.Manager) http.Handler {
	r := newEngine()
	r.Use(m.Middleware())
	r.POST(PathLogin, func(c *gin.Context) {
		s := ginsession.Current(c)
		now := time.Now().UTC()
		id := loginUser(c)
		for _, kv := range []struct {
			k string
			v any
		}{
			{kUserID, id}, {kUsername, Username(id)}, {kRole, SeedRole},
			{kCreatedAt, now}, {kLastAct, now}, {kCSRF, newCSRF()},
		} {
			if err := s.Set(kv.k, kv.v); err != nil {
				fail(c, err)
				return
			}
		}
		if err := setPlatform(s, Platforms[0]); err != nil {
			fail(c, err)
			return
		}
		ok(c)
	})
	r.GET(PathRead, func(c *gin.Context) {
		s := ginsession.Current(c)
		name := ginsession.GetOr(s, kUsername, "")
		pid := ginsession.GetOr(s, kPlatformID, 0)
		c.String(http.StatusOK, ReadBody(name, pid))
	})
	r.POST(PathWrite, oursWrite)
	r.POST(PathSwitch, oursSwitch)
	r.GET(PathUntouched, ok)
	r.GET(PathDump, func(c *gin.Context) {
		s := ginsession.Current(c)
		d := Seed{
			UserID:       ginsession.GetOr(s, kUserID, 0),
			Username:     ginsession.GetOr(s, kUsername, ""),
			Role:         ginsession.GetOr(s, kRole, ""),
			CreatedAt:    ginsession.GetOr(s, kCreatedAt, time.Time{}),
			LastActivity: ginsession.GetOr(s, kLastAct, time.Time{}),
			CSRFToken:    ginsession.GetOr(s, kCSRF, ""),
			LastSeen:     int64(ginsession.GetOr(s, kLastSeen, 0)),
		}
		getPlatform(s, &d)
		c.JSON(http.StatusOK, d)
	})
	return r
}

// oursWrite and oursSwitch are the write and switch routes of both ours
// variants: the routes differ only in how they read.
func oursWrite(c *gin.Context) {
	if err := ginsession.Current(c).Set(kLastSeen, queryInt(c, "v")); err != nil {
		fail(c, err)
		return
	}
	ok(c)
}

func oursSwitch(c *gin.Context) {
	if err := setPlatform(ginsession.Current(c), platform(queryInt(c, "p"))); err != nil {
		fail(c, err)
		return
	}
	ok(c)
}

func setPlatform(s *ginsession.Session, p Platform) error {
	return errors.Join(s.Set(kPlatformID, p.ID), s.Set(kPlatName, p.Name), s.Set(kPlatType, p.Type))
}

func getPlatform(s *ginsession.Session, d *Seed) {
	d.PlatformConnectionID = ginsession.GetOr(s, kPlatformID, 0)
	d.PlatformName = ginsession.GetOr(s, kPlatName, "")
	d.PlatformType = ginsession.GetOr(s, kPlatType, "")
}
