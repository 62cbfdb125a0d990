package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeUser and decodeRoom give exactly what json.Unmarshal gives, on the records putJSON
// writes and on every odd input that forces the fallback.
func TestDecodeRecordsMatchJSON(t *testing.T) {
	ts := time.Date(2025, 3, 1, 12, 0, 0, 123e6, time.UTC)
	users := []*User{
		{},
		{ID: "u1", Username: "al", Name: "Al ✓", Email: "al@example.org", Verified: true, Hash: "$2a$10$x",
			Roles: []string{"user", "admin"}, Active: true, Type: "user", CreatedAt: ts, UpdatedAt: ts.Add(time.Hour),
			Status: "away", StatusText: "lunch \"now\"\n"},
		{ID: "u2", Roles: []string{}, CreatedAt: ts.In(time.FixedZone("x", 3600))},
		{ID: "u3", Name: "bad \xff", Roles: []string{"a\\b", ""}},
	}
	rooms := []*Room{
		{},
		{ID: "r1", Name: "general", Type: Public, Creator: &UserRef{ID: "u1", Username: "al", Name: "Al"}, Msgs: 1 << 40,
			Seq: 1<<64 - 1, CreatedAt: ts, UpdatedAt: ts, LastMessage: ts.Add(time.Minute), Default: true, ReadOnly: true,
			Topic: "t", Description: "d\td", Purpose: strings.Repeat("p", 300), Announcement: "a", Archived: true,
			JoinCode: "j", Counted: 7},
		{ID: "r2", Type: Private, Msgs: -1},
	}
	var userIn, roomIn [][]byte
	for _, u := range users {
		data, _ := json.Marshal(u)
		userIn = append(userIn, data)
	}
	for _, r := range rooms {
		data, _ := json.Marshal(r)
		roomIn = append(roomIn, data)
	}
	odd := [][]byte{
		[]byte(` { "id" : "sp" , "active" : true } `), []byte(`{"id":"x","extra":1}`), []byte(`{"ID":"case"}`),
		[]byte(`{"roles":null}`), []byte(`{"active":null}`), []byte(`{"msgs":1.5}`), []byte(`{"msgs":1e3}`),
		[]byte(`{"seq":18446744073709551616}`), []byte(`{"seq":-1}`), []byte(`{"msgs":0123}`), []byte(`{"u":null}`),
		[]byte(`{"active":tru}`), []byte(`{"roles":["a",1]}`), []byte(`{"roles":["a",]}`), []byte(`{"id":"a"} x`),
		[]byte(`{"createdAt":"nope"}`), []byte(`{"ts":"nope"}`), []byte(`{}`), []byte(`[]`), []byte(``),
		[]byte(`{"i\u0064":"escaped key"}`), []byte(`{"id":"dup","id":"last"}`), []byte(`{"msgs":0,"seq":0}`),
	}
	userIn, roomIn = append(userIn, odd...), append(roomIn, odd...)
	for _, data := range userIn {
		var want, got User
		werr := json.Unmarshal(data, &want)
		gerr := decodeUser(data, &got)
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("user %s:\ngot  %+v, %v\nwant %+v, %v", data, got, gerr, want, werr)
		}
	}
	for _, data := range roomIn {
		var want, got Room
		werr := json.Unmarshal(data, &want)
		gerr := decodeRoom(data, &got)
		if (werr == nil) != (gerr == nil) || werr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("room %s:\ngot  %+v, %v\nwant %+v, %v", data, got, gerr, want, werr)
		}
	}
}

// What putJSON writes for a full user and room takes the fast path (else the speed-up
// silently disappears).
func TestDecodeRecordsFastPath(t *testing.T) {
	now := time.Now().UTC()
	u := &User{ID: "u", Username: "n", Name: "N", Email: "e@x", Verified: true, Hash: "h", Roles: []string{"user"},
		Active: true, Type: "user", CreatedAt: now, UpdatedAt: now, Status: "busy", StatusText: "s"}
	r := &Room{ID: "r", Name: "n", Type: Public, Creator: &UserRef{ID: "u", Username: "n"}, Msgs: 3, Seq: 4,
		CreatedAt: now, UpdatedAt: now, LastMessage: now, Default: true, ReadOnly: true, Topic: "t", Description: "d", Purpose: "p",
		Announcement: "a", Archived: true, JoinCode: "j", Counted: 9}
	ud, _ := json.Marshal(u)
	rd, _ := json.Marshal(r)
	if !(&msgDecoder{data: ud}).user(new(User)) {
		t.Errorf("fast path refused %s", ud)
	}
	if !(&msgDecoder{data: rd}).room(new(Room)) {
		t.Errorf("fast path refused %s", rd)
	}
}
