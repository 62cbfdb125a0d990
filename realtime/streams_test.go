package realtime_test

import (
	"fmt"
	"testing"
	"time"

	"rocketlite/store"
)

type storeRoom = store.Room

const quiet = 300 * time.Millisecond

// createRoom makes a room over REST as c and returns its id.
func (e *env) createRoom(c restCreds, name string, private bool, members ...string) string {
	e.t.Helper()
	path := "/api/v1/channels.create"
	body := map[string]any{"name": name}
	if len(members) > 0 {
		body["members"] = members
	}
	out := e.rest("POST", path, &c, body)
	rid := out["channel"].(map[string]any)["_id"].(string)
	if private {
		if _, err := e.st.UpdateRoom(rid, func(r *storeRoom) error { r.Type = "p"; return nil }); err != nil {
			e.t.Fatal(err)
		}
	}
	return rid
}

func TestRoomMessagesStream(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	e.user("bob")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "lobby", false)

	for _, sockjs := range []bool{false, true} {
		t.Run(fmt.Sprint("sockjs=", sockjs), func(t *testing.T) {
			c := e.dial(sockjs)
			c.t = t
			c.login("bob")
			c.mustSub("stream-room-messages", rid, false)
			c.mustSub("stream-room-messages", "__my_messages__", false)
			c.mustSub("stream-notify-room", rid+"/deleteMessage", false)

			// A REST post reaches the room stream with EJSON dates.
			sent := e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "hello bob"})
			mid := sent["message"].(map[string]any)["_id"].(string)
			args := c.event("stream-room-messages", rid, text("hello bob"))
			m := args[0].(map[string]any)
			if m["_id"] != mid || m["rid"] != rid || m["u"].(map[string]any)["username"] != "alice" {
				t.Fatalf("message: %v", m)
			}
			if ts, ok := m["ts"].(map[string]any); !ok || ts["$date"] == nil {
				t.Fatalf("ts is not EJSON: %v", m["ts"])
			}
			// bob is not a member: __my_messages__ stays silent for this room.
			c.noEvent(quiet, "stream-room-messages", "__my_messages__", nil)

			// Edit and delete come through the same stream; the delete also as deleteMessage.
			e.rest("POST", "/api/v1/chat.update", &alice, map[string]any{"roomId": rid, "msgId": mid, "text": "hello again"})
			if got := c.event("stream-room-messages", rid, text("hello again")); got[0].(map[string]any)["editedAt"] == nil {
				t.Fatalf("edit without editedAt: %v", got)
			}
			e.rest("POST", "/api/v1/chat.delete", &alice, map[string]any{"roomId": rid, "msgId": mid})
			c.event("stream-room-messages", rid, func(a []any) bool { return a[0].(map[string]any)["t"] == "rm" })
			c.event("stream-notify-room", rid+"/deleteMessage", func(a []any) bool { return a[0].(map[string]any)["_id"] == mid })

			// joinRoom over DDP: bob now gets the room on __my_messages__, with room info.
			if c.ok("joinRoom", rid) != true {
				t.Fatal("joinRoom result is not true")
			}
			e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "welcome"})
			args = c.event("stream-room-messages", "__my_messages__", text("welcome"))
			if info := args[1].(map[string]any); info["roomParticipant"] != true || info["roomType"] != "c" || info["roomName"] != "lobby" {
				t.Fatalf("__my_messages__ info: %v", args[1])
			}
			// A message sent over DDP is stored, fanned out like a REST one, and read over REST.
			res := c.ok("sendMessage", map[string]any{"_id": "ddp-" + fmt.Sprint(sockjs), "rid": rid, "msg": "from ddp"}).(map[string]any)
			if res["_id"] != "ddp-"+fmt.Sprint(sockjs) || res["msg"] != "from ddp" {
				t.Fatalf("sendMessage result: %v", res)
			}
			c.event("stream-room-messages", rid, text("from ddp"))
			hist := e.rest("GET", "/api/v1/channels.history", &alice, map[string]any{"roomId": rid, "count": 1})
			if got := hist["messages"].([]any)[0].(map[string]any)["msg"]; got != "from ddp" {
				t.Fatalf("history after DDP send: %v", got)
			}
			if c.ok("leaveRoom", rid) != true {
				t.Fatal("leaveRoom result is not true")
			}
			e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "after leaving"})
			c.event("stream-room-messages", rid, text("after leaving")) // a public room: still readable
			c.noEvent(quiet, "stream-room-messages", "__my_messages__", text("after leaving"))
		})
	}
}

