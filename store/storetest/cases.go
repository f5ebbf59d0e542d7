package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vedfolnir/sessions/store"
)

// short deadline used by the expiry cases: long enough for a Put and a Get
// on a loaded machine, short enough to keep the suite fast.
const shortTTL = 250 * time.Millisecond

var cases = []testCase{
	// Get and Put basics.
	{"get_missing", "Get of a key never stored is ErrNotFound", getMissing},
	{"put_create_roundtrip", "a created entry reads back with every field equal, times at ms precision", createRoundTrip},
	{"put_normalizes_times", "times with nanoseconds and a non-UTC zone read back truncated to ms", normalizesTimes},
	{"entries_are_copies", "neither the Put argument nor a Get result shares memory with the store", entriesAreCopies},
	{"put_create_existing_conflict", "a create (prev 0) on a live key is ErrConflict and leaves it unchanged", createExistingConflict},
	{"put_update", "an update with the stored version as prev succeeds; versions may jump", update},
	{"put_update_stale_conflict", "an update with a prev other than the stored version is ErrConflict and changes nothing", updateStale},
	{"put_update_missing_not_recreated", "an update (prev > 0) of a never-stored key is ErrNotFound and stores nothing", updateMissing},
	{"put_update_deleted_not_recreated", "an update of a deleted key is ErrNotFound and does not bring it back", updateDeleted},
	{"put_update_expired_not_recreated", "an update of an expired key is ErrNotFound and does not bring it back", updateExpired},
	{"put_version_not_above_prev_invalid", "a Put whose version is not above prev is ErrInvalid", versionNotAbove},
	{"put_invalid_entry", "a nil entry or a zero deadline is ErrInvalid", invalidEntry},
	{"malformed_key", "a malformed key is refused by Put (ErrInvalid) and never found by Get or Touch", malformedKey},

	// Delete.
	{"delete_then_get", "Get after Delete is ErrNotFound", deleteThenGet},
	{"delete_missing", "Delete of a missing key, or twice, is not an error", deleteMissing},

	// Expiry.
	{"expire_idle", "an entry past its idle deadline is ErrNotFound, purged or not", expireIdle},
	{"expire_absolute", "an entry past its absolute deadline is ErrNotFound, whatever its idle deadline", expireAbsolute},
	{"create_over_expired", "a create (prev 0) over an expired key succeeds", createOverExpired},

	// Touch.
	{"touch_refreshes", "Touch sets LastActivity and IdleDeadline and keeps payload and version", touchRefreshes},
	{"touch_extends_life", "a touched entry lives past its old idle deadline", touchExtends},
	{"touch_missing", "Touch of a missing, deleted or expired key is ErrNotFound and creates nothing", touchMissing},

	// GetToucher (optional).
	{"gettouch_missing", "GetTouch of a missing or expired key is ErrNotFound", getTouchMissing},
	{"gettouch_recent_untouched", "GetTouch leaves an entry alone when LastActivity is not before touchBefore", getTouchRecent},
	{"gettouch_refreshes", "GetTouch refreshes a stale entry and returns the refreshed copy", getTouchRefreshes},
	{"gettouch_caps_at_absolute", "GetTouch never sets the idle deadline past the absolute deadline", getTouchCaps},

	// User index (required).
	{"user_list_oldest_first", "ListUser returns only the user's entries, oldest Created first, with payloads", userListOrder},
	{"user_list_unknown", "ListUser of an unknown user is an empty list, not an error", userListUnknown},
	{"user_list_after_update", "ListUser shows the latest version and payload after an update", userListAfterUpdate},
	{"user_delete_all", "DeleteUser with keep \"\" deletes every entry of the user and counts them", userDeleteAll},
	{"user_delete_keep", "DeleteUser keeps the entry under keep and deletes the rest", userDeleteKeep},
	{"user_index_skips_dead", "ListUser never lists expired or deleted entries", userSkipsDead},
	{"user_delete_counts_live", "DeleteUser counts only live entries", userDeleteCountsLive},
	{"user_anonymous_unlisted", "anonymous entries (UserID \"\") are never listed or deleted through the index", userAnonymous},
	{"user_ids_isolated", "hostile, long, binary and prefix-sharing user ids never see each other's entries", userIsolation},
	{"user_change_moves_index", "a Put that changes UserID moves the entry between users' lists", userChange},

	// Concurrency.
	{"put_race_one_winner", "of 50 concurrent Puts with the same prev exactly one wins, the rest are ErrConflict", raceOneWinner},

	// Size limit.
	{"too_large", "a payload of MaxPayload+1 bytes is ErrTooLarge and keeps the stored entry; MaxPayload bytes fit", tooLarge},

	// Copier (optional).
	{"copy_in", "CopyIn writes when missing or older, refuses when not older, keeps the version", copyIn},
	{"copy_in_expired", "CopyIn never writes an expired entry and replaces an expired stored one", copyInExpired},
	{"copy_in_indexed", "an entry written by CopyIn is in its user's index", copyInIndexed},
	{"copy_in_invalid", "CopyIn refuses malformed keys, version 0 and oversize payloads", copyInInvalid},

	// Health and contexts.
	{"ping", "Ping answers nil on a working store", ping},
	{"context_cancelled", "every method returns an error, promptly, on a cancelled context", contextCancelled},
}

