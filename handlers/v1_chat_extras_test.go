package handlers

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"rocketlite/store"
)

// chatFixture: a private room "secret" with owner alice, plain member bob and guest member
// gus; eve is outside; dan was a member and is deactivated. m is alice's message there.
type chatFixture struct {
	ts                        *testServer
	room                      *store.Room
	alice, bob, gus, eve, dan creds
	danUser                   *store.User
	m                         string
}

func newChatFixture(t *testing.T) *chatFixture {
	ts := newTestServer(t)
	f := &chatFixture{ts: ts}
	aliceU, alice := ts.user1(t, "alice")
	bobU, bob := ts.user1(t, "bob")
	gusU := ts.createUser("gus", "gus-pass", "guest")
	gus := ts.login("gus", "gus-pass")
	_, eve := ts.user1(t, "eve")
	danU, dan := ts.user1(t, "dan")
	f.alice, f.bob, f.gus, f.eve, f.dan, f.danUser = alice, bob, gus, eve, dan, danU
	f.room = ts.privateRoom1(t, "secret", aliceU, bobU, gusU, danU)
	res := ts.do("POST", "/api/v1/chat.postMessage", &alice, `{"roomId":"`+f.room.ID+`","text":"the plan, @bob"}`)
	res.want(t, 200, map[string]any{"success": true})
	f.m = res.Obj["message"].(map[string]any)["_id"].(string)
	if _, err := ts.st.UpdateUser(danU.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	return f
}

// chatRoute is one new chat route and a request for it against the fixture's room.
type chatRoute struct {
	name, method string
	req          func(f *chatFixture) (path, body string)
	pin          bool // needs pin-message
}

// byMessage reports whether the route names a message rather than a room: a message the
// caller may not read answers as a missing one (400 error-invalid-message), so that its id
// tells an outsider nothing.
func (rt chatRoute) byMessage() bool {
	switch rt.name {
	case "react", "starMessage", "unStarMessage", "pinMessage", "unPinMessage", "getThreadMessages":
		return true
	}
	return false
}

func chatRoutes() []chatRoute {
	get := func(path string, q func(f *chatFixture) url.Values) func(f *chatFixture) (string, string) {
		return func(f *chatFixture) (string, string) { return path + "?" + q(f).Encode(), "" }
	}
	room := func(f *chatFixture) url.Values { return url.Values{"roomId": {f.room.ID}} }
	msg := func(path string) func(f *chatFixture) (string, string) {
		return func(f *chatFixture) (string, string) { return path, `{"messageId":"` + f.m + `"}` }
	}
	return []chatRoute{
		{"react", "POST", func(f *chatFixture) (string, string) {
			return "/api/v1/chat.react", `{"messageId":"` + f.m + `","emoji":":smile:"}`
		}, false},
		{"starMessage", "POST", msg("/api/v1/chat.starMessage"), false},
		{"unStarMessage", "POST", msg("/api/v1/chat.unStarMessage"), false},
		{"pinMessage", "POST", msg("/api/v1/chat.pinMessage"), true},
		{"unPinMessage", "POST", msg("/api/v1/chat.unPinMessage"), true},
		{"getPinnedMessages", "GET", get("/api/v1/chat.getPinnedMessages", room), false},
		{"getStarredMessages", "GET", get("/api/v1/chat.getStarredMessages", room), false},
		{"getMentionedMessages", "GET", get("/api/v1/chat.getMentionedMessages", room), false},
		{"getThreadsList", "GET", get("/api/v1/chat.getThreadsList", func(f *chatFixture) url.Values {
			return url.Values{"rid": {f.room.ID}}
		}), false},
		{"getThreadMessages", "GET", get("/api/v1/chat.getThreadMessages", func(f *chatFixture) url.Values {
			return url.Values{"tmid": {f.m}}
		}), false},
		{"syncMessages", "GET", get("/api/v1/chat.syncMessages", func(f *chatFixture) url.Values {
			return url.Values{"roomId": {f.room.ID}, "lastUpdate": {"2000-01-01T00:00:00.000Z"}}
		}), false},
		{"postMessage tmid", "POST", func(f *chatFixture) (string, string) {
			return "/api/v1/chat.postMessage", `{"roomId":"` + f.room.ID + `","text":"a reply","tmid":"` + f.m + `"}`
		}, false},
	}
}

// TestChatExtrasAccess holds every new chat route to the room access rule: the owner may do
// all, a plain member and a guest member all but pin, an outsider nothing (403 for the room,
// a missing message for a message of it, and no word of its messages), a deactivated user and an anonymous caller 401; a refusal writes
// nothing.
func TestChatExtrasAccess(t *testing.T) {
	for _, rt := range chatRoutes() {
		t.Run(rt.name, func(t *testing.T) {
			f := newChatFixture(t)
			ts := f.ts
			path, body := rt.req(f)
			for _, c := range []struct {
				name string
				who  *creds
				want int
			}{
				{"Anonymous", nil, 401},
				{"Deactivated", &f.dan, 401},
				{"NonMember", &f.eve, map[bool]int{true: 400, false: 403}[rt.byMessage()]},
				{"GuestMember", &f.gus, map[bool]int{true: 403, false: 200}[rt.pin]},
				{"NoPermission", &f.bob, map[bool]int{true: 403, false: 200}[rt.pin]},
				{"Owner", &f.alice, 200},
			} {
				before := ts.counts()
				res := ts.do(rt.method, path, c.who, body)
				if res.Status != c.want {
					t.Fatalf("%s: %d %s, want %d", c.name, res.Status, res.Raw, c.want)
				}
				if c.want != 200 {
					ts.unchanged1(t, before)
					if strings.Contains(res.Raw, "the plan") {
						t.Fatalf("%s: refusal shows the message: %s", c.name, res.Raw)
					}
				}
				if c.want == 403 {
					res.wantErr1(t, 403, "")
				}
				if c.want == 400 {
					res.wantErr1(t, 400, "error-invalid-message")
				}
			}
		})
	}
}

func getMsg(t *testing.T, ts *testServer, c *creds, id string) map[string]any {
	t.Helper()
	res := ts.do("GET", "/api/v1/chat.getMessage?msgId="+id, c, "")
	res.want(t, 200, map[string]any{"success": true})
	return res.Obj["message"].(map[string]any)
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestChatExtrasShapes(t *testing.T) {
	f := newChatFixture(t)
	ts := f.ts
	rid := f.room.ID

	t.Run("Mentions", func(t *testing.T) {
		m := getMsg(t, ts, &f.bob, f.m)
		if got := jsonOf(m["mentions"]); !strings.Contains(got, `"username":"bob"`) {
			t.Fatalf("mentions %s", got)
		}
		res := ts.do("GET", "/api/v1/chat.getMentionedMessages?roomId="+rid, &f.bob, "")
		res.want(t, 200, map[string]any{"total": 1, "count": 1, "offset": 0})
		res = ts.do("GET", "/api/v1/chat.getMentionedMessages?roomId="+rid, &f.alice, "")
		res.want(t, 200, map[string]any{"total": 0})
	})

	t.Run("Reactions", func(t *testing.T) {
		react := func(c *creds, extra string) {
			t.Helper()
			ts.do("POST", "/api/v1/chat.react", c, `{"messageId":"`+f.m+`","emoji":"thumbsup"`+extra+`}`).want(t, 200, map[string]any{"success": true})
		}
		react(&f.bob, "")
		react(&f.alice, `,"shouldReact":true`)
		react(&f.alice, `,"shouldReact":true`)
		if got := jsonOf(getMsg(t, ts, &f.bob, f.m)["reactions"]); got != `{":thumbsup:":{"usernames":["bob","alice"]}}` {
			t.Fatalf("reactions %s", got)
		}
		react(&f.bob, "") // toggles off
		react(&f.alice, `,"shouldReact":false`)
		if got, ok := getMsg(t, ts, &f.bob, f.m)["reactions"]; ok {
			t.Fatalf("reactions left: %v", got)
		}
		for _, bad := range []string{`"<b>"`, `""`, `"` + strings.Repeat("a", 70) + `"`, `7`} {
			before := ts.counts()
			res := ts.do("POST", "/api/v1/chat.react", &f.bob, `{"messageId":"`+f.m+`","emoji":`+bad+`}`)
			if res.Status != 400 {
				t.Fatalf("emoji %s: %d %s", bad, res.Status, res.Raw)
			}
			ts.unchanged1(t, before)
		}
		ts.do("POST", "/api/v1/chat.react", &f.bob, `{"messageId":"nope","emoji":"smile"}`).wantErr1(t, 400, "error-invalid-message")
	})

	t.Run("PinStar", func(t *testing.T) {
		res := ts.do("POST", "/api/v1/chat.pinMessage", &f.alice, `{"messageId":"`+f.m+`"}`)
		res.want(t, 200, map[string]any{"success": true})
		sys := res.Obj["message"].(map[string]any)
		if sys["t"] != "message_pinned" || !strings.Contains(jsonOf(sys["attachments"]), "the plan") {
			t.Fatalf("pin answer %s", res.Raw)
		}
		m := getMsg(t, ts, &f.bob, f.m)
		if m["pinned"] != true || m["pinnedBy"].(map[string]any)["username"] != "alice" || m["pinnedAt"] == nil {
			t.Fatalf("pinned message %v", m)
		}
		ts.do("GET", "/api/v1/chat.getPinnedMessages?roomId="+rid, &f.bob, "").want(t, 200, map[string]any{"total": 1})
		ts.do("POST", "/api/v1/chat.unPinMessage", &f.alice, `{"messageId":"`+f.m+`"}`).want(t, 200, map[string]any{"success": true})
		ts.do("GET", "/api/v1/chat.getPinnedMessages?roomId="+rid, &f.bob, "").want(t, 200, map[string]any{"total": 0})

		ts.do("POST", "/api/v1/chat.starMessage", &f.bob, `{"messageId":"`+f.m+`"}`).want(t, 200, nil)
		ts.do("GET", "/api/v1/chat.getStarredMessages?roomId="+rid, &f.bob, "").want(t, 200, map[string]any{"total": 1})
		ts.do("GET", "/api/v1/chat.getStarredMessages?roomId="+rid, &f.alice, "").want(t, 200, map[string]any{"total": 0})
		if got := jsonOf(getMsg(t, ts, &f.alice, f.m)["starred"]); !strings.Contains(got, `"_id"`) {
			t.Fatalf("starred %s", got)
		}
		ts.do("POST", "/api/v1/chat.unStarMessage", &f.bob, `{"messageId":"`+f.m+`"}`).want(t, 200, nil)
		ts.do("GET", "/api/v1/chat.getStarredMessages?roomId="+rid, &f.bob, "").want(t, 200, map[string]any{"total": 0})
	})

	t.Run("Threads", func(t *testing.T) {
		var replies []string
		for i, c := range []*creds{&f.bob, &f.alice, &f.bob} {
			body := `{"roomId":"` + rid + `","text":"reply ` + string(rune('a'+i)) + `","tmid":"` + f.m + `"}`
			res := ts.do("POST", "/api/v1/chat.postMessage", c, body)
			res.want(t, 200, map[string]any{"success": true})
			replies = append(replies, res.Obj["message"].(map[string]any)["_id"].(string))
		}
		head := getMsg(t, ts, &f.bob, f.m)
		if head["tcount"] != 3.0 || head["tlm"] == nil || len(head["replies"].([]any)) != 2 {
			t.Fatalf("thread head %v", head)
		}
		res := ts.do("GET", "/api/v1/chat.getThreadsList?rid="+rid, &f.bob, "")
		res.want(t, 200, map[string]any{"total": 1})
		if th := res.Obj["threads"].([]any); th[0].(map[string]any)["_id"] != f.m {
			t.Fatalf("threads %s", res.Raw)
		}
		res = ts.do("GET", "/api/v1/chat.getThreadMessages?count=2&tmid="+f.m, &f.bob, "")
		res.want(t, 200, map[string]any{"total": 3, "count": 2})
		if got := names(t, res, "messages", "msg"); strings.Join(got, ",") != "reply a,reply b" {
			t.Fatalf("thread messages %v", got)
		}
		ts.do("GET", "/api/v1/chat.getThreadsList?sort=%7B%22tlm%22%3A-1%7D&rid="+rid, &f.bob, "").want(t, 200, map[string]any{"total": 1})
		ts.do("GET", "/api/v1/chat.getThreadsList?sort=%7B%22ts%22%3A-1%7D&rid="+rid, &f.bob, "").wantErr1(t, 400, "error-invalid-params")
		ts.do("GET", "/api/v1/chat.getThreadMessages?sort=%7B%22ts%22%3A1%7D&tmid="+f.m, &f.bob, "").wantErr1(t, 400, "error-invalid-params")
		ts.do("GET", "/api/v1/chat.getPinnedMessages?query=%7B%7D&roomId="+rid, &f.bob, "").wantErr1(t, 400, "error-invalid-params")
		ts.do("POST", "/api/v1/chat.sendMessage", &f.bob, `{"message":{"rid":"GENERAL","msg":"x","tmid":"`+f.m+`"}}`).
			wantErr1(t, 400, "error-invalid-thread")
		ts.do("POST", "/api/v1/chat.postMessage", &f.bob, `{"roomId":"`+rid+`","text":"x","tmid":"bad id!"}`).
			wantErr1(t, 400, "error-invalid-params")
	})

	t.Run("Sync", func(t *testing.T) {
		since := ts.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		ts.clock.Advance(2e9)
		res := ts.do("POST", "/api/v1/chat.postMessage", &f.alice, `{"roomId":"`+rid+`","text":"new"}`)
		id := res.Obj["message"].(map[string]any)["_id"].(string)
		ts.do("POST", "/api/v1/chat.starMessage", &f.bob, `{"messageId":"`+f.m+`"}`).want(t, 200, nil)
		ts.do("POST", "/api/v1/chat.delete", &f.alice, `{"roomId":"`+rid+`","msgId":"`+id+`"}`).want(t, 200, nil)
		res = ts.do("GET", "/api/v1/chat.syncMessages?roomId="+rid+"&lastUpdate="+url.QueryEscape(since), &f.bob, "")
		res.want(t, 200, map[string]any{"success": true})
		result := res.Obj["result"].(map[string]any)
		up, del := result["updated"].([]any), result["deleted"].([]any)
		if len(up) != 1 || up[0].(map[string]any)["_id"] != f.m || len(del) != 1 || del[0].(map[string]any)["_id"] != id {
			t.Fatalf("sync %s", res.Raw)
		}
		ts.do("GET", "/api/v1/chat.syncMessages?roomId="+rid, &f.bob, "").wantErr1(t, 400, "error-invalid-params")
		ts.do("GET", "/api/v1/chat.syncMessages?roomId="+rid+"&lastUpdate=yesterday", &f.bob, "").wantErr1(t, 400, "error-invalid-date")
	})
}

// TestChatWritesShareSendLimit: reactions, stars and pins take tokens of the caller's send
// bucket, so they cannot be used to write without bound; a refused one writes nothing.
func TestChatWritesShareSendLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = 0.001, 4 })
	res := ts.do("POST", "/api/v1/chat.postMessage", &ts.admin, `{"roomId":"GENERAL","text":"hi"}`)
	res.want(t, 200, nil)
	id := res.Obj["message"].(map[string]any)["_id"].(string)
	for _, call := range []struct{ path, body string }{
		{"/api/v1/chat.react", `{"messageId":"` + id + `","emoji":"smile"}`},
		{"/api/v1/chat.starMessage", `{"messageId":"` + id + `"}`},
		{"/api/v1/chat.pinMessage", `{"messageId":"` + id + `"}`},
	} {
		ts.do("POST", call.path, &ts.admin, call.body).want(t, 200, map[string]any{"success": true})
	}
	before := ts.counts()
	m := getMsg(t, ts, &ts.admin, id)
	for _, call := range []struct{ path, body string }{
		{"/api/v1/chat.react", `{"messageId":"` + id + `","emoji":"wave"}`},
		{"/api/v1/chat.unStarMessage", `{"messageId":"` + id + `"}`},
		{"/api/v1/chat.unPinMessage", `{"messageId":"` + id + `"}`},
	} {
		if res := ts.do("POST", call.path, &ts.admin, call.body); res.Status != 429 {
			t.Fatalf("%s past the limit: %d %s", call.path, res.Status, res.Raw)
		}
	}
	ts.unchanged1(t, before)
	if after := getMsg(t, ts, &ts.admin, id); jsonOf(after) != jsonOf(m) {
		t.Fatalf("a refused write changed the message:\n%v\n%v", m, after)
	}
}

