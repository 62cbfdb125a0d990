package store

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestDirectRoomID(t *testing.T) {
	if got := DirectRoomID([]string{"b", "a", "a"}); got != "ab" {
		t.Fatalf("two users: %q", got)
	}
	if got := DirectRoomID([]string{"a"}); got != "a" {
		t.Fatalf("one user: %q", got)
	}
	x, y := DirectRoomID([]string{"a", "b", "c"}), DirectRoomID([]string{"c", "b", "a", "b"})
	if x != y || len(x) != 17 || x == DirectRoomID([]string{"a", "b", "d"}) {
		t.Fatalf("three users: %q %q", x, y)
	}
}

// Unread counts come from the room's counter and the member's mark: the author's own
// messages and system messages are not unread; a member who joins later has read what came
// before; mentions count only members named; reading clears both.
func TestUnreadCounting(t *testing.T) {
	s := openTest(t, nil)
	ann := &User{Username: "ann", Active: true}
	bob := &User{Username: "bob", Active: true}
	cy := &User{Username: "cy", Active: true}
	if err := s.CreateUsers([]*User{ann, bob, cy}, false); err != nil {
		t.Fatal(err)
	}
	r := &Room{Name: "r"}
	if err := s.CreateRoom(r, []string{bob.ID}, ann.ID); err != nil {
		t.Fatal(err)
	}
	post := func(u *User, text string) {
		t.Helper()
		if err := s.PostMessage(r.ID, u, &Message{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	sub := func(u *User) *Subscription {
		t.Helper()
		sub, err := s.SubscriptionOf(r.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return sub
	}
	post(ann, "one")
	post(ann, "@bob two @cy")
	if _, err := s.Join(r.ID, cy.ID); err != nil {
		t.Fatal(err)
	}
	post(bob, "three @ann @bob")
	if got := sub(bob); got.Unread != 0 || got.Member.Mentions != 1 || !got.Alert() {
		t.Fatalf("bob: unread %d mentions %d", got.Unread, got.Member.Mentions)
	}
	if got := sub(ann); got.Unread != 1 || got.Member.Mentions != 1 {
		t.Fatalf("ann: unread %d mentions %d", got.Unread, got.Member.Mentions)
	}
	if got := sub(cy); got.Unread != 1 || got.Member.Mentions != 0 {
		t.Fatalf("cy joined later: unread %d mentions %d", got.Unread, got.Member.Mentions)
	}
	if err := s.MarkRead(r.ID, ann); err != nil {
		t.Fatal(err)
	}
	if got := sub(ann); got.Unread != 0 || got.Member.Mentions != 0 || got.Alert() || got.Member.LS.IsZero() {
		t.Fatalf("ann after read: %+v", got)
	}
	if _, err := s.SubscriptionOf(r.ID, "nobody"); err != ErrNotInRoom {
		t.Fatalf("non-member: %v", err)
	}
	// An archived room refuses posts.
	if err := s.SetArchived(r.ID, true, ann); err != nil {
		t.Fatal(err)
	}
	if err := s.PostMessage(r.ID, ann, &Message{Text: "x"}); err != ErrRoomArchived {
		t.Fatalf("post to archived: %v", err)
	}
}

// CleanHistory removes exactly the time range, in chunks, and keeps the file consistent.
func TestCleanHistoryRange(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openTest(t, func() time.Time { return now })
	u := &User{Username: "u", Active: true}
	if err := s.CreateUsers([]*User{u}, false); err != nil {
		t.Fatal(err)
	}
	r := &Room{Name: "r"}
	if err := s.CreateRoom(r, nil, u.ID); err != nil {
		t.Fatal(err)
	}
	defer func(old int) { cleanChunk = old }(cleanChunk)
	cleanChunk = 4
	n := cleanChunk*2 + 20
	for i := range n {
		now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		if err := s.PostMessage(r.ID, u, &Message{Text: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	at := func(i int) time.Time {
		return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	}
	if got, err := s.CleanHistory(r.ID, at(5), at(7), false); err != nil || got != 1 {
		t.Fatalf("exclusive 5..7: %d, %v", got, err)
	}
	if got, err := s.CleanHistory(r.ID, at(5), at(7), true); err != nil || got != 2 {
		t.Fatalf("inclusive 5..7 after 6 went: %d, %v", got, err)
	}
	if got, err := s.CleanHistory(r.ID, at(10), time.Time{}, true); err != nil || got != n-10 {
		t.Fatalf("from 10 on (several chunks): %d, %v", got, err)
	}
	room, _ := s.Room(r.ID)
	if room.Msgs != 7 {
		t.Fatalf("msgs %d, want 7", room.Msgs)
	}
	if errs := s.Check(); len(errs) != 0 {
		t.Fatal(errs)
	}
	if err := s.DeleteRoom(r.ID); err != nil {
		t.Fatal(err)
	}
	if errs := s.Check(); len(errs) != 0 {
		t.Fatal(errs)
	}
	counts, _ := s.Counts()
	for _, b := range []string{"rooms", "rooms_by_name", "members", "user_rooms", "messages", "message_ids", "message_ts", "sub_marks", "message_marks", "reads", "rooms_by_creator", "public_rooms_by_msgs"} {
		if counts[b] != 0 {
			t.Fatalf("%s holds %d keys after the room's deletion", b, counts[b])
		}
	}
}

// The room writes of groups, moderation and lifecycle announce themselves to the event hub.
func TestRoomWritesEmitEvents(t *testing.T) {
	s, rec, u, r := eventsFixture(t)
	if _, err := s.EnsureRole(&Role{Name: RoleModerator, Scope: RoomScope}); err != nil {
		t.Fatal(err)
	}
	kinds := func() []EventKind {
		var out []EventKind
		for _, ev := range rec.take() {
			out = append(out, ev.Kind)
		}
		return out
	}
	want := func(name string, got []EventKind, w ...EventKind) {
		t.Helper()
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("%s: events %v, want %v", name, got, w)
		}
	}
	if err := s.SetRoomRole(r.ID, u.ID, RoleModerator, true, u); err != nil {
		t.Fatal(err)
	}
	want("SetRoomRole", kinds(), MemberChanged, MessageAdded)
	if _, err := s.EditRoom(r.ID, u, func(room *Room) ([]*Message, error) {
		room.Topic = "t"
		return []*Message{{Type: "room_changed_topic", Text: "t"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	want("EditRoom", kinds(), MessageAdded, RoomChanged)
	if err := s.PostMessage(r.ID, u, &Message{Text: "hi @ev"}); err != nil {
		t.Fatal(err)
	}
	want("PostMessage", kinds(), MessageAdded)
	if err := s.MarkUnread(r.ID, u, ""); err != nil {
		t.Fatal(err)
	}
	want("MarkUnread", kinds(), ReadMarked)
	if _, err := s.CleanHistory(r.ID, time.Time{}, time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	want("CleanHistory", kinds(), MessageDeleted, MessageDeleted, MessageDeleted)
	if err := s.DeleteRoom(r.ID); err != nil {
		t.Fatal(err)
	}
	want("DeleteRoom", kinds(), MemberRemoved, RoomDeleted)
}

// A file written by a build before sub_marks existed checks clean read-only (rocketlite check
// of a stopped server) and gets the bucket at the next read-write start.
func TestFileWithoutSubMarks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bSubMarks) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro := openChecked(t, path)
	if c, err := ro.Counts(); err != nil || c["sub_marks"] != 0 {
		t.Fatalf("counts %v, %v", c, err)
	}
	ro.Close()
	rw, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if !rw.has(bMeta, "schema") || rw.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bSubMarks) == nil {
			return errors.New("no sub_marks")
		}
		return nil
	}) != nil {
		t.Fatal("the read-write start did not create sub_marks")
	}
}

// Opening a new direct-message room counts against the creator's room cap, as any room;
// an existing one is found again whatever the cap.
func TestOpenDirectRoomCap(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "cap.db"), Options{MaxRoomsPerCreator: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c := &User{Username: "a", Active: true, Roles: []string{"user"}}, &User{Username: "b", Active: true, Roles: []string{"user"}}, &User{Username: "c", Active: true, Roles: []string{"user"}}
	if err := s.CreateUsers([]*User{a, b, c}, false); err != nil {
		t.Fatal(err)
	}
	if _, created, err := s.OpenDirect(a, []string{b.ID}); err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	if _, _, err := s.OpenDirect(a, []string{c.ID}); err == nil || err.(*Error).Code != "too-many-rooms" {
		t.Fatalf("second: %v", err)
	}
	if _, created, err := s.OpenDirect(a, []string{b.ID}); err != nil || created {
		t.Fatalf("again: %v %v", created, err)
	}
}
