package storetest

// Messages: posting, history pages and cursors, search, threads, reactions, pins, stars,
// the marked lists, sync, edits, deletions and cleaning, as both backends must do them
// (ported from the bbolt store's tests of messages.go and chat.go).

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rocketlite/store"
)

// chatFix is a store with a settable clock and helpers for the message tests.
type chatFix struct {
	t     *testing.T
	st    store.Store
	clock *Clock
}

func newChat(t *testing.T, open Opener, opts store.Options) *chatFix {
	t.Helper()
	f := &chatFix{t: t, clock: NewClock()}
	opts.Now = f.clock.Now
	f.st = open(t, opts)
	return f
}

func (f *chatFix) user(name string) *store.User {
	f.t.Helper()
	return mustUser(f.t, f.st, "", name)
}

func (f *chatFix) room(id, name, typ string, members ...string) *store.Room {
	f.t.Helper()
	r := &store.Room{ID: id, Name: name, Type: typ}
	if err := f.st.CreateRoom(r, members, ""); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *chatFix) post(rid string, u *store.User, text string) *store.Message {
	f.t.Helper()
	m := &store.Message{Text: text}
	if err := f.st.PostMessage(rid, u, m); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// texts is the page's texts, newest first.
func (f *chatFix) texts(rid string, u *store.User, q store.HistoryQuery) []string {
	f.t.Helper()
	msgs, err := f.st.History(rid, u, q)
	if err != nil {
		f.t.Fatal(err)
	}
	out := []string{}
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

func (f *chatFix) marked(rid string, q store.MarkedQuery) ([]string, int) {
	f.t.Helper()
	msgs, total, err := f.st.Marked(rid, q)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := []string{}
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	return ids, total
}

func (f *chatFix) msg(id string, u *store.User) *store.Message {
	f.t.Helper()
	m, err := f.st.Message(id, u)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// chatErr fails unless err is of kind (and, when code is set, has that code).
func chatErr(t *testing.T, what string, err error, kind store.Kind, code string) {
	t.Helper()
	e, _ := err.(*store.Error)
	if store.KindOf(err) != kind || (code != "" && (e == nil || e.Code != code)) {
		t.Fatalf("%s: %v (kind %d), want kind %d %s", what, err, store.KindOf(err), kind, code)
	}
}

// chatEvents records the published events; on PostgreSQL they come through the events
// table, a moment after the commit, so a test waits for them.
type chatEvents struct {
	mu   sync.Mutex
	evs  []store.Event
	more chan struct{}
}

func newChatEvents() *chatEvents { return &chatEvents{more: make(chan struct{}, 1)} }

func (r *chatEvents) Publish(evs []store.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, evs...)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// take waits for n events and returns them as "kind:text" (a room event: "kind:user"),
// failing if fewer come or more are there.
func (r *chatEvents) take(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		have := len(r.evs)
		r.mu.Unlock()
		if have >= n {
			break
		}
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("%d events came, want %d", have, n)
		}
	}
	time.Sleep(50 * time.Millisecond) // any event too many has its chance to show
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		switch {
		case ev.Message != nil:
			out = append(out, fmt.Sprintf("%d:%s", ev.Kind, ev.Message.Text))
		default:
			out = append(out, fmt.Sprintf("%d:%s", ev.Kind, ev.UserID))
		}
	}
	if len(out) != n {
		t.Fatalf("events %v, want %d", out, n)
	}
	r.evs = nil
	return out
}

// drain waits for the event "kind:text" of a marker write and forgets it with every event
// before it (those of the set-up, which on PostgreSQL may come after SetPublisher).
func (r *chatEvents) drain(t *testing.T, marker string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for i, ev := range r.evs {
			if ev.Message != nil && fmt.Sprintf("%d:%s", ev.Kind, ev.Message.Text) == marker {
				r.evs = r.evs[i+1:]
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("no event %s", marker)
		}
	}
}

