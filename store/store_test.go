package store

// Store tests run on a real bbolt file in t.TempDir(); the clock is injected through
// Options.Now so that expiry is tested without sleeping.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	s     *Bolt
	clock *clock
	path  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
		path: filepath.Join(t.TempDir(), "store.db")}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	s, err := Open(f.path, Options{Now: f.clock.Now, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
	f.t.Cleanup(func() { s.Close() })
}

// reopen closes the store and opens the same file again (a restart).
func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.s.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) user(name string) *User {
	f.t.Helper()
	u := &User{Username: name, Name: name, Email: name + "@example.org", Hash: "hash-" + name, Active: true}
	if err := f.s.CreateUser(u, false); err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fixture) room(id, name, typ string, members ...string) *Room {
	f.t.Helper()
	r := &Room{ID: id, Name: name, Type: typ}
	if err := f.s.CreateRoom(r, members, ""); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) post(rid string, u *User, text string) *Message {
	f.t.Helper()
	m := &Message{Text: text}
	if err := f.s.PostMessage(rid, u, m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) history(rid, uid string, q HistoryQuery) []string {
	f.t.Helper()
	reader, err := f.s.User(uid)
	if err != nil {
		f.t.Fatal(err)
	}
	msgs, err := f.s.History(rid, reader, q)
	if err != nil {
		f.t.Fatal(err)
	}
	texts := make([]string, len(msgs))
	for i, m := range msgs {
		texts[i] = m.Text
	}
	return texts
}

func wantKind(t *testing.T, err error, kind Kind) {
	t.Helper()
	if KindOf(err) != kind {
		t.Fatalf("error %v (kind %d), want kind %d", err, KindOf(err), kind)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeyEncoding(t *testing.T) {
	t.Run("Join2", func(t *testing.T) {
		got := join2("AB", []byte{1, 2})
		if want := []byte{'A', 'B', 0, 1, 2}; !bytes.Equal(got, want) {
			t.Fatalf("join2 = %v, want %v", got, want)
		}
		if got, want := prefix("A"), []byte{'A', 0}; !bytes.Equal(got, want) {
			t.Fatalf("prefix = %v, want %v", got, want)
		}
	})
	t.Run("BigEndianOrder", func(t *testing.T) {
		// Sequence order must be byte order: 255 < 256 < 65536.
		for _, pair := range [][2]uint64{{1, 2}, {255, 256}, {256, 65536}, {1<<32 - 1, 1 << 32}} {
			if bytes.Compare(msgKey("r", pair[0]), msgKey("r", pair[1])) >= 0 {
				t.Fatalf("msgKey(%d) does not sort before msgKey(%d)", pair[0], pair[1])
			}
		}
		if got, want := msgKey("r", 258), []byte{'r', 0, 0, 0, 0, 0, 0, 0, 1, 2}; !bytes.Equal(got, want) {
			t.Fatalf("msgKey = %v, want %v", got, want)
		}
	})
	t.Run("PrefixesDoNotOverlap", func(t *testing.T) {
		// Every key of room "A" sorts before every key of room "AB", and none has the other's prefix.
		a, ab := msgKey("A", 1<<64-1), msgKey("AB", 0)
		if bytes.Compare(a, ab) >= 0 || bytes.HasPrefix(ab, prefix("A")) || bytes.HasPrefix(a, prefix("AB")) {
			t.Fatalf("keys of A and AB overlap: %v %v", a, ab)
		}
	})
	t.Run("TimeKey", func(t *testing.T) {
		if bytes.Compare(tsKey("r", 1000, 9), tsKey("r", 1001, 1)) >= 0 {
			t.Fatal("tsKey is not ordered by time first")
		}
		if bytes.Compare(tsKey("r", 1000, 1), tsKey("r", 1000, 2)) >= 0 {
			t.Fatal("tsKey is not ordered by sequence within one millisecond")
		}
	})
	t.Run("ValidKeyPart", func(t *testing.T) {
		for s, want := range map[string]bool{"": false, "a\x00b": false, "GENERAL": true, "x": true} {
			if validKeyPart(s) != want {
				t.Errorf("validKeyPart(%q) = %v, want %v", s, !want, want)
			}
		}
	})
	t.Run("NewID", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			id := NewID()
			if len(id) != 17 {
				t.Fatalf("id %q has %d characters", id, len(id))
			}
			for _, c := range id {
				if !bytes.ContainsRune([]byte(idAlphabet), c) {
					t.Fatalf("id %q has %q, not in Meteor's alphabet", id, c)
				}
			}
			if seen[id] {
				t.Fatalf("id %q repeated", id)
			}
			seen[id] = true
		}
	})
}

func TestRoomPrefixIsolation(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("A", "room-a", Public)
	f.room("AB", "room-ab", Public)
	f.room("B", "room-b", Public)
	for i := range 3 {
		f.post("A", u, "a"+string(rune('0'+i)))
		f.post("AB", u, "ab"+string(rune('0'+i)))
	}
	if got := f.history("A", u.ID, HistoryQuery{Count: 50}); !equal(got, []string{"a2", "a1", "a0"}) {
		t.Fatalf("room A sees %v", got)
	}
	if got := f.history("AB", u.ID, HistoryQuery{Count: 50}); !equal(got, []string{"ab2", "ab1", "ab0"}) {
		t.Fatalf("room AB sees %v", got)
	}
	// An empty room between and after them sees nothing of its neighbours.
	if got := f.history("B", u.ID, HistoryQuery{Count: 50}); len(got) != 0 {
		t.Fatalf("empty room B sees %v", got)
	}
	// Date-bounded pages walk the time index, which has the same prefixes.
	if got := f.history("A", u.ID, HistoryQuery{Count: 50, Before: f.clock.Now().Add(time.Hour)}); !equal(got, []string{"a2", "a1", "a0"}) {
		t.Fatalf("room A by date sees %v", got)
	}
	// A message id of room AB is not a valid "before" in room A.
	msgs, _ := f.s.History("AB", u, HistoryQuery{Count: 1})
	_, err := f.s.History("A", u, HistoryQuery{Count: 50, BeforeID: msgs[0].ID})
	wantKind(t, err, Invalid)
	// Membership keys share the layout: joining A does not make one a member of AB.
	bob := f.user("bob")
	if _, err := f.s.Join("A", bob.ID); err != nil {
		t.Fatal(err)
	}
	if m, err := f.s.Membership("AB", bob.ID); err != nil || m != nil {
		t.Fatalf("membership of AB after joining A: %v %v", m, err)
	}
	rm, err := f.s.RoomMembers("AB")
	if err != nil || len(rm.Usernames) != 0 {
		t.Fatalf("AB members %v %v", rm.Usernames, err)
	}
}

func TestHistoryPaging(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "r", Public)

	t.Run("EmptyRoom", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 50}); len(got) != 0 {
			t.Fatalf("empty room: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Unread: true}); len(got) != 0 {
			t.Fatalf("empty room unread: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Before: f.clock.Now()}); len(got) != 0 {
			t.Fatalf("empty room before a date: %v", got)
		}
	})

	var msgs []*Message
	for i := range 5 {
		msgs = append(msgs, f.post("R", u, string(rune('a'+i))))
		f.clock.Advance(time.Second)
	}
	// a b c d e, one second apart; newest first: e d c b a

	t.Run("ExactlyCount", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 5}); !equal(got, []string{"e", "d", "c", "b", "a"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("CountPlusOne", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 4}); !equal(got, []string{"e", "d", "c", "b"}) {
			t.Fatalf("count 4 of 5: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 6}); !equal(got, []string{"e", "d", "c", "b", "a"}) {
			t.Fatalf("count 6 of 5: %v", got)
		}
	})
	t.Run("BeforeID", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 2, BeforeID: msgs[3].ID}); !equal(got, []string{"c", "b"}) {
			t.Fatalf("before d: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, BeforeID: msgs[1].ID}); !equal(got, []string{"a"}) {
			t.Fatalf("before b: %v", got)
		}
	})
	t.Run("BeforeFirstMessage", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, BeforeID: msgs[0].ID}); len(got) != 0 {
			t.Fatalf("before the first message by id: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Before: msgs[0].TS}); len(got) != 0 {
			t.Fatalf("before the first message by date: %v", got)
		}
	})
	t.Run("BeforeDate", func(t *testing.T) {
		// Before is exclusive: the message at exactly that instant is not included.
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Before: msgs[2].TS}); !equal(got, []string{"b", "a"}) {
			t.Fatalf("before c's ts: %v", got)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 1, Before: msgs[2].TS.Add(time.Millisecond)}); !equal(got, []string{"c"}) {
			t.Fatalf("before c's ts + 1ms: %v", got)
		}
	})
	t.Run("BeforeDateAtOrBeforeEpoch", func(t *testing.T) {
		for _, d := range []time.Time{time.Unix(0, 0), time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)} {
			if got := f.history("R", u.ID, HistoryQuery{Count: 50, Before: d}); len(got) != 0 {
				t.Fatalf("before %s: %v", d, got)
			}
		}
	})
	t.Run("UnknownBeforeID", func(t *testing.T) {
		_, err := f.s.History("R", u, HistoryQuery{Count: 50, BeforeID: "nope"})
		wantKind(t, err, Invalid)
	})
	t.Run("Offset", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 2, Offset: 2}); !equal(got, []string{"c", "b"}) {
			t.Fatalf("offset 2: %v", got)
		}
	})
	t.Run("UnreadAndMarkRead", func(t *testing.T) {
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Unread: true}); len(got) != 5 {
			t.Fatalf("unread before any read mark: %v", got)
		}
		if err := f.s.MarkRead("R", u); err != nil {
			t.Fatal(err)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Unread: true}); len(got) != 0 {
			t.Fatalf("unread right after read: %v", got)
		}
		f.post("R", u, "f")
		f.post("R", u, "g")
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Unread: true}); !equal(got, []string{"g", "f"}) {
			t.Fatalf("unread after two new messages: %v", got)
		}
		// Another reader's mark is their own.
		bob := f.user("bob")
		if got := f.history("R", bob.ID, HistoryQuery{Count: 50, Unread: true}); len(got) != 7 {
			t.Fatalf("bob's unread: %v", got)
		}
		if err := f.s.MarkRead("R", u); err != nil {
			t.Fatal(err)
		}
		if got := f.history("R", u.ID, HistoryQuery{Count: 50, Unread: true}); len(got) != 0 {
			t.Fatalf("unread after second read: %v", got)
		}
	})
	t.Run("UnknownRoom", func(t *testing.T) {
		_, err := f.s.History("nope", u, HistoryQuery{Count: 50})
		wantKind(t, err, NotFound)
		wantKind(t, f.s.MarkRead("nope", u), NotFound)
	})
}

