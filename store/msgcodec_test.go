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
}
