package handlers

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"rocketlite/store"
)

// Existence leaks (issue 9 item 13): a caller who may not see a room or a message gets the
// same answer as for one that does not exist. Room names are chosen by people and message ids
// by clients (chat.sendMessage), so both can be guessed.

// leakFixture is a server where "alice" has a private room "secret" with a message in it, and
// "eve" (a plain user, not a member) probes. hidden and missing are the values to compare.
type leakFixture struct {
	ts              *testServer
	eve             creds
	room, msg       string // the private room's name and its message's id
	noRoom, noMsg   string // a name and an id that nothing has
	aliceMsgGeneral string // a message of alice in GENERAL (readable by eve)
}

func newLeakFixture(t *testing.T) *leakFixture {
	ts := newTestServer(t)
	alice, ac := ts.user1(t, "alice")
	ts.user1(t, "mallory")
	_, eve := ts.user1(t, "eve")
	r := ts.privateRoom1(t, "secret", alice)
	// A caller-chosen id: the kind a prober can guess.
	res := ts.do("POST", "/api/v1/chat.sendMessage", &ac, `{"message":{"rid":"`+r.ID+`","msg":"the plan","_id":"plan-1"}}`)
	res.want(t, 200, nil)
	res = ts.do("POST", "/api/v1/chat.postMessage", &ac, `{"roomId":"GENERAL","text":"hello"}`)
	res.want(t, 200, nil)
	gm := res.Obj["message"].(map[string]any)["_id"].(string)
	return &leakFixture{ts: ts, eve: eve, room: "secret", msg: "plan-1", noRoom: "nosuchroom", noMsg: "plan-2", aliceMsgGeneral: gm}
}

