package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func viaJSON(data []byte) (Message, error) {
	var m Message
	err := json.Unmarshal(data, &m)
	return m, err
}

func TestDecodeMessageMatchesJSON(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123e6, time.UTC)
	texts := []string{"", "plain", "quote \" backslash \\ slash /", "line\nbreak\ttab", "héllo ✓ 😀",
		"bad \xff utf8", "\u2028\u2029", "<&>", strings.Repeat("x", 5000), "\x00\x1f"}
	var msgs []*Message
	for _, s := range texts {
		msgs = append(msgs, &Message{ID: "id" + s, RoomID: "r", Text: s, TS: ts, UpdatedAt: ts,
			User: UserRef{ID: "u", Username: s, Name: s}})
	}
	msgs = append(msgs,
		&Message{ID: "e", RoomID: "r", Text: "edited", TS: ts, Type: "uj", Alias: "a", Emoji: ":x:",
			Avatar: "http://a", EditedAt: ts.Add(time.Second), EditedBy: &UserRef{ID: "u2", Username: "bob"},
			UpdatedAt: ts.Add(time.Second), User: UserRef{ID: "u", Username: "al"}},
		&Message{ID: "att", RoomID: "r", TS: ts, UpdatedAt: ts, Attachments: json.RawMessage(`[{"a":1}]`)},
		&Message{ID: "zone", RoomID: "r", TS: ts.In(time.FixedZone("x", 3600)), UpdatedAt: ts},
		&Message{ID: "extras", RoomID: "r", Text: "hi @bob", TS: ts, UpdatedAt: ts, TMID: "p", TCount: 42, TLM: ts,
			Replies: []string{"u1", "u\"2"}, Mentions: []UserRef{{ID: "b", Username: "bob"}, {ID: "all", Username: "all"}},
			Reactions: map[string]*Reaction{":x:": {Usernames: []string{"bob"}}}, Pinned: true, PinnedAt: ts,
			PinnedBy: &UserRef{ID: "b", Username: "bob"}, Starred: []string{"u1"}},
		&Message{ID: "extras2", RoomID: "r", TS: ts, UpdatedAt: ts, TMID: "p", Mentions: []UserRef{{ID: "x", Username: "x", Name: "X"}}},
	)
	var inputs [][]byte
	for _, m := range msgs {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	inputs = append(inputs, [][]byte{
		[]byte(` { "_id" : "sp" , "msg":"x" , "ts":"2025-03-01T12:00:00Z" } `),
		[]byte(`{"_id":"unknown","extra":1}`), []byte(`{"MSG":"case"}`), []byte(`{"msg":null}`),
		[]byte(`{"ts":null}`), []byte(`{"editedBy":null}`), []byte(`{"_id":"dup","_id":"last"}`),
		[]byte(`{"u":{"_id":"x","other":true}}`), []byte(`{"m\u0073g":"escaped key"}`),
		[]byte(`{"msg":"x"} trailing`), []byte(`{"msg":"unterminated}`), []byte(`{"msg":1}`),
		[]byte(`{"ts":"not a time"}`), []byte(`{}`), []byte(`[]`), []byte(``), []byte(`{"msg":"raw` + "\n" + `"}`),
		[]byte(`{"msg":"a\"b","u":{}}`), []byte(`{"msg":"x",}`),
		[]byte(`{"tcount":7}`), []byte(`{"tcount":-7}`), []byte(`{"tcount":07}`), []byte(`{"tcount":1.5}`),
		[]byte(`{"tcount":1e3}`), []byte(`{"tcount":"3"}`), []byte(`{"tcount":99999999999999999999}`),
		[]byte(`{"tcount":}`), []byte(`{"pinned":true}`), []byte(`{"pinned":false}`), []byte(`{"pinned":tru}`),
		[]byte(`{"pinned":null}`), []byte(`{"replies":[]}`), []byte(`{"replies":null}`), []byte(`{"replies":["a",]}`),
		[]byte(`{"replies":["a","b"],"replies":["c"]}`), []byte(`{"starred":[1]}`), []byte(`{"mentions":[]}`),
		[]byte(`{"mentions":[{"_id":"a","username":"b"},{}]}`), []byte(`{"mentions":[{"_id":"a"}`),
		[]byte(`{"mentions":null}`), []byte(`{"tlm":"2025-03-01T12:00:00Z","pinnedAt":"bad"}`),
		[]byte(`{"pinnedBy":{"_id":"p"}}`), []byte(`{"tmid":"t","tmid":"u"}`),
	}...)
	for _, data := range inputs {
		want, werr := viaJSON(data)
		var got Message
		gerr := decodeMessage(data, &got)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: error %v, json.Unmarshal says %v", data, gerr, werr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", data, got, want)
		}
	}
}

// TestDecodeMessageFastPath: what putJSON writes for a plain message must not need the
// fallback (else the speed-up silently disappears).
func TestDecodeMessageFastPath(t *testing.T) {
	m := &Message{ID: "a", RoomID: "r", Text: "hello \"you\"\nthere ✓", TS: time.Now().UTC(), User: UserRef{ID: "u", Username: "n", Name: "N"},
		EditedAt: time.Now().UTC(), EditedBy: &UserRef{ID: "u", Username: "n"}, Type: "uj"}
	m.UpdatedAt = m.TS
	data, _ := json.Marshal(m)
	var got Message
	if !(&msgDecoder{data: data}).message(&got) {
		t.Fatalf("fast path refused %s", data)
	}
	// A thread reply with mentions, and a pinned, starred thread head, need no fallback either.
	for _, x := range []*Message{
		{ID: "r", RoomID: "r", Text: "@bob", TS: m.TS, UpdatedAt: m.TS, TMID: "h", Mentions: []UserRef{{ID: "b", Username: "bob"}}},
		{ID: "h", RoomID: "r", TS: m.TS, UpdatedAt: m.TS, TCount: 3, TLM: m.TS, Replies: []string{"a", "b"},
			Pinned: true, PinnedAt: m.TS, PinnedBy: &UserRef{ID: "u", Username: "n"}, Starred: []string{"a"}},
	} {
		data, _ := json.Marshal(x)
		if !(&msgDecoder{data: data}).message(&Message{}) {
			t.Fatalf("fast path refused %s", data)
		}
	}
}

// BenchmarkDecodeThreadReply: a thread reply with a mention, the common shape in rooms with
// bots (fast path), against json.Unmarshal (the fallback it took before).
func BenchmarkDecodeThreadReply(b *testing.B) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	data, _ := json.Marshal(&Message{ID: "AbCdEfGhIjKlMnOpQ", RoomID: "GENERAL", Text: "@bob the build is green", TS: ts,
		UpdatedAt: ts, User: UserRef{ID: "u1", Username: "ci-bot"}, TMID: "ZyXwVuTsRqPoNmLkJ",
		Mentions: []UserRef{{ID: "u2", Username: "bob"}}})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var m Message
			decodeMessage(data, &m)
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			var m Message
			json.Unmarshal(data, &m)
		}
	})
}
