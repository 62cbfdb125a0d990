package handlers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
)

// lastMessage returns the newest message of room rid as the admin reads it.
func (ts *testServer) lastMessage(t *testing.T, rid string) map[string]any {
	t.Helper()
	u, err := ts.st.User(ts.admin.UserID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ts.st.History(rid, u, store.HistoryQuery{Count: 1})
	if err != nil {
		// The admin is not a member of a private room: read as its creator instead.
		r, rerr := ts.st.Room(rid)
		if rerr != nil || r.Creator == nil {
			t.Fatal(err)
		}
		if u, err = ts.st.User(r.Creator.ID); err != nil {
			t.Fatal(err)
		}
		if msgs, err = ts.st.History(rid, u, store.HistoryQuery{Count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if len(msgs) == 0 {
		t.Fatalf("room %s has no messages", rid)
	}
	m := msgs[0]
	return map[string]any{"t": m.Type, "msg": m.Text, "role": m.Role, "u": m.User.Username}
}

func wantNote(t *testing.T, got map[string]any, typ, msg, by string) {
	t.Helper()
	if got["t"] != typ || got["msg"] != msg || got["u"] != by {
		t.Fatalf("system message %v, want t=%s msg=%s by %s", got, typ, msg, by)
	}
}

func TestV1GroupsLifecycle(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob, cb := ts.user1(t, "bob")
	carol, cc := ts.user1(t, "carol")

	res := ts.do("POST", "/api/v1/groups.create", &ca, `{"name":"team","members":["bob"]}`)
	res.want(t, 200, map[string]any{"success": true})
	g := res.Obj["group"].(map[string]any)
	gid := g["_id"].(string)
	if g["t"] != "p" || g["name"] != "team" || fmt.Sprint(g["usernames"]) != "[alice bob]" {
		t.Fatalf("group %v", g)
	}
	ts.do("POST", "/api/v1/groups.create", &ca, `{"name":"team"}`).wantErr1(t, 400, "error-duplicate-name")

	// info by id and by name; list; members.
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &cb, "").want(t, 200, map[string]any{"success": true})
	ts.do("GET", "/api/v1/groups.info?roomName=team", &cb, "").want(t, 200, map[string]any{"success": true})
	res = ts.do("GET", "/api/v1/groups.list", &cb, "")
	res.want(t, 200, map[string]any{"count": 1, "total": 1})
	res = ts.do("GET", "/api/v1/groups.members?roomId="+gid, &ca, "")
	res.want(t, 200, map[string]any{"total": 2})
	if m := res.Obj["members"].([]any)[0].(map[string]any); m["username"] != "alice" || m["_id"] != alice.ID || m["name"] != "alice" {
		t.Fatalf("members %s", res.Raw)
	}

	// A message, then history.
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"roomId":"`+gid+`","text":"hello team"}`).want(t, 200, nil)
	res = ts.do("GET", "/api/v1/groups.history?roomId="+gid, &ca, "")
	if msgs := res.Obj["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["msg"] != "hello team" {
		t.Fatalf("history %s", res.Raw)
	}
	ts.do("GET", "/api/v1/groups.messages?roomId="+gid, &ca, "").want(t, 200, map[string]any{"count": 1, "total": 1})
	ts.do("GET", "/api/v1/channels.messages?roomId=GENERAL&count=1", &ca, "").want(t, 200, map[string]any{"count": 1})

	// Invite writes "au"; kick writes "ru"; only owners and moderators may (remove-user).
	ts.do("POST", "/api/v1/groups.invite", &cb, `{"roomId":"`+gid+`","userId":"`+carol.ID+`"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.invite", &ca, `{"roomId":"`+gid+`","userId":"`+carol.ID+`"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "au", "carol", "alice")
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &cc, "").want(t, 200, nil)
	ts.do("POST", "/api/v1/groups.kick", &cb, `{"roomId":"`+gid+`","userId":"`+carol.ID+`"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.kick", &ca, `{"roomId":"`+gid+`","username":"carol"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "ru", "carol", "alice")
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &cc, "").wantErr1(t, 400, "error-room-not-found")

	// Settings: edit-room (owner), each with Rocket.Chat's system message.
	ts.do("POST", "/api/v1/groups.setTopic", &cb, `{"roomId":"`+gid+`","topic":"x"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.setTopic", &ca, `{"roomId":"`+gid+`","topic":"plans"}`).want(t, 200, map[string]any{"topic": "plans"})
	wantNote(t, ts.lastMessage(t, gid), "room_changed_topic", "plans", "alice")
	ts.do("POST", "/api/v1/groups.setDescription", &ca, `{"roomId":"`+gid+`","description":"d"}`).want(t, 200, map[string]any{"description": "d"})
	ts.do("POST", "/api/v1/groups.setPurpose", &ca, `{"roomId":"`+gid+`","purpose":"p"}`).want(t, 200, map[string]any{"purpose": "p"})
	ts.do("POST", "/api/v1/groups.setAnnouncement", &ca, `{"roomId":"`+gid+`","announcement":"a"}`).want(t, 200, map[string]any{"announcement": "a"})
	ts.do("POST", "/api/v1/groups.rename", &ca, `{"roomId":"`+gid+`","name":"crew"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "r", "crew", "alice")
	res = ts.do("POST", "/api/v1/groups.setReadOnly", &ca, `{"roomId":"`+gid+`","readOnly":true}`)
	if res.Status != 200 || res.Obj["group"].(map[string]any)["ro"] != true {
		t.Fatalf("setReadOnly %s", res.Raw)
	}
	wantNote(t, ts.lastMessage(t, gid), "room-set-read-only", "alice", "alice")
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"roomId":"`+gid+`","text":"ro"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.setReadOnly", &ca, `{"roomId":"`+gid+`","readOnly":true}`).wantErr1(t, 400, "error-room-param-invalid")
	ts.do("POST", "/api/v1/groups.setReadOnly", &ca, `{"roomId":"`+gid+`","readOnly":false}`).want(t, 200, nil)

	// Room roles: set-moderator / set-owner (owners), with subscription-role-* messages.
	ts.do("POST", "/api/v1/groups.addModerator", &cb, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.addModerator", &ca, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	note := ts.lastMessage(t, gid)
	wantNote(t, note, "subscription-role-added", "bob", "alice")
	if note["role"] != "moderator" {
		t.Fatalf("role %v", note)
	}
	ts.do("POST", "/api/v1/groups.addModerator", &ca, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).wantErr1(t, 400, "error-user-already-moderator")
	ts.do("POST", "/api/v1/groups.addModerator", &ca, `{"roomId":"`+gid+`","userId":"`+carol.ID+`"}`).wantErr1(t, 400, "error-user-not-in-room")
	// Now bob moderates: edit-room is his, set-owner is not.
	ts.do("POST", "/api/v1/groups.setTopic", &cb, `{"roomId":"`+gid+`","topic":"bob's"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/groups.addOwner", &cb, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).wantErr1(t, 403, "")
	res = ts.do("GET", "/api/v1/groups.roles?roomId="+gid, &cb, "")
	if roles := res.Obj["roles"].([]any); len(roles) != 2 {
		t.Fatalf("roles %s", res.Raw)
	}
	ts.do("POST", "/api/v1/groups.removeModerator", &ca, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "subscription-role-removed", "bob", "alice")
	ts.do("POST", "/api/v1/groups.removeModerator", &ca, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).wantErr1(t, 400, "error-user-not-moderator")
	ts.do("POST", "/api/v1/groups.removeOwner", &ca, `{"roomId":"`+gid+`","userId":"`+alice.ID+`"}`).wantErr1(t, 400, "error-remove-last-owner")
	ts.do("POST", "/api/v1/groups.leave", &ca, `{"roomId":"`+gid+`"}`).wantErr1(t, 400, "error-you-are-last-owner")
	ts.do("POST", "/api/v1/groups.addOwner", &ca, `{"roomId":"`+gid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/groups.removeOwner", &ca, `{"roomId":"`+gid+`","userId":"`+alice.ID+`"}`).want(t, 200, nil)

	// Archive: posts refused until unarchived (archive-room: owners; unarchive-room: admins).
	ts.do("POST", "/api/v1/groups.archive", &ca, `{"roomId":"`+gid+`"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/groups.archive", &cb, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "room-archived", "bob", "bob")
	ts.do("POST", "/api/v1/groups.archive", &cb, `{"roomId":"`+gid+`"}`).wantErr1(t, 400, "error-room-archived")
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"roomId":"`+gid+`","text":"x"}`).wantErr1(t, 400, "error-room-archived")
	ts.do("POST", "/api/rooms/"+gid+"/send", &cb, `{"msg":"x"}`).want(t, 400, nil)
	ts.do("POST", "/api/v1/groups.unarchive", &cb, `{"roomId":"`+gid+`"}`).wantErr1(t, 403, "")
	ts.grant1(t, "unarchive-room", "owner")
	ts.do("POST", "/api/v1/groups.unarchive", &cb, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"roomId":"`+gid+`","text":"back"}`).want(t, 200, nil)

	// open/close; leave.
	ts.do("POST", "/api/v1/groups.close", &ca, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	res = ts.do("POST", "/api/v1/groups.close", &ca, `{"roomName":"crew"}`)
	res.wantErr1(t, 400, "error-invalid-room-state")
	if res.Obj["error"] != "The private group, crew, is already closed to the sender" { // Rocket.Chat's words
		t.Fatalf("close twice: %s", res.Raw)
	}
	ts.do("POST", "/api/v1/groups.open", &ca, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/groups.leave", &ca, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &ca, "").wantErr1(t, 400, "error-room-not-found")

	// setType: a group becomes a channel (create-c) and leaves the groups family.
	ts.do("POST", "/api/v1/groups.setType", &cb, `{"roomId":"`+gid+`","type":"x"}`).wantErr1(t, 400, "error-invalid-room-type")
	ts.do("POST", "/api/v1/groups.setType", &cb, `{"roomId":"`+gid+`","type":"c"}`).want(t, 200, nil)
	wantNote(t, ts.lastMessage(t, gid), "room_changed_privacy", "public", "bob")
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &cb, "").wantErr1(t, 400, "error-room-not-found")
	ts.do("POST", "/api/v1/channels.setType", &cb, `{"roomId":"`+gid+`","type":"p"}`).want(t, 200, nil)

	// listAll: view-room-administration.
	ts.do("GET", "/api/v1/groups.listAll", &cb, "").wantErr1(t, 403, "")
	ts.do("GET", "/api/v1/groups.listAll", &ts.admin, "").want(t, 200, map[string]any{"total": 1})

	// delete: delete-p (owners).
	ts.do("POST", "/api/v1/groups.delete", &cb, `{"roomId":"`+gid+`"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/groups.info?roomId="+gid, &cb, "").wantErr1(t, 400, "error-room-not-found")
	if errs := ts.st.Check(); len(errs) != 0 {
		t.Fatalf("check after delete: %v", errs)
	}
}

// groupRoutes is every groups.* route that names a group, with a body for it.
var groupRoutes = []struct{ method, path, body string }{
	{"GET", "groups.info", ""}, {"GET", "groups.history", ""}, {"GET", "groups.messages", ""}, {"GET", "groups.members", ""},
	{"GET", "groups.roles", ""}, {"GET", "groups.counters", ""},
	{"POST", "groups.invite", `"username":"gus"`}, {"POST", "groups.kick", `"username":"alice"`},
	{"POST", "groups.leave", ""}, {"POST", "groups.open", ""}, {"POST", "groups.close", ""},
	{"POST", "groups.rename", `"name":"renamed"`}, {"POST", "groups.setTopic", `"topic":"t"`},
	{"POST", "groups.setDescription", `"description":"d"`}, {"POST", "groups.setPurpose", `"purpose":"p"`},
	{"POST", "groups.setAnnouncement", `"announcement":"a"`}, {"POST", "groups.setReadOnly", `"readOnly":true`},
	{"POST", "groups.setType", `"type":"c"`}, {"POST", "groups.archive", ""}, {"POST", "groups.unarchive", ""},
	{"POST", "groups.addModerator", `"username":"alice"`}, {"POST", "groups.removeModerator", `"username":"alice"`},
	{"POST", "groups.addOwner", `"username":"alice"`}, {"POST", "groups.removeOwner", `"username":"alice"`},
	{"POST", "groups.addLeader", `"username":"alice"`}, {"POST", "groups.removeLeader", `"username":"alice"`},
	{"POST", "groups.addAll", ""}, {"POST", "groups.delete", ""},
}

func (ts *testServer) roomCall(c *creds, method, path, rid, extra string) response {
	if method == "GET" {
		q := "?roomId=" + url.QueryEscape(rid)
		if extra != "" {
			q += "&" + extra
		}
		return ts.do("GET", "/api/v1/"+path+q, c, "")
	}
	b := `{"roomId":"` + rid + `"`
	if extra != "" {
		b += "," + extra
	}
	return ts.do("POST", "/api/v1/"+path, c, b+"}")
}

// A group is invisible to anyone outside it: every groups.* route answers a non-member (a
// user, a guest, even an admin) exactly as it answers for a room that does not exist, and
// changes nothing. A deactivated member and an anonymous caller get 401.
func TestV1GroupsInvisible(t *testing.T) {
	ts := newTestServer(t)
	alice, _ := ts.user1(t, "alice")
	_, ce := ts.user1(t, "eve")
	ts.createUser("gus", "gus-pass", "guest")
	cg := ts.login("gus", "gus-pass")
	dave, cd := ts.user1(t, "dave")
	g := ts.privateRoom1(t, "secret", alice, dave)
	pub := &store.Room{Name: "lobby"}
	if err := ts.st.CreateRoom(pub, nil, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.UpdateUser(dave.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	before := ts.counts()
	for _, rt := range groupRoutes {
		t.Run(rt.path, func(t *testing.T) {
			missing := ts.roomCall(&ce, rt.method, rt.path, "no-such-room", strings.ReplaceAll(rt.body, `"`, `"`))
			missing.wantErr1(t, 400, "error-room-not-found")
			for name, c := range map[string]*creds{"NonMember": &ce, "Guest": &cg, "AdminNonMember": &ts.admin} {
				got := ts.roomCall(c, rt.method, rt.path, g.ID, rt.body)
				if got.Status != missing.Status || got.Obj["error"] != missing.Obj["error"] || got.Obj["errorType"] != missing.Obj["errorType"] {
					t.Fatalf("%s: %d %s, want the answer for a missing room %s", name, got.Status, got.Raw, missing.Raw)
				}
			}
			// A public room is not a group either.
			ts.roomCall(&ts.admin, rt.method, rt.path, pub.ID, rt.body).wantErr1(t, 400, "error-room-not-found")
			if res := ts.roomCall(&cd, rt.method, rt.path, g.ID, rt.body); res.Status != 401 {
				t.Fatalf("deactivated member: %d %s", res.Status, res.Raw)
			}
			if res := ts.roomCall(nil, rt.method, rt.path, g.ID, rt.body); res.Status != 401 {
				t.Fatalf("anonymous: %d %s", res.Status, res.Raw)
			}
		})
	}
	// Not in the lists either, nor in rooms.info / subscriptions.getOne.
	ts.do("GET", "/api/v1/groups.list", &ce, "").want(t, 200, map[string]any{"total": 0})
	ts.do("GET", "/api/v1/rooms.info?roomId="+g.ID, &ce, "").wantErr1(t, 400, "error-room-not-found")
	ts.do("GET", "/api/v1/rooms.info?roomName=secret", &ce, "").wantErr1(t, 400, "error-room-not-found")
	ts.do("GET", "/api/v1/subscriptions.getOne?roomId="+g.ID, &ce, "").want(t, 200, map[string]any{"subscription": nil})
	ts.do("POST", "/api/v1/subscriptions.read", &ce, `{"rid":"`+g.ID+`"}`).wantErr1(t, 400, "error-room-does-not-exist")
	ts.unchanged1(t, before)
}

// Permissions of the group routes for a member without a room role: every write that needs
// one is refused with 403 and changes nothing; a guest cannot create a group.
func TestV1GroupsPermissions(t *testing.T) {
	ts := newTestServer(t)
	alice, _ := ts.user1(t, "alice")
	bob, cb := ts.user1(t, "bob")
	ts.createUser("gus", "gus-pass", "guest")
	cg := ts.login("gus", "gus-pass")
	g := ts.privateRoom1(t, "secret", alice, bob)
	before := ts.counts()
	for _, rt := range groupRoutes {
		switch rt.path {
		case "groups.info", "groups.history", "groups.messages", "groups.members", "groups.roles", "groups.counters",
			"groups.leave", "groups.open", "groups.close":
			continue // a member's own business
		}
		t.Run(rt.path, func(t *testing.T) {
			ts.roomCall(&cb, rt.method, rt.path, g.ID, rt.body).wantErr1(t, 403, "")
		})
	}
	ts.do("POST", "/api/v1/groups.create", &cg, `{"name":"guests"}`).wantErr1(t, 403, "")
	ts.unchanged1(t, before)
}

func TestV1DirectMessages(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob, cb := ts.user1(t, "bob")
	_, cc := ts.user1(t, "carol")

	res := ts.do("POST", "/api/v1/im.create", &ca, `{"username":"bob"}`)
	res.want(t, 200, map[string]any{"success": true})
	room := res.Obj["room"].(map[string]any)
	rid := room["_id"].(string)
	if room["t"] != "d" || room["rid"] != rid || fmt.Sprint(room["usernames"]) != "[alice bob]" || rid != store.DirectRoomID([]string{alice.ID, bob.ID}) {
		t.Fatalf("room %v", room)
	}
	// Creating again finds the same room, from either side.
	ts.do("POST", "/api/v1/dm.create", &cb, `{"username":"alice"}`).want(t, 200, map[string]any{"room": room})
	ts.do("POST", "/api/v1/im.create", &ca, `{"username":"nobody"}`).wantErr1(t, 400, "error-invalid-user")

	// chat.postMessage with "@username" posts into it.
	res = ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"channel":"@alice","text":"psst"}`)
	if res.Status != 200 || res.Obj["message"].(map[string]any)["rid"] != rid {
		t.Fatalf("post @alice: %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/im.history?roomId="+rid, &ca, "")
	if msgs := res.Obj["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["msg"] != "psst" {
		t.Fatalf("history %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/dm.messages?username=bob", &ca, "")
	res.want(t, 200, map[string]any{"count": 1, "total": 1})
	ts.do("GET", "/api/v1/im.list", &ca, "").want(t, 200, map[string]any{"total": 1})
	ts.do("GET", "/api/v1/im.members?roomId="+rid, &ca, "").want(t, 200, map[string]any{"total": 2})
	res = ts.do("GET", "/api/v1/im.counters?roomId="+rid, &ca, "")
	res.want(t, 200, map[string]any{"joined": true, "unreads": 1, "userMentions": 1, "msgs": 1})
	ts.do("POST", "/api/v1/im.close", &ca, `{"roomId":"`+rid+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/im.open", &ca, `{"roomId":"`+rid+`"}`).want(t, 200, nil)

	// A third user reads nothing of it, through any route of either API.
	before := ts.counts()
	msgID := ts.lastMessageID(t, rid, alice)
	for _, probe := range []struct {
		method, path string
	}{
		{"GET", "/api/v1/im.history?roomId=" + rid}, {"GET", "/api/v1/dm.history?roomId=" + rid},
		{"GET", "/api/v1/im.messages?roomId=" + rid}, {"GET", "/api/v1/im.members?roomId=" + rid},
		{"GET", "/api/v1/im.counters?roomId=" + rid}, {"GET", "/api/v1/rooms.info?roomId=" + rid},
		{"GET", "/api/v1/channels.history?roomId=" + rid}, {"GET", "/api/v1/channels.info?roomId=" + rid},
		{"GET", "/api/v1/groups.history?roomId=" + rid}, {"GET", "/api/v1/chat.getMessage?msgId=" + msgID},
		{"GET", "/api/v1/chat.search?roomId=" + rid + "&searchText=psst"}, {"GET", "/api/rooms/" + rid + "/messages"},
	} {
		res := ts.do(probe.method, probe.path, &cc, "")
		if res.Status == 200 || strings.Contains(res.Raw, "psst") {
			t.Fatalf("%s read by a third user: %d %s", probe.path, res.Status, res.Raw)
		}
	}
	for _, w := range []struct{ path, body string }{
		{"/api/v1/im.open", `{"roomId":"` + rid + `"}`}, {"/api/v1/im.close", `{"roomId":"` + rid + `"}`},
		{"/api/v1/chat.postMessage", `{"roomId":"` + rid + `","text":"hi"}`},
		{"/api/v1/channels.join", `{"roomId":"` + rid + `"}`}, {"/api/v1/rooms.leave", `{"roomId":"` + rid + `"}`},
		{"/api/v1/subscriptions.read", `{"rid":"` + rid + `"}`},
	} {
		if res := ts.do("POST", w.path, &cc, w.body); res.Status == 200 {
			t.Fatalf("%s by a third user: %s", w.path, res.Raw)
		}
	}
	ts.do("GET", "/api/v1/im.history?roomId="+rid, &cc, "").wantErr1(t, 400, "error-room-not-found")
	ts.unchanged1(t, before)

	// Several users: usernames as Rocket.Chat's comma-separated string.
	res = ts.do("POST", "/api/v1/im.create", &ca, `{"usernames":"bob,carol"}`)
	multi := res.Obj["room"].(map[string]any)
	if res.Status != 200 || fmt.Sprint(multi["usernames"]) != "[alice bob carol]" {
		t.Fatalf("multi %s", res.Raw)
	}
	ts.do("GET", "/api/v1/im.history?roomId="+multi["_id"].(string), &cc, "").want(t, 200, nil)

	// create-d is needed to open a new one.
	ts.revoke1(t, "create-d", "user")
	ts.do("POST", "/api/v1/im.create", &cb, `{"username":"carol"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"channel":"@carol","text":"x"}`).wantErr1(t, 403, "")
	// An existing one stays usable.
	ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"channel":"@alice","text":"still"}`).want(t, 200, nil)
	if errs := ts.st.Check(); len(errs) != 0 {
		t.Fatalf("check: %v", errs)
	}
}

func (ts *testServer) lastMessageID(t *testing.T, rid string, reader *store.User) string {
	t.Helper()
	msgs, err := ts.st.History(rid, reader, store.HistoryQuery{Count: 1})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("history of %s: %v", rid, err)
	}
	return msgs[0].ID
}

func TestV1ChannelModeration(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob, cb := ts.user1(t, "bob")
	carol, cc := ts.user1(t, "carol")
	res := ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"town","members":["bob"]}`)
	cid := res.Obj["channel"].(map[string]any)["_id"].(string)

	// Without a room role, bob may do none of it.
	before := ts.counts()
	for _, rt := range []struct{ path, body string }{
		{"channels.addModerator", `"userId":"` + bob.ID + `"`}, {"channels.addOwner", `"userId":"` + bob.ID + `"`},
		{"channels.addLeader", `"userId":"` + bob.ID + `"`}, {"channels.removeOwner", `"userId":"` + alice.ID + `"`},
		{"channels.archive", ""}, {"channels.unarchive", ""}, {"channels.delete", ""},
		{"channels.cleanHistory", `"latest":"2100-01-01T00:00:00.000Z","oldest":"2000-01-01T00:00:00.000Z"`},
		{"channels.setType", `"type":"p"`}, {"channels.setJoinCode", `"joinCode":"x"`},
		{"channels.setReadOnly", `"readOnly":true`}, {"channels.setAnnouncement", `"announcement":"x"`},
		{"channels.addAll", ""},
	} {
		ts.roomCall(&cb, "POST", rt.path, cid, rt.body).wantErr1(t, 403, "")
	}
	ts.unchanged1(t, before)

	ts.do("POST", "/api/v1/channels.addLeader", &ca, `{"roomId":"`+cid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/channels.addModerator", &ca, `{"roomId":"`+cid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	res = ts.do("GET", "/api/v1/channels.moderators?roomId="+cid, &cc, "")
	if mods := res.Obj["moderators"].([]any); len(mods) != 1 || mods[0].(map[string]any)["username"] != "bob" {
		t.Fatalf("moderators %s", res.Raw)
	}
	ts.do("POST", "/api/v1/channels.removeLeader", &ca, `{"roomId":"`+cid+`","userId":"`+bob.ID+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/channels.removeLeader", &ca, `{"roomId":"`+cid+`","userId":"`+bob.ID+`"}`).wantErr1(t, 400, "error-user-not-leader")

	// Announcement and read-only through a moderator.
	ts.do("POST", "/api/v1/channels.setAnnouncement", &cb, `{"roomId":"`+cid+`","announcement":"news"}`).want(t, 200, map[string]any{"announcement": "news"})
	wantNote(t, ts.lastMessage(t, cid), "room_changed_announcement", "news", "bob")

	// Join code: joining then needs it (join-without-join-code: admins and bots).
	res = ts.do("POST", "/api/v1/channels.setJoinCode", &ca, `{"roomId":"`+cid+`","joinCode":"sesame"}`)
	if ch := res.Obj["channel"].(map[string]any); res.Status != 200 || ch["joinCodeRequired"] != true || strings.Contains(res.Raw, "sesame") {
		t.Fatalf("setJoinCode %s", res.Raw)
	}
	ts.do("POST", "/api/v1/channels.join", &cc, `{"roomId":"`+cid+`"}`).wantErr1(t, 400, "error-code-invalid")
	ts.do("POST", "/api/v1/channels.join", &cc, `{"roomId":"`+cid+`","joinCode":"wrong"}`).wantErr1(t, 400, "error-code-invalid")
	ts.do("POST", "/api/rooms/"+cid+"/join", &cc, "").want(t, 400, nil)
	ts.do("POST", "/api/v1/channels.join", &cc, `{"roomId":"`+cid+`","joinCode":"sesame"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/channels.join", &ts.admin, `{"roomId":"`+cid+`"}`).want(t, 200, nil)

	// Members and counters.
	ts.do("GET", "/api/v1/channels.members?roomId="+cid+"&count=2", &cc, "").want(t, 200, map[string]any{"count": 2, "total": 4})
	ts.do("GET", "/api/v1/channels.counters?roomId="+cid, &cc, "").want(t, 200, map[string]any{"joined": true, "members": 4})

	// cleanHistory: latest and oldest are required; the range (inclusive or not) goes.
	for i := 0; i < 3; i++ {
		ts.clock.Advance(time.Second)
		ts.do("POST", "/api/v1/chat.postMessage", &ca, fmt.Sprintf(`{"roomId":"%s","text":"m%d"}`, cid, i)).want(t, 200, nil)
	}
	ts.do("POST", "/api/v1/channels.cleanHistory", &ts.admin, `{"roomId":"`+cid+`","latest":"2100-01-01T00:00:00.000Z"}`).wantErr1(t, 400, "error-invalid-params")
	t1 := ts.clock.Now().Add(-time.Second).Format("2006-01-02T15:04:05.000Z")
	ts.do("POST", "/api/v1/channels.cleanHistory", &ts.admin, `{"roomId":"`+cid+`","latest":"`+t1+`","oldest":"`+t1+`"}`).want(t, 200, nil)
	if n := ts.countText(t, cid, alice, "m1"); n != 1 {
		t.Fatalf("exclusive clean removed m1")
	}
	ts.do("POST", "/api/v1/channels.cleanHistory", &ts.admin, `{"roomId":"`+cid+`","latest":"`+t1+`","oldest":"`+t1+`","inclusive":true}`).want(t, 200, nil)
	if ts.countText(t, cid, alice, "m1") != 0 || ts.countText(t, cid, alice, "m0") != 1 || ts.countText(t, cid, alice, "m2") != 1 {
		t.Fatalf("inclusive clean did not remove exactly m1")
	}

	// addAll (add-user-to-any-c-room: admins).
	ts.do("POST", "/api/v1/channels.addAll", &ts.admin, `{"roomId":"`+cid+`"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/channels.members?roomId="+cid, &cc, "").want(t, 200, map[string]any{"total": 4})

	// Archive: the owner archives (archive-room), posts are refused on both APIs.
	ts.do("POST", "/api/v1/channels.archive", &ca, `{"roomId":"`+cid+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/chat.postMessage", &cc, `{"roomId":"`+cid+`","text":"x"}`).wantErr1(t, 400, "error-room-archived")
	ts.do("GET", "/api/v1/channels.info?roomId="+cid, &cc, "").want(t, 200, nil)
	ts.do("POST", "/api/v1/channels.unarchive", &ts.admin, `{"roomId":"`+cid+`"}`).want(t, 200, nil)

	// Delete (delete-c: the owner).
	ts.do("POST", "/api/v1/channels.delete", &ca, `{"roomId":"`+cid+`"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/channels.info?roomId="+cid, &ca, "").wantErr1(t, 400, "error-room-not-found")
	for _, path := range []string{"/api/v1/channels.list", "/api/publicRooms"} {
		if res := ts.do("GET", path, &ca, ""); res.Status != 200 || strings.Contains(res.Raw, cid) {
			t.Fatalf("%s after the delete: %d %s", path, res.Status, res.Raw)
		}
	}
	if _, err := ts.st.RoomByName("town"); store.KindOf(err) != store.NotFound {
		t.Fatalf("name still taken: %v", err)
	}
	if errs := ts.st.Check(); len(errs) != 0 {
		t.Fatalf("check: %v", errs)
	}
	_ = carol
}

func (ts *testServer) countText(t *testing.T, rid string, reader *store.User, text string) int {
	t.Helper()
	msgs, err := ts.st.History(rid, reader, store.HistoryQuery{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Text == text {
			n++
		}
	}
	return n
}

func TestV1Subscriptions(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	_, cb := ts.user1(t, "bob")
	res := ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"town","members":["bob"]}`)
	cid := res.Obj["channel"].(map[string]any)["_id"].(string)

	sub := func(c *creds) map[string]any {
		t.Helper()
		res := ts.do("GET", "/api/v1/subscriptions.getOne?roomId="+cid, c, "")
		res.want(t, 200, map[string]any{"success": true})
		return res.Obj["subscription"].(map[string]any)
	}
	if s := sub(&cb); s["unread"] != 0.0 || s["alert"] != false || s["name"] != "town" || s["t"] != "c" || s["open"] != true {
		t.Fatalf("new subscription %v", s)
	}
	if s := sub(&ca); fmt.Sprint(s["roles"]) != "[owner]" {
		t.Fatalf("owner subscription %v", s)
	}
	mark := ts.clock.Now()
	ts.clock.Advance(time.Second)
	for _, text := range []string{"one", "hi @bob", "@bob again, @alice and @nobody", "email me at x@bob"} {
		ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"`+cid+`","text":"`+text+`"}`).want(t, 200, nil)
	}
	// System messages are not unread.
	ts.do("POST", "/api/v1/channels.setTopic", &ca, `{"roomId":"`+cid+`","topic":"t"}`).want(t, 200, nil)
	if s := sub(&cb); s["unread"] != 4.0 || s["userMentions"] != 2.0 || s["alert"] != true {
		t.Fatalf("bob after 4 messages: %v", s)
	}
	if s := sub(&ca); s["unread"] != 0.0 || s["userMentions"] != 0.0 {
		t.Fatalf("the author's own messages: %v", s)
	}
	ts.do("GET", "/api/v1/channels.counters?roomId="+cid, &cb, "").want(t, 200, map[string]any{"unreads": 4, "userMentions": 2})

	// subscriptions.get: everything, or what changed since a time.
	res = ts.do("GET", "/api/v1/subscriptions.get", &cb, "")
	if up := res.Obj["update"].([]any); res.Status != 200 || len(up) != 2 { // general and town
		t.Fatalf("subscriptions.get %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/subscriptions.get?updatedSince="+url.QueryEscape(mark.Format(time.RFC3339Nano)), &cb, "")
	if up := res.Obj["update"].([]any); len(up) != 1 || up[0].(map[string]any)["rid"] != cid {
		t.Fatalf("updatedSince %s", res.Raw)
	}
	ts.do("GET", "/api/v1/subscriptions.get?updatedSince=yesterday", &cb, "").wantErr1(t, 400, "error-invalid-date")
	res = ts.do("GET", "/api/v1/rooms.get?updatedSince="+url.QueryEscape(mark.Format(time.RFC3339Nano)), &cb, "")
	if up := res.Obj["update"].([]any); len(up) != 1 || up[0].(map[string]any)["_id"] != cid {
		t.Fatalf("rooms.get %s", res.Raw)
	}

	// read clears unread and mentions; unread brings them back.
	ts.do("POST", "/api/v1/subscriptions.read", &cb, `{"rid":"`+cid+`"}`).want(t, 200, nil)
	if s := sub(&cb); s["unread"] != 0.0 || s["userMentions"] != 0.0 || s["alert"] != false || s["ls"] == nil {
		t.Fatalf("after read: %v", s)
	}
	ts.do("POST", "/api/v1/subscriptions.unread", &cb, `{"roomId":"`+cid+`"}`).want(t, 200, nil)
	if s := sub(&cb); s["unread"] != 1.0 {
		t.Fatalf("after unread: %v", s)
	}
	msgs, err := ts.st.History(cid, alice, store.HistoryQuery{Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	var hi string
	for _, m := range msgs {
		if m.Text == "hi @bob" {
			hi = m.ID
		}
	}
	ts.do("POST", "/api/v1/subscriptions.unread", &cb, `{"firstUnreadMessage":{"_id":"`+hi+`"}}`).want(t, 200, nil)
	if s := sub(&cb); s["unread"] != 3.0 {
		t.Fatalf("unread from a message: %v", s)
	}
	ts.do("POST", "/api/v1/subscriptions.unread", &cb, `{"firstUnreadMessage":{"_id":"nope"}}`).wantErr1(t, 400, "error-invalid-message")
	ts.do("POST", "/api/v1/subscriptions.unread", &cb, `{}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/subscriptions.read", &cb, `{}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/subscriptions.read", &cb, `{"rid":"`+cid+`","roomId":"GENERAL"}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/subscriptions.read", &cb, `{"rid":"`+cid+`","roomId":"`+cid+`"}`).want(t, 200, nil)
	ts.do("POST", "/api/v1/subscriptions.read", &cb, `{"rid":"foobar123"}`).wantErr1(t, 400, "error-room-does-not-exist")
	empty := ts.privateRoom1(t, "empty", alice)
	ts.do("POST", "/api/v1/subscriptions.unread", &ca, `{"roomId":"`+empty.ID+`"}`).wantErr1(t, 400, "error-no-message-for-unread")

	// rooms.info by id and name; saveRoomSettings changes several settings at once.
	ts.do("GET", "/api/v1/rooms.info?roomName=town", &cb, "").want(t, 200, nil)
	ts.do("POST", "/api/v1/rooms.saveRoomSettings", &cb, `{"rid":"`+cid+`","roomTopic":"x"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/rooms.saveRoomSettings", &ca, `{"rid":"`+cid+`","roomTopic":"new topic","roomDescription":"desc","roomAnnouncement":"ann","readOnly":true,"roomType":"p"}`).want(t, 200, map[string]any{"rid": cid})
	r, err := ts.st.Room(cid)
	if err != nil || r.Topic != "new topic" || r.Description != "desc" || r.Announcement != "ann" || !r.ReadOnly || r.Type != store.Private {
		t.Fatalf("saved %+v, %v", r, err)
	}
	ts.do("POST", "/api/v1/rooms.saveRoomSettings", &ca, `{"rid":"`+cid+`","roomType":"x"}`).wantErr1(t, 400, "error-invalid-room-type")
	// rooms.leave.
	ts.do("POST", "/api/v1/rooms.leave", &cb, `{"roomId":"`+cid+`"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/subscriptions.getOne?roomId="+cid, &cb, "").want(t, 200, map[string]any{"subscription": nil})
	ts.do("POST", "/api/v1/rooms.leave", &ca, `{"roomId":"`+cid+`"}`).want(t, 200, nil) // the last member may go
	if errs := ts.st.Check(); len(errs) != 0 {
		t.Fatalf("check: %v", errs)
	}
}

// A deactivated user's token opens none of the routes of groups, direct messages, rooms,
// subscriptions and channel moderation (401, as for every route), and writes nothing.
func TestV1RoomFamiliesRefuseDeactivated(t *testing.T) {
	ts := newTestServer(t)
	dave, cd := ts.user1(t, "dave")
	g := ts.privateRoom1(t, "secret", dave)
	if _, err := ts.st.UpdateUser(dave.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	before := ts.counts()
	n := 0
	for _, r := range ts.api.Routes() {
		name := strings.TrimPrefix(r.Path, "/api/v1/")
		family := strings.SplitN(name, ".", 2)[0]
		switch family {
		case "groups", "im", "dm", "rooms", "subscriptions", "channels":
		default:
			continue
		}
		n++
		res := ts.roomCall(&cd, r.Method, name, g.ID, "")
		res.want(t, 401, map[string]any{"status": "error", "message": "You must be logged in to do this."})
	}
	if n < 80 {
		t.Fatalf("only %d routes checked", n)
	}
	ts.unchanged1(t, before)
}

// The lists of groups, direct messages and members follow the list conventions: query is
// refused naming it, fields projects, sort orders (or is refused where a list has one order).
func TestV1RoomListsConventions(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob, _ := ts.user1(t, "bob")
	ts.privateRoom1(t, "bravo", alice, bob)
	g := ts.privateRoom1(t, "alpha", alice, bob)
	ts.do("POST", "/api/v1/im.create", &ca, `{"username":"bob"}`).want(t, 200, nil)
	ts.do("GET", "/api/v1/groups.list", &ts.admin, "").want(t, 200, map[string]any{"total": 0})
	for _, path := range []string{"/api/v1/groups.list", "/api/v1/groups.listAll", "/api/v1/im.list", "/api/v1/dm.list",
		"/api/v1/groups.members?roomId=" + g.ID, "/api/v1/groups.history?roomId=" + g.ID, "/api/v1/im.messages?username=bob"} {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		c := &ca
		if strings.Contains(path, "listAll") {
			c = &ts.admin
		}
		res := ts.do("GET", path+sep+"query="+url.QueryEscape(`{"name":"x"}`), c, "")
		res.wantErr1(t, 400, "error-invalid-params")
		if !strings.Contains(res.Obj["error"].(string), `"query"`) {
			t.Fatalf("%s: %s", path, res.Raw)
		}
		ts.do("GET", path+sep+"fields="+url.QueryEscape(`{"_id":1}`), c, "").want(t, 200, nil)
	}
	res := ts.do("GET", listURL("/api/v1/groups.list", "sort", `{"name":-1}`, "fields", `{"name":1}`), &ca, "")
	if got := strings.Join(names(t, res, "groups", "name"), ","); got != "bravo,alpha" || strings.Contains(res.Raw, `"usernames"`) {
		t.Fatalf("sorted, projected groups %s", res.Raw)
	}
	ts.do("GET", listURL("/api/v1/groups.members", "roomId", g.ID, "sort", `{"name":1}`), &ca, "").wantErr1(t, 400, "error-invalid-params")
}

// Room writes draw from the per-user write bucket that message posts use: once it is empty,
// each of them is 429 with Retry-After and writes nothing; reading and opening stay free.
func TestV1RoomWritesRateLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = 1, 1 })
	alice, ca := ts.user1(t, "alice")
	g := ts.privateRoom1(t, "g", alice)
	ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"GENERAL","text":"drain"}`).want(t, 200, nil)
	before := ts.counts()
	n := 0
	for _, r := range ts.api.Routes() {
		name := strings.TrimPrefix(r.Path, "/api/v1/")
		switch strings.SplitN(name, ".", 2)[0] {
		case "groups", "im", "dm", "rooms", "channels":
		default:
			continue
		}
		if r.Method != "POST" || strings.HasSuffix(name, ".open") || strings.HasSuffix(name, ".close") ||
			strings.HasSuffix(name, ".leave") || strings.HasPrefix(name, "channels.") && !strings.Contains("addModerator removeModerator addOwner removeOwner addLeader removeLeader archive unarchive cleanHistory setType setJoinCode setReadOnly setAnnouncement addAll delete", strings.TrimPrefix(name, "channels.")) {
			continue
		}
		n++
		res := ts.roomCall(&ca, "POST", name, g.ID, `"name":"x","username":"alice","rid":"`+g.ID+`"`)
		if res.Status != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %s", name, res.Status, res.Raw)
		}
	}
	if n != 38 { // 15 channels.*, 20 groups.*, im.create, dm.create, rooms.saveRoomSettings
		t.Fatalf("%d routes checked, want 38", n)
	}
	ts.unchanged1(t, before)
	ts.do("GET", "/api/v1/groups.info?roomId="+g.ID, &ca, "").want(t, 200, nil)
	ts.do("POST", "/api/v1/groups.close", &ca, `{"roomId":"`+g.ID+`"}`).want(t, 200, nil)
}

// im.create's refusals: no username, a usernames that is neither a string nor a list, and
// more than store.MaxDirectMembers members counting the caller; none creates a room.
func TestV1DirectCreateRefusals(t *testing.T) {
	ts := newTestServer(t)
	_, ca := ts.user1(t, "alice")
	var names []string
	for i := 0; i < store.MaxDirectMembers; i++ {
		n := "u" + strconv.Itoa(i)
		ts.createUser(n, "pw-"+n)
		names = append(names, n)
	}
	before := ts.counts()
	ts.do("POST", "/api/v1/im.create", &ca, `{}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/im.create", &ca, `{"usernames":" , "}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/im.create", &ca, `{"usernames":7}`).wantErr1(t, 400, "error-invalid-param")
	ts.do("POST", "/api/v1/im.create", &ca, `{"usernames":"`+strings.Join(names, ",")+`"}`).wantErr1(t, 400, "error-invalid-params")
	ts.unchanged1(t, before)
	// One fewer is a room.
	ts.do("POST", "/api/v1/im.create", &ca, `{"usernames":"`+strings.Join(names[1:], ",")+`"}`).want(t, 200, nil)
}
