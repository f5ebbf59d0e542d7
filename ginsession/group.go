package ginsession

import (
	"context"
	"sync"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// Group commit.
//
// Concurrent saves of one session in one process do not race each other
// through the store's compare-and-set. The first becomes the committer;
// saves that arrive while it writes queue behind it. When it is done, the
// first queued save becomes the next committer and writes, in one
// compare-and-set, its own delta and the deltas of every save queued with
// it, in arrival order (so on the same key the last writer wins, and
// different keys all survive). Each save waits for the write that carried
// its delta and returns that write's result, so a request still learns,
// before its response is sent, whether its change was stored.
//
// Each committer bases its write on the entry the previous one stored,
// when that is newer than its own copy: in-process writers never see a
// conflict from each other. Writers in other processes still do, and are
// merged by the compare-and-set retry of update, as before.

// commitGroups is the per-session table of committers in progress.
type commitGroups struct {
	mu sync.Mutex
	m  map[string]*commitGroup
}

// commitGroup is one session's committer in progress.
type commitGroup struct {
	queue []*joiner // saves waiting for the next write

	// last is the entry the group last stored, with its values (not to be
	// modified: each committer clones them): the base of the next write.
	last     *store.Entry
	lastVals map[string][]byte
}

// joiner is one save waiting in a group.
type joiner struct {
	delta  map[string][]byte
	lead   bool // woken as the next committer, with followers
	follow []*joiner
	res    groupResult
	done   chan struct{}
}

// groupResult is what a write tells the saves it carried.
type groupResult struct {
	err    error
	ended  bool // the session ended meanwhile: the changes die with it
	token  store.Token
	entry  *store.Entry
	values map[string][]byte // shared: each joiner clones it
}

// groupUpdate saves s's delta through its session's group.
func (s *Session) groupUpdate(ctx context.Context, now time.Time) error {
	gs := &s.m.groups
	key := s.entry.Key
	gs.mu.Lock()
	if gs.m == nil {
		gs.m = map[string]*commitGroup{}
	}
	g := gs.m[key]
	if g == nil {
		g = &commitGroup{}
		gs.m[key] = g
		gs.mu.Unlock()
		return s.lead(ctx, now, key, g, nil)
	}
	j := &joiner{delta: s.delta, done: make(chan struct{})}
	g.queue = append(g.queue, j)
	gs.mu.Unlock()
	<-j.done // bounded: the committer's write has the store timeout
	if j.lead {
		return s.lead(ctx, now, key, g, j.follow)
	}
	return s.adopt(&j.res)
}

// lead writes s's delta and its followers' in one update, tells the
// followers, and hands the group to the next queued save (or closes it).
func (s *Session) lead(ctx context.Context, now time.Time, key string, g *commitGroup, follow []*joiner) error {
	gs := &s.m.groups
	gs.mu.Lock()
	last, lastVals := g.last, g.lastVals
	gs.mu.Unlock()
	if last != nil && last.Key == s.entry.Key && last.Version > s.entry.Version {
		// Rebase on what this process stored last: no conflict to lose.
		vals := cloneMap(lastVals)
		s.applyDelta(vals)
		s.entry, s.values = last, vals
	}
	if len(follow) > 0 {
		if s.delta == nil {
			s.delta = map[string][]byte{}
		}
		for _, j := range follow {
			for k, v := range j.delta {
				s.delta[k] = v
				if v == nil {
					delete(s.values, k)
				} else {
					if s.values == nil {
						s.values = map[string][]byte{}
					}
					s.values[k] = v
				}
			}
		}
	}
	err := s.update(ctx, now)
	res := groupResult{err: err, ended: err == nil && s.entry == nil, token: s.token, entry: s.entry}
	if len(follow) > 0 {
		// res.values is shared by the followers (each clones it) and may
		// be kept as the group's base: never modified. s keeps its own.
		res.values = s.values
		s.values = cloneMap(s.values)
	}

	gs.mu.Lock()
	next := g.queue
	g.queue = nil
	switch {
	case len(next) == 0:
		delete(gs.m, key)
	case err == nil && s.entry != nil && s.entry.Key == key:
		g.last, g.lastVals = s.entry, res.values
		if g.lastVals == nil {
			g.lastVals = cloneMap(s.values)
		}
	default:
		g.last, g.lastVals = nil, nil
	}
	gs.mu.Unlock()

	for _, j := range follow {
		j.res = res
		close(j.done)
	}
	if len(next) > 0 {
		next[0].lead, next[0].follow = true, next[1:]
		close(next[0].done)
	}
	return err
}

// adopt takes the result of the write that carried s's delta.
func (s *Session) adopt(r *groupResult) error {
	switch {
	case r.err != nil:
		return r.err
	case r.ended:
		s.ended()
		return nil
	}
	if r.token != s.token {
		s.setCookie = true
	}
	s.token, s.entry = r.token, r.entry
	s.values = cloneMap(r.values)
	s.delta = nil
	return nil
}
