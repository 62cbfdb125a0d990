package handlers

// Tests of API 0.1 (API.md §1, §2, §4) over real HTTP on a real bbolt file.

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rocketlite/auth"
	"rocketlite/store"
	"rocketlite/store/testopen"
)

var (
	idRE    = regexp.MustCompile(`^[23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz]{17}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	dateRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// pretty is the exact body the server must send for v: two-space indentation, a final newline.
func pretty(t *testing.T, v any) string {
	t.Helper()
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

var (
	body401      = J("status", "error", "message", "You must be logged in to do this.")
	bodyLogin401 = J("status", "error", "message", "Unauthorized")
	body404Room  = J("status", "fail", "message", "Room not found [invalid-room]", "error", "invalid-room")
	body403Room  = J("status", "fail", "message", "Cannot access room.")
	bodyNoRoute  = J("status", "error", "message", "API endpoint does not exist")
)

// wantBody fails unless the answer has the status and exactly the body of want, byte for byte.
func (r response) wantBody(t *testing.T, status int, want Obj) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	if w := pretty(t, want); r.Raw != w {
		t.Fatalf("body\n%s\nwant\n%s", r.Raw, w)
	}
}

// wantHeaders checks the headers every answer carries.
func (r response) wantHeaders(t *testing.T) {
	t.Helper()
	if got := r.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json", got)
	}
	if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Fatalf("X-Content-Type-Options %q", got)
	}
}

// unchanged fails if any bucket's key count differs from before.
func (ts *testServer) unchanged(t *testing.T, before map[string]int) {
	t.Helper()
	if after := ts.counts(); !maps.Equal(before, after) {
		t.Fatalf("a refused request wrote to the store:\nbefore %v\nafter  %v", before, after)
	}
}

// privateRoom creates a private room owned by the admin.
func (ts *testServer) privateRoom(name string) *store.Room {
	ts.t.Helper()
	r := &store.Room{Name: name, Type: store.Private}
	if err := ts.st.CreateRoom(r, nil, ts.admin.UserID); err != nil {
		ts.t.Fatal(err)
	}
	return r
}

func (ts *testServer) publicRoom(name string) *store.Room {
	ts.t.Helper()
	r := &store.Room{Name: name, Type: store.Public, Creator: &store.UserRef{ID: ts.admin.UserID, Username: "admin"}}
	if err := ts.st.CreateRoom(r, nil, ts.admin.UserID); err != nil {
		ts.t.Fatal(err)
	}
	return r
}

func (ts *testServer) history(rid string) []*store.Message {
	ts.t.Helper()
	admin, err := ts.st.User(ts.admin.UserID)
	if err != nil {
		ts.t.Fatal(err)
	}
	msgs, err := ts.st.History(rid, admin, store.HistoryQuery{Count: 1000})
	if err != nil {
		ts.t.Fatal(err)
	}
	return msgs
}

func TestVersion(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("GET", "/api/version", nil, "")
	res.wantHeaders(t)
	want := "{\n  \"status\": \"success\",\n  \"versions\": {\n    \"api\": \"0.1\",\n    \"rocketchat\": \"0.5\"\n  }\n}\n"
	if res.Status != 200 || res.Raw != want {
		t.Fatalf("%d %q", res.Status, res.Raw)
	}
	// Credentials are not needed, and bad ones do not matter.
	ts.do("GET", "/api/version", &creds{"x", "y"}, "").want(t, 200, map[string]any{"status": "success"})
}

func TestLogin(t *testing.T) {
	ts := newTestServer(t)
	bob := ts.createUser("bob", "bobpass")
	cases := []struct{ name, body string }{
		{"UserForm", "user=bob&password=bobpass"},
		{"UserJSON", `{"user":"bob","password":"bobpass"}`},
		{"UserIgnoresCase", "user=BOB&password=bobpass"},
		{"UsernameForm", "username=bob&password=bobpass"},
		{"UsernameJSON", `{"username":"bob","password":"bobpass"}`},
		{"EmailForm", "email=bob%40example.org&password=bobpass"},
		{"EmailJSON", `{"email":"Bob@Example.org","password":"bobpass"}`},
		{"EmailInUser", `{"user":"bob@example.org","password":"bobpass"}`},
		{"UserBeforeUsername", `{"user":"bob","username":"nobody","password":"bobpass"}`},
	}
	tokens := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", "/api/login", nil, tc.body)
			res.want(t, 200, map[string]any{"status": "success"})
			res.wantHeaders(t)
			data, _ := res.Obj["data"].(map[string]any)
			tok, _ := data["authToken"].(string)
			if data["userId"] != bob.ID || !tokenRE.MatchString(tok) {
				t.Fatalf("data %v", data)
			}
			if w := pretty(t, J("status", "success", "data", J("authToken", tok, "userId", bob.ID))); res.Raw != w {
				t.Fatalf("body %s, want %s", res.Raw, w)
			}
			if tokens[tok] {
				t.Fatal("a login reused a token")
			}
			tokens[tok] = true
			if _, err := ts.st.Authenticate(bob.ID, auth.HashToken(tok)); err != nil {
				t.Fatalf("issued token does not authenticate: %v", err)
			}
		})
	}
	t.Run("OnlyHashAtRest", func(t *testing.T) {
		testopen.BoltOnly(t, "it reads the database file")
		data, err := os.ReadFile(ts.path)
		if err != nil {
			t.Fatal(err)
		}
		for tok := range tokens {
			if strings.Contains(string(data), tok) {
				t.Fatal("a token is stored in clear in the database file")
			}
		}
	})
}

func TestLoginRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	carol := ts.createUser("carol", "carolpass")
	if _, err := ts.st.UpdateUser(carol.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	refused := []struct{ name, body string }{
		{"UnknownUser", "user=nobody&password=bobpass"},
		{"UnknownEmail", `{"user":"nobody@example.org","password":"bobpass"}`},
		{"WrongPassword", "user=bob&password=wrong"},
		{"WrongPasswordJSON", `{"username":"bob","password":"wrong"}`},
		{"NoPassword", "user=bob"},
		{"EmptyPassword", `{"user":"bob","password":""}`},
		{"NullPassword", `{"user":"bob","password":null}`},
		{"Deactivated", "user=carol&password=carolpass"},
		{"NoName", "password=bobpass"},
		{"EmptyBody", ""},
		{"EmptyObject", "{}"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.counts()
			ts.do("POST", "/api/login", nil, tc.body).wantBody(t, 401, bodyLogin401)
			ts.unchanged(t, before)
		})
	}
	badType := []struct{ name, body string }{
		{"OperatorInUser", `{"user":{"$ne":null},"password":"bobpass"}`},
		{"OperatorInPassword", `{"user":"bob","password":{"$ne":null}}`},
		{"ArrayInUsername", `{"username":["bob"],"password":"bobpass"}`},
		{"NumberInEmail", `{"email":5,"password":"bobpass"}`},
	}
	for _, tc := range badType {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.counts()
			res := ts.do("POST", "/api/login", nil, tc.body)
			res.want(t, 400, map[string]any{"status": "fail"})
			res.wantHeaders(t)
			ts.unchanged(t, before)
		})
	}
}

func TestLogout(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			ts := newTestServer(t)
			other := ts.login("admin", "adminpass")
			ts.do(method, "/api/logout", &ts.admin, "").
				wantBody(t, 200, J("status", "success", "data", J("message", "You've been logged out!")))
			ts.do("GET", "/api/publicRooms", &ts.admin, "").wantBody(t, 401, body401)
			ts.do(method, "/api/logout", &ts.admin, "").wantBody(t, 401, body401)
			// Only the token used for the call is revoked.
			ts.do("GET", "/api/publicRooms", &other, "").want(t, 200, nil)
		})
	}
}

// authedRoutes is every route that needs credentials, with a body that would succeed.
var authedRoutes = []struct{ method, path, body string }{
	{"GET", "/api/logout", ""},
	{"POST", "/api/logout", ""},
	{"GET", "/api/publicRooms", ""},
	{"POST", "/api/rooms/GENERAL/join", ""},
	{"POST", "/api/rooms/GENERAL/leave", ""},
	{"GET", "/api/rooms/GENERAL/messages", ""},
	{"POST", "/api/rooms/GENERAL/read", ""},
	{"POST", "/api/rooms/GENERAL/send", `{"msg":"hello"}`},
}

func TestUnauthorized(t *testing.T) {
	variants := []struct {
		name  string
		creds func(ts *testServer) *creds // nil creds: no headers at all
	}{
		{"NoHeaders", func(ts *testServer) *creds { return nil }},
		{"NoUserID", func(ts *testServer) *creds { return &creds{"", ts.admin.Token} }},
		{"NoToken", func(ts *testServer) *creds { return &creds{ts.admin.UserID, ""} }},
		{"UnknownToken", func(ts *testServer) *creds { return &creds{ts.admin.UserID, auth.NewToken()} }},
		{"UnknownUser", func(ts *testServer) *creds { return &creds{store.NewID(), ts.admin.Token} }},
		{"OtherUsersID", func(ts *testServer) *creds {
			ts.createUser("bob", "bobpass")
			bob := ts.login("bob", "bobpass")
			return &creds{ts.admin.UserID, bob.Token}
		}},
		{"Expired", func(ts *testServer) *creds {
			c := ts.login("admin", "adminpass")
			ts.clock.Advance(24 * time.Hour) // the harness's TTL: refused from this instant
			return &c
		}},
		{"ExpiredAndSwept", func(ts *testServer) *creds {
			c := ts.login("admin", "adminpass")
			ts.clock.Advance(24*time.Hour + time.Minute)
			if n, err := ts.st.SweepTokens(100); err != nil || n < 1 {
				ts.t.Fatalf("sweep: %d %v", n, err)
			}
			return &c
		}},
		{"LoggedOut", func(ts *testServer) *creds {
			c := ts.login("admin", "adminpass")
			ts.do("POST", "/api/logout", &c, "").want(ts.t, 200, nil)
			return &c
		}},
		{"Deactivated", func(ts *testServer) *creds {
			ts.createUser("bob", "bobpass")
			bob := ts.login("bob", "bobpass")
			if _, err := ts.st.UpdateUser(bob.UserID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
				ts.t.Fatal(err)
			}
			return &bob
		}},
		{"InactiveWithLiveToken", func(ts *testServer) *creds {
			// A token issued as its user is deactivated (a login racing the deactivation):
			// the store refuses to keep it, and the API refuses it.
			u := &store.User{Username: "ghost", Hash: "x", Active: false}
			if err := ts.st.CreateUser(u, false); err != nil {
				ts.t.Fatal(err)
			}
			tok := auth.NewToken()
			if err := ts.st.AddToken(u, auth.HashToken(tok), ts.clock.Now().Add(time.Hour)); err == nil {
				ts.t.Fatal("a token was stored for an inactive user")
			}
			return &creds{u.ID, tok}
		}},
		{"PasswordChanged", func(ts *testServer) *creds {
			ts.createUser("bob", "bobpass")
			bob := ts.login("bob", "bobpass")
			hash, _ := ts.hasher.Hash("newpass")
			if _, err := ts.st.UpdateUser(bob.UserID, func(u *store.User) error { u.Hash = hash; return nil }); err != nil {
				ts.t.Fatal(err)
			}
			return &bob
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			ts := newTestServer(t)
			c := v.creds(ts)
			for _, r := range authedRoutes {
				before := ts.counts()
				res := ts.do(r.method, r.path, c, r.body)
				res.wantBody(t, 401, body401)
				res.wantHeaders(t)
				ts.unchanged(t, before)
			}
		})
	}
	t.Run("ExpiryIsExact", func(t *testing.T) {
		ts := newTestServer(t)
		c := ts.login("admin", "adminpass")
		ts.clock.Advance(24*time.Hour - time.Millisecond)
		ts.do("GET", "/api/publicRooms", &c, "").want(t, 200, nil)
		ts.clock.Advance(time.Millisecond)
		ts.do("GET", "/api/publicRooms", &c, "").wantBody(t, 401, body401)
	})
	t.Run("CredentialsElsewhereIgnored", func(t *testing.T) {
		ts := newTestServer(t)
		q := "?" + url.Values{"X-User-Id": {ts.admin.UserID}, "X-Auth-Token": {ts.admin.Token},
			"userId": {ts.admin.UserID}, "authToken": {ts.admin.Token}}.Encode()
		ts.do("GET", "/api/publicRooms"+q, nil, "").wantBody(t, 401, body401)
		body := `{"msg":"x","X-User-Id":"` + ts.admin.UserID + `","X-Auth-Token":"` + ts.admin.Token + `"}`
		before := ts.counts()
		ts.do("POST", "/api/rooms/GENERAL/send", nil, body).wantBody(t, 401, body401)
		ts.unchanged(t, before)
	})
}

func TestPublicRooms(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("sing", "singpass")
	busy := ts.publicRoom("busy")
	for range 3 {
		if err := ts.st.PostMessage(busy.ID, &store.User{ID: ts.admin.UserID, Username: "admin", Roles: []string{"admin"}}, &store.Message{Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	ts.privateRoom("hidden")

	res := ts.do("GET", "/api/publicRooms", &ts.admin, "")
	res.want(t, 200, map[string]any{"status": "success"})
	res.wantHeaders(t)
	rooms, _ := res.Obj["rooms"].([]any)
	if len(rooms) != 2 {
		t.Fatalf("rooms %v", rooms)
	}
	first, second := rooms[0].(map[string]any), rooms[1].(map[string]any)
	// Most messages first: busy has 3, GENERAL has the two "uj" of admin and sing.
	if first["_id"] != busy.ID || second["_id"] != "GENERAL" {
		t.Fatalf("order %v, %v", first["_id"], second["_id"])
	}
	if !idRE.MatchString(busy.ID) {
		t.Fatalf("room id %q", busy.ID)
	}
	g := second
	if g["name"] != "general" || g["t"] != "c" || g["default"] != true || g["msgs"] != 2.0 {
		t.Fatalf("GENERAL %v", g)
	}
	if _, ok := g["u"]; ok {
		t.Fatalf("GENERAL has a creator: %v", g)
	}
	if names, _ := json.Marshal(g["usernames"]); string(names) != `["admin","sing"]` {
		t.Fatalf("usernames %s", names)
	}
	for _, k := range []string{"ts", "lm"} {
		if s, _ := g[k].(string); !dateRE.MatchString(s) {
			t.Fatalf("%s = %v", k, g[k])
		}
	}
	if u, _ := first["u"].(map[string]any); u["_id"] != ts.admin.UserID || u["username"] != "admin" {
		t.Fatalf("creator %v", first["u"])
	}
	if _, ok := first["default"]; ok {
		t.Fatal("a non-default room says default")
	}

	t.Run("Paging", func(t *testing.T) {
		res := ts.do("GET", "/api/publicRooms?count=1&offset=1", &ts.admin, "")
		rooms, _ := res.Obj["rooms"].([]any)
		if len(rooms) != 1 || rooms[0].(map[string]any)["_id"] != "GENERAL" {
			t.Fatalf("page %v", rooms)
		}
		res = ts.do("GET", "/api/publicRooms?offset=5", &ts.admin, "")
		if rooms, _ := res.Obj["rooms"].([]any); res.Status != 200 || rooms == nil || len(rooms) != 0 {
			t.Fatalf("past the end: %s", res.Raw)
		}
		for _, q := range []string{"count=-1", "count=x", "offset=-2", "offset=1.5"} {
			ts.do("GET", "/api/publicRooms?"+q, &ts.admin, "").want(t, 400, map[string]any{"status": "fail"})
		}
	})
}

func TestJoinLeave(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	room := ts.publicRoom("lobby")
	members := func() []string {
		rm, err := ts.st.RoomMembers(room.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rm.Usernames
	}
	path := "/api/rooms/" + room.ID

	ts.do("POST", path+"/join", &bob, "").wantBody(t, 200, J("status", "success"))
	if got := members(); !slices.Equal(got, []string{"admin", "bob"}) {
		t.Fatalf("members %v", got)
	}
	msgs := ts.history(room.ID)
	if len(msgs) != 1 || msgs[0].Type != "uj" || msgs[0].Text != "bob" || msgs[0].User.ID != bob.UserID {
		t.Fatalf("join message %+v", msgs)
	}

	t.Run("JoinTwiceIsNoop", func(t *testing.T) {
		before := ts.counts()
		ts.do("POST", path+"/join", &bob, `{}`).wantBody(t, 200, J("status", "success"))
		ts.unchanged(t, before)
		if len(ts.history(room.ID)) != 1 {
			t.Fatal("a second join wrote a message")
		}
	})

	ts.do("POST", path+"/leave", &bob, "").wantBody(t, 200, J("status", "success"))
	if got := members(); !slices.Equal(got, []string{"admin"}) {
		t.Fatalf("members after leave %v", got)
	}
	msgs = ts.history(room.ID)
	if len(msgs) != 2 || msgs[0].Type != "ul" || msgs[0].Text != "bob" {
		t.Fatalf("leave message %+v", msgs[0])
	}

	t.Run("LeaveTwiceIsNoop", func(t *testing.T) {
		before := ts.counts()
		ts.do("POST", path+"/leave", &bob, "").wantBody(t, 200, J("status", "success"))
		ts.unchanged(t, before)
	})

	t.Run("BodyForms", func(t *testing.T) {
		// The wiki's curl -d "{}" (JSON under the form Content-Type), an empty body with and
		// without a Content-Type, and a JSON Content-Type with an empty body.
		for _, b := range []struct{ body, ct string }{
			{"{}", "application/x-www-form-urlencoded"},
			{"", ""},
			{"", "application/x-www-form-urlencoded"},
			{"", "application/json"},
			{"  \n", "application/json"},
		} {
			ts.doCT("POST", path+"/join", &bob, b.body, b.ct).wantBody(t, 200, J("status", "success"))
			ts.doCT("POST", path+"/leave", &bob, b.body, b.ct).wantBody(t, 200, J("status", "success"))
		}
	})
}

func TestRoomErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	secret := ts.privateRoom("secret")
	if err := ts.st.PostMessage(secret.ID, &store.User{ID: ts.admin.UserID, Username: "admin", Roles: []string{"admin"}}, &store.Message{Text: "psst"}); err != nil {
		t.Fatal(err)
	}

	t.Run("UnknownRoom", func(t *testing.T) {
		for _, r := range []struct{ method, action, body string }{
			{"POST", "join", ""}, {"POST", "leave", ""}, {"GET", "messages", ""},
			{"POST", "send", `{"msg":"hi"}`}, {"POST", "read", ""},
		} {
			before := ts.counts()
			res := ts.do(r.method, "/api/rooms/nope/"+r.action, &bob, r.body)
			res.wantBody(t, 404, body404Room)
			res.wantHeaders(t)
			ts.unchanged(t, before)
		}
	})
	t.Run("PrivateRoom", func(t *testing.T) {
		for _, r := range []struct{ method, action, body string }{
			{"GET", "messages", ""}, {"POST", "send", `{"msg":"hi"}`}, {"POST", "join", ""},
			{"POST", "read", ""},
		} {
			before := ts.counts()
			ts.do(r.method, "/api/rooms/"+secret.ID+"/"+r.action, &bob, r.body).wantBody(t, 403, body403Room)
			ts.unchanged(t, before)
		}
		if rm, _ := ts.st.RoomMembers(secret.ID); slices.Contains(rm.Usernames, "bob") {
			t.Fatal("bob joined a private room")
		}
	})
	t.Run("PrivateRoomMember", func(t *testing.T) {
		path := "/api/rooms/" + secret.ID
		ts.do("GET", path+"/messages", &ts.admin, "").want(t, 200, nil)
		ts.do("POST", path+"/send", &ts.admin, `{"msg":"hi"}`).want(t, 200, nil)
		ts.do("POST", path+"/join", &ts.admin, "").want(t, 200, nil)
		ts.do("POST", path+"/read", &ts.admin, "").want(t, 200, nil)
	})
	t.Run("PrivateRoomNotListed", func(t *testing.T) {
		res := ts.do("GET", "/api/publicRooms", &ts.admin, "")
		if strings.Contains(res.Raw, secret.ID) {
			t.Fatal("publicRooms lists a private room")
		}
	})
}

func TestMessages(t *testing.T) {
	ts := newTestServer(t)
	path := "/api/rooms/GENERAL/messages"
	get := func(query string) []map[string]any {
		t.Helper()
		res := ts.do("GET", path+query, &ts.admin, "")
		res.want(t, 200, map[string]any{"status": "success"})
		list, ok := res.Obj["messages"].([]any)
		if !ok {
			t.Fatalf("no messages list: %s", res.Raw)
		}
		out := make([]map[string]any, len(list))
		for i, m := range list {
			out[i] = m.(map[string]any)
		}
		return out
	}
	texts := func(ms []map[string]any) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = m["msg"].(string)
		}
		return out
	}

	// GENERAL holds admin's "uj"; add 59 messages one second apart.
	for i := range 59 {
		ts.clock.Advance(time.Second)
		ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=m"+itoa(i)).want(t, 200, nil)
	}

	t.Run("DefaultNewest50", func(t *testing.T) {
		ms := get("")
		if len(ms) != 50 || ms[0]["msg"] != "m58" || ms[49]["msg"] != "m9" {
			t.Fatalf("got %d: first %v last %v", len(ms), ms[0]["msg"], ms[len(ms)-1]["msg"])
		}
		m := ms[0]
		if !idRE.MatchString(m["_id"].(string)) || m["rid"] != "GENERAL" || !dateRE.MatchString(m["ts"].(string)) {
			t.Fatalf("message %v", m)
		}
		if u := m["u"].(map[string]any); u["_id"] != ts.admin.UserID || u["username"] != "admin" {
			t.Fatalf("author %v", u)
		}
	})
	t.Run("SystemMessagesIncluded", func(t *testing.T) {
		ms := get("?count=1000")
		if len(ms) != 60 {
			t.Fatalf("%d messages", len(ms))
		}
		last := ms[59]
		if last["t"] != "uj" || last["msg"] != "admin" {
			t.Fatalf("oldest message %v", last)
		}
	})
	t.Run("Count", func(t *testing.T) {
		if got := texts(get("?count=3")); !slices.Equal(got, []string{"m58", "m57", "m56"}) {
			t.Fatalf("%v", got)
		}
	})
	t.Run("BeforeID", func(t *testing.T) {
		ms := get("?count=5")
		got := texts(get("?count=2&before=" + ms[4]["_id"].(string)))
		if !slices.Equal(got, []string{"m53", "m52"}) {
			t.Fatalf("%v", got)
		}
		oldest := get("?count=1000")[59]
		if got := get("?before=" + oldest["_id"].(string)); len(got) != 0 {
			t.Fatalf("before the first message: %v", got)
		}
	})
	t.Run("BeforeDate", func(t *testing.T) {
		ms := get("?count=3")
		// The ts of m56, as the API shows it: messages strictly older.
		got := texts(get("?count=2&before=" + url.QueryEscape(ms[2]["ts"].(string))))
		if !slices.Equal(got, []string{"m55", "m54"}) {
			t.Fatalf("%v", got)
		}
		if got := get("?before=2000-01-01T00:00:00.000Z"); len(got) != 0 {
			t.Fatalf("before 2000: %v", got)
		}
		// A date without a time is ISO-8601 too (midnight UTC), not an unknown message id.
		if got := get("?before=2000-01-01"); len(got) != 0 {
			t.Fatalf("before 2000 (date only): %v", got)
		}
		if got := get("?count=1&before=2999-12-31"); len(got) != 1 {
			t.Fatalf("before 2999 (date only): %v", got)
		}
	})
	t.Run("Unread", func(t *testing.T) {
		if got := get("?unread=true&count=1000"); len(got) != 60 {
			t.Fatalf("unread before read: %d", len(got))
		}
		ts.do("POST", "/api/rooms/GENERAL/read", &ts.admin, "").wantBody(t, 200, J("status", "success"))
		if got := get("?unread=true"); len(got) != 0 {
			t.Fatalf("unread after read: %v", texts(got))
		}
		ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"fresh"}`).want(t, 200, nil)
		if got := texts(get("?unread=true")); !slices.Equal(got, []string{"fresh"}) {
			t.Fatalf("unread after a new message: %v", got)
		}
		if got := get("?unread=false"); len(got) != 50 {
			t.Fatalf("unread=false: %d", len(got))
		}
	})
	t.Run("BadParameters", func(t *testing.T) {
		for _, q := range []string{"count=0", "count=1001", "count=x", "count=-1", "unread=maybe", "before=nope"} {
			before := ts.counts()
			res := ts.do("GET", path+"?"+q, &ts.admin, "")
			res.want(t, 400, map[string]any{"status": "fail"})
			res.wantHeaders(t)
			ts.unchanged(t, before)
		}
	})
	t.Run("EmptyRoom", func(t *testing.T) {
		r := ts.publicRoom("empty")
		res := ts.do("GET", "/api/rooms/"+r.ID+"/messages", &ts.admin, "")
		res.wantBody(t, 200, J("status", "success", "messages", []any{}))
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestSend(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	room := ts.publicRoom("lobby") // bob is not a member: sending is allowed (faithful)
	path := "/api/rooms/" + room.ID + "/send"

	res := ts.do("POST", path, &bob, `{ "msg" : "OK" }`)
	res.want(t, 200, map[string]any{"status": "success"})
	res.wantHeaders(t)
	m, _ := res.Obj["message"].(map[string]any)
	if m["msg"] != "OK" || m["rid"] != room.ID || !idRE.MatchString(m["_id"].(string)) || !dateRE.MatchString(m["ts"].(string)) {
		t.Fatalf("message %v", m)
	}
	if u := m["u"].(map[string]any); u["_id"] != bob.UserID || u["username"] != "bob" {
		t.Fatalf("author %v", u)
	}
	stored := ts.history(room.ID)
	if len(stored) != 1 || stored[0].ID != m["_id"] || stored[0].Text != "OK" {
		t.Fatalf("stored %+v", stored)
	}
	r, _ := ts.st.Room(room.ID)
	if r.Msgs != 1 || !r.LastMessage.Equal(stored[0].TS) {
		t.Fatalf("room msgs %d lm %v", r.Msgs, r.LastMessage)
	}

	t.Run("Form", func(t *testing.T) {
		ts.do("POST", path, &bob, "msg=hello+world%21").want(t, 200, nil)
		if got := ts.history(room.ID)[0].Text; got != "hello world!" {
			t.Fatalf("stored %q", got)
		}
	})
	t.Run("FormAsCurlSendsIt", func(t *testing.T) {
		// curl -d does not encode: a semicolon is an ordinary character of a form body.
		ts.do("POST", path, &bob, "msg=Hi; how are you?").want(t, 200, nil)
		if got := ts.history(room.ID)[0].Text; got != "Hi; how are you?" {
			t.Fatalf("stored %q", got)
		}
	})
	t.Run("JSONUnderFormContentType", func(t *testing.T) {
		ts.doCT("POST", path, &bob, `{"msg":"curl default"}`, "application/x-www-form-urlencoded").want(t, 200, nil)
		if got := ts.history(room.ID)[0].Text; got != "curl default" {
			t.Fatalf("stored %q", got)
		}
	})
	t.Run("TrailingSlash", func(t *testing.T) {
		ts.do("POST", path+"/", &bob, `{"msg":"slash"}`).want(t, 200, nil)
	})
	t.Run("TabsAndNewlines", func(t *testing.T) {
		ts.do("POST", path, &bob, `{"msg":"line one\n\tline two\r\n"}`).want(t, 200, nil)
	})
	t.Run("MaxLength", func(t *testing.T) {
		ts.do("POST", path, &bob, `{"msg":"`+strings.Repeat("é", 5000)+`"}`).want(t, 200, nil)
	})
	t.Run("MassAssignmentIgnored", func(t *testing.T) {
		body := `{"msg":"mine","u":{"_id":"` + ts.admin.UserID + `","username":"admin"},"_id":"AAAAAAAAAAAAAAAAA",` +
			`"ts":"2001-01-01T00:00:00.000Z","rid":"GENERAL","t":"uj","alias":"boss"}`
		generalBefore := len(ts.history("GENERAL"))
		res := ts.do("POST", path, &bob, body)
		res.want(t, 200, nil)
		got := ts.history(room.ID)[0]
		if got.Text != "mine" || got.User.ID != bob.UserID || got.ID == "AAAAAAAAAAAAAAAAA" ||
			got.RoomID != room.ID || !got.TS.Equal(ts.clock.Now().Truncate(time.Millisecond)) || got.Type != "" || got.Alias != "" {
			t.Fatalf("stored %+v", got)
		}
		if len(ts.history("GENERAL")) != generalBefore {
			t.Fatal("the body's rid was obeyed")
		}
	})

	bad := []struct{ name, body, ct string }{
		{"Missing", `{}`, ""},
		{"MissingForm", "other=1", ""},
		{"EmptyBody", "", ""},
		{"Empty", `{"msg":""}`, ""},
		{"EmptyForm", "msg=", ""},
		{"Whitespace", `{"msg":" \t\n "}`, ""},
		{"WhitespaceForm", "msg=+++", ""},
		{"Number", `{"msg":5}`, ""},
		{"Bool", `{"msg":true}`, ""},
		{"Object", `{"msg":{"text":"hi"}}`, ""},
		{"Array", `{"msg":["hi"]}`, ""},
		{"Null", `{"msg":null}`, ""},
		{"TooLong", `{"msg":"` + strings.Repeat("é", 5001) + `"}`, ""},
		{"TooLongForm", "msg=" + strings.Repeat("a", 5001), ""},
		{"InvalidUTF8JSON", "{\"msg\":\"bad \xff byte\"}", ""},
		{"InvalidUTF8Form", "msg=bad+\xff+byte", ""},
		{"InvalidUTF8FormEscaped", "msg=bad+%FF+byte", ""},
		{"BadEscapeForm", "msg=100%+sure", ""},
		{"ControlCharJSON", `{"msg":"bell\u0007"}`, ""},
		{"NULJSON", `{"msg":"nul\u0000"}`, ""},
		{"ControlCharForm", "msg=esc%1B", ""},
		{"DELForm", "msg=del%7F", ""},
		{"MalformedJSON", `{"msg":"x"`, ""},
		{"MalformedJSONFormCT", `{"msg":}`, "application/x-www-form-urlencoded"},
		{"ArrayBody", `[{"msg":"x"}]`, "application/json"},
		{"StringBody", `"msg"`, "application/json"},
		{"NullBody", `null`, "application/json"},
		{"TrailingData", `{"msg":"x"} {"msg":"y"}`, ""},
		{"TrailingGarbage", `{"msg":"x"}x`, ""},
		{"TrailingBrace", `{"msg":"x"}}`, ""},
	}
	for _, tc := range bad {
		t.Run("Bad"+tc.name, func(t *testing.T) {
			before := ts.counts()
			var res response
			if tc.ct == "" {
				res = ts.do("POST", path, &bob, tc.body)
			} else {
				res = ts.doCT("POST", path, &bob, tc.body, tc.ct)
			}
			res.want(t, 400, map[string]any{"status": "fail"})
			res.wantHeaders(t)
			if msg, _ := res.Obj["message"].(string); msg == "" {
				t.Fatalf("no message: %s", res.Raw)
			}
			ts.unchanged(t, before)
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBody = 1024 })
	before := ts.counts()
	res := ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"`+strings.Repeat("a", 2000)+`"}`)
	res.want(t, 413, map[string]any{"status": "fail"})
	res.wantHeaders(t)
	ts.unchanged(t, before)
}

func TestRouting(t *testing.T) {
	ts := newTestServer(t)
	t.Run("TrailingSlash", func(t *testing.T) {
		ts.do("GET", "/api/version/", nil, "").want(t, 200, map[string]any{"status": "success"})
		ts.do("GET", "/api/publicRooms/", &ts.admin, "").want(t, 200, map[string]any{"status": "success"})
		ts.do("GET", "/api/rooms/GENERAL/messages/", &ts.admin, "").want(t, 200, map[string]any{"status": "success"})
		ts.do("POST", "/api/login/", nil, "user=admin&password=adminpass").want(t, 200, map[string]any{"status": "success"})
	})
	t.Run("UnknownPath", func(t *testing.T) {
		for _, p := range []string{"/api/nothing", "/api/rooms/GENERAL/explode", "/api", "/", "/api/v0/version"} {
			for _, m := range []string{"GET", "POST"} {
				res := ts.do(m, p, &ts.admin, "")
				res.wantBody(t, 404, bodyNoRoute)
				res.wantHeaders(t)
			}
		}
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			allow        []string
		}{
			{"POST", "/api/version", []string{"GET", "HEAD", "OPTIONS"}},
			{"GET", "/api/login", []string{"POST", "OPTIONS"}},
			{"DELETE", "/api/logout", []string{"GET", "POST", "OPTIONS"}},
			{"GET", "/api/rooms/GENERAL/send", []string{"POST", "OPTIONS"}},
			{"PUT", "/api/rooms/GENERAL/messages/", []string{"GET", "HEAD", "OPTIONS"}},
		} {
			before := ts.counts()
			res := ts.do(c.method, c.path, &ts.admin, "")
			res.wantBody(t, 405, bodyNoRoute)
			res.wantHeaders(t)
			got := strings.Split(res.Header.Get("Allow"), ", ")
			slices.Sort(got)
			slices.Sort(c.allow)
			if !slices.Equal(got, c.allow) {
				t.Fatalf("%s %s: Allow %q, want %v", c.method, c.path, res.Header.Get("Allow"), c.allow)
			}
			ts.unchanged(t, before)
		}
	})
	t.Run("RequestID", func(t *testing.T) {
		res := ts.do("GET", "/api/version", nil, "")
		if !idRE.MatchString(res.Header.Get("X-Request-Id")) {
			t.Fatalf("X-Request-Id %q", res.Header.Get("X-Request-Id"))
		}
	})
}

// Every line of output is two-space indented JSON, whatever the route.
func TestPrettyJSON(t *testing.T) {
	ts := newTestServer(t)
	ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"<b>&</b>"}`).want(t, 200, nil)
	for _, p := range []string{"/api/publicRooms", "/api/rooms/GENERAL/messages"} {
		res := ts.do("GET", p, &ts.admin, "")
		var compact, indented bytes.Buffer
		if err := json.Compact(&compact, []byte(res.Raw)); err != nil {
			t.Fatal(err)
		}
		json.Indent(&indented, compact.Bytes(), "", "  ")
		if w := indented.String() + "\n"; res.Raw != w {
			t.Fatalf("%s not two-space pretty JSON:\n%s", p, res.Raw)
		}
		if strings.Contains(res.Raw, `\u003c`) {
			t.Fatalf("%s escapes HTML: %s", p, res.Raw)
		}
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	ts := newTestServer(t)
	const password, text, wrong = "S3cret-Pa55word", "top secret message body", "Wr0ng-Pa55word"
	ts.createUser("bob", password)
	bob := ts.login("bob", password)
	ts.do("POST", "/api/login", nil, `{"user":"bob","password":"`+wrong+`"}`).want(t, 401, nil)
	ts.do("POST", "/api/login", nil, `{"user":{"$ne":"`+wrong+`"},"password":"`+wrong+`"}`).want(t, 400, nil)
	ts.do("POST", "/api/rooms/GENERAL/send", &bob, `{"msg":"`+text+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/rooms/GENERAL/send", &bob, `{"msg":"`+text+`\u0007"}`).want(t, 400, nil)
	ts.do("POST", "/api/rooms/GENERAL/send", &bob, "msg="+url.QueryEscape(text)).want(t, 200, nil)
	ts.do("GET", "/api/rooms/GENERAL/messages?before="+url.QueryEscape(text), &bob, "").want(t, 400, nil)
	ts.do("GET", "/api/logout", &bob, "").want(t, 200, nil)
	logs := ts.logs.String()
	for _, secret := range []string{password, wrong, text, bob.Token, ts.admin.Token, url.QueryEscape(text)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
	// One access line per request, with the fields an operator needs.
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	var access int
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if e["message"] != "request" {
			continue
		}
		access++
		for _, k := range []string{"id", "method", "path", "status", "bytes", "duration"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("access line without %s: %s", k, l)
			}
		}
	}
	if access < 8 {
		t.Fatalf("%d access lines:\n%s", access, logs)
	}
}

// A real server fault answers a generic 500 with a request id; the details go to the log only.
func TestInternalError(t *testing.T) {
	ts := newTestServer(t)
	ts.api.handle("GET", "/api/test/panic", v0, open, func(c *call) (any, error) { panic("detail of the panic") })
	ts.api.handle("GET", "/api/test/fail", v1, authed, func(c *call) (any, error) {
		return nil, errors.New("detail of the failure")
	})
	for _, p := range []string{"/api/test/panic", "/api/test/fail"} {
		res := ts.do("GET", p, &ts.admin, "")
		id := res.Header.Get("X-Request-Id")
		res.wantBody(t, 500, J("status", "error", "message", "Internal server error", "requestId", id))
		res.wantHeaders(t)
		if !strings.Contains(ts.logs.String(), id) {
			t.Fatalf("the log does not name request %s", id)
		}
	}
	if !strings.Contains(ts.logs.String(), "detail of the panic") || !strings.Contains(ts.logs.String(), "detail of the failure") {
		t.Fatalf("the log lacks the details:\n%s", ts.logs.String())
	}
}
