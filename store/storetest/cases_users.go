package storetest

// Cases of the per-user index (store.UserIndex).

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

func userListOrder(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	base := time.Now().Add(-time.Hour)
	var es []*store.Entry
	for _, age := range []time.Duration{3, 1, 4, 2} {
		e := NewEntry("alice")
		e.Created = store.Millis(base.Add(-age * time.Minute))
		put(t, s, e, 0)
		es = append(es, e)
	}
	put(t, s, NewEntry("bob"), 0)
	put(t, s, NewEntry(""), 0)
	list, err := ui.ListUser(ctx(t), "alice")
	if err != nil {
		t.Fatalf("ListUser: %v", err)
	}
	want := []*store.Entry{es[2], es[0], es[3], es[1]}
	if len(list) != len(want) {
		t.Fatalf("ListUser: got %d entries, want %d", len(list), len(want))
	}
	for i := range want {
		sameEntry(t, list[i], want[i], fmt.Sprintf("ListUser entry %d", i))
	}
}

func userListUnknown(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	put(t, s, NewEntry("someone"), 0)
	list, err := ui.ListUser(ctx(t), "nobody")
	if err != nil || len(list) != 0 {
		t.Errorf("ListUser of an unknown user: got %d entries, %v; want none, nil", len(list), err)
	}
	n, err := ui.DeleteUser(ctx(t), "nobody", "")
	if err != nil || n != 0 {
		t.Errorf("DeleteUser of an unknown user: got %d, %v; want 0, nil", n, err)
	}
}

func userListAfterUpdate(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	e := NewEntry("u")
	put(t, s, e, 0)
	e2 := next(e, 2)
	put(t, s, e2, 1)
	list, err := ui.ListUser(ctx(t), "u")
	if err != nil {
		t.Fatalf("ListUser: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListUser: got %d entries, want 1", len(list))
	}
	sameEntry(t, list[0], e2, "ListUser after update")
}

func userDeleteAll(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	var keys []string
	for range 3 {
		e := NewEntry("alice")
		put(t, s, e, 0)
		keys = append(keys, e.Key)
	}
	bob := NewEntry("bob")
	put(t, s, bob, 0)
	anon := NewEntry("")
	put(t, s, anon, 0)
	n, err := ui.DeleteUser(ctx(t), "alice", "")
	if err != nil || n != 3 {
		t.Errorf("DeleteUser: got %d, %v; want 3, nil", n, err)
	}
	for _, k := range keys {
		wantGone(t, s, k, "an entry of the deleted user")
	}
	sameKeys(t, listKeys(t, ui, "alice"), nil, "ListUser after DeleteUser")
	sameEntry(t, get(t, s, bob.Key), bob, "another user's entry")
	sameEntry(t, get(t, s, anon.Key), anon, "an anonymous entry")
	n, err = ui.DeleteUser(ctx(t), "alice", "")
	if err != nil || n != 0 {
		t.Errorf("second DeleteUser: got %d, %v; want 0, nil", n, err)
	}
}

func userDeleteKeep(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	var es []*store.Entry
	for range 3 {
		e := NewEntry("alice")
		put(t, s, e, 0)
		es = append(es, e)
	}
	n, err := ui.DeleteUser(ctx(t), "alice", es[1].Key)
	if err != nil || n != 2 {
		t.Errorf("DeleteUser keeping one: got %d, %v; want 2, nil", n, err)
	}
	sameKeys(t, listKeys(t, ui, "alice"), []string{es[1].Key}, "ListUser after DeleteUser with keep")
	sameEntry(t, get(t, s, es[1].Key), es[1], "the kept entry")
	wantGone(t, s, es[0].Key, "a deleted entry")
	// keep naming another user's entry protects nothing of this user and
	// does not touch the other user.
	bob := NewEntry("bob")
	put(t, s, bob, 0)
	n, err = ui.DeleteUser(ctx(t), "alice", bob.Key)
	if err != nil || n != 1 {
		t.Errorf("DeleteUser keeping another user's key: got %d, %v; want 1, nil", n, err)
	}
	sameEntry(t, get(t, s, bob.Key), bob, "the other user's entry")
}