func getMissing(t testing.TB, s store.Store, _ Options) {
	_, err := s.Get(ctx(t), NewEntry("").Key)
	wantErr(t, err, store.ErrNotFound, "Get of a missing key")
}

func createRoundTrip(t testing.TB, s store.Store, _ Options) {
	for _, user := range []string{"", "user-1"} {
		e := NewEntry(user)
		e.Created = e.Created.Add(-time.Hour)
		e.LastActivity = e.LastActivity.Add(-time.Second)
		e.Version = 3
		put(t, s, e, 0)
		sameEntry(t, get(t, s, e.Key), e, "Get after create")
	}
	// An empty payload is a valid payload.
	e := NewEntry("user-1")
	e.Payload = nil
	put(t, s, e, 0)
	if got := get(t, s, e.Key); len(got.Payload) != 0 {
		t.Errorf("empty payload read back as %d bytes", len(got.Payload))
	}
}

func normalizesTimes(t testing.TB, s store.Store, _ Options) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	now := time.Now().In(zone)
	e := NewEntry("u")
	e.Created = now.Add(-time.Minute + 123456*time.Nanosecond)
	e.LastActivity = now.Add(999999 * time.Nanosecond)
	e.IdleDeadline = now.Add(time.Hour + 1)
	e.AbsoluteDeadline = now.Add(2*time.Hour + 999*time.Microsecond)
	put(t, s, e, 0)
	sameEntry(t, get(t, s, e.Key), e, "Get of an entry stored with sub-ms times")
}

func entriesAreCopies(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	want := e.Clone()
	put(t, s, e, 0)
	e.Payload[0] ^= 0xff
	e.UserID = "changed"
	got := get(t, s, e.Key)
	sameEntry(t, got, want, "Get after the caller changed its Put argument")
	got.Payload[0] ^= 0xff
	got.Version = 99
	sameEntry(t, get(t, s, e.Key), want, "Get after the caller changed an earlier Get result")
}

func createExistingConflict(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	put(t, s, e, 0)
	again := NewEntry("other")
	again.Key = e.Key
	wantErr(t, s.Put(ctx(t), again, 0), store.ErrConflict, "create over a live entry")
	sameEntry(t, get(t, s, e.Key), e, "entry after a refused create")
}

func update(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	put(t, s, e, 0)
	e2 := next(e, 2)
	e2.LastActivity = e2.LastActivity.Add(time.Second)
	put(t, s, e2, 1)
	sameEntry(t, get(t, s, e.Key), e2, "Get after update 1→2")
	e7 := next(e2, 7)
	put(t, s, e7, 2)
	sameEntry(t, get(t, s, e.Key), e7, "Get after update 2→7")
}

func updateStale(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	put(t, s, e, 0)
	e2 := next(e, 2)
	put(t, s, e2, 1)
	wantErr(t, s.Put(ctx(t), next(e, 3), 1), store.ErrConflict, "update with an old prev")
	wantErr(t, s.Put(ctx(t), next(e, 9), 5), store.ErrConflict, "update with a future prev")
	sameEntry(t, get(t, s, e.Key), e2, "entry after refused updates")
}

