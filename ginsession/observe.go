package ginsession

import (
	"context"

	"github.com/vedfolnir/sessions/store"
)

// observed is the state of a save observation: the context its store
// calls run with, and the conflicts it retried.
type observed struct {
	ctx     context.Context
	retries int
}

// reqContext is the context of the request's store calls and log lines:
// the save observation's while one runs, else the request's.
func (s *Session) reqContext() context.Context {
	switch {
	case s.obs.ctx != nil:
		return s.obs.ctx
	case s.c != nil && s.c.Request != nil:
		return s.c.Request.Context()
	}
	return context.Background()
}

// handleAttr is the session handle as log attributes (none while new):
// the handle, never the token.
func (s *Session) handleAttr() []any {
	if s.entry == nil {
		return nil
	}
	return []any{"session", store.Handle(s.entry.Key)}
}

// loadOutcome is the outcome of a load, as observed: its error, or
// store.ErrNotFound when the cookie gave no live session.
func (s *Session) loadOutcome() error {
	switch {
	case s.loadErr != nil:
		return s.loadErr
	case s.entry == nil:
		return store.ErrNotFound
	}
	return nil
}

// observeSave is save, observed as store.OpSave when it will call the
// store. A save that has nothing to write is not reported, and costs the
// observer nothing.
func (s *Session) observeSave() error {
	obs := s.m.cfg.Observer
	if obs == nil || !s.writes() {
		return s.save()
	}
	ctx, ob := store.Observe(s.reqContext(), obs, s.m.observedAs, store.OpSave)
	s.obs = observed{ctx: ctx}
	err := s.save()
	ob.Retries = s.obs.retries
	s.obs = observed{}
	ob.End(err)
	return err
}

// writes reports whether save will call the store: its cases that do.
func (s *Session) writes() bool {
	if !s.loaded || s.loadErr != nil {
		return false
	}
	switch {
	case s.pending, s.dirty:
		return true
	case s.entry == nil:
		return false
	}
	return s.m.getTouch == nil && s.entry.LastActivity.Before(s.m.cfg.Now().Add(-s.m.cfg.TouchInterval))
}
