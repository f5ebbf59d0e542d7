package ginsession_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/internal/testapp"
	"github.com/vedfolnir/sessions/store"
)

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Booleans take exactly what their error message lists.
func TestEnvBooleans(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool // Secure
		bad  bool
	}{
		{"true", true, false}, {"TRUE", true, false}, {"1", true, false}, {"yes", true, false}, {"On", true, false},
		{"false", false, false}, {"0", false, false}, {"no", false, false}, {"OFF", false, false},
		{"y", false, true}, {"t", false, true}, {"2", false, true}, {"enabled", false, true},
	} {
		c, err := ginsession.ConfigFromLookup(lookupOf(map[string]string{ginsession.EnvCookieSecure: tc.v}))
		if tc.bad {
			require.Error(t, err, tc.v)
			assert.ErrorIs(t, err, ginsession.ErrConfig)
			msg := err.Error()
			assert.Contains(t, msg, ginsession.EnvCookieSecure)
			// Every form the message lists is accepted (the cases above).
			for _, form := range []string{"true", "false", "1/0", "yes/no", "on/off", "any case"} {
				assert.Contains(t, msg, form)
			}
			continue
		}
		require.NoError(t, err, tc.v)
		assert.Equal(t, tc.want, !c.Cookie.Insecure, tc.v)
	}
}

// An empty value, or one of spaces, is the same as an unset one for
// every variable.
func TestEnvEmptyIsUnset(t *testing.T) {
	unset, err := ginsession.ConfigFromLookup(lookupOf(nil))
	require.NoError(t, err)
	for _, name := range []string{
		ginsession.EnvIdleTimeout, ginsession.EnvCookieName, ginsession.EnvCookieHTTPOnly,
		ginsession.EnvCookieSecure, ginsession.EnvCookieSameSite, ginsession.EnvAbsoluteTimeout,
		ginsession.EnvCookieDomain, ginsession.EnvCookiePath, ginsession.EnvCookiePersist, ginsession.EnvKeys,
	} {
		for _, v := range []string{"", "  "} {
			c, err := ginsession.ConfigFromLookup(lookupOf(map[string]string{name: v}))
			if assert.NoError(t, err, "%s=%q", name, v) {
				assert.Equal(t, unset, c, "%s=%q differs from unset", name, v)
			}
		}
	}
}

// Errors name the variables at fault and say what would work.
func TestEnvErrorsExplain(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": "false"},
			[]string{"SESSION_COOKIE_SAMESITE=None", "SESSION_COOKIE_SECURE=true"}},
		{map[string]string{"SESSION_COOKIE_SAMESITE": "sideways"}, []string{"SESSION_COOKIE_SAMESITE", "Lax, Strict or None"}},
		{map[string]string{"REDIS_SESSION_TIMEOUT": "2h"}, []string{"REDIS_SESSION_TIMEOUT", "whole number of seconds"}},
		{map[string]string{"SESSION_ENCRYPTION_KEYS": "short"}, []string{"SESSION_ENCRYPTION_KEYS", "item 1"}},
	} {
		_, err := ginsession.ConfigFromLookup(lookupOf(tc.env))
		require.Error(t, err, "%v", tc.env)
		for _, w := range tc.want {
			assert.Contains(t, err.Error(), w)
		}
	}
	// The missing key ring says how to make one.
	_, err := ginsession.NewManager(ginsession.Config{Store: sqliteStore(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "go run github.com/vedfolnir/sessions/cmd/sessionkeys new")
	_, err = store.ParseKeyring("")
	assert.Contains(t, err.Error(), "go run github.com/vedfolnir/sessions/cmd/sessionkeys new")
	// SameSite None without Secure, set in Go, also names the variables.
	_, err = ginsession.NewManager(ginsession.Config{Store: sqliteStore(t), Keyring: testapp.Keyring(t), Cookie: ginsession.CookieOptions{SameSite: http.SameSiteNoneMode, Insecure: true}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SESSION_COOKIE_SECURE=true")
}

// Get of a value of another kind says which value and both kinds.
func TestGetTypeMismatch(t *testing.T) {
	a := newApp(t, nil, nil)
	r := gin.New()
	r.Use(a.mgr.Middleware())
	var got error
	r.GET("/", func(c *gin.Context) {
		s := ginsession.Current(c)
		require.NoError(t, s.Set("k", 5))
		_, got = ginsession.Get[string](s, "k")
		c.Status(204)
	})
	srv := newServer(t, r)
	srv.do(a.client(), "GET", "/")
	require.Error(t, got)
	assert.Equal(t, `ginsession: session value "k" is an integer, not a string`, got.Error())
	assert.True(t, errors.Is(got, store.ErrDecode))
	var te *ginsession.ValueTypeError
	require.ErrorAs(t, got, &te)
	assert.Equal(t, "k", te.Key)
	assert.False(t, strings.Contains(got.Error(), "msgpack"))
}