func userSkipsDead(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	live := NewEntry("u")
	live.Created = live.Created.Add(-time.Hour)
	put(t, s, live, 0)
	dying := shortLived("u", shortTTL)
	put(t, s, dying, 0)
	deleted := NewEntry("u")
	put(t, s, deleted, 0)
	if err := s.Delete(ctx(t), deleted.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	sleepUntil(dying.Deadline())
	sameKeys(t, listKeys(t, ui, "u"), []string{live.Key}, "ListUser with expired and deleted entries")
}

func userDeleteCountsLive(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	put(t, s, NewEntry("u"), 0)
	dying := shortLived("u", shortTTL)
	put(t, s, dying, 0)
	sleepUntil(dying.Deadline())
	n, err := ui.DeleteUser(ctx(t), "u", "")
	if err != nil || n != 1 {
		t.Errorf("DeleteUser with one live and one expired entry: got %d, %v; want 1, nil", n, err)
	}
	sameKeys(t, listKeys(t, ui, "u"), nil, "ListUser after DeleteUser")
}

func userAnonymous(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	anon := []*store.Entry{NewEntry(""), NewEntry("")}
	for _, e := range anon {
		put(t, s, e, 0)
	}
	put(t, s, NewEntry("u"), 0)
	sameKeys(t, listKeys(t, ui, ""), nil, `ListUser("")`)
	n, err := ui.DeleteUser(ctx(t), "", "")
	if err != nil || n != 0 {
		t.Errorf(`DeleteUser(""): got %d, %v; want 0, nil`, n, err)
	}
	for _, e := range anon {
		sameEntry(t, get(t, s, e.Key), e, `an anonymous entry after DeleteUser("")`)
	}
	if keys := listKeys(t, ui, "u"); len(keys) != 1 {
		t.Errorf("ListUser(u) lists %d entries, want 1 (anonymous entries leaked in?)", len(keys))
	}
}

// hostileUserIDs are user ids that break stores which build keys, patterns
// or SQL from them, or index them by prefix.
var hostileUserIDs = []string{
	"*", "?", "a:b", "a", "a:", ":b", "[x]", "x", "%", "_", "\\", "' OR 1=1 --", `" OR ""="`,
	"'", `"`, " ", "  ", "a b", "user", "use", "user1", "user10", "user_1", "user%",
	"{user}", "user_sessions:alice", "ユーザー", "😀", "\x00", "a\x00b", "\xff\xfe",
	"\n", "NULL", "null", "0", "-1",
	strings.Repeat("L", 1024),
	strings.Repeat("L", 1023),
	strings.Repeat("L", 1024) + "x",
	strings.Repeat("é", 4096),
}

func userIsolation(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	keys := map[string][]string{}
	for i := range 2 {
		for _, id := range hostileUserIDs {
			e := NewEntry(id)
			e.Created = e.Created.Add(time.Duration(i) * time.Second)
			put(t, s, e, 0)
			keys[id] = append(keys[id], e.Key)
		}
	}
	for _, id := range hostileUserIDs {
		sameKeys(t, listKeys(t, ui, id), keys[id], fmt.Sprintf("ListUser(%.40q)", id))
	}
	// Delete every other user; the rest keep everything.
	for i, id := range hostileUserIDs {
		if i%2 == 1 {
			continue
		}
		n, err := ui.DeleteUser(ctx(t), id, "")
		if err != nil || n != 2 {
			t.Errorf("DeleteUser(%.40q): got %d, %v; want 2, nil", id, n, err)
		}
	}
	for i, id := range hostileUserIDs {
		want := keys[id]
		if i%2 == 0 {
			want = nil
		}
		sameKeys(t, listKeys(t, ui, id), want, fmt.Sprintf("ListUser(%.40q) after deleting other users", id))
		for _, k := range keys[id] {
			_, err := s.Get(ctx(t), k)
			if i%2 == 0 && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("entry of deleted user %.40q: Get: %v, want ErrNotFound", id, err)
			}
			if i%2 == 1 && err != nil {
				t.Errorf("entry of kept user %.40q: Get: %v", id, err)
			}
		}
	}
}

func userChange(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	e := NewEntry("")
	put(t, s, e, 0)
	sameKeys(t, listKeys(t, ui, "alice"), nil, "alice before login")

	login := next(e, 2)
	login.UserID = "alice"
	put(t, s, login, 1)
	sameKeys(t, listKeys(t, ui, "alice"), []string{e.Key}, "alice after login")

	switched := next(login, 3)
	switched.UserID = "bob"
	put(t, s, switched, 2)
	sameKeys(t, listKeys(t, ui, "alice"), nil, "alice after the entry moved to bob")
	sameKeys(t, listKeys(t, ui, "bob"), []string{e.Key}, "bob after the entry moved to him")
	if n, err := ui.DeleteUser(ctx(t), "alice", ""); err != nil || n != 0 {
		t.Errorf("DeleteUser(alice) after the move: got %d, %v; want 0, nil", n, err)
	}
	sameEntry(t, get(t, s, e.Key), switched, "the moved entry after DeleteUser of its old user")

	logout := next(switched, 4)
	logout.UserID = ""
	put(t, s, logout, 3)
	sameKeys(t, listKeys(t, ui, "bob"), nil, "bob after the entry became anonymous")
	if n, err := ui.DeleteUser(ctx(t), "bob", ""); err != nil || n != 0 {
		t.Errorf("DeleteUser(bob) after the entry became anonymous: got %d, %v; want 0, nil", n, err)
	}
	sameEntry(t, get(t, s, e.Key), logout, "the anonymous entry")
}