func updateMissing(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	wantErr(t, s.Put(ctx(t), next(e, 2), 1), store.ErrNotFound, "update of a missing key")
	wantGone(t, s, e.Key, "after an update of a missing key")
	sameKeys(t, listKeys(t, userIndex(t, s), "u"), nil, "ListUser after an update of a missing key")
}

func updateDeleted(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	put(t, s, e, 0)
	if err := s.Delete(ctx(t), e.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantErr(t, s.Put(ctx(t), next(e, 2), 1), store.ErrNotFound, "late update of a deleted key")
	wantGone(t, s, e.Key, "after a late update of a deleted key")
	sameKeys(t, listKeys(t, userIndex(t, s), "u"), nil, "ListUser after a late update of a deleted key")
}

func updateExpired(t testing.TB, s store.Store, _ Options) {
	e := shortLived("u", shortTTL)
	put(t, s, e, 0)
	sleepUntil(e.Deadline())
	late := next(e, 2)
	late.IdleDeadline = store.Millis(time.Now().Add(time.Hour))
	wantErr(t, s.Put(ctx(t), late, 1), store.ErrNotFound, "update of an expired key")
	wantGone(t, s, e.Key, "after an update of an expired key")
}

func versionNotAbove(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	e.Version = 0
	wantErr(t, s.Put(ctx(t), e, 0), store.ErrInvalid, "create at version 0")
	wantGone(t, s, e.Key, "after a refused create")
	e.Version = 1
	put(t, s, e, 0)
	wantErr(t, s.Put(ctx(t), next(e, 1), 1), store.ErrInvalid, "update to the same version")
	wantErr(t, s.Put(ctx(t), next(e, 1), 4), store.ErrInvalid, "update to a lower version")
	sameEntry(t, get(t, s, e.Key), e, "entry after refused updates")
}

func invalidEntry(t testing.TB, s store.Store, _ Options) {
	wantErr(t, s.Put(ctx(t), nil, 0), store.ErrInvalid, "Put(nil)")
	e := NewEntry("u")
	e.IdleDeadline = time.Time{}
	wantErr(t, s.Put(ctx(t), e, 0), store.ErrInvalid, "Put with a zero idle deadline")
	e = NewEntry("u")
	e.AbsoluteDeadline = time.Time{}
	wantErr(t, s.Put(ctx(t), e, 0), store.ErrInvalid, "Put with a zero absolute deadline")
	wantGone(t, s, e.Key, "after refused Puts")
}

// malformedKeys are keys no store may accept.
var malformedKeys = []string{
	"",
	"abc",
	strings.Repeat("A", store.KeyLen-1),
	strings.Repeat("A", store.KeyLen+1),
	strings.Repeat("A", store.KeyLen-1) + "B", // right length, non-canonical last character
	strings.Repeat("A", store.KeyLen-1) + "=",
	strings.Repeat("+", store.KeyLen),
	strings.Repeat("/", store.KeyLen),
	"../../../../../../../../../../../etc/passwd",
	strings.Repeat("A", store.KeyLen-2) + "*",
	strings.Repeat("A", store.KeyLen-1) + "\x00",
	strings.Repeat("é", store.KeyLen/2),
	"' OR 1=1 --" + strings.Repeat("A", store.KeyLen-11),
}

func malformedKey(t testing.TB, s store.Store, _ Options) {
	for _, k := range malformedKeys {
		e := NewEntry("u")
		e.Key = k
		wantErr(t, s.Put(ctx(t), e, 0), store.ErrInvalid, fmt.Sprintf("Put with key %q", k))
		if _, err := s.Get(ctx(t), k); !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q): got %v, want ErrInvalid or ErrNotFound", k, err)
		}
		err := s.Touch(ctx(t), k, time.Now(), time.Now().Add(time.Hour))
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Touch(%q): got %v, want ErrInvalid or ErrNotFound", k, err)
		}
		if err := s.Delete(ctx(t), k); err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Delete(%q): got %v, want nil or ErrInvalid", k, err)
		}
	}
	if keys := listKeys(t, userIndex(t, s), "u"); len(keys) != 0 {
		t.Errorf("entries with malformed keys were stored: %d listed", len(keys))
	}
}

