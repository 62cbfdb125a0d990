package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"

	"rocketlite/store"
)

func TestV1UsersCreate(t *testing.T) {
	ts := newTestServer(t)
	_, ca := ts.user1(t, "alice")
	res := ts.do("POST", "/api/v1/users.create", &ts.admin,
		`{"email":"carol@example.org","name":"Carol C","username":"carol","password":"carol-pass","verified":true}`)
	res.want(t, 200, map[string]any{"success": true})
	u := res.Obj["user"].(map[string]any)
	if u["username"] != "carol" || u["name"] != "Carol C" || u["active"] != true || !reflect.DeepEqual(u["roles"], []any{"user"}) ||
		!reflect.DeepEqual(u["emails"], []any{map[string]any{"address": "carol@example.org", "verified": true}}) {
		t.Fatalf("created %s", res.Raw)
	}
	// Carol logs in through both APIs and was put in the default room.
	cc := ts.login1(t, `{"user":"carol@example.org","password":"carol-pass"}`)
	ts.login("carol", "carol-pass")
	res = ts.do("GET", "/api/v1/channels.list.joined", &cc, "")
	res.want(t, 200, map[string]any{"total": 1})

	res = ts.do("POST", "/api/v1/users.create", &ts.admin,
		`{"email":"dan@example.org","name":"Dan","username":"dan","password":"dan-pass","active":false,"joinDefaultChannels":false,"roles":["bot"]}`)
	res.want(t, 200, nil)
	if u := res.Obj["user"].(map[string]any); u["active"] != false || !reflect.DeepEqual(u["roles"], []any{"bot"}) {
		t.Fatalf("created %s", res.Raw)
	}
	if res := ts.do("POST", "/api/v1/login", nil, `{"username":"dan","password":"dan-pass"}`); res.Status != 401 {
		t.Fatalf("inactive user logged in: %s", res.Raw)
	}

	before := ts.counts()
	for _, tc := range []struct {
		name      string
		c         creds
		body      string
		status    int
		errorType string
	}{
		{"NoPermission", ca, `{"email":"e@example.org","name":"E","username":"e","password":"p"}`, 403, ""},
		{"UsernameTaken", ts.admin, `{"email":"e@example.org","name":"E","username":"CAROL","password":"p"}`, 400, "error-username-taken"},
		{"EmailTaken", ts.admin, `{"email":"carol@example.org","name":"E","username":"e","password":"p"}`, 400, "error-email-taken"},
		{"BadUsername", ts.admin, `{"email":"e@example.org","name":"E","username":"e e","password":"p"}`, 400, "error-invalid-username"},
		{"BadEmail", ts.admin, `{"email":"e","name":"E","username":"e","password":"p"}`, 400, "error-invalid-email"},
		{"NoPassword", ts.admin, `{"email":"e@example.org","name":"E","username":"e"}`, 400, "error-invalid-params"},
		{"NoName", ts.admin, `{"email":"e@example.org","username":"e","password":"p"}`, 400, "error-invalid-params"},
		{"UnknownRole", ts.admin, `{"email":"e@example.org","name":"E","username":"e","password":"p","roles":["king"]}`, 400, "error-invalid-role"},
		{"LongPassword", ts.admin, `{"email":"e@example.org","name":"E","username":"e","password":"` + string(make([]byte, 0)) + `0123456789012345678901234567890123456789012345678901234567890123456789012"}`, 400, "error-password-too-long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.do("POST", "/api/v1/users.create", &tc.c, tc.body).wantErr1(t, tc.status, tc.errorType)
		})
	}
	// create-user alone cannot mint admins: roles beyond "user" need access-permissions.
	ts.grant1(t, "create-user", "user")
	ts.do("POST", "/api/v1/users.create", &ca, `{"email":"e@example.org","name":"E","username":"e","password":"p","roles":["admin"]}`).wantErr1(t, 403, "")
	after := ts.counts()
	delete(before, "permissions")
	delete(after, "permissions")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("refused creates wrote: %v → %v", before, after)
	}
	ts.do("POST", "/api/v1/users.create", &ca, `{"email":"e@example.org","name":"E","username":"e","password":"p"}`).want(t, 200, nil)
}

