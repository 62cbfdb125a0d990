package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// nested returns an attachments list nested depth levels deep (the list is level 1).
func nested(depth int) json.RawMessage {
	s := "1"
	for level := depth; level >= 1; level-- {
		if level%2 == 0 {
			s = `{"a":` + s + `}`
		} else {
			s = "[" + s + "]"
		}
	}
	return json.RawMessage(s)
}

func TestJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{``, 0}, {`1`, 0}, {`[]`, 1}, {`[{}]`, 2}, {`[{"a":"[[[{{"}]`, 2}, {`[{"a":"\"[["}]`, 2},
		{`[{"a":[{"b":[1]}]}]`, 5},
	} {
		if got := jsonDepth([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonDepth(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for d := 1; d <= 12; d++ {
		if got := jsonDepth(nested(d)); got != d {
			t.Errorf("nested(%d) is %d deep: %s", d, got, nested(d))
		}
	}
}

// Every stored message is held to the caps: the encoded record (all fields together) and the
// nesting of its attachments. A refusal writes nothing.
func TestMessageCaps(t *testing.T) {
	f := newFixture(t)
	f.s.Close()
	s, err := Open(f.path, Options{Now: f.clock.Now, MaxMessageBytes: 2048, MaxMessageDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.s = s
	u := f.user("alice")
	f.room("R", "room", Public)
	before, _ := s.Counts()

	for _, tc := range []struct {
		name string
		m    *Message
		code string
	}{
		{"ErrTooLargeText", &Message{Text: strings.Repeat("é", 1100)}, "message-too-large"},
		{"ErrTooLargeAttachments", &Message{Text: "x", Attachments: json.RawMessage(`[{"t":"` + strings.Repeat("a", 2000) + `"}]`)}, "message-too-large"},
		{"ErrTooLargeAllFields", &Message{Text: strings.Repeat("a", 700), Alias: strings.Repeat("b", 700), Avatar: strings.Repeat("c", 700)}, "message-too-large"},
		{"ErrTooDeep", &Message{Text: "x", Attachments: nested(5)}, "message-too-deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.PostMessage("R", u, tc.m)
			if e, ok := err.(*Error); !ok || e.Kind != Invalid || e.Code != tc.code {
				t.Fatalf("PostMessage: %v, want %s", err, tc.code)
			}
		})
	}
	if after, _ := s.Counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused message wrote: %v → %v", before, after)
	}

	// At the caps: accepted.
	ok := &Message{Text: "x", Attachments: nested(4)}
	if err := s.PostMessage("R", u, ok); err != nil {
		t.Fatal(err)
	}
	big := &Message{Text: strings.Repeat("a", 1500)}
	if err := s.PostMessage("R", u, big); err != nil {
		t.Fatal(err)
	}
	// An edit that would take the record past the cap is refused, and changes nothing.
	_, err = s.UpdateMessage(big.ID, u, func(m *Message) error { m.Text = strings.Repeat("b", 2100); return nil })
	wantKind(t, err, Invalid)
	got, err := s.Message(big.ID, u)
	if err != nil || got.Text != big.Text || !got.EditedAt.IsZero() {
		t.Fatalf("after a refused edit: %v %v", got, err)
	}
	// The stored record is the one checked, within the cap.
	want, _ := json.Marshal(big)
	s.view(func(tx *bolt.Tx) error {
		k := tx.Bucket(bMessageIDs).Get([]byte(big.ID))
		if v := tx.Bucket(bMessages).Get(k); len(v) > 2048 || string(v) != string(want) {
			t.Errorf("stored %s, want %s", v, want)
		}
		return nil
	})
}

// A page ends on its byte budget (counted in stored records), never before its first
// message, and says so; paging on from its last message reaches every message once. Records
// above today's caps (an old database) are served as they are.
func TestHistoryPageByteBudget(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	var old []*Message
	for i := range 7 {
		m := &Message{Text: fmt.Sprintf("old %d %s", i, strings.Repeat("x", 30000)), User: u.Ref()}
		if i == 3 {
			m.Attachments = nested(3001) // far past the depth cap
		}
		if i == 5 {
			m.Text = strings.Repeat("y", 250000) // alone larger than the budget
		}
		old = append(old, m)
	}
	if err := f.s.AppendMessages("R", old); err != nil {
		t.Fatal(err)
	}
	const budget = 100000
	seen := map[string]bool{}
	q := HistoryQuery{Count: 50, MaxBytes: budget}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p, err := f.s.HistoryPage("R", u, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) == 0 {
			break
		}
		if p.Bytes > budget && len(p.Messages) > 1 {
			t.Fatalf("page of %d messages holds %d bytes", len(p.Messages), p.Bytes)
		}
		if !p.Truncated && len(p.Messages) < q.Count && pages == 0 {
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
	// Without a budget, the count alone bounds the page.
	p, err := f.s.HistoryPage("R", u, HistoryQuery{Count: 50})
	if err != nil || len(p.Messages) != 7 || p.Truncated {
		t.Fatalf("unbudgeted page: %d messages, truncated %v, %v", len(p.Messages), p.Truncated, err)
	}
	// The time-bounded walk has the same budget.
	p, err = f.s.HistoryPage("R", u, HistoryQuery{Count: 50, MaxBytes: budget, After: time.Unix(1, 0)})
	if err != nil || len(p.Messages) == 0 || len(p.Messages) == 7 || !p.Truncated {
		t.Fatalf("time-bounded page: %d messages, truncated %v, %v", len(p.Messages), p.Truncated, err)
	}
}

// An offset skips records without decoding them: a garbled record inside the skipped range
// does not fail the page (it would have to be decoded to).
func TestHistoryOffsetDoesNotDecode(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	for i := range 5 {
		f.post("R", u, fmt.Sprint(i))
	}
	if err := f.s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMessages).Put(msgKey("R", 4), []byte("{garbled")) }); err != nil {
		t.Fatal(err)
	}
	if got := f.history("R", u.ID, HistoryQuery{Count: 2, Offset: 2}); !equal(got, []string{"2", "1"}) {
		t.Fatalf("page after the skip: %v", got)
	}
}

// A search reads at most MaxScan of the newest messages, and its quick byte test never
// changes the answer of the full comparison.
func TestSearchScanAndFilter(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	f.room("R", "room", Public)
	texts := []string{"needle at the start", "Kelvin \u212a sign", `quote " and \ back`, "<b>&amp;</b>",
		"héllo NEEDLE", "tab\tnew\nline", "kkk", "nothing", "İstanbul"}
	for i := range 60 {
		f.post("R", u, texts[i%len(texts)])
	}
	for _, needle := range []string{"needle", "k", "K", `"`, `\`, "<b>", "&", "é", "\t", "i", "zzz", "İ"} {
		p, err := f.s.SearchPage("R", u, SearchQuery{Text: needle, Count: 100})
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
	}
	// The oldest message is out of reach of a scan of 10.
	p, err := f.s.SearchPage("R", u, SearchQuery{Text: "needle at", Count: 100, MaxScan: 10})
	if err != nil || len(p.Messages) != 1 {
		t.Fatalf("scan of 10: %d results, %v", len(p.Messages), err)
	}
	p, err = f.s.SearchPage("R", u, SearchQuery{Text: "needle at", Count: 100, MaxScan: 60})
	if err != nil || len(p.Messages) != 7 {
		t.Fatalf("scan of 60: %d results, %v", len(p.Messages), err)
	}
}

// A message takes at most MaxReactionKinds distinct emoji (more users on one already there
// are welcome), and no reaction that would take its record past the size cap. A refused
// reaction changes nothing.
func TestReactionLimits(t *testing.T) {
	f := newFixture(t)
	f.s.Close()
	s, err := Open(f.path, Options{Now: f.clock.Now, MaxMessageBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.s = s
	alice, bob := f.user("alice"), f.user("bob")
	f.room("R", "room", Public)

	t.Run("ErrTooManyReactions", func(t *testing.T) {
		m := f.post("R", alice, "react")
		for i := 0; i < MaxReactionKinds; i++ {
			if _, err := s.React(m.ID, alice, fmt.Sprintf("e%d", i), nil); err != nil {
				t.Fatalf("reaction %d: %v", i, err)
			}
		}
		if _, err := s.React(m.ID, alice, "one_more", nil); err != ErrTooManyReactions {
			t.Fatalf("reaction %d: %v, want ErrTooManyReactions", MaxReactionKinds+1, err)
		}
		got, err := s.React(m.ID, bob, "e0", nil)
		if err != nil || len(got.Reactions) != MaxReactionKinds || len(got.Reactions[":e0:"].Usernames) != 2 {
			t.Fatalf("bob on an emoji already there: %v %v", got, err)
		}
	})

	t.Run("ErrMessageFull", func(t *testing.T) {
		probe := f.post("R", alice, "x")
		rec, _ := json.Marshal(probe)
		// A text that leaves the record 10 bytes under the cap: no reaction fits in 10.
		m := f.post("R", alice, strings.Repeat("a", 2048-10-(len(rec)-1)))
		if rec, _ := json.Marshal(m); len(rec) != 2048-10 {
			t.Fatalf("record of %d bytes, want %d", len(rec), 2048-10)
		}
		if _, err := s.React(m.ID, bob, "smile", nil); err != ErrMessageFull {
			t.Fatalf("React on a full message: %v, want ErrMessageFull", err)
		}
		got, err := s.Message(m.ID, alice)
		if err != nil || got.Reactions != nil {
			t.Fatalf("after a refused reaction: %+v %v", got.Reactions, err)
		}
	})
}

// A user holds at most MaxPersonalTokens personal access tokens; regenerating one of them
// is still allowed at the cap.
func TestPersonalTokenCap(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	hash := func(i int) (h TokenHash) { h[0], h[1] = byte(i), byte(i>>8); return h }
	for i := 0; i < MaxPersonalTokens; i++ {
		if err := f.s.SetPersonalToken(u.ID, fmt.Sprintf("t%d", i), hash(i), "last", false); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if err := f.s.SetPersonalToken(u.ID, "one-more", hash(1000), "last", false); err != ErrTooManyPersonalTokens {
		t.Fatalf("token %d: %v, want ErrTooManyPersonalTokens", MaxPersonalTokens+1, err)
	}
	if err := f.s.SetPersonalToken(u.ID, "t0", hash(1001), "last", true); err != nil {
		t.Fatalf("regenerate at the cap: %v", err)
	}
	if list, err := f.s.PersonalTokens(u.ID); err != nil || len(list) != MaxPersonalTokens {
		t.Fatalf("%d tokens, %v; want %d", len(list), err, MaxPersonalTokens)
	}
}
