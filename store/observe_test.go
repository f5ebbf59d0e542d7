package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vedfolnir/sessions/store"
)

type ctxKey string

// TestJoinObservers: observers start in order, each with the context the
// previous returned, end in reverse order, and nil observers and nil end
// functions are skipped; End reports once.
func TestJoinObservers(t *testing.T) {
	var log []string
	mk := func(name string, noEnd bool) store.Observer {
		return func(ctx context.Context, c store.Call) (context.Context, func(store.Result)) {
			log = append(log, "start "+name+" saw "+ctxVal(ctx))
			ctx = context.WithValue(ctx, ctxKey("v"), name)
			if noEnd {
				return ctx, nil
			}
			return ctx, func(r store.Result) {
				log = append(log, "end "+name+" "+r.Store+" "+r.Op.String()+" "+errText(r.Err))
			}
		}
	}
	tests := []struct {
		name string
		obs  store.Observer
		want []string
	}{
		{"none", store.JoinObservers(nil, nil), nil},
		{"one", store.JoinObservers(nil, mk("a", false)), []string{"start a saw ", "end a redis get_touch conflict"}},
		{"three", store.JoinObservers(mk("a", false), mk("b", true), mk("c", false)), []string{
			"start a saw ", "start b saw a", "start c saw b", "end c redis get_touch conflict", "end a redis get_touch conflict"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log = nil
			ctx, ob := store.Observe(context.Background(), tt.obs, "redis", store.OpGetTouch)
			if tt.obs == nil && ctx != context.Background() {
				t.Error("a nil observer changed the context")
			}
			ob.End(store.ErrConflict)
			ob.End(nil) // reported once
			if len(log) != len(tt.want) {
				t.Fatalf("log %q, want %q", log, tt.want)
			}
			for i := range log {
				if log[i] != tt.want[i] {
					t.Errorf("log[%d] = %q, want %q", i, log[i], tt.want[i])
				}
			}
		})
	}
}

func ctxVal(ctx context.Context) string { v, _ := ctx.Value(ctxKey("v")).(string); return v }

func errText(err error) string {
	if errors.Is(err, store.ErrConflict) {
		return "conflict"
	}
	return "nil"
}

// TestOpNames: every operation has a name, and an unknown one says so.
func TestOpNames(t *testing.T) {
	seen := map[string]bool{}
	for o := store.Op(0); o < store.NumOps; o++ {
		n := o.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("op %d: name %q", o, n)
		}
		seen[n] = true
	}
	if store.NumOps.String() != "unknown" {
		t.Errorf("NumOps.String() = %q", store.NumOps.String())
	}
}

// TestObserveNilAllocs: with no observer, an observation allocates nothing.
func TestObserveNilAllocs(t *testing.T) {
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		_, ob := store.Observe(ctx, nil, "redis", store.OpGet)
		ob.End(nil)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