func TestV1UsersInfoListPresence(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob := ts.createUser("bob", "bob-pass")
	// Others' e-mail addresses only with view-full-other-user-info.
	res := ts.do("GET", "/api/v1/users.info?userId="+bob.ID, &ca, "")
	u := res.Obj["user"].(map[string]any)
	if u["username"] != "bob" || u["emails"] != nil || u["status"] != "offline" {
		t.Fatalf("info %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/users.info?username=bob", &ts.admin, "")
	if u := res.Obj["user"].(map[string]any); u["emails"] == nil {
		t.Fatalf("admin info %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/users.info?username=alice", &ca, "")
	if u := res.Obj["user"].(map[string]any); u["emails"] == nil || u["status"] != "online" {
		t.Fatalf("own info %s", res.Raw)
	}
	ts.do("GET", "/api/v1/users.info?username=ghost", &ca, "").wantErr1(t, 400, "error-invalid-user")
	ts.do("GET", "/api/v1/users.info", &ca, "").wantErr1(t, 400, "error-invalid-params")

	res = ts.do("GET", "/api/v1/users.list?count=2", &ca, "")
	res.want(t, 200, map[string]any{"count": 2, "offset": 0, "total": 3, "success": true})
	for _, x := range res.Obj["users"].([]any) {
		if u := x.(map[string]any); u["_id"] != alice.ID && u["emails"] != nil {
			t.Fatalf("list shows others' e-mail: %s", res.Raw)
		}
	}
	res = ts.do("GET", "/api/v1/users.list?offset=2", &ca, "")
	res.want(t, 200, map[string]any{"count": 1, "offset": 2, "total": 3})

	ts.do("GET", "/api/v1/users.getPresence", &ca, "").want(t, 200, map[string]any{"presence": "online"})
	ts.do("GET", "/api/v1/users.getPresence?userId="+bob.ID, &ca, "").want(t, 200, map[string]any{"presence": "offline"})
	cb := ts.login("bob", "bob-pass")
	ts.do("GET", "/api/v1/users.getPresence?username=bob", &ca, "").want(t, 200, map[string]any{"presence": "online"})
	ts.do("POST", "/api/v1/logout", &cb, "").want(t, 200, nil)
	ts.do("GET", "/api/v1/users.getPresence?username=bob", &ca, "").want(t, 200, map[string]any{"presence": "offline"})
	ts.login("bob", "bob-pass")
	ts.clock.Advance(25 * 3600 * 1e9) // past the harness's 24 h token lifetime
	ca2 := ts.login("alice", "alice-pass")
	ts.do("GET", "/api/v1/users.getPresence?username=bob", &ca2, "").want(t, 200, map[string]any{"presence": "offline"})
	ts.do("GET", "/api/v1/users.getPresence?username=ghost", &ca2, "").wantErr1(t, 400, "error-invalid-user")
}

func TestV1UsersUpdateDelete(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	bob, cb := ts.user1(t, "bob")
	res := ts.do("POST", "/api/v1/users.update", &ca, `{"userId":"`+alice.ID+`","data":{"name":"Alice A","username":"alicia"}}`)
	if u := res.Obj["user"].(map[string]any); u["name"] != "Alice A" || u["username"] != "alicia" {
		t.Fatalf("self update %s", res.Raw)
	}
	before := ts.counts()
	for _, tc := range []struct {
		name, body, errorType string
		status                int
	}{
		{"Other", `{"userId":"` + bob.ID + `","data":{"name":"B"}}`, "", 403},
		{"OwnActive", `{"userId":"` + alice.ID + `","data":{"active":false}}`, "", 403},
		{"OwnRoles", `{"userId":"` + alice.ID + `","data":{"roles":["admin"]}}`, "", 403},
		{"NoData", `{"userId":"` + alice.ID + `"}`, "error-invalid-params", 400},
		{"EmptyData", `{"userId":"` + alice.ID + `","data":{}}`, "error-invalid-params", 400},
		{"NoUserID", `{"data":{"name":"x"}}`, "error-invalid-params", 400},
		{"BadEmail", `{"userId":"` + alice.ID + `","data":{"email":"x"}}`, "error-invalid-email", 400},
		{"TakenName", `{"userId":"` + alice.ID + `","data":{"username":"BOB"}}`, "error-username-taken", 400},
		{"NameType", `{"userId":"` + alice.ID + `","data":{"name":7}}`, "error-invalid-param", 400},
		{"OwnVerified", `{"userId":"` + alice.ID + `","data":{"verified":true}}`, "", 403},
		{"OwnPasswordNoCurrent", `{"userId":"` + alice.ID + `","data":{"password":"new-pass"}}`, "error-invalid-password", 400},
		{"OwnPasswordWrongCurrent", `{"userId":"` + alice.ID + `","data":{"password":"new-pass","currentPassword":"nope"}}`, "error-invalid-password", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.do("POST", "/api/v1/users.update", &ca, tc.body).wantErr1(t, tc.status, tc.errorType)
		})
	}
	ts.unchanged1(t, before)

	// An own password change revokes every token of the user (the store's rule).
	ts.do("POST", "/api/v1/users.update", &ca, `{"userId":"`+alice.ID+`","data":{"password":"new-pass","currentPassword":"alice-pass"}}`).want(t, 200, nil)
	if res := ts.do("GET", "/api/v1/me", &ca, ""); res.Status != 401 {
		t.Fatalf("old token after password change: %d", res.Status)
	}
	ca = ts.login("alicia", "new-pass")
	// currentPassword may also be the SHA-256 digest, as Rocket.Chat's clients send it.
	sum := sha256.Sum256([]byte("new-pass"))
	ts.do("POST", "/api/v1/users.update", &ca, `{"userId":"`+alice.ID+`","data":{"password":"newer-pass","currentPassword":"`+hex.EncodeToString(sum[:])+`"}}`).want(t, 200, nil)
	ts.login("alicia", "newer-pass")

	// The admin: others' info, password, active flag and roles.
	res = ts.do("POST", "/api/v1/users.update", &ts.admin, `{"userId":"`+bob.ID+`","data":{"active":false,"roles":["user","bot"],"email":"b@example.org"}}`)
	if u := res.Obj["user"].(map[string]any); u["active"] != false || !reflect.DeepEqual(u["roles"], []any{"user", "bot"}) {
		t.Fatalf("admin update %s", res.Raw)
	}
	if res := ts.do("GET", "/api/v1/me", &cb, ""); res.Status != 401 {
		t.Fatal("deactivated user's token still works")
	}
	admin := mustUser1(t, ts, "admin")
	ts.do("POST", "/api/v1/users.update", &ts.admin, `{"userId":"`+admin.ID+`","data":{"roles":["user"]}}`).wantErr1(t, 400, "error-last-admin")
	ts.do("POST", "/api/v1/users.update", &ts.admin, `{"userId":"ghost","data":{"name":"x"}}`).wantErr1(t, 400, "error-invalid-user")

	before = ts.counts()
	ts.do("POST", "/api/v1/users.delete", &ts.admin, `{"userId":"`+admin.ID+`"}`).wantErr1(t, 400, "error-last-admin")
	ts.do("POST", "/api/v1/users.delete", &ts.admin, `{"userId":"ghost"}`).wantErr1(t, 400, "error-invalid-user")
	ca = ts.login("alicia", "newer-pass")
	before = ts.counts()
	ts.do("POST", "/api/v1/users.delete", &ca, `{"userId":"`+bob.ID+`"}`).wantErr1(t, 403, "")
	ts.unchanged1(t, before)
	ts.do("POST", "/api/v1/users.delete", &ts.admin, `{"username":"bob"}`).want(t, 200, map[string]any{"success": true})
	ts.do("GET", "/api/v1/users.info?userId="+bob.ID, &ca, "").wantErr1(t, 400, "error-invalid-user")
}

func TestV1UsersRegister(t *testing.T) {
	ts := newTestServer(t)
	body := `{"username":"eve","email":"eve@example.org","pass":"eve-pass","name":"Eve"}`
	before := ts.counts()
	// Closed registration: the route needs credentials like any other, and refuses anyway.
	ts.do("POST", "/api/v1/users.register", nil, body).want(t, 401, map[string]any{"message": "You must be logged in to do this."})
	ts.do("POST", "/api/v1/users.register", &ts.admin, body).wantErr1(t, 400, "error-user-registration-disabled")
	ts.unchanged1(t, before)

	open := newTestServer(t, func(c *Config) { c.OpenRegistration = true })
	res := open.do("POST", "/api/v1/users.register", nil, body)
	if u := res.Obj["user"].(map[string]any); res.Status != 200 || u["username"] != "eve" || !reflect.DeepEqual(u["roles"], []any{"user"}) {
		t.Fatalf("register %s", res.Raw)
	}
	open.login("eve", "eve-pass")
	open.do("POST", "/api/v1/users.register", nil, body).wantErr1(t, 400, "error-username-taken")
	open.do("POST", "/api/v1/users.register", nil, `{"username":"x","email":"x@example.org","name":"X"}`).wantErr1(t, 400, "error-invalid-params")
}

func TestV1RolesPermissions(t *testing.T) {
	ts := newTestServer(t)
	_, ca := ts.user1(t, "alice")
	res := ts.do("GET", "/api/v1/roles.list", &ts.admin, "")
	res.want(t, 200, map[string]any{"success": true})
	if roles := res.Obj["roles"].([]any); len(roles) != 7 || roles[0].(map[string]any)["_id"] != "admin" {
		t.Fatalf("roles %s", res.Raw)
	}
	res = ts.do("GET", "/api/v1/permissions.listAll", &ts.admin, "")
	res.want(t, 200, map[string]any{"remove": []any{}, "success": true})
	found := false
	for _, p := range res.Obj["update"].([]any) {
		p := p.(map[string]any)
		if p["_id"] == "create-c" && reflect.DeepEqual(p["roles"], []any{"admin", "user", "bot"}) { // as seeded
			found = true
		}
	}
	if !found {
		t.Fatalf("permissions %s", res.Raw)
	}
	before := ts.counts()
	perms, _ := ts.st.Permissions()
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/api/v1/roles.list", ""},
		{"GET", "/api/v1/permissions.listAll", ""},
		{"POST", "/api/v1/permissions.update", `{"permissions":[{"_id":"create-c","roles":["user","admin","bot"]}]}`},
	} {
		ts.do(rt.method, rt.path, &ca, rt.body).wantErr1(t, 403, "")
	}
	for _, tc := range []struct{ name, body, errorType string }{
		{"UnknownPermission", `{"permissions":[{"_id":"create-c","roles":[]},{"_id":"nope","roles":["user"]}]}`, "error-invalid-permission"},
		{"UnknownRole", `{"permissions":[{"_id":"create-c","roles":[]},{"_id":"create-p","roles":["king"]}]}`, "error-invalid-role"},
		{"NoRoles", `{"permissions":[{"_id":"create-c"}]}`, "error-invalid-params"},
		{"Empty", `{"permissions":[]}`, "error-invalid-params"},
		{"NotList", `{"permissions":{"_id":"create-c"}}`, "error-invalid-param"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.do("POST", "/api/v1/permissions.update", &ts.admin, tc.body).wantErr1(t, 400, tc.errorType)
		})
	}
	ts.unchanged1(t, before)
	if now, _ := ts.st.Permissions(); !reflect.DeepEqual(now, perms) {
		t.Fatal("a refused permissions.update changed permissions (all or nothing)")
	}
	// Revoking create-c from "user" takes effect on the very next request.
	ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"before"}`).want(t, 200, nil)
	res = ts.do("POST", "/api/v1/permissions.update", &ts.admin, `{"permissions":[{"_id":"create-c","roles":["admin","bot"]},{"_id":"create-p","roles":["admin"]}]}`)
	res.want(t, 200, map[string]any{"success": true})
	ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"after"}`).wantErr1(t, 403, "")
	p, err := ts.st.Permission("create-p")
	if err != nil || !reflect.DeepEqual(p.Roles, []string{"admin"}) {
		t.Fatalf("create-p = %+v, %v", p, err)
	}
}