func TestPrivateRoomAccess(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice"), f.user("bob")
	f.room("P", "secret", Private, alice.ID)
	f.post("P", alice, "hidden")
	_, err := f.s.History("P", bob, HistoryQuery{Count: 50})
	wantKind(t, err, Forbidden)
	wantKind(t, f.s.PostMessage("P", bob, &Message{Text: "x"}), Forbidden)
	_, err = f.s.Join("P", bob.ID)
	wantKind(t, err, Forbidden)
	if joined, err := f.s.Join("P", alice.ID); err != nil || joined {
		t.Fatalf("member joining own private room: %v %v", joined, err)
	}
}

func TestUniqueIndexes(t *testing.T) {
	f := newFixture(t)
	f.user("Alice")
	t.Run("ErrNameTaken", func(t *testing.T) {
		err := f.s.CreateUser(&User{Username: "aLiCe", Email: "other@example.org", Active: true}, false)
		wantKind(t, err, Invalid)
	})
	t.Run("ErrEmailTaken", func(t *testing.T) {
		err := f.s.CreateUser(&User{Username: "other", Email: "ALICE@Example.ORG", Active: true}, false)
		wantKind(t, err, Invalid)
	})
	t.Run("ErrTakenInsideBatch", func(t *testing.T) {
		err := f.s.CreateUsers([]*User{{Username: "carol", Active: true}, {Username: "CAROL", Active: true}}, false)
		wantKind(t, err, Invalid)
		if _, err := f.s.UserByUsername("carol"); KindOf(err) != NotFound {
			t.Fatalf("half of a refused batch was written: %v", err)
		}
	})
	t.Run("LookupIgnoresCase", func(t *testing.T) {
		u, err := f.s.UserByUsername("ALICE")
		if err != nil || u.Username != "Alice" {
			t.Fatalf("%v %v", u, err)
		}
		if u, err = f.s.UserByEmail("alice@EXAMPLE.org"); err != nil || u.Username != "Alice" {
			t.Fatalf("%v %v", u, err)
		}
	})
	t.Run("RenameKeepsIndex", func(t *testing.T) {
		bob := f.user("bob")
		_, err := f.s.UpdateUser(bob.ID, func(u *User) error { u.Username = "ALICE"; return nil })
		wantKind(t, err, Invalid)
		if _, err := f.s.UpdateUser(bob.ID, func(u *User) error { u.Username = "Robert"; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.UserByUsername("bob"); KindOf(err) != NotFound {
			t.Fatalf("old name still indexed: %v", err)
		}
		if u, err := f.s.UserByUsername("robert"); err != nil || u.ID != bob.ID {
			t.Fatalf("new name not indexed: %v %v", u, err)
		}
	})
	t.Run("RenameToFoldEquivalentName", func(t *testing.T) {
		// "ſ" (long s) folds to "s" but does not lower-case to it: the index must follow the
		// lower-cased form, or the renamed user can no longer be found.
		u := f.user("ſam")
		if _, err := f.s.UpdateUser(u.ID, func(u *User) error { u.Username = "sam"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, err := f.s.UserByUsername("SAM"); err != nil || got.ID != u.ID {
			t.Fatalf("renamed user not found by new name: %v %v", got, err)
		}
	})
	t.Run("RoomNames", func(t *testing.T) {
		f.room("", "Lobby", Public)
		err := f.s.CreateRoom(&Room{Name: "LOBBY"}, nil, "")
		wantKind(t, err, Invalid)
		r, err := f.s.RoomByName("lobby")
		if err != nil || r.Name != "Lobby" {
			t.Fatalf("%v %v", r, err)
		}
	})
}

func TestTokenExpiry(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	ttl := time.Hour
	short, long := TokenHash{1}, TokenHash{2}
	if err := f.s.AddToken(u, short, f.clock.Now().Add(ttl)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddToken(u, long, f.clock.Now().Add(3*ttl)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Authenticate(u.ID, short); err != nil {
		t.Fatalf("fresh token refused: %v", err)
	}
	f.clock.Advance(ttl - time.Nanosecond)
	if _, err := f.s.Authenticate(u.ID, short); err != nil {
		t.Fatalf("token refused before its expiry: %v", err)
	}
	f.clock.Advance(time.Nanosecond) // the instant of expiry
	_, err := f.s.Authenticate(u.ID, short)
	wantKind(t, err, Unauthorized)
	if _, err := f.s.Authenticate(u.ID, long); err != nil {
		t.Fatalf("unexpired token refused: %v", err)
	}

	n, err := f.s.SweepTokens(100)
	if err != nil || n != 1 {
		t.Fatalf("sweep deleted %d (%v), want 1", n, err)
	}
	if c, _ := f.s.TokenCount(); c != 1 {
		t.Fatalf("%d tokens left, want 1", c)
	}
	_, err = f.s.Authenticate(u.ID, short)
	wantKind(t, err, Unauthorized)
	if _, err := f.s.Authenticate(u.ID, long); err != nil {
		t.Fatalf("sweep removed an unexpired token: %v", err)
	}
	counts, _ := f.s.Counts()
	if counts["tokens"] != 1 || counts["tokens_by_expiry"] != 1 || counts["tokens_by_user"] != 1 {
		t.Fatalf("token indexes out of step after sweep: %v", counts)
	}
	if n, err := f.s.SweepTokens(100); err != nil || n != 0 {
		t.Fatalf("second sweep deleted %d (%v)", n, err)
	}
}

func TestSweepLimit(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	for i := range 5 {
		if err := f.s.AddToken(u, TokenHash{byte(i + 1)}, f.clock.Now().Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(10 * time.Minute)
	if n, err := f.s.SweepTokens(2); err != nil || n != 2 {
		t.Fatalf("sweep(2) = %d, %v", n, err)
	}
	if n, err := f.s.SweepTokens(100); err != nil || n != 3 {
		t.Fatalf("sweep(100) = %d, %v", n, err)
	}
}

func TestTokenOwnerAndRevoke(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice"), f.user("bob")
	h1, h2 := TokenHash{1}, TokenHash{2}
	exp := f.clock.Now().Add(time.Hour)
	for _, h := range []TokenHash{h1, h2} {
		if err := f.s.AddToken(alice, h, exp); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.s.Authenticate(bob.ID, h1)
	wantKind(t, err, Unauthorized)
	_, err = f.s.Authenticate(alice.ID, TokenHash{9})
	wantKind(t, err, Unauthorized)
	if err := f.s.RevokeToken(h1); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Authenticate(alice.ID, h1)
	wantKind(t, err, Unauthorized)
	if _, err := f.s.Authenticate(alice.ID, h2); err != nil {
		t.Fatalf("logout revoked another token: %v", err)
	}
}

func TestUpdateUserRevokesTokens(t *testing.T) {
	cases := []struct {
		name   string
		change func(u *User) error
		revoke bool
	}{
		{"PasswordChange", func(u *User) error { u.Hash = "new-hash"; return nil }, true},
		{"Deactivation", func(u *User) error { u.Active = false; return nil }, true},
		{"NameChangeKeepsTokens", func(u *User) error { u.Name = "Someone Else"; return nil }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.user("admin") // the first user is the admin: keep the last-admin rule out of the way
			u := f.user("alice")
			other := f.user("bob")
			exp := f.clock.Now().Add(time.Hour)
			for i, owner := range []*User{u, u, other} {
				if err := f.s.AddToken(owner, TokenHash{byte(i + 1)}, exp); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.s.UpdateUser(u.ID, tc.change); err != nil {
				t.Fatal(err)
			}
			n, _ := f.s.TokenCount()
			want := 3
			if tc.revoke {
				want = 1
			}
			if n != want {
				t.Fatalf("%d tokens left, want %d", n, want)
			}
			if _, err := f.s.Authenticate(other.ID, TokenHash{3}); err != nil {
				t.Fatalf("another user's token was revoked: %v", err)
			}
		})
	}
}

func TestInactiveUserRefused(t *testing.T) {
	f := newFixture(t)
	f.user("admin")
	u := &User{Username: "ghost", Hash: "h", Active: true}
	if err := f.s.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddToken(u, TokenHash{7}, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Deactivate without the token revocation UpdateUser does: the flag alone must refuse.
	err := f.s.update(func(tx *bolt.Tx) error {
		u.Active = false
		return putUser(tx, u)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Authenticate(u.ID, TokenHash{7})
	wantKind(t, err, Unauthorized)
}

// A login that checked the password just before the user was deactivated must not store its
// token afterwards: re-enabling the user would bring that session back to life.
func TestAddTokenRefusesStaleLogin(t *testing.T) {
	f := newFixture(t)
	f.user("admin")
	u := &User{Username: "ghost", Hash: "h", Active: false}
	if err := f.s.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	before, _ := f.s.Counts()
	err := f.s.AddToken(u, TokenHash{7}, f.clock.Now().Add(time.Hour))
	wantKind(t, err, Unauthorized)
	if after, _ := f.s.Counts(); after["tokens"] != before["tokens"] || after["tokens_by_user"] != before["tokens_by_user"] {
		t.Fatalf("a refused token was stored: %v -> %v", before, after)
	}
	if _, err := f.s.UpdateUser(u.ID, func(u *User) error { u.Active = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Authenticate(u.ID, TokenHash{7})
	wantKind(t, err, Unauthorized)

	// Likewise a login that checked the old password while it was being changed.
	checked, err := f.s.User(u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UpdateUser(u.ID, func(u *User) error { u.Hash = "new-hash"; return nil }); err != nil {
		t.Fatal(err)
	}
	wantKind(t, f.s.AddToken(checked, TokenHash{8}, f.clock.Now().Add(time.Hour)), Unauthorized)
	if n, _ := f.s.TokenCount(); n != 0 {
		t.Fatalf("%d tokens stored for a stale password", n)
	}
}

func TestRestartKeepsData(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	if _, err := f.s.Join("R", u.ID); err != nil {
		t.Fatal(err)
	}
	m := f.post("R", u, "persisted")
	h := TokenHash{42}
	if err := f.s.AddToken(u, h, f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, _ := f.s.Counts()

	f.reopen()

	after, _ := f.s.Counts()
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("bucket %s: %d keys before restart, %d after", k, v, after[k])
		}
	}
	if got, err := f.s.UserByUsername("alice"); err != nil || got.ID != u.ID || got.Hash != u.Hash {
		t.Fatalf("user after restart: %v %v", got, err)
	}
	if got, err := f.s.Authenticate(u.ID, h); err != nil || got.ID != u.ID {
		t.Fatalf("token after restart: %v %v", got, err)
	}
	rm, err := f.s.RoomMembers("R")
	if err != nil || !equal(rm.Usernames, []string{"alice"}) || rm.Msgs != 2 {
		t.Fatalf("room after restart: %+v %v", rm, err)
	}
	msgs, err := f.s.History("R", u, HistoryQuery{Count: 50})
	if err != nil || len(msgs) != 2 || msgs[0].ID != m.ID || msgs[0].Text != "persisted" || msgs[1].Type != "uj" {
		t.Fatalf("history after restart: %v %v", msgs, err)
	}
	// The sequence carries on after the restart.
	f.post("R", u, "next")
	if got := f.history("R", u.ID, HistoryQuery{Count: 2}); !equal(got, []string{"next", "persisted"}) {
		t.Fatalf("after restart and a new post: %v", got)
	}
}

func TestConcurrentPostsLandOnce(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := &Message{Text: string(rune('A'+w)) + "-" + string(rune('a'+i))}
				errs <- f.s.PostMessage("R", u, m)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := f.s.History("R", u, HistoryQuery{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != writers*each {
		t.Fatalf("%d messages stored, want %d", len(msgs), writers*each)
	}
	texts, ids := map[string]bool{}, map[string]bool{}
	for i, m := range msgs {
		if texts[m.Text] || ids[m.ID] {
			t.Fatalf("message %q (%s) stored twice", m.Text, m.ID)
		}
		texts[m.Text], ids[m.ID] = true, true
		if want := uint64(len(msgs) - i); m.Seq != want {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq, want)
		}
	}
	r, _ := f.s.Room("R")
	if r.Msgs != writers*each || r.Seq != writers*each {
		t.Fatalf("room msgs %d seq %d, want %d", r.Msgs, r.Seq, writers*each)
	}
	counts, _ := f.s.Counts()
	if counts["messages"] != writers*each || counts["message_ids"] != writers*each || counts["message_ts"] != writers*each {
		t.Fatalf("indexes out of step: %v", counts)
	}
}

// A failing write (an error or a panic) in a group commit gets its own error; every other
// write of the batch still lands, exactly once.
func TestBatchFailureIsolated(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	const n = 60
	var wg sync.WaitGroup
	results := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			switch i % 3 {
			case 0: // a good post
				results[i] = f.s.PostMessage("R", u, &Message{Text: "ok"})
			case 1: // writes a key, then fails: its write must be rolled back
				results[i] = f.s.batch(func(tx *bolt.Tx) error {
					if err := tx.Bucket(bMeta).Put([]byte("junk"), []byte("x")); err != nil {
						return err
					}
					return Errorf(Invalid, "boom", "refused")
				})
			case 2: // panics after a write
				results[i] = f.s.batch(func(tx *bolt.Tx) error {
					tx.Bucket(bMeta).Put([]byte("junk2"), []byte("x"))
					panic("bug in a write")
				})
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range results {
		switch i % 3 {
		case 0:
			if err != nil {
				t.Fatalf("good write %d failed: %v", i, err)
			}
		case 1:
			wantKind(t, err, Invalid)
		case 2:
			if err == nil {
				t.Fatalf("panicking write %d reported success", i)
			}
		}
	}
	if v, _ := f.s.Meta("junk"); v != "" {
		t.Fatal("a failed write landed")
	}
	if v, _ := f.s.Meta("junk2"); v != "" {
		t.Fatal("a panicking write landed")
	}
	r, _ := f.s.Room("R")
	if r.Msgs != n/3 {
		t.Fatalf("room has %d messages, want %d", r.Msgs, n/3)
	}
	// The writer still works afterwards.
	f.post("R", u, "after")
}

func TestOpenLocked(t *testing.T) {
	f := newFixture(t)
	done := make(chan error, 1)
	go func() {
		s, err := Open(f.path, Options{LockTimeout: 50 * time.Millisecond})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("second Open: %v, want ErrLocked", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open did not give up")
	}
	// Once the first store is closed, the file opens again.
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(f.path, Options{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	f := newFixture(t)
	f.s.Close()
	if err := f.s.SetMeta("k", "v"); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

// The same, deterministically: one batch of five requests, two of which fail. The good ones
// commit exactly once each, the failed ones leave no trace, and a request that depends on an
// earlier one of the batch sees its write.
func TestRunBatchMixed(t *testing.T) {
	f := newFixture(t)
	put := func(k string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			b := tx.Bucket(bMeta)
			n := 0
			if v := b.Get([]byte(k)); v != nil {
				n = int(v[0])
			}
			return b.Put([]byte(k), []byte{byte(n + 1)}) // counts how often it landed
		}
	}
	fail := func(tx *bolt.Tx) error {
		tx.Bucket(bMeta).Put([]byte("bad"), []byte{1})
		return Errorf(Invalid, "bad", "refused")
	}
	boom := func(tx *bolt.Tx) error {
		tx.Bucket(bMeta).Put([]byte("boom"), []byte{1})
		panic("boom")
	}
	needsG1 := func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get([]byte("g1")) == nil {
			return Errorf(Invalid, "order", "g1 not visible")
		}
		return put("g3")(tx)
	}
	fns := []func(tx *bolt.Tx) error{put("g1"), fail, put("g2"), boom, needsG1}
	reqs := make([]*writeReq, len(fns))
	for i, fn := range fns {
		reqs[i] = &writeReq{fn: fn, done: make(chan error, 1)}
	}
	f.s.runBatch(reqs)
	for i, r := range reqs {
		var err error
		select {
		case err = <-r.done:
		default:
			t.Fatalf("request %d got no answer", i)
		}
		select {
		case <-r.done:
			t.Fatalf("request %d answered twice", i)
		default:
		}
		switch i {
		case 1:
			wantKind(t, err, Invalid)
		case 3:
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Fatalf("panicking request: %v", err)
			}
		default:
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
	}
	for k, want := range map[string]string{"g1": "\x01", "g2": "\x01", "g3": "\x01", "bad": "", "boom": ""} {
		if v, _ := f.s.Meta(k); v != want {
			t.Fatalf("meta %s = %q, want %q", k, v, want)
		}
	}
}

// A store opened read-only (backup, check) refuses writes instead of hanging on them.
func TestReadOnlyRefusesWrites(t *testing.T) {
	f := newFixture(t)
	f.user("alice")
	f.s.Close()
	s, err := Open(f.path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.UserByUsername("alice"); err != nil || u.Username != "alice" {
		t.Fatalf("read: %v %v", u, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.SetMeta("k", "v") }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a write on a read-only store succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write on a read-only store hangs")
	}
	if _, err := s.SweepTokens(10); err == nil {
		t.Fatal("a sweep on a read-only store succeeded")
	}
}

// A time-bounded unread page after the clock went back: the unread messages sort below the
// read ones in the time index, so the walk passes over read entries to find them; the number
// of entries it may pass over is capped, so a page never costs the size of the room.
func TestHistoryFilteredSkipsAreBounded(t *testing.T) {
	f := newFixture(t)
	u := f.user("ann")
	f.room("R", "r", Public)
	for i := range 20 {
		f.post("R", u, fmt.Sprintf("read%d", i))
		f.clock.Advance(time.Second)
	}
	if err := f.s.MarkRead("R", u); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(-time.Hour) // a Pi rebooted with a wrong clock
	for i := range 3 {
		f.post("R", u, fmt.Sprintf("new%d", i))
	}
	q := HistoryQuery{Count: 50, Unread: true, Before: f.clock.Now().Add(2 * time.Hour)}
	if got := f.history("R", u.ID, q); !slices.Equal(got, []string{"new2", "new1", "new0"}) {
		t.Fatalf("unread after a clock jump: %v", got)
	}
	defer func(old int) { maxFiltered = old }(maxFiltered)
	maxFiltered = 10 // fewer than the 20 read entries above the unread ones
	if got := f.history("R", u.ID, q); len(got) != 0 {
		t.Fatalf("the walk passed over more than %d filtered entries: %v", maxFiltered, got)
	}
	_, err := f.s.History("R", u, HistoryQuery{Count: 1, Offset: MaxHistorySkip + 1})
	wantKind(t, err, Invalid)
}

// Writes racing Close (a handler still running after the drain timeout) each either commit or
// get errClosed: no panic, no send on a closed channel (the race detector watches this one).
func TestWritesRacingClose(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				err := f.s.SetMeta(fmt.Sprintf("k%d-%d", i, j), "v")
				if err == errClosed {
					return
				}
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// A panic inside update's function rolls the transaction back: the single write lock is free
// for the next writer.
func TestUpdatePanicReleasesWriter(t *testing.T) {
	f := newFixture(t)
	func() {
		defer func() { recover() }()
		f.s.update(func(tx *bolt.Tx) error { panic("boom") })
	}()
	done := make(chan error, 1)
	go func() { done <- f.s.SetMeta("after", "panic") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write lock stayed held after a panic in update")
	}
}
