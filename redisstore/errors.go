package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/store"
)

// wrap gives err the package prefix and the operation. Errors that mean
// the server could not be reached or did not answer in time (network
// errors, timeouts, a closed or exhausted pool, a server that is loading,
// read-only after a failover, or a cluster that is down) also wrap
// store.ErrUnavailable, beside the driver's own error. redis.Nil never
// reaches here: callers translate it first.
func wrap(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err is an outage rather than a bug or a
// refusal: everything that is not an error reply of the server (network
// errors, timeouts, redis.ErrClosed, pool timeouts), except a caller's
// cancellation, and the replies that mean "not now".
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if !errors.As(err, &re) {
		return true
	}
	msg := re.Error()
	for _, p := range notNow {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// notNow are the prefixes of server replies that mean the server cannot
// serve at the moment: loading, read-only (a demoted master), no master,
// cluster down or resharding, a busy script, redirects left over.
var notNow = [...]string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "MOVED", "ASK"}

// reloadEvery bounds how often an outage makes a Cluster client reload
// its slot map.
const reloadEvery = 250 * time.Millisecond

// wrap is the package's wrap for the Store's own calls. An outage on a
// Cluster also makes the client reload its slot map (at most every
// reloadEvery, in the background): go-redis reloads it on a MOVED reply or
// every 10 s, so after a master dies and its replica takes over, commands
// for its slots would keep dialling the dead node until then.
func (s *Store) wrap(op string, err error) error {
	if s.cluster && unavailable(err) {
		if cc, ok := s.c.(*redis.ClusterClient); ok {
			now := time.Now().UnixNano()
			last := s.lastReload.Load()
			if now-last >= int64(reloadEvery) && s.lastReload.CompareAndSwap(last, now) {
				go cc.ReloadState(context.Background())
			}
		}
	}
	return wrap(op, err)
}