// Cross-API: one store, one set of rules.
func TestV1CrossAPI(t *testing.T) {
	ts := newTestServer(t)
	alice, ca := ts.user1(t, "alice")
	_, cb := ts.user1(t, "bob")

	t.Run("V1ToV0", func(t *testing.T) {
		res := ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"GENERAL","text":"sent through v1"}`)
		id := res.Obj["message"].(map[string]any)["_id"]
		res = ts.do("GET", "/api/rooms/GENERAL/messages?count=1", &cb, "")
		m := res.Obj["messages"].([]any)[0].(map[string]any)
		if m["_id"] != id || m["msg"] != "sent through v1" || m["u"].(map[string]any)["username"] != "alice" {
			t.Fatalf("0.1 read %s", res.Raw)
		}
	})
	t.Run("V0ToV1", func(t *testing.T) {
		res := ts.do("POST", "/api/rooms/GENERAL/send", &cb, `{"msg":"sent through 0.1"}`)
		id := res.Obj["message"].(map[string]any)["_id"].(string)
		res = ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=1", &ca, "")
		m := res.Obj["messages"].([]any)[0].(map[string]any)
		if m["_id"] != id || m["msg"] != "sent through 0.1" {
			t.Fatalf("v1 history %s", res.Raw)
		}
		ts.do("GET", "/api/v1/chat.getMessage?msgId="+id, &ca, "").want(t, 200, nil)
	})
	t.Run("PrivateRoomRefusedByBoth", func(t *testing.T) {
		secret := ts.privateRoom1(t, "secret", alice)
		before := ts.counts()
		ts.do("POST", "/api/v1/chat.postMessage", &cb, `{"roomId":"`+secret.ID+`","text":"x"}`).wantErr1(t, 403, "")
		ts.do("POST", "/api/rooms/"+secret.ID+"/send", &cb, `{"msg":"x"}`).want(t, 403, map[string]any{"status": "fail"})
		ts.do("GET", "/api/v1/channels.history?roomId="+secret.ID, &cb, "").wantErr1(t, 403, "")
		ts.do("GET", "/api/rooms/"+secret.ID+"/messages", &cb, "").want(t, 403, nil)
		ts.do("POST", "/api/v1/channels.join", &cb, `{"roomId":"`+secret.ID+`"}`).wantErr1(t, 403, "")
		ts.do("POST", "/api/rooms/"+secret.ID+"/join", &cb, "").want(t, 403, nil)
		ts.unchanged1(t, before)
	})
	t.Run("RevokedPermissionRefusedByBoth", func(t *testing.T) {
		// post-readonly: alice owns a read-only room; revoking the permission from "owner"
		// (store.SetPermissionRoles) stops her posts through v1 and through 0.1 alike.
		res := ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"news","readOnly":true}`)
		rid := res.Obj["channel"].(map[string]any)["_id"].(string)
		ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"`+rid+`","text":"first"}`).want(t, 200, nil)
		ts.do("POST", "/api/rooms/"+rid+"/send", &ca, `{"msg":"second"}`).want(t, 200, nil)
		ts.revoke1(t, "post-readonly", "owner")
		before := ts.counts()
		ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"`+rid+`","text":"third"}`).wantErr1(t, 403, "")
		ts.do("POST", "/api/v1/chat.sendMessage", &ca, `{"message":{"rid":"`+rid+`","msg":"third"}}`).wantErr1(t, 403, "")
		ts.do("POST", "/api/rooms/"+rid+"/send", &ca, `{"msg":"third"}`).want(t, 403, map[string]any{"status": "error",
			"message": "You do not have permission to do this"})
		ts.unchanged1(t, before)
		// Join and leave through one API show in the other.
		ts.do("POST", "/api/rooms/"+rid+"/join", &cb, "").want(t, 200, nil)
		res = ts.do("GET", "/api/v1/channels.info?roomId="+rid, &cb, "")
		if names := res.Obj["channel"].(map[string]any)["usernames"]; !reflect.DeepEqual(names, []any{"alice", "bob"}) {
			t.Fatalf("after 0.1 join %s", res.Raw)
		}
	})
	t.Run("UserCreatedThroughV1LogsInThrough0", func(t *testing.T) {
		ts.do("POST", "/api/v1/users.create", &ts.admin, `{"email":"z@example.org","name":"Z","username":"zed","password":"zed-pass"}`).want(t, 200, nil)
		c := ts.login("zed", "zed-pass")
		ts.do("GET", "/api/publicRooms", &c, "").want(t, 200, nil)
		u, err := ts.st.UserByUsername("zed")
		if err != nil || !u.HasRole("user") || u.Type != "user" || store.KindOf(err) != 0 {
			t.Fatalf("zed = %+v, %v", u, err)
		}
	})
}

// Open registration is capped per client address: 10 accounts an hour, then 429 with
// Retry-After and nothing written, until the hour has passed.
func TestV1UsersRegisterRateLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.OpenRegistration = true })
	reg := func(i int) response {
		return ts.do("POST", "/api/v1/users.register", nil, fmt.Sprintf(`{"username":"u%d","email":"u%d@example.org","pass":"pw","name":"U"}`, i, i))
	}
	for i := range 10 { // the default Limits.RegisterPerAddress
		reg(i).want(t, 200, map[string]any{"success": true})
	}
	before := ts.counts()
	res := reg(100)
	if res.Status != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("registration over the cap: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
	ts.clock.Advance(registerWindow)
	reg(101).want(t, 200, map[string]any{"success": true})
}