func init() {
	add("MessagesRoomIsolation", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("A", "room-a", store.Public)
		f.room("AB", "room-ab", store.Public)
		f.room("B", "room-b", store.Public)
		for i := range 3 {
			f.post("A", u, fmt.Sprint("a", i))
			f.post("AB", u, fmt.Sprint("ab", i))
		}
		if got := f.texts("A", u, store.HistoryQuery{Count: 50}); !slices.Equal(got, []string{"a2", "a1", "a0"}) {
			t.Fatalf("room A sees %v", got)
		}
		if got := f.texts("AB", u, store.HistoryQuery{Count: 50}); !slices.Equal(got, []string{"ab2", "ab1", "ab0"}) {
			t.Fatalf("room AB sees %v", got)
		}
		if got := f.texts("B", u, store.HistoryQuery{Count: 50}); len(got) != 0 {
			t.Fatalf("empty room B sees %v", got)
		}
		if got := f.texts("A", u, store.HistoryQuery{Count: 50, Before: f.clock.Now().Add(time.Hour)}); !slices.Equal(got, []string{"a2", "a1", "a0"}) {
			t.Fatalf("room A by date sees %v", got)
		}
		msgs, _ := f.st.History("AB", u, store.HistoryQuery{Count: 1})
		_, err := f.st.History("A", u, store.HistoryQuery{Count: 50, BeforeID: msgs[0].ID})
		chatErr(t, "before id of another room", err, store.Invalid, "invalid-before")
		r, err := f.st.Room("A")
		if err != nil || r.Msgs != 3 || r.Seq != 3 || !r.LastMessage.Equal(f.clock.Now()) || r.Counted != 3 {
			t.Fatalf("room A after 3 posts: %+v %v", r, err)
		}
	})

	add("MessagesHistoryPaging", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("R", "r", store.Public)
		for _, q := range []store.HistoryQuery{{Count: 50}, {Count: 50, Unread: true}, {Count: 50, Before: f.clock.Now()}} {
			if got := f.texts("R", u, q); len(got) != 0 {
				t.Fatalf("empty room %+v: %v", q, got)
			}
		}
		var msgs []*store.Message
		for i := range 5 {
			msgs = append(msgs, f.post("R", u, string(rune('a'+i))))
			f.clock.Advance(time.Second)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) || m.RoomID != "R" || m.ID == "" || m.User.ID != u.ID || !m.UpdatedAt.Equal(m.TS) {
				t.Fatalf("posted message %d: %+v", i, m)
			}
		}
		check := func(what string, q store.HistoryQuery, want ...string) {
			t.Helper()
			if want == nil {
				want = []string{}
			}
			if got := f.texts("R", u, q); !slices.Equal(got, want) {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
		check("all", store.HistoryQuery{Count: 5}, "e", "d", "c", "b", "a")
		check("count 4", store.HistoryQuery{Count: 4}, "e", "d", "c", "b")
		check("count 6", store.HistoryQuery{Count: 6}, "e", "d", "c", "b", "a")
		check("count 0 is 1", store.HistoryQuery{}, "e")
		check("before d", store.HistoryQuery{Count: 2, BeforeID: msgs[3].ID}, "c", "b")
		check("before b", store.HistoryQuery{Count: 50, BeforeID: msgs[1].ID}, "a")
		check("before the first by id", store.HistoryQuery{Count: 50, BeforeID: msgs[0].ID})
		check("before the first by date", store.HistoryQuery{Count: 50, Before: msgs[0].TS})
		check("before c's ts", store.HistoryQuery{Count: 50, Before: msgs[2].TS}, "b", "a")
		check("before c's ts + 1ms", store.HistoryQuery{Count: 1, Before: msgs[2].TS.Add(time.Millisecond)}, "c")
		check("before c's ts inclusive", store.HistoryQuery{Count: 50, Before: msgs[2].TS, Inclusive: true}, "c", "b", "a")
		check("after c's ts", store.HistoryQuery{Count: 50, After: msgs[2].TS}, "e", "d")
		check("after b, before d", store.HistoryQuery{Count: 50, After: msgs[1].TS, Before: msgs[3].TS}, "c")
		check("after b, before d, inclusive", store.HistoryQuery{Count: 50, After: msgs[1].TS, Before: msgs[3].TS, Inclusive: true}, "d", "c", "b")
		check("after later than before", store.HistoryQuery{Count: 50, After: msgs[3].TS, Before: msgs[1].TS})
		check("dates and before id", store.HistoryQuery{Count: 50, After: msgs[0].TS, BeforeID: msgs[3].ID}, "c", "b")
		check("dates with offset", store.HistoryQuery{Count: 1, Offset: 1, Before: msgs[4].TS}, "c")
		for _, d := range []time.Time{time.Unix(0, 0), time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)} {
			check("before "+d.String(), store.HistoryQuery{Count: 50, Before: d})
		}
		check("offset 2", store.HistoryQuery{Count: 2, Offset: 2}, "c", "b")
		check("offset past the end", store.HistoryQuery{Count: 2, Offset: 7})
		_, err := f.st.History("R", u, store.HistoryQuery{Count: 50, BeforeID: "nope"})
		chatErr(t, "unknown before id", err, store.Invalid, "invalid-before")
		_, err = f.st.History("R", u, store.HistoryQuery{Count: 50, BeforeID: "bad\x00id"})
		chatErr(t, "before id with a NUL", err, store.Invalid, "invalid-before")
		for _, off := range []int{-1, store.MaxHistorySkip + 1} {
			_, err = f.st.History("R", u, store.HistoryQuery{Count: 1, Offset: off})
			chatErr(t, fmt.Sprint("offset ", off), err, store.Invalid, "invalid-offset")
		}
		_, err = f.st.History("nope", u, store.HistoryQuery{Count: 50})
		chatErr(t, "unknown room", err, store.NotFound, "")
		_, err = f.st.History("bad\xff", u, store.HistoryQuery{Count: 50})
		chatErr(t, "room id of invalid UTF-8", err, store.NotFound, "")

		// Unread: after the reader's read mark, which is their own.
		check("unread before any mark", store.HistoryQuery{Count: 50, Unread: true}, "e", "d", "c", "b", "a")
		if err := f.st.MarkRead("R", u); err != nil {
			t.Fatal(err)
		}
		check("unread right after read", store.HistoryQuery{Count: 50, Unread: true})
		f.post("R", u, "f")
		f.post("R", u, "g")
		check("unread after two", store.HistoryQuery{Count: 50, Unread: true}, "g", "f")
		check("unread by date", store.HistoryQuery{Count: 50, Unread: true, Before: f.clock.Now().Add(time.Hour)}, "g", "f")
		bob := f.user("bob")
		if got := f.texts("R", bob, store.HistoryQuery{Count: 50, Unread: true}); len(got) != 7 {
			t.Fatalf("bob's unread: %v", got)
		}
	})

	// A time-bounded unread page after the clock went back finds the unread messages below
	// the read ones in time order.
	add("MessagesHistoryClockJump", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("ann")
		f.room("R", "r", store.Public)
		for i := range 20 {
			f.post("R", u, fmt.Sprint("read", i))
			f.clock.Advance(time.Second)
		}
		if err := f.st.MarkRead("R", u); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(-time.Hour)
		for i := range 3 {
			f.post("R", u, fmt.Sprint("new", i))
		}
		q := store.HistoryQuery{Count: 50, Unread: true, Before: f.clock.Now().Add(2 * time.Hour)}
		if got := f.texts("R", u, q); !slices.Equal(got, []string{"new2", "new1", "new0"}) {
			t.Fatalf("unread after a clock jump: %v", got)
		}
		// Sequence order is the order of the posts, whatever the clock said.
		if got := f.texts("R", u, store.HistoryQuery{Count: 4}); !slices.Equal(got, []string{"new2", "new1", "new0", "read19"}) {
			t.Fatalf("newest 4: %v", got)
		}
	})

	add("MessagesPrivateRoom", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		alice, bob := f.user("alice"), f.user("bob")
		f.room("P", "secret", store.Private, alice.ID)
		m := f.post("P", alice, "hidden")
		_, err := f.st.History("P", bob, store.HistoryQuery{Count: 50})
		chatErr(t, "outsider's history", err, store.Forbidden, "")
		chatErr(t, "outsider's post", f.st.PostMessage("P", bob, &store.Message{Text: "x"}), store.Forbidden, "")
		_, err = f.st.Search("P", bob, "hidden", 10)
		chatErr(t, "outsider's search", err, store.Forbidden, "")
		_, _, err = f.st.Sync("P", bob, time.Time{})
		chatErr(t, "outsider's sync", err, store.Forbidden, "")
		// A message of a room one may not read does not exist, as far as one can tell.
		for what, err := range map[string]error{
			"read": func() error { _, err := f.st.Message(m.ID, bob); return err }(),
			"edit": func() error {
				_, err := f.st.UpdateMessage(m.ID, bob, func(*store.Message) error { return nil })
				return err
			}(),
			"delete": func() error {
				_, err := f.st.DeleteMessage(m.ID, bob, func(*store.Message) error { return nil })
				return err
			}(),
			"react": func() error { _, err := f.st.React(m.ID, bob, "smile", nil); return err }(),
			"star":  func() error { _, err := f.st.Star(m.ID, bob, true); return err }(),
			"pin":   func() error { _, err := f.st.Pin(m.ID, bob, true, func(string) error { return nil }); return err }(),
			"thread": func() error {
				_, _, err := f.st.Marked("", store.MarkedQuery{Kind: "thread", TMID: m.ID, Reader: bob, Count: 5})
				return err
			}(),
		} {
			if err != store.ErrMsgNotFound {
				t.Errorf("outsider's %s: %v, want ErrMsgNotFound", what, err)
			}
		}
		if got := f.msg(m.ID, alice); got.Text != "hidden" {
			t.Fatalf("member reads %+v", got)
		}
		for _, id := range []string{"nope", "bad\x00id", "bad\xffid"} {
			if _, err := f.st.Message(id, alice); err != store.ErrMsgNotFound {
				t.Fatalf("Message(%q): %v", id, err)
			}
		}
	})

	add("MessagesPostErrors", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("R", "r", store.Public)
		first := &store.Message{ID: "chosen-id", Text: "mine"}
		if err := f.st.PostMessage("R", u, first); err != nil || first.ID != "chosen-id" {
			t.Fatalf("post with an id: %v %s", err, first.ID)
		}
		err := f.st.PostMessage("R", u, &store.Message{ID: "chosen-id", Text: "again"})
		if err != store.ErrMessageIDTaken {
			t.Fatalf("taken id: %v", err)
		}
		chatErr(t, "control characters", f.st.PostMessage("R", u, &store.Message{Text: "a\x00b"}), store.Invalid, "invalid-msg")
		chatErr(t, "unknown room", f.st.PostMessage("nope", u, &store.Message{Text: "x"}), store.NotFound, "")
		if got := f.texts("R", u, store.HistoryQuery{Count: 50}); !slices.Equal(got, []string{"mine"}) {
			t.Fatalf("refused posts left %v", got)
		}
		if r, _ := f.st.Room("R"); r.Msgs != 1 || r.Seq != 1 {
			t.Fatalf("refused posts counted: msgs %d seq %d", r.Msgs, r.Seq)
		}
	})

	// Every stored message is held to the caps; a refusal writes nothing.
	add("MessagesCaps", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{MaxMessageBytes: 2048, MaxMessageDepth: 4})
		u := f.user("alice")
		f.room("R", "room", store.Public)
		if b, d := f.st.MessageCaps(); b != 2048 || d != 4 {
			t.Fatalf("caps %d %d", b, d)
		}
		nested := func(d int) json.RawMessage {
			return json.RawMessage(strings.Repeat("[", d) + strings.Repeat("]", d))
		}
		for _, tc := range []struct {
			name string
			m    *store.Message
			code string
		}{
			{"TooLargeText", &store.Message{Text: strings.Repeat("é", 1100)}, "message-too-large"},
			{"TooLargeAttachments", &store.Message{Text: "x", Attachments: json.RawMessage(`[{"t":"` + strings.Repeat("a", 2000) + `"}]`)}, "message-too-large"},
			{"TooLargeAllFields", &store.Message{Text: strings.Repeat("a", 700), Alias: strings.Repeat("b", 700), Avatar: strings.Repeat("c", 700)}, "message-too-large"},
			{"TooDeep", &store.Message{Text: "x", Attachments: nested(5)}, "message-too-deep"},
		} {
			chatErr(t, tc.name, f.st.PostMessage("R", u, tc.m), store.Invalid, tc.code)
		}
		if got := f.texts("R", u, store.HistoryQuery{Count: 50}); len(got) != 0 {
			t.Fatalf("refused messages stored: %v", got)
		}
		if err := f.st.PostMessage("R", u, &store.Message{Text: "x", Attachments: nested(4)}); err != nil {
			t.Fatal(err)
		}
		big := &store.Message{Text: strings.Repeat("a", 1500)}
		if err := f.st.PostMessage("R", u, big); err != nil {
			t.Fatal(err)
		}
		_, err := f.st.UpdateMessage(big.ID, u, func(m *store.Message) error { m.Text = strings.Repeat("b", 2100); return nil })
		chatErr(t, "edit past the cap", err, store.Invalid, "message-too-large")
		if got := f.msg(big.ID, u); got.Text != big.Text || !got.EditedAt.IsZero() {
			t.Fatalf("after a refused edit: %+v", got)
		}
		// A message mentioning users is checked again with its mentions.
		mentions := strings.Repeat("@alice ", 1)
		if err := f.st.PostMessage("R", u, &store.Message{Text: mentions + strings.Repeat("z", 1900)}); store.KindOf(err) != store.Invalid {
			t.Fatalf("a post past the cap with its mentions: %v", err)
		}
	})

	// A page ends on its byte budget, never before its first message, and paging on from its
	// last message reaches every message once.
	add("MessagesPageByteBudget", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("R", "room", store.Public)
		var old []*store.Message
		for i := range 7 {
			m := &store.Message{Text: fmt.Sprintf("old %d %s", i, strings.Repeat("x", 30000)), User: u.Ref()}
			if i == 5 {
				m.Text = strings.Repeat("y", 250000) // alone larger than the budget
			}
			old = append(old, m)
		}
		if err := f.st.AppendMessages("R", old); err != nil {
			t.Fatal(err)
		}
		for i, m := range old {
			if m.Seq != uint64(i+1) || m.ID == "" || !m.TS.Equal(f.clock.Now()) {
				t.Fatalf("appended %d: seq %d id %q ts %v", i, m.Seq, m.ID, m.TS)
			}
		}
		const budget = 100000
		seen := map[string]bool{}
		q := store.HistoryQuery{Count: 50, MaxBytes: budget}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			p, err := f.st.HistoryPage("R", u, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) == 0 {
				break
			}
			if p.Bytes > budget && len(p.Messages) > 1 {
				t.Fatalf("page of %d messages holds %d bytes", len(p.Messages), p.Bytes)
			}
			if pages == 0 && (!p.Truncated || len(p.Messages) >= q.Count) {
				t.Fatalf("first page of %d messages not marked truncated", len(p.Messages))
			}
			for _, m := range p.Messages {
				if seen[m.ID] {
					t.Fatalf("message %s twice", m.ID)
				}
				seen[m.ID] = true
			}
			q.BeforeID = p.Messages[len(p.Messages)-1].ID
		}
		for _, m := range old {
			if !seen[m.ID] {
				t.Fatalf("message %s never served", m.ID)
			}
		}
		p, err := f.st.HistoryPage("R", u, store.HistoryQuery{Count: 50})
		if err != nil || len(p.Messages) != 7 || p.Truncated {
			t.Fatalf("unbudgeted page: %d messages, truncated %v, %v", len(p.Messages), p.Truncated, err)
		}
		p, err = f.st.HistoryPage("R", u, store.HistoryQuery{Count: 50, MaxBytes: budget, After: time.Unix(1, 0)})
		if err != nil || len(p.Messages) == 0 || len(p.Messages) == 7 || !p.Truncated {
			t.Fatalf("time-bounded page: %d messages, truncated %v, %v", len(p.Messages), p.Truncated, err)
		}
		if err := f.st.AppendMessages("nope", []*store.Message{{Text: "x"}}); store.KindOf(err) != store.NotFound {
			t.Fatalf("append to an unknown room: %v", err)
		}
		if err := f.st.AppendMessages("R", []*store.Message{{ID: old[0].ID, Text: "x"}}); err != store.ErrMessageIDTaken {
			t.Fatalf("append with a taken id: %v", err)
		}
		if r, _ := f.st.Room("R"); r.Msgs != 7 || r.Seq != 7 {
			t.Fatalf("room after a refused append: msgs %d seq %d", r.Msgs, r.Seq)
		}
	})

	// Search ignores case exactly as Go's strings.ToLower does, finds user messages only,
	// newest first, among the newest MaxScan messages.
	add("MessagesSearch", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("R", "room", store.Public)
		f.room("S", "other", store.Public)
		texts := []string{"needle at the start", "Kelvin \u212a sign", `quote " and \ back`, "<b>&amp;</b>",
			"héllo NEEDLE", "tab\tnew\nline", "kkk", "nothing", "İstanbul", "100% sure_thing"}
		for i := range 60 {
			f.post("R", u, texts[i%len(texts)])
		}
		f.post("S", u, "needle elsewhere")
		for _, needle := range []string{"needle", "k", "K", `"`, `\`, "<b>", "&", "é", "\t", "i", "zzz", "İ", "%", "_", "0% s", "needle at the"} {
			p, err := f.st.SearchPage("R", u, store.SearchQuery{Text: needle, Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i := range 60 {
				if strings.Contains(strings.ToLower(texts[i%len(texts)]), strings.ToLower(needle)) {
					want++
				}
			}
			if len(p.Messages) != want {
				t.Errorf("search %q: %d results, want %d", needle, len(p.Messages), want)
			}
			for i := 1; i < len(p.Messages); i++ {
				if p.Messages[i].Seq >= p.Messages[i-1].Seq {
					t.Fatalf("search %q: not newest first", needle)
				}
			}
		}
		found, err := f.st.Search("R", u, "NEEDLE", 3)
		if err != nil || len(found) != 3 || found[0].Text != "héllo NEEDLE" {
			t.Fatalf("search with a count: %v %v", found, err)
		}
		if found, err := f.st.Search("R", u, "a\x00", 3); err != nil || len(found) != 0 {
			t.Fatalf("search for a NUL: %v %v", found, err)
		}
		// The oldest "needle at" is out of reach of a scan of 10.
		p, err := f.st.SearchPage("R", u, store.SearchQuery{Text: "needle at", Count: 100, MaxScan: 10})
		if err != nil || len(p.Messages) != 1 {
			t.Fatalf("scan of 10: %d results, %v", len(p.Messages), err)
		}
		p, err = f.st.SearchPage("R", u, store.SearchQuery{Text: "needle at", Count: 100, MaxScan: 60})
		if err != nil || len(p.Messages) != 6 {
			t.Fatalf("scan of 60: %d results, %v", len(p.Messages), err)
		}
		// System messages are never found, even by their text.
		bob := f.user("bob")
		if _, err := f.st.Join("R", bob.ID); err != nil {
			t.Fatal(err)
		}
		if found, err := f.st.Search("R", u, "bob", 10); err != nil || len(found) != 0 {
			t.Fatalf("search found a join message: %+v (err %v)", found, err)
		}
		// An edit is searched by its new text.
		if _, err := f.st.UpdateMessage(found0(t, f, "R", u, "kkk").ID, u, func(m *store.Message) error { m.Text = "Quux"; return nil }); err != nil {
			t.Fatal(err)
		}
		if found, _ := f.st.Search("R", u, "quux", 10); len(found) != 1 || found[0].Text != "Quux" {
			t.Fatalf("search after an edit: %v", found)
		}
		_, err = f.st.Search("nope", u, "x", 1)
		chatErr(t, "unknown room", err, store.NotFound, "")
	})

	add("MessagesConcurrentPosts", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("alice")
		f.room("R", "room", store.Public)
		const writers, each = 16, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					errs <- f.st.PostMessage("R", u, &store.Message{Text: fmt.Sprint(w, "-", i)})
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
		msgs, err := f.st.History("R", u, store.HistoryQuery{Count: 1000})
		if err != nil || len(msgs) != writers*each {
			t.Fatalf("%d messages stored, want %d (%v)", len(msgs), writers*each, err)
		}
		texts := map[string]bool{}
		for i, m := range msgs {
			if texts[m.Text] {
				t.Fatalf("message %q stored twice", m.Text)
			}
			texts[m.Text] = true
			if want := uint64(len(msgs) - i); m.Seq != want {
				t.Fatalf("message %d has seq %d, want %d", i, m.Seq, want)
			}
		}
		r, _ := f.st.Room("R")
		if r.Msgs != writers*each || r.Seq != writers*each || r.Counted != writers*each {
			t.Fatalf("room msgs %d seq %d counted %d, want %d", r.Msgs, r.Seq, r.Counted, writers*each)
		}
	})

	add("MessagesChatMarks", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		alice, bob, eve := f.user("alice"), f.user("bob"), f.user("eve")
		f.room("A", "a", store.Private, alice.ID, bob.ID)
		f.room("AB", "ab", store.Private, alice.ID, bob.ID)

		m1 := f.post("A", alice, "hello @bob and @EVE, @all; @nobody @bob")
		if got := m1.Mentions; len(got) != 3 || got[0].ID != bob.ID || got[1].ID != eve.ID || got[1].Username != "eve" || got[2].ID != store.MentionAll {
			t.Fatalf("mentions %+v", got)
		}
		dot := f.post("A", alice, "thanks @bob.")
		if len(dot.Mentions) != 1 || dot.Mentions[0].ID != bob.ID {
			t.Fatalf("a mention ending a sentence: %+v", dot.Mentions)
		}
		f.post("AB", alice, "@bob in the other room")

		ids, total := f.marked("A", store.MarkedQuery{Kind: "mentioned", Reader: bob, Count: 10})
		if total != 2 || !slices.Equal(ids, []string{dot.ID, m1.ID}) {
			t.Fatalf("bob's mentions in A: %v (total %d)", ids, total)
		}
		if ids, total = f.marked("A", store.MarkedQuery{Kind: "mentioned", Reader: bob, Count: 1, Offset: 1}); total != 2 || !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("bob's mentions, second page: %v (total %d)", ids, total)
		}
		if _, _, err := f.st.Marked("A", store.MarkedQuery{Kind: "mentioned", Reader: eve, Count: 10}); store.KindOf(err) != store.Forbidden {
			t.Fatalf("non-member read mentions: %v", err)
		}

		// Threads.
		f.clock.Advance(time.Second)
		r1 := &store.Message{Text: "reply 1", TMID: m1.ID}
		if err := f.st.PostMessage("A", bob, r1); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		r2 := &store.Message{Text: "reply to a reply", TMID: r1.ID}
		if err := f.st.PostMessage("A", alice, r2); err != nil {
			t.Fatal(err)
		}
		if r2.TMID != m1.ID {
			t.Fatalf("a reply to a reply joins the first message's thread, got tmid %s", r2.TMID)
		}
		head := f.msg(m1.ID, alice)
		if head.TCount != 2 || !head.TLM.Equal(r2.TS) || !head.UpdatedAt.Equal(r2.TS) || !slices.Equal(head.Replies, []string{bob.ID, alice.ID}) {
			t.Fatalf("thread head %+v", head)
		}
		ids, total = f.marked("A", store.MarkedQuery{Kind: "thread", TMID: m1.ID, Reader: alice, Count: 10})
		if total != 2 || !slices.Equal(ids, []string{r1.ID, r2.ID}) {
			t.Fatalf("thread messages %v", ids)
		}
		ids, _ = f.marked("A", store.MarkedQuery{Kind: "threads", Reader: alice, Count: 10})
		if !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("threads %v", ids)
		}
		if err := f.st.PostMessage("AB", alice, &store.Message{Text: "x", TMID: m1.ID}); err != store.ErrInvalidThread {
			t.Fatalf("cross-room tmid: %v", err)
		}
		if err := f.st.PostMessage("A", alice, &store.Message{Text: "x", TMID: "nope"}); err != store.ErrInvalidThread {
			t.Fatalf("unknown tmid: %v", err)
		}
		if _, err := f.st.DeleteMessage(r2.ID, alice, func(*store.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if head = f.msg(m1.ID, alice); head.TCount != 1 {
			t.Fatalf("tcount after a deleted reply: %d", head.TCount)
		}
		if ids, total = f.marked("A", store.MarkedQuery{Kind: "thread", TMID: m1.ID, Reader: alice, Count: 10}); total != 1 || !slices.Equal(ids, []string{r1.ID}) {
			t.Fatalf("thread after a deleted reply: %v", ids)
		}

		// Reactions.
		on := true
		m, err := f.st.React(m1.ID, bob, "thumbsup", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Reactions[":thumbsup:"]; got == nil || !slices.Equal(got.Usernames, []string{"bob"}) {
			t.Fatalf("reactions %+v", m.Reactions)
		}
		if m, _ = f.st.React(m1.ID, alice, ":thumbsup:", &on); !slices.Equal(m.Reactions[":thumbsup:"].Usernames, []string{"bob", "alice"}) {
			t.Fatalf("reactions %+v", m.Reactions[":thumbsup:"])
		}
		if m, _ = f.st.React(m1.ID, alice, ":thumbsup:", &on); len(m.Reactions[":thumbsup:"].Usernames) != 2 {
			t.Fatal("shouldReact true twice reacted twice")
		}
		f.st.React(m1.ID, alice, "thumbsup", nil)
		if m, _ = f.st.React(m1.ID, bob, "thumbsup", nil); m.Reactions != nil {
			t.Fatalf("toggled off, still %+v", m.Reactions)
		}
		if _, err := f.st.React(m1.ID, eve, "smile", nil); err != store.ErrMsgNotFound {
			t.Fatalf("a non-member reacted in a private room: %v", err)
		}
		if _, err := f.st.React(m1.ID, bob, "<script>", nil); err != store.ErrInvalidEmoji {
			t.Fatalf("bad emoji: %v", err)
		}

		// Pins and stars.
		allow := func(string) error { return nil }
		sys, err := f.st.Pin(m1.ID, bob, true, allow)
		if err != nil {
			t.Fatal(err)
		}
		if sys.Type != "message_pinned" || sys.RoomID != "A" || len(sys.Attachments) == 0 || sys.User.ID != bob.ID {
			t.Fatalf("pin system message %+v", sys)
		}
		if got := f.msg(m1.ID, alice); !got.Pinned || got.PinnedBy == nil || got.PinnedBy.ID != bob.ID || got.PinnedAt.IsZero() {
			t.Fatalf("pinned message %+v", got)
		}
		if ids, total = f.marked("A", store.MarkedQuery{Kind: "pinned", Reader: alice, Count: 10}); total != 1 || ids[0] != m1.ID {
			t.Fatalf("pinned %v", ids)
		}
		if ids, _ = f.marked("AB", store.MarkedQuery{Kind: "pinned", Reader: alice, Count: 10}); len(ids) != 0 {
			t.Fatalf("room AB sees A's pins: %v", ids)
		}
		if again, err := f.st.Pin(m1.ID, bob, true, allow); err != nil || again.ID != m1.ID {
			t.Fatalf("pinning a pinned message: %+v %v", again, err)
		}
		if _, err := f.st.Pin(sys.ID, bob, true, allow); err != store.ErrSystemMessage {
			t.Fatalf("pinned a system message: %v", err)
		}
		if _, err := f.st.Pin(m1.ID, bob, false, func(string) error { return store.ErrNoPermission }); err != store.ErrNoPermission {
			t.Fatalf("pin without permission: %v", err)
		}
		if _, err := f.st.Pin(m1.ID, bob, false, allow); err != nil {
			t.Fatal(err)
		}
		if ids, _ = f.marked("A", store.MarkedQuery{Kind: "pinned", Reader: alice, Count: 10}); len(ids) != 0 {
			t.Fatalf("unpinned still listed %v", ids)
		}
		if _, err := f.st.Star(m1.ID, alice, true); err != nil {
			t.Fatal(err)
		}
		if ids, _ = f.marked("A", store.MarkedQuery{Kind: "starred", Reader: alice, Count: 10}); !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("alice's stars %v", ids)
		}
		if ids, _ = f.marked("A", store.MarkedQuery{Kind: "starred", Reader: bob, Count: 10}); len(ids) != 0 {
			t.Fatalf("bob sees alice's stars %v", ids)
		}
		if m, _ := f.st.Star(m1.ID, alice, false); m.Starred != nil {
			t.Fatalf("unstarred, still %v", m.Starred)
		}
		if ids, _ = f.marked("A", store.MarkedQuery{Kind: "starred", Reader: alice, Count: 10}); len(ids) != 0 {
			t.Fatalf("alice's stars after unstarring %v", ids)
		}
		if _, _, err := f.st.Marked("A", store.MarkedQuery{Kind: "bogus", Reader: alice, Count: 10}); store.KindOf(err) != store.Invalid {
			t.Fatalf("unknown list: %v", err)
		}
		if _, _, err := f.st.Marked("A", store.MarkedQuery{Kind: "pinned", Reader: alice, Count: 10, Offset: -1}); store.KindOf(err) != store.Invalid {
			t.Fatalf("negative offset: %v", err)
		}
		// An edit that drops a mention drops it from the list.
		if _, err := f.st.UpdateMessage(dot.ID, alice, func(m *store.Message) error { m.Text = "thanks all"; return nil }); err != nil {
			t.Fatal(err)
		}
		if ids, total = f.marked("A", store.MarkedQuery{Kind: "mentioned", Reader: bob, Count: 10}); total != 1 || !slices.Equal(ids, []string{m1.ID}) {
			t.Fatalf("bob's mentions after the edit: %v", ids)
		}

		// Sync: what changed after a time, and what went.
		since := f.clock.Now()
		f.clock.Advance(time.Second)
		fresh := f.post("A", alice, "fresh")
		f.clock.Advance(time.Second)
		gone := f.post("A", alice, "gone")
		if _, err := f.st.React(m1.ID, bob, "smile", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.DeleteMessage(gone.ID, alice, func(*store.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		up, del, err := f.st.Sync("A", alice, since)
		if err != nil {
			t.Fatal(err)
		}
		var upIDs []string
		for _, m := range up {
			upIDs = append(upIDs, m.ID)
		}
		if !slices.Equal(upIDs, []string{fresh.ID, m1.ID}) || len(del) != 1 || del[0].ID != gone.ID || !del[0].At.Equal(f.clock.Now()) {
			t.Fatalf("sync: updated %v deleted %+v", upIDs, del)
		}
		if up, del, err := f.st.Sync("A", alice, f.clock.Now()); err != nil || len(up) != 0 || len(del) != 0 {
			t.Fatalf("sync from now: %v %v (err %v)", up, del, err)
		}
		if up, _, _ := f.st.Sync("A", alice, time.Time{}); len(up) != 5 { // m1, dot, r1, the pin, fresh
			t.Fatalf("sync from the start: %d messages", len(up))
		}
	})

	add("MessagesEditAndDelete", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		alice, bob := f.user("alice"), f.user("bob")
		f.room("R", "r", store.Public, alice.ID, bob.ID)
		m := f.post("R", alice, "first")
		other := f.post("R", alice, "second")
		f.clock.Advance(time.Minute)
		edited, err := f.st.UpdateMessage(m.ID, bob, func(m *store.Message) error { m.Text = "first, fixed @bob"; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if edited.Text != "first, fixed @bob" || !edited.EditedAt.Equal(f.clock.Now()) || edited.EditedBy == nil || edited.EditedBy.ID != bob.ID ||
			!edited.UpdatedAt.Equal(f.clock.Now()) || len(edited.Mentions) != 1 || edited.Seq != m.Seq {
			t.Fatalf("edited %+v", edited)
		}
		if got := f.msg(m.ID, bob); got.Text != edited.Text || got.EditedBy.Username != "bob" {
			t.Fatalf("read after the edit %+v", got)
		}
		refuse := store.Errorf(store.Denied, "not-yours", "no")
		if _, err := f.st.UpdateMessage(m.ID, bob, func(*store.Message) error { return refuse }); err != refuse {
			t.Fatalf("refused edit: %v", err)
		}
		_, err = f.st.UpdateMessage(m.ID, bob, func(m *store.Message) error { m.Text = "bad\x01"; return nil })
		chatErr(t, "edit to control characters", err, store.Invalid, "invalid-msg")
		if _, err := f.st.UpdateMessage("nope", bob, func(*store.Message) error { return nil }); err != store.ErrMsgNotFound {
			t.Fatalf("edit of an unknown message: %v", err)
		}
		if _, err := f.st.DeleteMessage(m.ID, bob, func(*store.Message) error { return refuse }); err != refuse {
			t.Fatalf("refused delete: %v", err)
		}
		if got := f.msg(m.ID, bob); got.Text != edited.Text {
			t.Fatalf("after refusals %+v", got)
		}
		deleted, err := f.st.DeleteMessage(m.ID, alice, func(*store.Message) error { return nil })
		if err != nil || deleted.ID != m.ID || deleted.Text != edited.Text {
			t.Fatalf("deleted %+v %v", deleted, err)
		}
		if _, err := f.st.Message(m.ID, alice); err != store.ErrMsgNotFound {
			t.Fatalf("read of a deleted message: %v", err)
		}
		if _, err := f.st.DeleteMessage(m.ID, alice, func(*store.Message) error { return nil }); err != store.ErrMsgNotFound {
			t.Fatalf("second delete: %v", err)
		}
		r, _ := f.st.Room("R")
		if r.Msgs != 1 || r.Seq != 2 {
			t.Fatalf("room after a delete: msgs %d seq %d", r.Msgs, r.Seq)
		}
		if got := f.texts("R", alice, store.HistoryQuery{Count: 10}); !slices.Equal(got, []string{other.Text}) {
			t.Fatalf("history after a delete: %v", got)
		}
		if ids, _ := f.marked("R", store.MarkedQuery{Kind: "mentioned", Reader: bob, Count: 10}); len(ids) != 0 {
			t.Fatalf("a deleted message's mention is still listed: %v", ids)
		}
		// Read-only and archived rooms.
		if _, err := f.st.UpdateRoom("R", func(r *store.Room) error { r.ReadOnly = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := f.st.PostMessage("R", alice, &store.Message{Text: "x"}); err != store.ErrNoPermission {
			t.Fatalf("post in a read-only room: %v", err)
		}
		if _, err := f.st.UpdateMessage(other.ID, alice, func(*store.Message) error { return nil }); err != store.ErrNoPermission {
			t.Fatalf("edit in a read-only room: %v", err)
		}
		if _, err := f.st.DeleteMessage(other.ID, alice, func(*store.Message) error { return nil }); err != store.ErrNoPermission {
			t.Fatalf("delete in a read-only room: %v", err)
		}
		if _, err := f.st.UpdateRoom("R", func(r *store.Room) error { r.ReadOnly, r.Archived = false, true; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := f.st.PostMessage("R", alice, &store.Message{Text: "x"}); err != store.ErrRoomArchived {
			t.Fatalf("post in an archived room: %v", err)
		}
		if _, err := f.st.DeleteMessage(other.ID, alice, func(*store.Message) error { return nil }); err != store.ErrRoomArchived {
			t.Fatalf("delete in an archived room: %v", err)
		}
	})

	// In a read-only room reacting needs post-readonly, as posting does; a refused reaction
	// changes nothing.
	add("MessagesReactReadOnly", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		alice, bob := f.user("alice"), f.user("bob")
		if _, err := f.st.EnsureRole(&store.Role{Name: "owner", Scope: "Subscriptions"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.EnsurePermission(&store.Permission{ID: store.PostReadOnly, Roles: []string{"owner"}}); err != nil {
			t.Fatal(err)
		}
		r := &store.Room{Name: "news", Type: store.Public}
		if err := f.st.CreateRoom(r, []string{bob.ID}, alice.ID); err != nil {
			t.Fatal(err)
		}
		m := f.post(r.ID, alice, "news")
		if _, err := f.st.UpdateRoom(r.ID, func(r *store.Room) error { r.ReadOnly = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.React(m.ID, bob, "smile", nil); err != store.ErrNoPermission {
			t.Fatalf("bob reacts in a read-only room: %v, want ErrNoPermission", err)
		}
		if got := f.msg(m.ID, bob); got.Reactions != nil {
			t.Fatalf("after a refused reaction: %+v", got)
		}
		if got, err := f.st.React(m.ID, alice, "smile", nil); err != nil || len(got.Reactions[":smile:"].Usernames) != 1 {
			t.Fatalf("the owner reacts: %+v %v", got, err)
		}
		// Her room role lets her post there too.
		if err := f.st.PostMessage(r.ID, alice, &store.Message{Text: "more news"}); err != nil {
			t.Fatalf("the owner posts in a read-only room: %v", err)
		}
	})

	// A message takes at most MaxReactionKinds distinct emoji, and no reaction that would take
	// its record past the size cap.
	add("MessagesReactionLimits", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{MaxMessageBytes: 2048})
		alice, bob := f.user("alice"), f.user("bob")
		f.room("R", "room", store.Public)
		m := f.post("R", alice, "react")
		for i := 0; i < store.MaxReactionKinds; i++ {
			if _, err := f.st.React(m.ID, alice, fmt.Sprintf("e%d", i), nil); err != nil {
				t.Fatalf("reaction %d: %v", i, err)
			}
		}
		if _, err := f.st.React(m.ID, alice, "one_more", nil); err != store.ErrTooManyReactions {
			t.Fatalf("reaction %d: %v, want ErrTooManyReactions", store.MaxReactionKinds+1, err)
		}
		got, err := f.st.React(m.ID, bob, "e0", nil)
		if err != nil || len(got.Reactions) != store.MaxReactionKinds || len(got.Reactions[":e0:"].Usernames) != 2 {
			t.Fatalf("bob on an emoji already there: %v %v", got, err)
		}
		probe := f.post("R", alice, "x")
		rec, _ := json.Marshal(probe)
		full := f.post("R", alice, strings.Repeat("a", 2048-10-(len(rec)-1)))
		if rec, _ := json.Marshal(full); len(rec) != 2048-10 {
			t.Fatalf("record of %d bytes, want %d", len(rec), 2048-10)
		}
		if _, err := f.st.React(full.ID, bob, "smile", nil); err != store.ErrMessageFull {
			t.Fatalf("React on a full message: %v, want ErrMessageFull", err)
		}
		if _, err := f.st.Star(full.ID, bob, true); err != store.ErrMessageFull {
			t.Fatalf("Star on a full message: %v, want ErrMessageFull", err)
		}
		if got := f.msg(full.ID, alice); got.Reactions != nil || got.Starred != nil {
			t.Fatalf("after refusals: %+v", got)
		}
	})

	// Messages show their authors and editors under their current names.
	add("MessagesAuthorsByCurrentName", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		alice := &store.User{Username: "alice", Name: "Alice", Hash: "x", Active: true, Roles: []string{"user"}}
		bob := &store.User{Username: "bob", Name: "Bob", Hash: "x", Active: true, Roles: []string{"user"}}
		if err := f.st.CreateUsers([]*store.User{alice, bob}, false); err != nil {
			t.Fatal(err)
		}
		room := &store.Room{Name: "lobby", Type: store.Public}
		if err := f.st.CreateRoom(room, nil, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Join(room.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		m := &store.Message{Text: "hello from alice"}
		if err := f.st.PostMessage(room.ID, alice, m); err != nil {
			t.Fatal(err)
		}
		id := m.ID
		if _, err := f.st.UpdateMessage(id, bob, func(m *store.Message) error { m.Text = "hello (fixed by bob)"; return nil }); err != nil {
			t.Fatal(err)
		}
		rename := func(id, username, name string) {
			t.Helper()
			if _, err := f.st.UpdateUser(id, func(u *store.User) error { u.Username, u.Name = username, name; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		check := func(wantName, wantDisplay, wantEditor string) {
			t.Helper()
			page, err := f.st.History(room.ID, bob, store.HistoryQuery{Count: 10})
			if err != nil || len(page) != 2 {
				t.Fatalf("history %v %v", page, err)
			}
			msg, join := page[0], page[1]
			one := f.msg(id, bob)
			found, err := f.st.Search(room.ID, bob, "hello", 5)
			if err != nil || len(found) != 1 {
				t.Fatalf("search %v %v", found, err)
			}
			up, _, err := f.st.Sync(room.ID, bob, time.Time{})
			if err != nil || len(up) != 2 {
				t.Fatalf("sync %v %v", up, err)
			}
			for _, m := range []*store.Message{msg, one, found[0], up[1]} {
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
		check("alice", "Alice", "bob")
		rename(alice.ID, "alicia", "Alicia")
		rename(bob.ID, "robert", "Bob")
		mallory := &store.User{Username: "alice", Name: "Mallory", Hash: "x", Active: true}
		if err := f.st.CreateUser(mallory, false); err != nil {
			t.Fatal(err)
		}
		check("alicia", "Alicia", "robert")
		rename(alice.ID, "ally", "Ally")
		bob, err := f.st.User(bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		edited, err := f.st.UpdateMessage(id, bob, func(m *store.Message) error { m.Text = "hello again"; return nil })
		if err != nil || edited.User.Username != "ally" || edited.EditedBy.Username != "robert" {
			t.Fatalf("edit returned %+v %v", edited, err)
		}
		check("ally", "Ally", "robert")
		if err := f.st.DeleteUser(bob.ID); err != nil {
			t.Fatal(err)
		}
		check("ally", "Ally", "robert")
		deleted, err := f.st.DeleteMessage(id, alice, func(*store.Message) error { return nil })
		if err != nil || deleted.User.Username != "ally" {
			t.Fatalf("delete returned %+v %v", deleted, err)
		}
	})

	// A send counts unread messages and mentions into the subscriptions.
	add("MessagesUnreadCounting", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		ann, bob, cy := f.user("ann"), f.user("bob"), f.user("cy")
		r := &store.Room{Name: "r", Type: store.Public}
		if err := f.st.CreateRoom(r, []string{bob.ID}, ann.ID); err != nil {
			t.Fatal(err)
		}
		sub := func(u *store.User) *store.Subscription {
			t.Helper()
			sub, err := f.st.SubscriptionOf(r.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			return sub
		}
		f.post(r.ID, ann, "one")
		f.post(r.ID, ann, "@bob two @cy")
		if _, err := f.st.Join(r.ID, cy.ID); err != nil {
			t.Fatal(err)
		}
		f.post(r.ID, bob, "three @ann @bob")
		if got := sub(bob); got.Unread != 0 || got.Member.Mentions != 1 || !got.Alert() {
			t.Fatalf("bob: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if got := sub(ann); got.Unread != 1 || got.Member.Mentions != 1 {
			t.Fatalf("ann: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if got := sub(cy); got.Unread != 1 || got.Member.Mentions != 0 {
			t.Fatalf("cy joined later: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		// In a direct room every message counts as a mention of the other members.
		d, _, err := f.st.OpenDirect(ann, []string{bob.ID})
		if err != nil {
			t.Fatal(err)
		}
		f.post(d.Room.ID, ann, "psst")
		f.post(d.Room.ID, ann, "psst again")
		if got, _ := f.st.SubscriptionOf(d.Room.ID, bob.ID); got.Unread != 2 || got.Member.Mentions != 2 {
			t.Fatalf("bob in the direct room: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if got, _ := f.st.SubscriptionOf(d.Room.ID, ann.ID); got.Unread != 0 || got.Member.Mentions != 0 {
			t.Fatalf("ann in the direct room: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
	})

	// CleanHistory removes exactly the time range.
	add("MessagesCleanHistory", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u := f.user("u")
		r := &store.Room{Name: "r", Type: store.Public}
		if err := f.st.CreateRoom(r, nil, u.ID); err != nil {
			t.Fatal(err)
		}
		start := f.clock.Now()
		at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
		const n = 30
		var head *store.Message
		for i := range n {
			f.clock.T = at(i)
			m := &store.Message{Text: "m @u"}
			if i == 20 {
				m.TMID = head.ID
			}
			if err := f.st.PostMessage(r.ID, u, m); err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				head = m
			}
		}
		if _, err := f.st.Star(head.ID, u, true); err != nil {
			t.Fatal(err)
		}
		if got, err := f.st.CleanHistory(r.ID, at(5), at(7), false); err != nil || got != 1 {
			t.Fatalf("exclusive 5..7: %d, %v", got, err)
		}
		if got, err := f.st.CleanHistory(r.ID, at(5), at(7), true); err != nil || got != 2 {
			t.Fatalf("inclusive 5..7 after 6 went: %d, %v", got, err)
		}
		if got, err := f.st.CleanHistory(r.ID, at(10), time.Time{}, true); err != nil || got != n-10 {
			t.Fatalf("from 10 on: %d, %v", got, err)
		}
		if got, err := f.st.CleanHistory(r.ID, time.Time{}, time.Unix(0, 0), false); err != nil || got != 0 {
			t.Fatalf("before the epoch: %d, %v", got, err)
		}
		room, _ := f.st.Room(r.ID)
		if room.Msgs != 7 || room.Seq != n {
			t.Fatalf("msgs %d seq %d, want 7 and %d", room.Msgs, room.Seq, n)
		}
		if got := f.msg(head.ID, u); got.TCount != 0 {
			t.Fatalf("the thread still counts its cleaned reply: %d", got.TCount)
		}
		_, del, err := f.st.Sync(r.ID, u, start)
		if err != nil || len(del) != n-7 {
			t.Fatalf("sync after cleaning: %d deleted, %v", len(del), err)
		}
		if got, err := f.st.CleanHistory(r.ID, time.Time{}, time.Time{}, true); err != nil || got != 7 {
			t.Fatalf("everything: %d, %v", got, err)
		}
		if ids, total := f.marked(r.ID, store.MarkedQuery{Kind: "starred", Reader: u, Count: 10}); total != 0 || len(ids) != 0 {
			t.Fatalf("stars of cleaned messages: %v", ids)
		}
		if ids, total := f.marked(r.ID, store.MarkedQuery{Kind: "mentioned", Reader: u, Count: 10}); total != 0 || len(ids) != 0 {
			t.Fatalf("mentions of cleaned messages: %v", ids)
		}
		if _, err := f.st.CleanHistory("nope", time.Time{}, time.Time{}, true); store.KindOf(err) != store.NotFound {
			t.Fatalf("clean an unknown room: %v", err)
		}
		if err := f.st.DeleteRoom(r.ID); err != nil {
			t.Fatal(err)
		}
	})

	// The message writes reach the realtime hub: a post, an edit, a reaction, a star, a pin
	// (its system message first), a thread reply (the first message's change first), a
	// deletion; a refused write publishes nothing.
	add("MessagesEvents", func(t *testing.T, open Opener) {
		f := newChat(t, open, store.Options{})
		u, v := f.user("ev"), f.user("vee")
		r := &store.Room{Name: "ev-room", Type: store.Private}
		if err := f.st.CreateRoom(r, []string{u.ID, v.ID}, ""); err != nil {
			t.Fatal(err)
		}
		rec := newChatEvents()
		f.st.SetPublisher(rec)
		added, edited, deleted, changed := int(store.MessageAdded), int(store.MessageEdited), int(store.MessageDeleted), int(store.MemberChanged)
		f.post(r.ID, u, "ready")
		rec.drain(t, fmt.Sprint(added, ":ready"))
		m := &store.Message{Text: "hi @vee"}
		if err := f.st.PostMessage(r.ID, u, m); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 2); !slices.Equal(got, []string{fmt.Sprint(changed, ":", v.ID), fmt.Sprint(added, ":hi @vee")}) {
			t.Fatalf("post: %v", got)
		}
		if _, err := f.st.React(m.ID, u, "<bad>", nil); err == nil {
			t.Fatal("bad emoji taken")
		}
		if _, err := f.st.React(m.ID, u, "smile", nil); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 1); !slices.Equal(got, []string{fmt.Sprint(edited, ":hi @vee")}) {
			t.Fatalf("react: %v", got)
		}
		f.st.Star(m.ID, u, true)
		if got := rec.take(t, 1); !slices.Equal(got, []string{fmt.Sprint(edited, ":hi @vee")}) {
			t.Fatalf("star: %v", got)
		}
		if _, err := f.st.Pin(m.ID, u, true, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 2); !slices.Equal(got, []string{fmt.Sprint(added, ":"), fmt.Sprint(edited, ":hi @vee")}) {
			t.Fatalf("pin: %v", got)
		}
		re := &store.Message{Text: "re", TMID: m.ID}
		if err := f.st.PostMessage(r.ID, u, re); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 2); !slices.Equal(got, []string{fmt.Sprint(edited, ":hi @vee"), fmt.Sprint(added, ":re")}) {
			t.Fatalf("thread reply: %v", got)
		}
		if _, err := f.st.UpdateMessage(re.ID, u, func(m *store.Message) error { m.Text = "re2"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 1); !slices.Equal(got, []string{fmt.Sprint(edited, ":re2")}) {
			t.Fatalf("edit: %v", got)
		}
		if _, err := f.st.DeleteMessage(re.ID, u, func(*store.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 2); !slices.Equal(got, []string{fmt.Sprint(edited, ":hi @vee"), fmt.Sprint(deleted, ":re2")}) {
			t.Fatalf("delete: %v", got)
		}
		if _, err := f.st.CleanHistory(r.ID, time.Time{}, time.Time{}, true); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(t, 3); !slices.Equal(got, []string{fmt.Sprint(deleted, ":ready"), fmt.Sprint(deleted, ":hi @vee"), fmt.Sprint(deleted, ":")}) {
			t.Fatalf("clean: %v", got)
		}
	})
}

// found0 returns the newest message of room rid whose text is text.
func found0(t *testing.T, f *chatFix, rid string, u *store.User, text string) *store.Message {
	t.Helper()
	msgs, err := f.st.History(rid, u, store.HistoryQuery{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Text == text {
			return m
		}
	}
	t.Fatalf("no message %q", text)
	return nil
}