func TestRefusedSubscriptions(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	e.user("mallory")
	alice := e.restLogin("alice", "alicepass")
	secret := e.createRoom(alice, "secret", true)
	c := e.dial(false)
	// Without a login nothing is served.
	if err := c.sub("stream-room-messages", "__my_messages__", false); err == nil {
		t.Fatal("__my_messages__ without login accepted")
	}
	res := c.login("mallory")
	c.expect(func(m map[string]any) bool { return m["msg"] == "added" })
	uid := res["id"].(string)
	aliceID := alice.uid
	for _, s := range []struct {
		name, event string
	}{
		{"stream-room-messages", secret},
		{"stream-notify-room", secret + "/typing"},
		{"stream-notify-room", secret + "/deleteMessage"},
		{"stream-notify-user", aliceID + "/notification"},
		{"stream-notify-user", aliceID + "/rooms-changed"},
		{"stream-room-messages", "no-such-room"},
	} {
		if err := c.sub(s.name, s.event, false); err == nil {
			t.Errorf("sub %s %s accepted", s.name, s.event)
		}
	}
	c.mustSub("stream-notify-user", uid+"/notification", false)
	// Methods on the private room are refused alike.
	for _, m := range []string{"loadHistory", "getUsersOfRoom", "getRoomRoles", "readMessages"} {
		c.fails(m, secret)
	}
	if got := c.fails("sendMessage", map[string]any{"rid": secret, "msg": "let me in"}); got != "error-not-allowed" {
		t.Fatalf("send to a private room of others: %v", got)
	}
}

func TestKickedMemberStopsReceiving(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	e.user("bob")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "inner", true, "bob")
	c := e.dial(false)
	c.login("bob")
	c.mustSub("stream-room-messages", rid, false)
	c.mustSub("stream-room-messages", "__my_messages__", false)
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "before"})
	c.event("stream-room-messages", rid, text("before"))
	c.event("stream-room-messages", "__my_messages__", text("before"))

	e.rest("POST", "/api/v1/channels.kick", &alice, map[string]any{"roomId": rid, "username": "bob"})
	// Bob sees his removal ("ru"), then nothing more of the room on either stream.
	isRU := func(a []any) bool { return a[0].(map[string]any)["t"] == "ru" }
	c.event("stream-room-messages", rid, isRU)
	c.event("stream-room-messages", "__my_messages__", isRU)
	for i := 0; i < 5; i++ {
		e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": fmt.Sprint("after ", i)})
	}
	c.noEvent(quiet, "stream-room-messages", rid, nil)
	c.noEvent(quiet, "stream-room-messages", "__my_messages__", nil)
	// And he cannot subscribe again.
	if err := c.sub("stream-room-messages", rid, false); err == nil {
		t.Fatal("kicked member subscribed again")
	}
	// Invited back, the old subscription delivers again.
	e.rest("POST", "/api/v1/channels.invite", &alice, map[string]any{"roomId": rid, "username": "bob"})
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "back"})
	c.event("stream-room-messages", rid, text("back"))
}

