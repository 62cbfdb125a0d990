package handlers

import "testing"

// TestRenamedAuthors (issue 9 item 12): alice writes, renames herself to alicia, and mallory
// then takes the name "alice". Readers of both APIs see alice's messages under "alicia" with
// alice's id, and no message of hers under "alice".
func TestRenamedAuthors(t *testing.T) {
	ts := newTestServer(t)
	alice, ac := ts.user1(t, "alice")
	_, bc := ts.user1(t, "bob") // the reader
	res := ts.do("POST", "/api/v1/chat.postMessage", &ac, `{"roomId":"GENERAL","text":"I am alice"}`)
	res.want(t, 200, nil)
	msgID := res.Obj["message"].(map[string]any)["_id"].(string)
	ts.do("POST", "/api/rooms/GENERAL/send", &ac, `{"msg":"sent over API 0.1"}`).want(t, 200, nil)

	var mallory any
	authors := func(t *testing.T, what string, msgs []any) {
		t.Helper()
		if len(msgs) == 0 {
			t.Fatalf("%s: no messages", what)
		}
		for _, x := range msgs {
			m := x.(map[string]any)
			u := m["u"].(map[string]any)
			if u["_id"] == alice.ID && u["username"] != "alicia" {
				t.Fatalf("%s: alice's message %v shown as %v", what, m["msg"], u)
			}
			if u["username"] == "alice" && u["_id"] != mallory {
				t.Fatalf("%s: a message not of mallory's shown under the name she took: %v", what, m)
			}
		}
	}
	// Read first, so that any cache of pages or names holds alice under her old name.
	for _, path := range []string{"/api/rooms/GENERAL/messages", "/api/v1/channels.history?roomId=GENERAL", "/api/v1/chat.getMessage?msgId=" + msgID} {
		ts.do("GET", path, &bc, "").want(t, 200, nil)
		ts.do("GET", path, &bc, "").want(t, 200, nil)
	}
	ts.do("POST", "/api/v1/users.update", &ac, `{"userId":"`+alice.ID+`","data":{"username":"alicia","name":"Alicia"}}`).want(t, 200, nil)
	// mallory registers the freed name.
	// At once, before anything else is written to the room (a page cache must not serve the
	// pages it rendered with the old name).
	for _, path := range []string{"/api/rooms/GENERAL/messages", "/api/v1/channels.history?roomId=GENERAL"} {
		res = ts.do("GET", path, &bc, "")
		res.want(t, 200, nil)
		authors(t, path+" right after the rename", res.Obj["messages"].([]any))
	}
	res = ts.do("POST", "/api/v1/users.create", &ts.admin,
		`{"username":"alice","email":"mallory@example.org","name":"alice","password":"mallory-pass"}`)
	res.want(t, 200, nil)
	mallory = res.Obj["user"].(map[string]any)["_id"]

	res = ts.do("GET", "/api/rooms/GENERAL/messages", &bc, "")
	res.want(t, 200, nil)
	authors(t, "API 0.1 messages", res.Obj["messages"].([]any))
	res = ts.do("GET", "/api/v1/channels.history?roomId=GENERAL", &bc, "")
	res.want(t, 200, nil)
	authors(t, "v1 channels.history", res.Obj["messages"].([]any))
	res = ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=alice", &bc, "")
	res.want(t, 200, nil)
	authors(t, "v1 chat.search", res.Obj["messages"].([]any))
	res = ts.do("GET", "/api/v1/chat.getMessage?msgId="+msgID, &bc, "")
	res.want(t, 200, nil)
	authors(t, "v1 chat.getMessage", []any{res.Obj["message"]})
	if u := res.Obj["message"].(map[string]any)["u"].(map[string]any); u["name"] != "Alicia" {
		t.Fatalf("display name %v, want Alicia", u)
	}
	// alice's join message names her by her new name too.
	res = ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=100", &bc, "")
	joined := false
	for _, x := range res.Obj["messages"].([]any) {
		m := x.(map[string]any)
		if m["t"] == "uj" && m["u"].(map[string]any)["_id"] == alice.ID {
			joined = m["msg"] == "alicia"
		}
	}
	if !joined {
		t.Fatalf("join messages: %s", res.Raw)
	}
}
