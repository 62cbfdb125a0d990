package store

import (
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// recorder is a Publisher that keeps every event, and checks that each batch of events comes
// after its commit: every message it is told of must already be readable.
type recorder struct {
	s      *Bolt
	mu     sync.Mutex
	events []Event
	early  []string
}

func (r *recorder) Publish(evs []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		if ev.Kind == MessageAdded {
			// A read transaction sees only committed data.
			var found bool
			r.s.view(func(tx *bolt.Tx) error { found = tx.Bucket(bMessageIDs).Get([]byte(ev.Message.ID)) != nil; return nil })
			if !found {
				r.early = append(r.early, ev.Message.ID)
			}
		}
	}
	r.events = append(r.events, evs...)
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func eventsFixture(t *testing.T) (*Bolt, *recorder, *User, *Room) {
	s := openTest(t, nil)
	u := &User{Username: "ev", Active: true, Roles: []string{"user"}}
	if err := s.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	r := &Room{Name: "ev-room"}
	if err := s.CreateRoom(r, []string{u.ID}, ""); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{s: s}
	s.SetPublisher(rec)
	return s, rec, u, r
}

func TestEventsFollowCommits(t *testing.T) {
	s, rec, u, r := eventsFixture(t)

	t.Run("OK", func(t *testing.T) {
		m := &Message{Text: "one"}
		if err := s.PostMessage(r.ID, u, m); err != nil {
			t.Fatal(err)
		}
		evs := rec.take()
		if len(evs) != 1 || evs[0].Kind != MessageAdded || evs[0].Message.ID != m.ID || evs[0].Room.Msgs != 1 {
			t.Fatalf("events %+v", evs)
		}
	})
	t.Run("RefusedWriteEmitsNothing", func(t *testing.T) {
		if err := s.PostMessage("no-such-room", u, &Message{Text: "x"}); err == nil {
			t.Fatal("post to a missing room succeeded")
		}
		if _, err := s.UpdateRoom(r.ID, func(*Room) error { return ErrNoPermission }); err == nil {
			t.Fatal("refused update succeeded")
		}
		if evs := rec.take(); len(evs) != 0 {
			t.Fatalf("a refused write emitted %+v", evs)
		}
	})
	t.Run("RolledBackUpdateEmitsNothing", func(t *testing.T) {
		// update() rolls back when fn fails after emitting.
		err := s.update(func(tx *bolt.Tx) error {
			emit(tx, Event{Kind: RoomChanged, Room: r})
			return ErrNoPermission
		})
		if err == nil {
			t.Fatal("update succeeded")
		}
		if evs := rec.take(); len(evs) != 0 {
			t.Fatalf("a rolled back transaction emitted %+v", evs)
		}
	})
	t.Run("BatchWithAFailingWrite", func(t *testing.T) {
		// Many concurrent writes share commits; the failing ones are rolled back and retried
		// without them. Exactly the committed messages are announced, each once, in the
		// room's order.
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := map[string]bool{}
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				rid := r.ID
				if i%5 == 0 {
					rid = "missing"
				}
				m := &Message{Text: fmt.Sprint("m", i)}
				if err := s.PostMessage(rid, u, m); err == nil {
					mu.Lock()
					ok[m.ID] = true
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		evs := rec.take()
		if len(evs) != len(ok) {
			t.Fatalf("%d events for %d committed messages", len(evs), len(ok))
		}
		var last uint64
		for _, ev := range evs {
			if !ok[ev.Message.ID] {
				t.Fatalf("event for a message that was not acknowledged: %s", ev.Message.ID)
			}
			if ev.Message.Seq <= last {
				t.Fatalf("events out of the room's order: %d after %d", ev.Message.Seq, last)
			}
			last = ev.Message.Seq
		}
		if len(rec.early) > 0 {
			t.Fatalf("published before commit: %v", rec.early)
		}
	})
	t.Run("EveryWriteKind", func(t *testing.T) {
		v := &User{Username: "ev2", Active: true, Roles: []string{"user"}}
		if err := s.CreateUser(v, false); err != nil {
			t.Fatal(err)
		}
		rec.take()
		m := &Message{Text: "edit me"}
		steps := []struct {
			name string
			do   func() error
			want []EventKind
		}{
			{"Post", func() error { return s.PostMessage(r.ID, u, m) }, []EventKind{MessageAdded}},
			{"Edit", func() error {
				_, err := s.UpdateMessage(m.ID, u, func(m *Message) error { m.Text = "edited"; return nil })
				return err
			}, []EventKind{MessageEdited}},
			{"Delete", func() error { _, err := s.DeleteMessage(m.ID, u, func(*Message) error { return nil }); return err }, []EventKind{MessageDeleted}},
			{"Join", func() error { _, err := s.Join(r.ID, v.ID); return err }, []EventKind{MemberAdded, MessageAdded}},
			{"Read", func() error { return s.MarkRead(r.ID, v) }, []EventKind{ReadMarked}},
			{"Hide", func() error { _, err := s.SetRoomOpen(r.ID, v.ID, false); return err }, []EventKind{MemberChanged}},
			{"Leave", func() error { _, err := s.Leave(r.ID, v.ID); return err }, []EventKind{MessageAdded, MemberRemoved}},
			{"Invite", func() error { return s.AddMember(r.ID, v.ID) }, []EventKind{MemberAdded, MessageAdded}},
			{"Kick", func() error { return s.RemoveMember(r.ID, v.ID, u.Ref()) }, []EventKind{MessageAdded, MemberRemoved}},
			{"Topic", func() error {
				_, err := s.UpdateRoom(r.ID, func(r *Room) error { r.Topic = "t"; return nil })
				return err
			}, []EventKind{RoomChanged}},
			{"Rename", func() error {
				_, err := s.UpdateRoom(r.ID, func(r *Room) error { r.Name = "ev-room-2"; return nil })
				return err
			}, []EventKind{RoomChanged}},
			{"UserChange", func() error {
				_, err := s.UpdateUser(v.ID, func(u *User) error { u.Status = "away"; return nil })
				return err
			}, []EventKind{UserChanged}},
			{"DeleteUser", func() error { return s.DeleteUser(v.ID) }, []EventKind{UserDeleted}},
		}
		for _, st := range steps {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			evs := rec.take()
			if len(evs) != len(st.want) {
				t.Fatalf("%s: events %+v, want kinds %v", st.name, evs, st.want)
			}
			for i, ev := range evs {
				if ev.Kind != st.want[i] {
					t.Fatalf("%s: event %d is kind %d, want %d", st.name, i, ev.Kind, st.want[i])
				}
				if ev.User != nil && ev.User.Hash != "" {
					t.Fatalf("%s: an event carries a password hash", st.name)
				}
			}
		}
	})
}
