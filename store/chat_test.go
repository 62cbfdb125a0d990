package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestMentionNames(t *testing.T) {
	for text, want := range map[string][]string{
		"hi @bob and @Alice.":           {"bob", "alice."},
		"mail bob@example.org":          nil,
		"(@all) @here, @bob @bob":       {"all", "here", "bob"},
		"@":                             nil,
		"@ bob":                         nil,
		"line\n@carol: look":            {"carol"},
		"no mention here at all @-x_y.": {"-x_y."},
	} {
		if got := mentionNames(text); !slices.Equal(got, want) {
			t.Errorf("mentionNames(%q) = %q, want %q", text, got, want)
		}
	}
}

func (f *fixture) marked(rid string, q MarkedQuery) ([]string, int) {
	f.t.Helper()
	msgs, total, err := f.s.Marked(rid, q)
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids, total
}

func TestChatMarks(t *testing.T) {
	f := newFixture(t)
	alice, bob, eve := f.user("alice"), f.user("bob"), f.user("eve")
	f.room("A", "a", Private, alice.ID, bob.ID)
	f.room("AB", "ab", Private, alice.ID, bob.ID)

	m1 := f.post("A", alice, "hello @bob and @eve, @all; @nobody")
	if got := m1.Mentions; len(got) != 3 || got[0].ID != bob.ID || got[1].ID != eve.ID || got[2].ID != MentionAll {
		t.Fatalf("mentions %+v", got)
	}
	f.post("AB", alice, "@bob in the other room")

	t.Run("Mentioned", func(t *testing.T) {
		ids, total := f.marked("A", MarkedQuery{Kind: "mentioned", Reader: bob, Count: 10})
		if total != 1 || !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("bob's mentions in A: %v (total %d)", ids, total)
		}
		// eve is mentioned but not a member: the private room stays closed to her
		if _, _, err := f.s.Marked("A", MarkedQuery{Kind: "mentioned", Reader: eve, Count: 10}); KindOf(err) != Forbidden && KindOf(err) != NotFound {
			t.Fatalf("non-member read mentions: %v", err)
		}
	})

	t.Run("Threads", func(t *testing.T) {
		f.clock.Advance(time.Second)
		r1 := &Message{Text: "reply 1", TMID: m1.ID}
		if err := f.s.PostMessage("A", bob, r1); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		r2 := &Message{Text: "reply to a reply", TMID: r1.ID}
		if err := f.s.PostMessage("A", alice, r2); err != nil {
			t.Fatal(err)
		}
		if r2.TMID != m1.ID {
			t.Fatalf("a reply to a reply joins the first message's thread, got tmid %s", r2.TMID)
		}
		head, err := f.s.Message(m1.ID, alice)
		if err != nil {
			t.Fatal(err)
		}
		if head.TCount != 2 || !head.TLM.Equal(r2.TS) || !slices.Equal(head.Replies, []string{bob.ID, alice.ID}) {
			t.Fatalf("thread head %+v", head)
		}
		ids, total := f.marked("A", MarkedQuery{Kind: "thread", TMID: m1.ID, Reader: alice, Count: 10})
		if total != 2 || !slices.Equal(ids, []string{r1.ID, r2.ID}) {
			t.Fatalf("thread messages %v", ids)
		}
		ids, _ = f.marked("A", MarkedQuery{Kind: "threads", Reader: alice, Count: 10})
		if !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("threads %v", ids)
		}
		// a tmid of another room is refused
		if err := f.s.PostMessage("AB", alice, &Message{Text: "x", TMID: m1.ID}); err != ErrInvalidThread {
			t.Fatalf("cross-room tmid: %v", err)
		}
		if _, err := f.s.DeleteMessage(r2.ID, alice, func(*Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		head, _ = f.s.Message(m1.ID, alice)
		if head.TCount != 1 {
			t.Fatalf("tcount after a deleted reply: %d", head.TCount)
		}
	})

	t.Run("ReactToggle", func(t *testing.T) {
		on := true
		m, err := f.s.React(m1.ID, bob, "thumbsup", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Reactions[":thumbsup:"]; got == nil || !slices.Equal(got.Usernames, []string{"bob"}) {
			t.Fatalf("reactions %+v", m.Reactions)
		}
		if m, _ = f.s.React(m1.ID, alice, ":thumbsup:", &on); !slices.Equal(m.Reactions[":thumbsup:"].Usernames, []string{"bob", "alice"}) {
			t.Fatalf("reactions %+v", m.Reactions[":thumbsup:"])
		}
		if m, _ = f.s.React(m1.ID, alice, ":thumbsup:", &on); len(m.Reactions[":thumbsup:"].Usernames) != 2 {
			t.Fatal("shouldReact true twice reacted twice")
		}
		f.s.React(m1.ID, alice, "thumbsup", nil)
		if m, _ = f.s.React(m1.ID, bob, "thumbsup", nil); m.Reactions != nil {
			t.Fatalf("toggled off, still %+v", m.Reactions)
		}
		if _, err := f.s.React(m1.ID, eve, "smile", nil); err == nil {
			t.Fatal("a non-member reacted in a private room")
		}
		if _, err := f.s.React(m1.ID, bob, "<script>", nil); err != ErrInvalidEmoji {
			t.Fatalf("bad emoji: %v", err)
		}
	})

	t.Run("PinAndStar", func(t *testing.T) {
		allow := func(string) error { return nil }
		sys, err := f.s.Pin(m1.ID, bob, true, allow)
		if err != nil {
			t.Fatal(err)
		}
		if sys.Type != "message_pinned" || sys.RoomID != "A" || len(sys.Attachments) == 0 {
			t.Fatalf("pin system message %+v", sys)
		}
		ids, total := f.marked("A", MarkedQuery{Kind: "pinned", Reader: alice, Count: 10})
		if total != 1 || ids[0] != m1.ID {
			t.Fatalf("pinned %v", ids)
		}
		if ids, _ = f.marked("AB", MarkedQuery{Kind: "pinned", Reader: alice, Count: 10}); len(ids) != 0 {
			t.Fatalf("room AB sees A's pins: %v", ids)
		}
		if _, err := f.s.Pin(sys.ID, bob, true, allow); err != ErrSystemMessage {
			t.Fatalf("pinned a system message: %v", err)
		}
		if _, err := f.s.Pin(m1.ID, bob, false, allow); err != nil {
			t.Fatal(err)
		}
		if ids, _ = f.marked("A", MarkedQuery{Kind: "pinned", Reader: alice, Count: 10}); len(ids) != 0 {
			t.Fatalf("unpinned still listed %v", ids)
		}
		if _, err := f.s.Star(m1.ID, alice, true); err != nil {
			t.Fatal(err)
		}
		if ids, _ = f.marked("A", MarkedQuery{Kind: "starred", Reader: alice, Count: 10}); !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("alice's stars %v", ids)
		}
		if ids, _ = f.marked("A", MarkedQuery{Kind: "starred", Reader: bob, Count: 10}); len(ids) != 0 {
			t.Fatalf("bob sees alice's stars %v", ids)
		}
	})

	t.Run("SyncAndDeleteLeaveNoMarks", func(t *testing.T) {
		since := f.clock.Now()
		f.clock.Advance(time.Second)
		fresh := f.post("A", alice, "fresh")
		if _, err := f.s.React(m1.ID, bob, "smile", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.DeleteMessage(fresh.ID, alice, func(*Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		up, del, err := f.s.Sync("A", alice, since)
		if err != nil {
			t.Fatal(err)
		}
		if len(up) != 1 || up[0].ID != m1.ID || len(del) != 1 || del[0].ID != fresh.ID {
			t.Fatalf("sync: updated %v deleted %v", up, del)
		}
		// Delete everything of room A: no mark but the tombstones is left.
		for _, id := range []string{m1.ID} {
			if _, err := f.s.DeleteMessage(id, alice, func(*Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		msgs, err := f.s.History("A", alice, HistoryQuery{Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if _, err := f.s.DeleteMessage(m.ID, alice, func(*Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		f.s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bMarks).Cursor()
			p := prefix("A")
			for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
				if k[len(p)] != markDeleted {
					t.Errorf("mark left after every message went: %q", k)
				}
			}
			return nil
		})
		if errs := f.s.Check(); len(errs) > 0 {
			t.Fatalf("check: %v", errs)
		}
	})
}

// TestChatWritesEmitEvents: reactions, stars, pins and thread replies reach the realtime hub
// as changes of the message (and the pin's system message as a new one); refused ones don't.
func TestChatWritesEmitEvents(t *testing.T) {
	s, rec, u, r := eventsFixture(t)
	m := &Message{Text: "hi"}
	if err := s.PostMessage(r.ID, u, m); err != nil {
		t.Fatal(err)
	}
	rec.take()
	kinds := func() (out []string) {
		for _, ev := range rec.take() {
			out = append(out, fmt.Sprintf("%d:%s", ev.Kind, ev.Message.Text))
		}
		return out
	}
	edited, added := fmt.Sprint(int(MessageEdited)), fmt.Sprint(int(MessageAdded))
	if _, err := s.React(m.ID, u, "smile", nil); err != nil {
		t.Fatal(err)
	}
	if got := kinds(); !slices.Equal(got, []string{edited + ":hi"}) {
		t.Fatalf("react: %v", got)
	}
	if _, err := s.React(m.ID, u, "<bad>", nil); err == nil {
		t.Fatal("bad emoji taken")
	}
	if got := kinds(); len(got) != 0 {
		t.Fatalf("a refused reaction emitted %v", got)
	}
	s.Star(m.ID, u, true)
	if got := kinds(); !slices.Equal(got, []string{edited + ":hi"}) {
		t.Fatalf("star: %v", got)
	}
	if _, err := s.Pin(m.ID, u, true, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := kinds(); !slices.Equal(got, []string{added + ":", edited + ":hi"}) {
		t.Fatalf("pin: %v", got)
	}
	if err := s.PostMessage(r.ID, u, &Message{Text: "re", TMID: m.ID}); err != nil {
		t.Fatal(err)
	}
	if got := kinds(); !slices.Equal(got, []string{edited + ":hi", added + ":re"}) {
		t.Fatalf("thread reply: %v", got)
	}
}

// In a read-only room reacting needs post-readonly, as posting does; a refused reaction
// changes nothing.
func TestReactInReadOnlyRoom(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user("alice"), f.user("bob")
	if _, err := f.s.EnsureRole(&Role{Name: "owner"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.EnsurePermission(&Permission{ID: postReadOnly, Roles: []string{"owner"}}); err != nil {
		t.Fatal(err)
	}
	r := &Room{Name: "news", Type: Public}
	if err := f.s.CreateRoom(r, []string{bob.ID}, alice.ID); err != nil {
		t.Fatal(err)
	}
	m := f.post(r.ID, alice, "news")
	if _, err := f.s.UpdateRoom(r.ID, func(r *Room) error { r.ReadOnly = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.React(m.ID, bob, "smile", nil); err != ErrNoPermission {
		t.Fatalf("bob reacts in a read-only room: %v, want ErrNoPermission", err)
	}
	if got, err := f.s.Message(m.ID, bob); err != nil || got.Reactions != nil {
		t.Fatalf("after a refused reaction: %+v %v", got, err)
	}
	// alice owns the room: her room role holds post-readonly.
	if got, err := f.s.React(m.ID, alice, "smile", nil); err != nil || len(got.Reactions[":smile:"].Usernames) != 1 {
		t.Fatalf("the owner reacts: %+v %v", got, err)
	}
}
