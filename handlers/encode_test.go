package handlers

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
)

// referenceJSON is how writeJSON rendered answers before encode.go: json.Encoder, indented by
// two spaces, HTML escaping off.
func referenceJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "héllo wörld ✓ 😀", "bad \xff utf8 \xc3", "sep \u2028 and \u2029",
	"truncated rune \xe2\x82", strings.Repeat("long ", 200),
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range awkwardStrings {
		got := string(appendString(nil, s))
		if want := strings.TrimSuffix(referenceJSON(t, s), "\n"); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	// Every single byte, and every byte after a multi-byte lead.
	for c := 0; c < 256; c++ {
		for _, s := range []string{string([]byte{byte(c)}), "\xe2" + string([]byte{byte(c)}) + "x"} {
			got := string(appendString(nil, s))
			if want := strings.TrimSuffix(referenceJSON(t, s), "\n"); got != want {
				t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

func TestAppendPrettyMatchesEncodingJSON(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123e6, time.UTC)
	full := &store.Message{
		ID: "m1", RoomID: "r1", Text: "héllo \"world\" <b>\n", TS: ts,
		User: store.UserRef{ID: "u1", Username: "alice", Name: "Alice A."}, Type: "uj",
		Alias: "al", Emoji: ":smile:", Avatar: "http://x/a.png", EditedAt: ts.Add(time.Second),
		EditedBy: &store.UserRef{ID: "u2", Username: "bob"}, UpdatedAt: ts.Add(time.Second),
		Bot: &store.BotRef{I: "hook\"1"},
	}
	extras := &store.Message{
		ID: "m3", RoomID: "r1", Text: "hi @bob", TS: ts, User: store.UserRef{ID: "u1", Username: "alice"}, UpdatedAt: ts,
		TMID: "m0", TCount: 12, TLM: ts, Replies: []string{"u1", "u\"2"},
		Mentions:  []store.UserRef{{ID: "u2", Username: "bob"}, {ID: "all", Username: "all"}},
		Reactions: map[string]*store.Reaction{":z:": {Usernames: []string{"bob"}}, ":a+1:": {Usernames: []string{"a", "<b>"}}},
		Pinned:    true, PinnedAt: ts, PinnedBy: &store.UserRef{ID: "u2", Username: "bob"}, Starred: []string{"u1", "u2"},
	}
	bare := &store.Message{ID: "m2", RoomID: "r1", TS: ts, User: store.UserRef{ID: "u1", Username: "alice"}, UpdatedAt: ts}
	var msgs []*store.Message
	for _, s := range awkwardStrings {
		msgs = append(msgs, &store.Message{ID: "x", RoomID: "r", Text: s, TS: ts, User: store.UserRef{ID: s, Username: s, Name: s}, UpdatedAt: ts})
	}
	room := store.RoomWithMembers{Room: &store.Room{ID: "r1", Name: "general", Type: "c", CreatedAt: ts}, Usernames: []string{"a", "b"}}
	cases := []any{
		J(), J("status", "success"), Obj(nil),
		J("status", "success", "message", messageOf(full)),
		J("status", "success", "messages", messagesOf([]*store.Message{full, bare})),
		J("status", "success", "messages", messagesOf(msgs)),
		J("status", "success", "messages", messagesOf(nil)), J("m", []messageView(nil)),
		J("success", true, "count", 3, "total", int64(math.MaxInt64), "offset", -1, "ok", false),
		J("data", J("authToken", "tok", "userId", "u1", "me", J("nested", J()))),
		J("rooms", roomsOf([]store.RoomWithMembers{room}), "room", roomOf(room), "list", []string{"a", "<&>"}),
		J("x", nil, "f", 1.5, "e", []int{}, "m", map[string]any{"z": 1, "a": []any{"q", J("k", "v")}}),
		J("status", "error", "message", "bad <thing> & more", "requestId", "id"),
		messageOf(full), messagesOf([]*store.Message{bare}),
		messageOf(extras), messagesOf([]*store.Message{extras, bare}),
		messageOf(&store.Message{ID: "m4", Pinned: true}), messageOf(&store.Message{ID: "m5", TCount: 1}),
	}
	for i, v := range cases {
		w := httptest.NewRecorder()
		writeJSON(w, 200, v)
		if want := referenceJSON(t, v); w.Body.String() != want {
			t.Errorf("case %d:\ngot  %s\nwant %s", i, w.Body.String(), want)
		}
		if w.Header().Get("Content-Length") != itoa(w.Body.Len()) {
			t.Errorf("case %d: Content-Length %s for %d bytes", i, w.Header().Get("Content-Length"), w.Body.Len())
		}
	}
}

// TestAttachmentsWrittenAsStored: attachments are copied as stored, not re-indented (which
// cost their size times their nesting depth); the document means what encoding/json's says.
func TestAttachmentsWrittenAsStored(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123e6, time.UTC)
	raw := `[{"title":"t <b>","nested":{"a":[1,2,{}],"b":[]}}]`
	m := &store.Message{ID: "m1", RoomID: "r1", Text: "x", TS: ts, User: store.UserRef{ID: "u1", Username: "alice"},
		Emoji: ":e:", Attachments: json.RawMessage(raw), EditedAt: ts, EditedBy: &store.UserRef{ID: "u2", Username: "bob"}, UpdatedAt: ts}
	v := J("status", "success", "messages", messagesOf([]*store.Message{m, m}), "message", messageOf(m))
	w := httptest.NewRecorder()
	writeJSON(w, 200, v)
	if got := strings.Count(w.Body.String(), `"attachments": `+raw+",\n"); got != 3 {
		t.Errorf("attachments written as stored %d times, want 3:\n%s", got, w.Body.String())
	}
	var got, want any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, w.Body.String())
	}
	if err := json.Unmarshal([]byte(referenceJSON(t, v)), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// Deep nesting costs its stored size, not size times depth.
	deep := strings.Repeat(`{"a":[`, 2000) + strings.Repeat(`]}`, 2000)
	m.Attachments = json.RawMessage("[" + deep + "]")
	w = httptest.NewRecorder()
	writeJSON(w, 200, J("messages", messagesOf([]*store.Message{m})))
	if w.Body.Len() > len(m.Attachments)+1000 {
		t.Errorf("a %d-byte attachment rendered as %d bytes", len(m.Attachments), w.Body.Len())
	}
}

// TestWriteJSONUnencodable: a value encoding/json refuses becomes a 500 with a fixed body.
func TestWriteJSONUnencodable(t *testing.T) {
	w := httptest.NewRecorder()
	writeJSON(w, 200, J("status", "success", "bad", math.NaN()))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "Internal server error") {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

func TestJSTimeMatchesFormat(t *testing.T) {
	zone := time.FixedZone("x", -5*3600-1800)
	times := []time.Time{{}, time.Unix(0, 0), time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1e6, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 15, 12, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 7, 8, 9, 10e6, zone), time.Now()}
	for _, tm := range times {
		got, _ := jsTime(tm).appendJSON(nil)
		if want := `"` + tm.UTC().Format(jsLayout) + `"`; string(got) != want {
			t.Errorf("%v: got %s, want %s", tm, got, want)
		}
	}
}