func TestNotifyUserStreams(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	bobU := e.user("bob")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "team", false)
	c := e.dial(false)
	c.login("bob")
	for _, ev := range []string{"notification", "rooms-changed", "subscriptions-changed", "message", "otr", "webrtc"} {
		c.mustSub("stream-notify-user", bobU.ID+"/"+ev, false)
	}
	// Invite: rooms-changed and subscriptions-changed "inserted".
	e.rest("POST", "/api/v1/channels.invite", &alice, map[string]any{"roomId": rid, "username": "bob"})
	args := c.event("stream-notify-user", bobU.ID+"/rooms-changed", nil)
	if args[0] != "inserted" || args[1].(map[string]any)["_id"] != rid {
		t.Fatalf("rooms-changed: %v", args)
	}
	args = c.event("stream-notify-user", bobU.ID+"/subscriptions-changed", nil)
	if args[0] != "inserted" || args[1].(map[string]any)["rid"] != rid {
		t.Fatalf("subscriptions-changed: %v", args)
	}
	// Topic and rename: rooms-changed "updated".
	c.mustSub("stream-room-messages", rid, false)
	e.rest("POST", "/api/v1/channels.setTopic", &alice, map[string]any{"roomId": rid, "topic": "new topic"})
	c.event("stream-notify-user", bobU.ID+"/rooms-changed", func(a []any) bool {
		return a[0] == "updated" && a[1].(map[string]any)["topic"] == "new topic"
	})
	// And as Rocket.Chat's room_changed_topic message, which chat bridges read.
	c.event("stream-room-messages", rid, func(a []any) bool {
		m := a[0].(map[string]any)
		return m["t"] == "room_changed_topic" && m["msg"] == "new topic"
	})
	// A description change is no topic change.
	e.rest("POST", "/api/v1/channels.setDescription", &alice, map[string]any{"roomId": rid, "description": "d"})
	c.noEvent(quiet, "stream-room-messages", rid, func(a []any) bool { return a[0].(map[string]any)["t"] == "room_changed_topic" })
	e.rest("POST", "/api/v1/channels.rename", &alice, map[string]any{"roomId": rid, "name": "team2"})
	c.event("stream-notify-user", bobU.ID+"/rooms-changed", func(a []any) bool {
		return a[0] == "updated" && a[1].(map[string]any)["name"] == "team2"
	})
	// A mention notifies; a plain message does not.
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "plain"})
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "hey @bob look"})
	args = c.event("stream-notify-user", bobU.ID+"/notification", nil)
	n := args[0].(map[string]any)
	p := n["payload"].(map[string]any)
	if n["text"] != "hey @bob look" || p["rid"] != rid || p["sender"].(map[string]any)["username"] != "alice" {
		t.Fatalf("notification: %v", n)
	}
	c.noEvent(quiet, "stream-notify-user", bobU.ID+"/notification", nil)
	// @all reaches every member (users hold mention-all by default).
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "@all meeting"})
	c.event("stream-notify-user", bobU.ID+"/notification", func(a []any) bool { return a[0].(map[string]any)["text"] == "@all meeting" })
	// Read mark: subscriptions-changed "updated" with unread 0.
	c.ok("readMessages", rid)
	c.event("stream-notify-user", bobU.ID+"/subscriptions-changed", func(a []any) bool {
		return a[0] == "updated" && a[1].(map[string]any)["unread"] == float64(0)
	})
	// Kick: "removed".
	admin := e.restLogin("admin", "adminpass")
	e.rest("POST", "/api/v1/channels.kick", &admin, map[string]any{"roomId": rid, "username": "bob"})
	c.event("stream-notify-user", bobU.ID+"/rooms-changed", func(a []any) bool { return a[0] == "removed" })
	// Permission changes reach stream-notify-all.
	c.mustSub("stream-notify-all", "permissions-changed", false)
	e.rest("POST", "/api/v1/permissions.update", &admin, map[string]any{"permissions": []any{map[string]any{"_id": "mention-all", "roles": []string{"admin"}}}})
	c.event("stream-notify-all", "permissions-changed", func(a []any) bool { return a[1].(map[string]any)["_id"] == "mention-all" })
	// Now @all from a plain user notifies nobody.
	c.ok("joinRoom", rid)
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "@all again"})
	c.noEvent(quiet, "stream-notify-user", bobU.ID+"/notification", nil)
}

