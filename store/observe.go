package store

import (
	"context"
	"time"
)

// Op names an observed operation: a store method, or a session load or
// save as a whole (reported by ginsession).
type Op uint8

// The observed operations. Their String values are the "op" label of the
// metrics package and the span names of the tracing package.
const (
	OpGet Op = iota
	OpPut
	OpDelete
	OpTouch
	OpGetTouch
	OpListUser
	OpDeleteUser
	OpCopyIn
	OpPing
	OpPublish
	OpSubscribe
	// OpLoad is a session read by ginsession: Result.Err is ErrNotFound
	// when the cookie named no live session.
	OpLoad
	// OpSave is a session write by ginsession (create, update or touch):
	// Result.Retries counts the compare-and-set conflicts it retried.
	OpSave
	// NumOps is the number of operations: valid ops are below it.
	NumOps
)

var opNames = [NumOps]string{
	OpGet: "get", OpPut: "put", OpDelete: "delete", OpTouch: "touch", OpGetTouch: "get_touch",
	OpListUser: "list_user", OpDeleteUser: "delete_user", OpCopyIn: "copy_in", OpPing: "ping",
	OpPublish: "publish", OpSubscribe: "subscribe", OpLoad: "load", OpSave: "save",
}

// String returns the operation's snake_case name ("get_touch"), or
// "unknown".
func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return "unknown"
}

// Call describes an operation as it starts.
type Call struct {
	// Store names the backend: "redis", "database", "hybrid" for the
	// stores of this module, "session" for OpLoad and OpSave (a named
	// ginsession session: "session:" and its name).
	Store string
	// Op is the operation.
	Op Op
}

// Result describes how an operation ended.
type Result struct {
	Call
	// Duration is the operation's wall time.
	Duration time.Duration
	// Err is the operation's error, nil on success. ErrNotFound is an
	// answer (a miss), ErrConflict a lost compare-and-set.
	Err error
	// Fallback: a hybrid store served the call from its secondary store.
	Fallback bool
	// Retries is the number of compare-and-set conflicts the operation
	// retried (OpSave).
	Retries int
}

// Observer is the one observation point of the module: metrics and
// tracing both implement it. It is called as an operation starts, with
// the operation's context, and returns the context to run the operation
// with (a tracer puts its span there, so a traced Redis client or
// database driver nests its own spans under it) and a function the store
// calls once when the operation ends. Neither may block. Set it in the
// stores' Options, hybrid.Options and ginsession.Config; combine several
// with [JoinObservers].
type Observer func(ctx context.Context, c Call) (context.Context, func(Result))

// JoinObservers returns an Observer that calls each non-nil observer in
// order, each with the context the previous one returned, and their end
// functions in reverse order. It returns nil when none is given.
func JoinObservers(obs ...Observer) Observer {
	var list []Observer
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return func(ctx context.Context, c Call) (context.Context, func(Result)) {
		ends := make([]func(Result), len(list))
		for i, o := range list {
			ctx, ends[i] = o(ctx, c)
		}
		return ctx, func(r Result) {
			for i := len(ends) - 1; i >= 0; i-- {
				if ends[i] != nil {
					ends[i](r)
				}
			}
		}
	}
}

// Observation is an operation in progress, for store implementations:
//
//	func (s *Store) Get(ctx context.Context, key string) (e *store.Entry, err error) {
//		ctx, ob := store.Observe(ctx, s.observer, "mystore", store.OpGet)
//		defer func() { ob.End(err) }()
//		...
//
// With a nil Observer it costs nothing: no clock read, no allocation.
type Observation struct {
	end   func(Result)
	call  Call
	start time.Time
	// Fallback is reported as Result.Fallback.
	Fallback bool
	// Retries is reported as Result.Retries.
	Retries int
}

// Observe starts an observation of op on the store named name. obs may
// be nil.
func Observe(ctx context.Context, obs Observer, name string, op Op) (context.Context, Observation) {
	if obs == nil {
		return ctx, Observation{}
	}
	c := Call{Store: name, Op: op}
	ctx, end := obs(ctx, c)
	return ctx, Observation{end: end, call: c, start: time.Now()}
}

// End reports the operation's end with err. Only the first call reports.
func (o *Observation) End(err error) {
	if o.end == nil {
		return
	}
	end := o.end
	o.end = nil
	end(Result{Call: o.call, Duration: time.Since(o.start), Err: err, Fallback: o.Fallback, Retries: o.Retries})
}
