package store

// Issue 9's caps kept by the store: live tokens per user, rooms per creator, and the index
// that keeps a page of public rooms from reading every room.

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func tokenHash(s string) TokenHash { return sha256.Sum256([]byte(s)) }

// The default cap is 50 live tokens; the oldest goes first, and expired ones go before any
// live one.
func TestTokensPerUserDefaultCap(t *testing.T) {
	f := newFixture(t)
	u := f.user("ann")
	v := f.user("vic")
	if err := f.s.AddToken(v, tokenHash("vic"), f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < DefaultMaxTokensPerUser+10; i++ {
		if err := f.s.AddToken(u, tokenHash(strconv.Itoa(i)), f.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Millisecond)
	}
	if n, _ := f.s.UserTokenCount(u.ID); n != DefaultMaxTokensPerUser {
		t.Fatalf("ann holds %d tokens, want %d", n, DefaultMaxTokensPerUser)
	}
	for i, want := range map[int]bool{0: false, 9: false, 10: true, 59: true} {
		_, err := f.s.Authenticate(u.ID, tokenHash(strconv.Itoa(i)))
		if (err == nil) != want {
			t.Errorf("token %d: %v, want live %v", i, err, want)
		}
	}
	if _, err := f.s.Authenticate(v.ID, tokenHash("vic")); err != nil {
		t.Fatalf("another user's token was revoked: %v", err)
	}
	// Expired tokens are dropped first: the live ones all survive a new login.
	f.clock.Advance(2 * time.Hour)
	if err := f.s.AddToken(u, tokenHash("fresh"), f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.s.UserTokenCount(u.ID); n != 1 {
		t.Fatalf("ann holds %d tokens after expiry, want 1", n)
	}
	if errs := f.s.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// Rooms per creator: rooms with a creator count, admins are exempt, and a batch counts the
// rooms it creates itself.
func TestRoomsPerCreatorCap(t *testing.T) {
	path := t.TempDir() + "/cap.db"
	s, err := Open(path, Options{MaxRoomsPerCreator: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin := &User{Username: "root", Name: "root", Hash: "h", Active: true}
	u := &User{Username: "ann", Name: "ann", Hash: "h", Active: true}
	if err := s.CreateUsers([]*User{admin, u}, false); err != nil || !admin.HasRole("admin") {
		t.Fatal(err)
	}
	room := func(name string, by *User) NewRoom {
		ref := by.Ref()
		return NewRoom{Room: &Room{Name: name, Type: Public, Creator: &ref}}
	}
	if err := s.CreateRooms([]NewRoom{room("a1", u), room("a2", u), room("a3", u)}); KindOf(err) != Invalid {
		t.Fatalf("three rooms in one batch under a cap of 2: %v", err)
	}
	if err := s.CreateRooms([]NewRoom{room("a1", u), room("a2", u)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRooms([]NewRoom{room("a3", u)}); KindOf(err) != Invalid {
		t.Fatalf("a third room: %v", err)
	}
	if err := s.CreateRooms([]NewRoom{room("r1", admin), room("r2", admin), room("r3", admin)}); err != nil {
		t.Fatalf("an admin is capped: %v", err)
	}
	// A room without a creator (the seed's GENERAL, the store's own tests) counts for nobody.
	if err := s.CreateRoom(&Room{Name: "free", Type: Public}, nil, u.ID); err != nil {
		t.Fatal(err)
	}
}

// A file from before the room indexes gets them at open, in the order a full scan gives.
func TestRoomIndexesRebuiltAtOpen(t *testing.T) {
	f := newFixture(t)
	u := f.user("ann")
	ref := u.Ref()
	for i := 0; i < 30; i++ {
		typ := Public
		if i%5 == 0 {
			typ = Private
		}
		if err := f.s.CreateRoom(&Room{Name: "room" + strconv.Itoa(i), Type: typ, Creator: &ref}, []string{u.ID}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 12; i++ {
		r, _ := f.s.RoomByName("room" + strconv.Itoa(i%4+1))
		f.post(r.ID, u, "hi")
	}
	want, total, err := f.s.Rooms(func(r *Room) bool { return r.Type == Public }, 0, 0)
	if err != nil || total != 24 {
		t.Fatalf("%d public rooms, %v", total, err)
	}
	names := func(rs []RoomWithMembers) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	check := func(when string) {
		t.Helper()
		got, n, err := f.s.PublicRooms(0, 0)
		if err != nil || n != 24 || !slices.Equal(names(got), names(want)) {
			t.Fatalf("%s: %v (%d, %v), want %v", when, names(got), n, err, names(want))
		}
		page, n, _ := f.s.PublicRooms(20, 3)
		if n != 24 || !slices.Equal(names(page), names(want)[20:23]) {
			t.Fatalf("%s: page %v", when, names(page))
		}
	}
	check("kept by writes")
	// An older file: no index buckets at all.
	if err := f.s.DB().Update(func(tx *bolt.Tx) error {
		for _, b := range derivedBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Read-only (rocketlite check, backup), the file is not changed: a page is a full scan.
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(f.path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f.s = ro
	check("read-only, without the index")
	if errs := ro.Check(); len(errs) > 0 {
		t.Fatalf("check of a file without the derived indexes: %v", errs)
	}
	f.reopen()
	check("rebuilt at open")
	if n := f.s.countCreated(u.ID); n != 30 {
		t.Fatalf("rooms_by_creator holds %d rooms of ann, want 30", n)
	}
	if errs := f.s.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func (s *Bolt) countCreated(uid string) (n int) {
	s.view(func(tx *bolt.Tx) error {
		p := prefix(uid)
		c := tx.Bucket(bRoomsByCreator).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n
}

// Personal access tokens are not sessions: logins past the cap never evict them.
func TestTokenCapLeavesPersonalTokens(t *testing.T) {
	path := t.TempDir() + "/pat.db"
	s, err := Open(path, Options{MaxTokensPerUser: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := &User{Username: "ann", Name: "ann", Hash: "h", Active: true}
	if err := s.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ci", "monitor"} {
		if err := s.SetPersonalToken(u.ID, name, tokenHash(name), "xx", false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if err := s.AddToken(u, tokenHash("session"+strconv.Itoa(i)), s.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ci", "monitor", "session3", "session4"} {
		if _, err := s.Authenticate(u.ID, tokenHash(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n, _ := s.UserTokenCount(u.ID); n != 4 {
		t.Fatalf("%d tokens, want 2 personal + 2 sessions", n)
	}
}
