package store

import (
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every write that changes what a room's pages show moves the room's page version by the
// time it returns; a refused or rolled-back write does not.
func TestPageVersionMoves(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice"), f.user("bob")
	f.room("R1", "one", Public, alice.ID)
	f.room("P1", "secret", Private, alice.ID)
	moves := func(name, rid string, write func() error) {
		t.Helper()
		before := f.s.PageVersion(rid)
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if after := f.s.PageVersion(rid); after <= before {
			t.Fatalf("%s: page version %d → %d, want it to grow", name, before, after)
		}
	}
	stays := func(name, rid string, write func() error) {
		t.Helper()
		before := f.s.PageVersion(rid)
		if err := write(); err == nil {
			t.Fatalf("%s: want a refusal", name)
		}
		if after := f.s.PageVersion(rid); after != before {
			t.Fatalf("%s: refused, yet page version %d → %d", name, before, after)
		}
	}
	var m *Message
	moves("post", "R1", func() error { m = &Message{Text: "hi"}; return f.s.PostMessage("R1", alice, m) })
	moves("edit", "R1", func() error {
		_, err := f.s.UpdateMessage(m.ID, alice, func(m *Message) error { m.Text = "hello"; return nil })
		return err
	})
	moves("delete", "R1", func() error {
		_, err := f.s.DeleteMessage(m.ID, alice, func(*Message) error { return nil })
		return err
	})
	moves("join", "R1", func() error { _, err := f.s.Join("R1", bob.ID); return err })
	moves("leave", "R1", func() error { _, err := f.s.Leave("R1", bob.ID); return err })
	moves("kick", "P1", func() error {
		if err := f.s.AddMember("P1", bob.ID); err != nil {
			return err
		}
		return f.s.RemoveMember("P1", bob.ID, alice.Ref())
	})
	moves("rename (every room)", "R1", func() error {
		_, err := f.s.UpdateUser(alice.ID, func(u *User) error { u.Username = "alicia"; return nil })
		return err
	})
	moves("delete user (every room)", "P1", func() error { return f.s.DeleteUser(bob.ID) })
	f.post("R1", alice, "to be cleaned")
	moves("cleanHistory", "R1", func() error { _, err := f.s.CleanHistory("R1", time.Time{}, time.Time{}, true); return err })
	f.room("R2", "doomed", Public, alice.ID)
	moves("delete room", "R2", func() error { return f.s.DeleteRoom("R2") })
	moves("PagesChanged", "R1", func() error { f.s.PagesChanged("R1"); return nil })
	moves("AllPagesChanged", "P1", func() error { f.s.AllPagesChanged(); return nil })

	carol := f.user("carol")
	stays("post to a private room by a stranger", "P1", func() error { return f.s.PostMessage("P1", carol, &Message{Text: "x"}) })
	y := f.post("R1", alice, "y")
	stays("edit refused", "R1", func() error {
		_, err := f.s.UpdateMessage(y.ID, carol, func(*Message) error { return ErrNoPermission })
		return err
	})
	// A write whose transaction rolls back after it marked the page does not move it.
	stays("rolled back", "R1", func() error {
		return f.s.batch(func(tx *bolt.Tx) error {
			pageChanged(tx, "R1")
			allPagesChanged(tx)
			return errors.New("rolled back")
		})
	})
}

// MayRead refuses exactly whom History refuses.
func TestMayRead(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice"), f.user("bob")
	f.room("P1", "secret", Private, alice.ID)
	if err := f.s.MayRead("P1", alice); err != nil {
		t.Fatal(err)
	}
	err := f.s.MayRead("P1", bob)
	_, herr := f.s.History("P1", bob, HistoryQuery{Count: 1})
	if err == nil || err.Error() != herr.Error() {
		t.Fatalf("MayRead %v, History %v", err, herr)
	}
	wantKind(t, f.s.MayRead("nope", alice), NotFound)
}
