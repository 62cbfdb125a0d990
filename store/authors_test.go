package store

import (
	"fmt"
	"sync"
	"testing"
)

// authorsFixture: a public room with alice's join and message, edited by bob.
func authorsFixture(t *testing.T) (s *Bolt, room *Room, alice, bob *User, msgID string) {
	t.Helper()
	s = openTest(t, nil)
	alice = &User{Username: "alice", Name: "Alice", Hash: "x", Active: true}
	bob = &User{Username: "bob", Name: "Bob", Hash: "x", Active: true}
	if err := s.CreateUsers([]*User{alice, bob}, false); err != nil {
		t.Fatal(err)
	}
	room = &Room{Name: "lobby", Type: Public}
	if err := s.CreateRoom(room, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(room.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	m := &Message{Text: "hello from alice"}
	if err := s.PostMessage(room.ID, alice, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateMessage(m.ID, bob, func(m *Message) error { m.Text = "hello (fixed by bob)"; return nil }); err != nil {
		t.Fatal(err)
	}
	return s, room, alice, bob, m.ID
}

func rename(t *testing.T, s *Bolt, id, username, name string) {
	t.Helper()
	if _, err := s.UpdateUser(id, func(u *User) error { u.Username, u.Name = username, name; return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestAuthorsShownByCurrentName (issue 9 item 12): after alice renames herself and mallory
// takes the name "alice", every read shows alice's messages under her new name, and nothing
// of hers under "alice".
func TestAuthorsShownByCurrentName(t *testing.T) {
	s, room, alice, bob, id := authorsFixture(t)
	check := func(t *testing.T, wantName, wantDisplay, wantEditor string) {
		t.Helper()
		page, err := s.History(room.ID, bob, HistoryQuery{Count: 10})
		if err != nil || len(page) != 2 {
			t.Fatalf("history %v %v", page, err)
		}
		msg, join := page[0], page[1]
		one, err := s.Message(id, bob)
		if err != nil {
			t.Fatal(err)
		}
		found, err := s.Search(room.ID, bob, "hello", 5)
		if err != nil || len(found) != 1 {
			t.Fatalf("search %v %v", found, err)
		}
		for _, m := range []*Message{msg, one, found[0]} {
			if m.User.ID != alice.ID || m.User.Username != wantName || m.User.Name != wantDisplay {
				t.Fatalf("author %+v, want %s (%s, %s)", m.User, alice.ID, wantName, wantDisplay)
			}
			if m.EditedBy == nil || m.EditedBy.ID != bob.ID || m.EditedBy.Username != wantEditor {
				t.Fatalf("editor %+v, want %s", m.EditedBy, wantEditor)
			}
		}
		if join.Type != "uj" || join.User.Username != wantName || join.Text != wantName {
			t.Fatalf("join message %+v, want it to name %s", join, wantName)
		}
	}
	check(t, "alice", "Alice", "bob")
	// The pages above filled the cache: a rename must still show at once.
	rename(t, s, alice.ID, "alicia", "Alicia")
	rename(t, s, bob.ID, "robert", "Bob")
	mallory := &User{Username: "alice", Name: "Mallory", Hash: "x", Active: true}
	if err := s.CreateUser(mallory, false); err != nil {
		t.Fatal(err)
	}
	check(t, "alicia", "Alicia", "robert")

	// What an edit or a delete returns (and publishes) shows current names too.
	rename(t, s, alice.ID, "ally", "Ally")
	bob, err := s.User(bob.ID) // as a request authenticates him: under his current name
	if err != nil {
		t.Fatal(err)
	}
	edited, err := s.UpdateMessage(id, bob, func(m *Message) error { m.Text = "hello again"; return nil })
	if err != nil || edited.User.Username != "ally" || edited.EditedBy.Username != "robert" {
		t.Fatalf("edit returned %+v %v", edited, err)
	}
	check(t, "ally", "Ally", "robert")

	// A deleted author keeps the name the message was written under: there is no other.
	if err := s.DeleteUser(bob.ID); err != nil {
		t.Fatal(err)
	}
	check(t, "ally", "Ally", "robert")
	deleted, err := s.DeleteMessage(id, alice, func(*Message) error { return nil })
	if err != nil || deleted.User.Username != "ally" {
		t.Fatalf("delete returned %+v %v", deleted, err)
	}
}

// TestAuthorNamesUnderRenames: readers racing renames never keep a name older than the last
// committed rename (the cache's generation check); run with -race.
func TestAuthorNamesUnderRenames(t *testing.T) {
	s, room, alice, bob, _ := authorsFixture(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }() // before the store closes, even after a Fatal
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.History(room.ID, bob, HistoryQuery{Count: 10}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := range 100 {
		name := fmt.Sprintf("alice%d", i)
		rename(t, s, alice.ID, name, name)
		// Every read that starts after the rename returned shows it.
		page, err := s.History(room.ID, bob, HistoryQuery{Count: 1})
		if err != nil || page[0].User.Username != name {
			t.Fatalf("after rename %d: %+v %v", i, page[0].User, err)
		}
	}
}