// probe sends params (with {ROOM} and {MSG} replaced) as a query string for GET, JSON for POST.
func (f *leakFixture) probe(method, path string, params map[string]string, room, msg string) response {
	fill := func(s string) string { return strings.NewReplacer("{ROOM}", room, "{MSG}", msg).Replace(s) }
	if method == "GET" {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, fill(v))
		}
		return f.ts.do(method, path+"?"+q.Encode(), &f.eve, "")
	}
	body := map[string]any{}
	for k, v := range params {
		if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") && strings.Contains(v, `"`) {
			body[k] = json.RawMessage(fill(v)) // an object parameter such as chat.sendMessage's message
		} else {
			body[k] = fill(v)
		}
	}
	b, _ := json.Marshal(body)
	return f.ts.do(method, path, &f.eve, string(b))
}

// sameAnswer fails unless the hidden thing and the missing thing get the same status and body,
// and that the probes wrote nothing.
func (f *leakFixture) sameAnswer(t *testing.T, method, path string, params map[string]string) {
	t.Helper()
	before := f.ts.counts()
	hidden := f.probe(method, path, params, f.room, f.msg)
	missing := f.probe(method, path, params, f.noRoom, f.noMsg)
	if hidden.Status != missing.Status || hidden.Raw != missing.Raw {
		t.Fatalf("%s %s %v tells a hidden thing from a missing one:\nhidden:  %d %s\nmissing: %d %s",
			method, path, params, hidden.Status, hidden.Raw, missing.Status, missing.Raw)
	}
	if hidden.Status == 200 {
		t.Fatalf("%s %s %v succeeded on a hidden room or message: %s", method, path, params, hidden.Raw)
	}
	f.ts.unchanged1(t, before)
}

// TestNoExistenceLeaks is the table of every v1 route that takes a room name or a message id.
func TestNoExistenceLeaks(t *testing.T) {
	f := newLeakFixture(t)
	byName := map[string]string{"roomName": "{ROOM}"}
	with := func(extra ...string) map[string]string {
		m := map[string]string{"roomName": "{ROOM}"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	cases := []struct {
		name, method, path string
		params             map[string]string
	}{
		{"channels.info", "GET", "/api/v1/channels.info", byName},
		{"channels.join", "POST", "/api/v1/channels.join", byName},
		{"channels.leave", "POST", "/api/v1/channels.leave", byName},
		{"channels.history", "GET", "/api/v1/channels.history", byName},
		{"channels.open", "POST", "/api/v1/channels.open", byName},
		{"channels.close", "POST", "/api/v1/channels.close", byName},
		{"channels.rename", "POST", "/api/v1/channels.rename", with("name", "renamed")},
		{"channels.setTopic", "POST", "/api/v1/channels.setTopic", with("topic", "t")},
		{"channels.setDescription", "POST", "/api/v1/channels.setDescription", with("description", "d")},
		{"channels.setPurpose", "POST", "/api/v1/channels.setPurpose", with("purpose", "p")},
		{"channels.invite", "POST", "/api/v1/channels.invite", with("username", "mallory")},
		{"channels.kick", "POST", "/api/v1/channels.kick", with("username", "alice")},
		{"roomName with #", "GET", "/api/v1/channels.info", map[string]string{"roomName": "#{ROOM}"}},
		{"chat.postMessage #name", "POST", "/api/v1/chat.postMessage", map[string]string{"channel": "#{ROOM}", "text": "hi"}},
		{"chat.postMessage name", "POST", "/api/v1/chat.postMessage", map[string]string{"channel": "{ROOM}", "text": "hi"}},
		{"chat.search", "GET", "/api/v1/chat.search", with("searchText", "plan")},
		{"chat.getMessage", "GET", "/api/v1/chat.getMessage", map[string]string{"msgId": "{MSG}"}},
		// chat.update and chat.delete name a room the caller may read: the message's own room
		// must not show through "the room id does not match".
		{"chat.update", "POST", "/api/v1/chat.update", map[string]string{"roomId": "GENERAL", "msgId": "{MSG}", "text": "mine now"}},
		{"chat.delete", "POST", "/api/v1/chat.delete", map[string]string{"roomId": "GENERAL", "msgId": "{MSG}"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { f.sameAnswer(t, c.method, c.path, c.params) })
	}
	// The answer is the usual not-found of v1.
	f.probe("GET", "/api/v1/channels.info", byName, f.room, "").wantErr1(t, 400, "error-room-not-found")
	f.probe("GET", "/api/v1/chat.getMessage", map[string]string{"msgId": "{MSG}"}, "", f.msg).wantErr1(t, 400, "error-invalid-message")

	// A message of a room the caller may read, under the wrong roomId, still gets Rocket.Chat's
	// "does not match" (nothing hidden there).
	general := f.ts.publicRoom("lobby")
	f.ts.do("POST", "/api/v1/channels.join", &f.eve, `{"roomId":"`+general.ID+`"}`).want(t, 200, nil)
	f.ts.do("POST", "/api/v1/chat.delete", &f.ts.admin, `{"roomId":"`+general.ID+`","msgId":"`+f.aliceMsgGeneral+`"}`).
		wantErr1(t, 400, "error-invalid-room")
}

// TestNoExistenceLeaksAnyRoute walks every v1 route, including those other parts of the
// program add, with room-name and message-id parameters under the names Rocket.Chat uses:
// no route may tell a hidden room or message from a missing one.
func TestNoExistenceLeaksAnyRoute(t *testing.T) {
	f := newLeakFixture(t)
	probes := map[string]map[string]string{
		"names": {"roomName": "{ROOM}", "channel": "#{ROOM}", "text": "probe", "msg": "probe"},
		"ids":   {"msgId": "{MSG}", "messageId": "{MSG}", "mid": "{MSG}", "tmid": "{MSG}", "emoji": ":smile:"},
	}
	for _, r := range f.ts.api.Routes() {
		if r.Open || !strings.HasPrefix(r.Path, "/api/v1/") || strings.Contains(r.Path, ":") ||
			strings.HasSuffix(r.Path, "/logout") || (r.Method != "GET" && r.Method != "POST") {
			continue
		}
		for name, params := range probes {
			t.Run(r.Method+" "+r.Path+" "+name, func(t *testing.T) {
				hidden := f.probe(r.Method, r.Path, params, f.room, f.msg)
				missing := f.probe(r.Method, r.Path, params, f.noRoom, f.noMsg)
				if hidden.Status != missing.Status || (hidden.Status != 200 && hidden.Raw != missing.Raw) {
					t.Fatalf("hidden: %d %s\nmissing: %d %s", hidden.Status, hidden.Raw, missing.Status, missing.Raw)
				}
			})
		}
	}
}

// TestReadOnlyEdits: in a read-only room, editing and deleting follow the rule of posting —
// only holders of post-readonly (admins, the room's owners and moderators by default), even
// for the author's own message (issue 9 item 14).
func TestReadOnlyEdits(t *testing.T) {
	ts := newTestServer(t)
	bob, bc := ts.user1(t, "bob")
	r := &store.Room{Name: "news", Type: store.Public, ReadOnly: false}
	if err := ts.st.CreateRoom(r, []string{bob.ID}, ts.admin.UserID); err != nil {
		t.Fatal(err)
	}
	res := ts.do("POST", "/api/v1/chat.postMessage", &bc, `{"roomId":"`+r.ID+`","text":"before it went read-only"}`)
	res.want(t, 200, nil)
	mine := res.Obj["message"].(map[string]any)["_id"].(string)
	if _, err := ts.st.UpdateRoom(r.ID, func(r *store.Room) error { r.ReadOnly = true; return nil }); err != nil {
		t.Fatal(err)
	}
	// Posting is refused: the rule the edits must follow.
	ts.do("POST", "/api/v1/chat.postMessage", &bc, `{"roomId":"`+r.ID+`","text":"new"}`).wantErr1(t, 403, "")

	before := ts.counts()
	ts.do("POST", "/api/v1/chat.update", &bc, `{"roomId":"`+r.ID+`","msgId":"`+mine+`","text":"edited"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/chat.delete", &bc, `{"roomId":"`+r.ID+`","msgId":"`+mine+`"}`).wantErr1(t, 403, "")
	ts.unchanged1(t, before)
	if m, err := ts.st.Message(mine, bob); err != nil || m.Text != "before it went read-only" || !m.EditedAt.IsZero() {
		t.Fatalf("the message changed: %+v %v", m, err)
	}

	// An admin (post-readonly) may, as they may post.
	ts.do("POST", "/api/v1/chat.update", &ts.admin, `{"roomId":"`+r.ID+`","msgId":"`+mine+`","text":"edited by the owner"}`).want(t, 200, nil)
	// So may bob once the room is writable again.
	if _, err := ts.st.UpdateRoom(r.ID, func(r *store.Room) error { r.ReadOnly = false; return nil }); err != nil {
		t.Fatal(err)
	}
	ts.do("POST", "/api/v1/chat.update", &bc, `{"roomId":"`+r.ID+`","msgId":"`+mine+`","text":"edited"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/chat.delete", &bc, `{"roomId":"`+r.ID+`","msgId":"`+mine+`"}`).want(t, 200, nil)
}