func deleteThenGet(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	put(t, s, e, 0)
	other := NewEntry("u")
	put(t, s, other, 0)
	if err := s.Delete(ctx(t), e.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantGone(t, s, e.Key, "after Delete")
	sameEntry(t, get(t, s, other.Key), other, "another entry after Delete")
	sameKeys(t, listKeys(t, userIndex(t, s), "u"), []string{other.Key}, "ListUser after Delete")
}

func deleteMissing(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	if err := s.Delete(ctx(t), e.Key); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	put(t, s, e, 0)
	for i := range 2 {
		if err := s.Delete(ctx(t), e.Key); err != nil {
			t.Errorf("Delete #%d: %v", i+1, err)
		}
	}
}

func expireIdle(t testing.TB, s store.Store, _ Options) {
	e := shortLived("u", shortTTL)
	put(t, s, e, 0)
	wantLive(t, s, e, "before the idle deadline")
	sleepUntil(e.IdleDeadline)
	wantGone(t, s, e.Key, "after the idle deadline")
}

func expireAbsolute(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	e.AbsoluteDeadline = store.Millis(time.Now().Add(shortTTL))
	put(t, s, e, 0)
	wantLive(t, s, e, "before the absolute deadline")
	// A touch pushing the idle deadline far out must not extend the
	// absolute one.
	if err := s.Touch(ctx(t), e.Key, time.Now(), time.Now().Add(time.Hour)); err != nil &&
		!(errors.Is(err, store.ErrNotFound) && !time.Now().Before(e.AbsoluteDeadline)) {
		t.Fatalf("Touch: %v", err)
	}
	sleepUntil(e.AbsoluteDeadline)
	wantGone(t, s, e.Key, "after the absolute deadline")
}

func createOverExpired(t testing.TB, s store.Store, _ Options) {
	old := shortLived("old-user", shortTTL)
	old.Version = 9
	put(t, s, old, 0)
	sleepUntil(old.Deadline())
	e := NewEntry("new-user")
	e.Key = old.Key
	if err := s.Put(ctx(t), e, 0); err != nil {
		t.Fatalf("create over an expired key: %v", err)
	}
	sameEntry(t, get(t, s, e.Key), e, "Get after create over an expired key")
	ui := userIndex(t, s)
	sameKeys(t, listKeys(t, ui, "old-user"), nil, "the expired entry's old user")
	sameKeys(t, listKeys(t, ui, "new-user"), []string{e.Key}, "the new user")
}

func touchRefreshes(t testing.TB, s store.Store, _ Options) {
	e := NewEntry("u")
	e.LastActivity = e.LastActivity.Add(-10 * time.Minute)
	put(t, s, e, 0)
	la := time.Now()
	idle := la.Add(45 * time.Minute)
	if err := s.Touch(ctx(t), e.Key, la, idle); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	want := e.Clone()
	want.LastActivity = la
	want.IdleDeadline = idle
	sameEntry(t, get(t, s, e.Key), want, "Get after Touch")
	// A Put after a Touch still compares against the untouched version.
	put(t, s, next(e, 2), 1)
}

func touchExtends(t testing.TB, s store.Store, _ Options) {
	// A longer life than shortTTL, so a loaded machine still touches in
	// time.
	e := shortLived("u", 4*shortTTL)
	put(t, s, e, 0)
	time.Sleep(shortTTL)
	if err := s.Touch(ctx(t), e.Key, time.Now(), time.Now().Add(time.Minute)); err != nil {
		if errors.Is(err, store.ErrNotFound) && !time.Now().Before(e.IdleDeadline) {
			t.Skip("machine too slow to touch before the idle deadline")
		}
		t.Fatalf("Touch: %v", err)
	}
	sleepUntil(e.IdleDeadline)
	got := get(t, s, e.Key)
	if got.Version != e.Version || !bytes.Equal(got.Payload, e.Payload) {
		t.Errorf("Touch changed version or payload")
	}
}

func touchMissing(t testing.TB, s store.Store, _ Options) {
	now := time.Now()
	missing := NewEntry("u")
	wantErr(t, s.Touch(ctx(t), missing.Key, now, now.Add(time.Hour)), store.ErrNotFound, "Touch of a missing key")
	wantGone(t, s, missing.Key, "after Touch of a missing key")

	deleted := NewEntry("u")
	put(t, s, deleted, 0)
	if err := s.Delete(ctx(t), deleted.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantErr(t, s.Touch(ctx(t), deleted.Key, now, now.Add(time.Hour)), store.ErrNotFound, "Touch of a deleted key")
	wantGone(t, s, deleted.Key, "after Touch of a deleted key")

	expired := shortLived("u", shortTTL)
	put(t, s, expired, 0)
	sleepUntil(expired.Deadline())
	now = time.Now()
	wantErr(t, s.Touch(ctx(t), expired.Key, now, now.Add(time.Hour)), store.ErrNotFound, "Touch of an expired key")
	wantGone(t, s, expired.Key, "after Touch of an expired key")
	sameKeys(t, listKeys(t, userIndex(t, s), "u"), nil, "ListUser after Touch of dead keys")
}

func getToucher(t testing.TB, s store.Store) store.GetToucher {
	t.Helper()
	gt, ok := s.(store.GetToucher)
	if !ok {
		t.Skipf("%T does not implement store.GetToucher", s)
	}
	return gt
}

func getTouchMissing(t testing.TB, s store.Store, _ Options) {
	gt := getToucher(t, s)
	now := time.Now()
	_, err := gt.GetTouch(ctx(t), NewEntry("").Key, now, time.Hour, now)
	wantErr(t, err, store.ErrNotFound, "GetTouch of a missing key")

	e := shortLived("u", shortTTL)
	put(t, s, e, 0)
	sleepUntil(e.Deadline())
	now = time.Now()
	_, err = gt.GetTouch(ctx(t), e.Key, now, time.Hour, now.Add(time.Hour))
	wantErr(t, err, store.ErrNotFound, "GetTouch of an expired key")
	wantGone(t, s, e.Key, "after GetTouch of an expired key")
}

func getTouchRecent(t testing.TB, s store.Store, _ Options) {
	gt := getToucher(t, s)
	e := NewEntry("u")
	put(t, s, e, 0)
	now := time.Now().Add(time.Second)
	got, err := gt.GetTouch(ctx(t), e.Key, now, time.Hour, e.LastActivity)
	if err != nil {
		t.Fatalf("GetTouch: %v", err)
	}
	sameEntry(t, got, e, "GetTouch result with touchBefore == LastActivity")
	sameEntry(t, get(t, s, e.Key), e, "Get after a GetTouch that must not touch")
}

func getTouchRefreshes(t testing.TB, s store.Store, _ Options) {
	gt := getToucher(t, s)
	e := NewEntry("u")
	e.LastActivity = e.LastActivity.Add(-10 * time.Minute)
	put(t, s, e, 0)
	now := time.Now()
	got, err := gt.GetTouch(ctx(t), e.Key, now, time.Hour, now.Add(-time.Minute))
	if err != nil {
		t.Fatalf("GetTouch: %v", err)
	}
	want := e.Clone()
	want.LastActivity = now
	want.IdleDeadline = now.Add(time.Hour)
	sameEntry(t, got, want, "GetTouch result")
	sameEntry(t, get(t, s, e.Key), want, "Get after GetTouch")
}

func getTouchCaps(t testing.TB, s store.Store, _ Options) {
	gt := getToucher(t, s)
	e := NewEntry("u")
	e.LastActivity = e.LastActivity.Add(-10 * time.Minute)
	e.AbsoluteDeadline = store.Millis(time.Now().Add(40 * time.Minute))
	put(t, s, e, 0)
	now := time.Now()
	got, err := gt.GetTouch(ctx(t), e.Key, now, 2*time.Hour, now)
	if err != nil {
		t.Fatalf("GetTouch: %v", err)
	}
	want := e.Clone()
	want.LastActivity = now
	want.IdleDeadline = e.AbsoluteDeadline
	sameEntry(t, got, want, "GetTouch result near the absolute deadline")
	sameEntry(t, get(t, s, e.Key), want, "Get after GetTouch near the absolute deadline")
}

func raceOneWinner(t testing.TB, s store.Store, _ Options) {
	const writers, rounds = 50, 6
	base := NewEntry("u")
	var prev uint64
	for round := range rounds {
		var (
			start = make(chan struct{})
			wg    sync.WaitGroup
			errs  = make([]error, writers)
			tries = make([]*store.Entry, writers)
		)
		for i := range writers {
			tries[i] = next(base, prev+1)
			tries[i].Payload = []byte(fmt.Sprintf("round %d writer %d", round, i))
			wg.Go(func() {
				<-start
				errs[i] = s.Put(ctx(t), tries[i], prev)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d (prev %d): writers %d and %d both won", round, prev, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d (prev %d): writer %d: got %v, want nil or ErrConflict", round, prev, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d (prev %d): no writer won", round, prev)
		}
		sameEntry(t, get(t, s, base.Key), tries[winner], fmt.Sprintf("round %d: stored entry", round))
		prev++
	}
}

func tooLarge(t testing.TB, s store.Store, o Options) {
	e := NewEntry("u")
	e.Payload = bytes.Repeat([]byte{0xa5}, o.MaxPayload)
	if err := s.Put(ctx(t), e, 0); err != nil {
		t.Fatalf("create with exactly MaxPayload (%d) bytes: %v", o.MaxPayload, err)
	}
	big := next(e, 2)
	big.Payload = bytes.Repeat([]byte{0x5a}, o.MaxPayload+1)
	wantErr(t, s.Put(ctx(t), big, 1), store.ErrTooLarge, "update with MaxPayload+1 bytes")
	sameEntry(t, get(t, s, e.Key), e, "entry after a refused oversize update")
	put(t, s, next(e, 2), 1)

	fresh := NewEntry("u")
	fresh.Payload = big.Payload
	wantErr(t, s.Put(ctx(t), fresh, 0), store.ErrTooLarge, "create with MaxPayload+1 bytes")
	wantGone(t, s, fresh.Key, "after a refused oversize create")
}

func copier(t testing.TB, s store.Store) store.Copier {
	t.Helper()
	c, ok := s.(store.Copier)
	if !ok {
		t.Skipf("%T does not implement store.Copier", s)
	}
	return c
}

func copyInto(t testing.TB, c store.Copier, e *store.Entry, want bool, what string) {
	t.Helper()
	wrote, err := c.CopyIn(ctx(t), e)
	if err != nil {
		t.Fatalf("%s: CopyIn: %v", what, err)
	}
	if wrote != want {
		t.Errorf("%s: CopyIn wrote = %v, want %v", what, wrote, want)
	}
}

func copyIn(t testing.TB, s store.Store, _ Options) {
	c := copier(t, s)
	e := NewEntry("u")
	e.Version = 7
	copyInto(t, c, e, true, "copy into a missing key")
	sameEntry(t, get(t, s, e.Key), e, "Get after CopyIn")

	same := next(e, 7)
	copyInto(t, c, same, false, "copy of the same version")
	older := next(e, 5)
	copyInto(t, c, older, false, "copy of an older version")
	sameEntry(t, get(t, s, e.Key), e, "entry after refused copies")

	newer := next(e, 12)
	copyInto(t, c, newer, true, "copy of a newer version")
	sameEntry(t, get(t, s, e.Key), newer, "Get after copying a newer version")
	// Put keeps comparing against the copied version.
	wantErr(t, s.Put(ctx(t), next(e, 8), 7), store.ErrConflict, "Put with the pre-copy version")
	put(t, s, next(newer, 13), 12)
}

func copyInExpired(t testing.TB, s store.Store, _ Options) {
	c := copier(t, s)
	dead := NewEntry("u")
	dead.IdleDeadline = store.Millis(time.Now().Add(-time.Second))
	copyInto(t, c, dead, false, "copy of an expired entry into a missing key")
	wantGone(t, s, dead.Key, "after copying an expired entry")

	live := NewEntry("u")
	put(t, s, live, 0)
	deadNewer := next(live, 5)
	deadNewer.AbsoluteDeadline = store.Millis(time.Now().Add(-time.Second))
	copyInto(t, c, deadNewer, false, "copy of an expired newer version")
	sameEntry(t, get(t, s, live.Key), live, "entry after copying an expired newer version")

	stale := shortLived("u", shortTTL)
	stale.Version = 9
	put(t, s, stale, 0)
	sleepUntil(stale.Deadline())
	repl := next(stale, 2)
	repl.IdleDeadline = store.Millis(time.Now().Add(time.Hour))
	copyInto(t, c, repl, true, "copy of a lower version over an expired entry")
	sameEntry(t, get(t, s, stale.Key), repl, "Get after copying over an expired entry")
}

func copyInIndexed(t testing.TB, s store.Store, _ Options) {
	c := copier(t, s)
	ui := userIndex(t, s)
	e := NewEntry("")
	put(t, s, e, 0)
	moved := next(e, 4)
	moved.UserID = "carol"
	copyInto(t, c, moved, true, "copy of a logged-in version over an anonymous one")
	fresh := NewEntry("carol")
	fresh.Created = moved.Created.Add(time.Second)
	copyInto(t, c, fresh, true, "copy into a missing key")
	sameKeys(t, listKeys(t, ui, "carol"), []string{moved.Key, fresh.Key}, "ListUser after CopyIn")
	if n, err := ui.DeleteUser(ctx(t), "carol", ""); err != nil || n != 2 {
		t.Errorf("DeleteUser after CopyIn: got %d, %v; want 2, nil", n, err)
	}
}

func copyInInvalid(t testing.TB, s store.Store, o Options) {
	c := copier(t, s)
	for _, k := range malformedKeys[:4] {
		e := NewEntry("u")
		e.Key = k
		_, err := c.CopyIn(ctx(t), e)
		wantErr(t, err, store.ErrInvalid, fmt.Sprintf("CopyIn with key %q", k))
	}
	e := NewEntry("u")
	e.Version = 0
	_, err := c.CopyIn(ctx(t), e)
	wantErr(t, err, store.ErrInvalid, "CopyIn at version 0")
	_, err = c.CopyIn(ctx(t), nil)
	wantErr(t, err, store.ErrInvalid, "CopyIn(nil)")
	e.Version = 1
	e.Payload = make([]byte, o.MaxPayload+1)
	_, err = c.CopyIn(ctx(t), e)
	wantErr(t, err, store.ErrTooLarge, "CopyIn with MaxPayload+1 bytes")
	wantGone(t, s, e.Key, "after refused copies")
}

func ping(t testing.TB, s store.Store, _ Options) {
	p, ok := s.(store.Pinger)
	if !ok {
		t.Skipf("%T does not implement store.Pinger", s)
	}
	if err := p.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func contextCancelled(t testing.TB, s store.Store, _ Options) {
	ui := userIndex(t, s)
	e := NewEntry("u")
	put(t, s, e, 0)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(cancelled, e.Key); return err }},
		{"Put", func() error { return s.Put(cancelled, next(e, 2), 1) }},
		{"Delete", func() error { return s.Delete(cancelled, e.Key) }},
		{"Touch", func() error { return s.Touch(cancelled, e.Key, now, now.Add(time.Hour)) }},
		{"ListUser", func() error { _, err := ui.ListUser(cancelled, "u"); return err }},
		{"DeleteUser", func() error { _, err := ui.DeleteUser(cancelled, "u", ""); return err }},
	}
	if gt, ok := s.(store.GetToucher); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"GetTouch", func() error { _, err := gt.GetTouch(cancelled, e.Key, now, time.Hour, now); return err }})
	}
	if c, ok := s.(store.Copier); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"CopyIn", func() error { _, err := c.CopyIn(cancelled, next(e, 9)); return err }})
	}
	if p, ok := s.(store.Pinger); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"Ping", func() error { return p.Ping(cancelled) }})
	}
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			switch {
			case err == nil:
				t.Errorf("%s with a cancelled context: no error", c.name)
			case !errors.Is(err, context.Canceled) && !errors.Is(err, store.ErrUnavailable):
				t.Errorf("%s with a cancelled context: got %v, want an error matching context.Canceled or ErrUnavailable", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a cancelled context: no answer after 10s", c.name)
		}
	}
}
