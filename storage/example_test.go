package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/vedfolnir/sessions/ginsession"
	"github.com/vedfolnir/sessions/storage"
	"github.com/vedfolnir/sessions/store"
)

// FromEnv picks the mode from the environment. With only DATABASE_URL
// (here a SQLite file) it is database mode; with REDIS_URL as well, hybrid,
// whose engage and recover events go to the session manager's consumers.
func ExampleFromEnv() {
	dir, _ := os.MkdirTemp("", "storage-example")
	defer os.RemoveAll(dir)
	env := map[string]string{"DATABASE_URL": filepath.Join(dir, "sessions.db")}

	var mgr atomic.Pointer[ginsession.Manager] // set once the manager exists
	opts := storage.Options{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	opts.Hybrid.OnStateChange = func(engaged bool) {
		kind := ginsession.EventFallbackRecovered
		if engaged {
			kind = ginsession.EventFallbackEngaged
		}
		if m := mgr.Load(); m != nil {
			m.Emit(ginsession.Event{Kind: kind})
		}
	}
	st, err := storage.FromEnv(context.Background(), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	keys, _ := store.ParseKeyring(store.GenerateKey())
	m, err := ginsession.NewManager(ginsession.Config{Store: st.Store(), Keyring: keys})
	if err != nil {
		fmt.Println(err)
		return
	}
	mgr.Store(m)

	fmt.Println("mode:", st.Mode())
	fmt.Println("hybrid:", st.Hybrid() != nil, "broker:", st.Broker() != nil)
	fmt.Println("health:", st.Health(context.Background()).Status)
	// Output:
	// mode: database
	// hybrid: false broker: false
	// health: ok
}

// A bad value is refused at start, by name.
func ExampleConfigFromEnv() {
	env := map[string]string{"SESSION_STORAGE": "memcached"}
	_, err := storage.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, storage.Options{})
	fmt.Println(err)
	// Output:
	// storage: invalid configuration: SESSION_STORAGE="memcached": want redis, database or hybrid
}

// One rule picks the mode when SESSION_STORAGE is unset.
func ExampleDefaultMode() {
	fmt.Println(storage.DefaultMode("redis://localhost:6379/0"))
	fmt.Println(storage.DefaultMode(""))
	// Output:
	// hybrid
	// database
}