// TestChatWritesRefreshPages: a history page read before a reaction, star, pin or thread reply
// is not served again afterwards (the page cache hears of every change of a message).
func TestChatWritesRefreshPages(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("POST", "/api/v1/chat.postMessage", &ts.admin, `{"roomId":"GENERAL","text":"cached"}`)
	res.want(t, 200, nil)
	id := res.Obj["message"].(map[string]any)["_id"].(string)
	hist := func() string {
		res := ts.do("GET", "/api/v1/channels.history?roomId=GENERAL", &ts.admin, "")
		res.want(t, 200, map[string]any{"success": true})
		return res.Raw
	}
	for _, step := range []struct{ path, body, want string }{
		{"/api/v1/chat.react", `{"messageId":"` + id + `","emoji":"tada"}`, `":tada:"`},
		{"/api/v1/chat.starMessage", `{"messageId":"` + id + `"}`, `"starred"`},
		{"/api/v1/chat.pinMessage", `{"messageId":"` + id + `"}`, `"pinnedBy"`},
		{"/api/v1/chat.postMessage", `{"roomId":"GENERAL","text":"in thread","tmid":"` + id + `"}`, `"tcount": 1`},
	} {
		if before := hist(); strings.Contains(before, step.want) {
			t.Fatalf("%s already in %s", step.want, before)
		}
		hist() // served from the cache now
		ts.do("POST", step.path, &ts.admin, step.body).want(t, 200, map[string]any{"success": true})
		if after := hist(); !strings.Contains(after, step.want) {
			t.Fatalf("after %s the page lacks %s: %s", step.path, step.want, after)
		}
	}
}