func TestMethods(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "methods", false)
	e.rest("POST", "/api/v1/channels.setTopic", &alice, map[string]any{"roomId": rid, "topic": "tt"})
	for i := 0; i < 3; i++ {
		e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": fmt.Sprint("m", i)})
	}
	c := e.dial(false)
	c.login("alice")

	rooms := c.ok("rooms/get").([]any)
	if len(rooms) != 2 { // general and methods
		t.Fatalf("rooms/get: %v", rooms)
	}
	upd := c.ok("rooms/get", map[string]any{"$date": 0}).(map[string]any)
	if len(upd["update"].([]any)) != 2 || upd["remove"] == nil {
		t.Fatalf("rooms/get since: %v", upd)
	}
	subs := c.ok("subscriptions/get").([]any)
	var sub map[string]any
	for _, s := range subs {
		if s.(map[string]any)["rid"] == rid {
			sub = s.(map[string]any)
		}
	}
	if sub == nil || sub["name"] != "methods" || sub["t"] != "c" || sub["u"].(map[string]any)["username"] != "alice" {
		t.Fatalf("subscriptions/get: %v", subs)
	}
	found := c.ok("browseChannels", map[string]any{"text": "meth", "type": "channels", "sortBy": "name", "sortDirection": "asc", "limit": 10, "page": 0}).(map[string]any)
	if found["total"] != float64(1) || found["results"].([]any)[0].(map[string]any)["topic"] != "tt" {
		t.Fatalf("browseChannels: %v", found)
	}
	users := c.ok("getUsersOfRoom", rid, true).(map[string]any)
	recs := users["records"].([]any)
	if users["total"] != float64(1) || recs[0].(map[string]any)["username"] != "alice" || recs[0].(map[string]any)["status"] != "online" {
		t.Fatalf("getUsersOfRoom: %v", users)
	}
	roles := c.ok("getRoomRoles", rid).([]any)
	if len(roles) != 1 || roles[0].(map[string]any)["roles"].([]any)[0] != "owner" {
		t.Fatalf("getRoomRoles: %v", roles)
	}
	hist := c.ok("loadHistory", rid, nil, 2, nil).(map[string]any)
	msgs := hist["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["msg"] != "m2" {
		t.Fatalf("loadHistory: %v", hist)
	}
	end := msgs[1].(map[string]any)["ts"]
	older := c.ok("loadHistory", rid, end, 10, nil).(map[string]any)["messages"].([]any)
	for _, m := range older {
		if m.(map[string]any)["msg"] == "m2" || m.(map[string]any)["msg"] == "m1" {
			t.Fatalf("loadHistory before end returned %v", m)
		}
	}
	if got := c.ok("getRoomIdByNameOrId", "methods"); got != rid {
		t.Fatalf("getRoomIdByNameOrId: %v", got)
	}
	if got := c.ok("getRoomIdByNameOrId", rid); got != rid {
		t.Fatalf("getRoomIdByNameOrId by id: %v", got)
	}
	if c.ok("readMessages", rid) != nil {
		t.Fatal("readMessages result is not null")
	}
	for _, bad := range [][]any{{}, {42}, {""}} {
		if got := c.fails("joinRoom", bad...); got != "error-invalid-params" {
			t.Fatalf("joinRoom %v: %v", bad, got)
		}
	}
	if got := c.fails("sendMessage", map[string]any{"rid": rid, "msg": ""}); got != "error-invalid-msg" {
		t.Fatalf("empty message: %v", got)
	}
	if got := c.fails("sendMessage", map[string]any{"rid": rid, "msg": "x", "_id": "bad id!"}); got != "error-invalid-params" {
		t.Fatalf("bad _id: %v", got)
	}
	if got := c.fails("UserPresence:setDefaultStatus", "dancing"); got != "error-invalid-params" {
		t.Fatalf("bad status: %v", got)
	}
}

// TestStoredTopicNoteOnce: a topic change that stores its room_changed_topic message (groups
// set* routes) goes out once, as that message.
func TestStoredTopicNoteOnce(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	alice := e.restLogin("alice", "alicepass")
	out := e.rest("POST", "/api/v1/groups.create", &alice, map[string]any{"name": "g1"})
	gid := out["group"].(map[string]any)["_id"].(string)
	c := e.dial(false)
	c.login("alice")
	c.mustSub("stream-room-messages", gid, false)
	e.rest("POST", "/api/v1/groups.setTopic", &alice, map[string]any{"roomId": gid, "topic": "once"})
	isTopic := func(a []any) bool { return a[0].(map[string]any)["t"] == "room_changed_topic" }
	args := c.event("stream-room-messages", gid, isTopic)
	if m := args[0].(map[string]any); m["msg"] != "once" || m["u"].(map[string]any)["username"] != "alice" {
		t.Fatalf("topic note: %v", m)
	}
	c.noEvent(quiet, "stream-room-messages", gid, isTopic)
}

// TestDirectMessages: createDirectMessage opens the room; a direct message notifies the other
// member, and not the sender.
func TestDirectMessages(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	bob := e.user("bob")
	a := e.dial(false)
	alice := a.login("alice")
	b := e.dial(false)
	b.login("bob")
	b.mustSub("stream-notify-user", bob.ID+"/notification", false)
	b.mustSub("stream-room-messages", "__my_messages__", false)
	a.mustSub("stream-notify-user", alice["id"].(string)+"/notification", false)
	res := a.ok("createDirectMessage", "bob").(map[string]any)
	rid := res["rid"].(string)
	if res["t"] != "d" || rid == "" {
		t.Fatalf("createDirectMessage: %v", res)
	}
	if again := a.ok("createDirectMessage", "bob").(map[string]any); again["rid"] != rid {
		t.Fatalf("a second createDirectMessage opened another room: %v", again)
	}
	if got := a.fails("createDirectMessage", "nobody"); got != "error-invalid-user" {
		t.Fatalf("DM to nobody: %v", got)
	}
	a.ok("sendMessage", map[string]any{"rid": rid, "msg": "psst"})
	args := b.event("stream-notify-user", bob.ID+"/notification", nil)
	n := args[0].(map[string]any)
	if n["text"] != "psst" || n["title"] != "@alice" || n["payload"].(map[string]any)["type"] != "d" {
		t.Fatalf("DM notification: %v", n)
	}
	if info := b.event("stream-room-messages", "__my_messages__", text("psst"))[1].(map[string]any); info["roomType"] != "d" {
		t.Fatalf("DM on __my_messages__: %v", info)
	}
	a.noEvent(quiet, "stream-notify-user", alice["id"].(string)+"/notification", nil)
}

// TestDeletedRoomStopsStream: after channels.delete nothing of the room reaches a subscriber,
// and members hear of its removal.
func TestDeletedRoomStopsStream(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	bob := e.user("bob")
	admin := e.restLogin("admin", "adminpass")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "doomed", false, "bob")
	c := e.dial(false)
	c.login("bob")
	c.mustSub("stream-room-messages", rid, false)
	c.mustSub("stream-notify-user", bob.ID+"/rooms-changed", false)
	e.rest("POST", "/api/v1/channels.delete", &admin, map[string]any{"roomId": rid})
	c.event("stream-notify-user", bob.ID+"/rooms-changed", func(a []any) bool { return a[0] == "removed" })
	if err := c.sub("stream-room-messages", rid, false); err == nil {
		t.Fatal("subscribed to a deleted room")
	}
}

// TestTyping: stream-notify-room "<rid>/typing" as a method reaches the room's other
// subscribers; a room one may not read is refused.
func TestTyping(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	e.user("bob")
	alice := e.restLogin("alice", "alicepass")
	secret := e.createRoom(alice, "secret2", true)
	a := e.dial(false)
	a.login("alice")
	b := e.dial(true)
	b.login("bob")
	b.mustSub("stream-notify-room", "GENERAL/typing", false)
	if a.ok("stream-notify-room", "GENERAL/typing", "alice", true) != true {
		t.Fatal("typing result is not true")
	}
	args := b.event("stream-notify-room", "GENERAL/typing", nil)
	if args[0] != "alice" || args[1] != true {
		t.Fatalf("typing event: %v", args)
	}
	if got := b.fails("stream-notify-room", secret+"/typing", "bob", true); got != "error-not-allowed" {
		t.Fatalf("typing in a private room of others: %v", got)
	}
	if got := a.fails("stream-notify-room", "GENERAL/dance", "alice", true); got != "error-not-allowed" {
		t.Fatalf("unknown room event: %v", got)
	}
}

// TestNotificationToSeveral: one mention reaching several members gives each their own
// event name and the whole notification (it is encoded once for them all).
func TestNotificationToSeveral(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	bob := e.user("bob")
	carol := e.user("carol")
	alice := e.restLogin("alice", "alicepass")
	rid := e.createRoom(alice, "crowd", false, "bob", "carol")
	b := e.dial(false)
	b.login("bob")
	b.mustSub("stream-notify-user", bob.ID+"/notification", false)
	c := e.dial(false)
	c.login("carol")
	c.mustSub("stream-notify-user", carol.ID+"/notification", false)
	e.rest("POST", "/api/v1/chat.postMessage", &alice, map[string]any{"roomId": rid, "text": "@all standup"})
	for _, r := range []struct {
		c   *client
		uid string
	}{{b, bob.ID}, {c, carol.ID}} {
		n := r.c.event("stream-notify-user", r.uid+"/notification", nil)[0].(map[string]any)
		p := n["payload"].(map[string]any)
		if n["title"] != "#crowd" || n["text"] != "@all standup" || p["rid"] != rid ||
			p["sender"].(map[string]any)["username"] != "alice" || p["message"].(map[string]any)["msg"] != "@all standup" {
			t.Fatalf("notification of %s: %v", r.uid, n)
		}
	}
}
