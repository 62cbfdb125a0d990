package handlers

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"rocketlite/store"
)

// wantDenied fails unless r is exactly the 403 of API.md §1 for a missing permission.
func wantDenied(t *testing.T, r response) {
	t.Helper()
	const want = `{"status":"error","message":"You do not have permission to do this"}`
	if r.Status != 403 || len(r.Obj) != 2 || r.Obj["status"] != "error" || r.Obj["message"] != "You do not have permission to do this" {
		t.Fatalf("got %d %s, want 403 %s", r.Status, r.Raw, want)
	}
}

// grant and revoke change a permission's roles through the API, as the admin.
func (ts *testServer) grant(perm, role string) {
	ts.t.Helper()
	ts.do("POST", "/api/permissions/"+perm+"/roles", &ts.admin, `{"role":"`+role+`"}`).want(ts.t, 200, map[string]any{"status": "success"})
}

func (ts *testServer) revoke(perm, role string) {
	ts.t.Helper()
	ts.do("DELETE", "/api/permissions/"+perm+"/roles/"+role, &ts.admin, "").want(ts.t, 200, map[string]any{"status": "success"})
}

// guardedRoute is one permission-guarded route: step n (1, 2, 3) builds a request that
// succeeds when the caller holds perms.
type guardedRoute struct {
	name   string
	perms  []string
	method string
	req    func(ts *testServer, n int) (path, body string)
}

func guardedRoutes() []guardedRoute {
	static := func(path, body string) func(*testServer, int) (string, string) {
		return func(*testServer, int) (string, string) { return path, body }
	}
	return []guardedRoute{
		{"bulk/register", []string{"bulk-register-user"}, "POST", func(ts *testServer, n int) (string, string) {
			return "/api/bulk/register", fmt.Sprintf(`{"users":[{"email":"g%d@example.org","name":"g%d","pass":"pw"}]}`, n, n)
		}},
		{"bulk/createRoom", []string{"bulk-create-c"}, "POST", func(ts *testServer, n int) (string, string) {
			return "/api/bulk/createRoom", fmt.Sprintf(`{"rooms":[{"name":"room%d","members":["admin","target"]}]}`, n)
		}},
		{"GET roles", []string{"access-permissions"}, "GET", static("/api/roles", "")},
		{"POST roles", []string{"access-permissions"}, "POST", func(ts *testServer, n int) (string, string) {
			return "/api/roles", fmt.Sprintf(`{"name":"made%d","description":"test"}`, n)
		}},
		{"DELETE roles", []string{"access-permissions"}, "DELETE", func(ts *testServer, n int) (string, string) {
			name := fmt.Sprintf("doomed%d", n)
			ts.do("POST", "/api/roles", &ts.admin, `{"name":"`+name+`"}`).want(ts.t, 200, nil)
			return "/api/roles/" + name, ""
		}},
		{"POST users roles", []string{"access-permissions"}, "POST", func(ts *testServer, n int) (string, string) {
			return "/api/users/target/roles", `{"role":"bot"}`
		}},
		{"DELETE users roles", []string{"access-permissions"}, "DELETE", static("/api/users/target/roles/bot", "")},
		{"GET permissions", []string{"access-permissions"}, "GET", static("/api/permissions", "")},
		{"POST permissions roles", []string{"access-permissions"}, "POST", static("/api/permissions/delete-user/roles", `{"role":"bot"}`)},
		{"DELETE permissions roles", []string{"access-permissions"}, "DELETE", static("/api/permissions/delete-user/roles/bot", "")},
	}
}

// TestPermissionGuards: for every guarded route, a plain user gets the exact 403, then 200
// once the permission is granted to role "user" through the API, then 403 again right after
// it is revoked; without credentials, 401.
func TestPermissionGuards(t *testing.T) {
	for _, g := range guardedRoutes() {
		t.Run(g.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.createUser("plain", "pw")
			ts.createUser("target", "pw")
			plain := ts.login("plain", "pw")

			path, body := g.req(ts, 0)
			ts.do(g.method, path, nil, body).want(t, 401, map[string]any{"status": "error", "message": "You must be logged in to do this."})

			path, body = g.req(ts, 1)
			before := ts.counts()
			wantDenied(t, ts.do(g.method, path, &plain, body))
			if after := ts.counts(); !maps.Equal(before, after) {
				t.Fatalf("a refused call wrote: %v -> %v", before, after)
			}

			for _, p := range g.perms {
				ts.grant(p, "user")
			}
			ts.do(g.method, path, &plain, body).want(t, 200, map[string]any{"status": "success"})

			for _, p := range g.perms {
				ts.revoke(p, "user")
			}
			path, body = g.req(ts, 3)
			wantDenied(t, ts.do(g.method, path, &plain, body))
		})
	}
}

// TestBulkCreateRoomNeedsCreateC: bulk-create-c alone is not enough; create-c counts too.
func TestBulkCreateRoomNeedsCreateC(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("plain", "pw")
	ts.createUser("target", "pw")
	plain := ts.login("plain", "pw")
	ts.grant("bulk-create-c", "user")
	ts.revoke("create-c", "user")
	wantDenied(t, ts.do("POST", "/api/bulk/createRoom", &plain, `{"rooms":[{"name":"r","members":["admin","target"]}]}`))
	ts.grant("create-c", "user")
	ts.do("POST", "/api/bulk/createRoom", &plain, `{"rooms":[{"name":"r","members":["admin","target"]}]}`).want(t, 200, nil)
}

// TestRoleAndPermissionRoutes checks the answers of the management routes.
func TestRoleAndPermissionRoutes(t *testing.T) {
	ts := newTestServer(t)
	bob := ts.createUser("bob", "pw")

	res := ts.do("GET", "/api/roles", &ts.admin, "")
	res.want(t, 200, map[string]any{"status": "success"})
	var names []string
	for _, r := range res.Obj["roles"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	for _, want := range []string{"admin", "user", "bot", "guest", "owner", "moderator"} {
		if !slices.Contains(names, want) {
			t.Fatalf("roles %v lack %s", names, want)
		}
	}

	ts.do("POST", "/api/roles", &ts.admin, `{"name":"auditor","description":"reads logs"}`).want(t, 200, map[string]any{
		"status": "success", "role": map[string]any{"_id": "auditor", "name": "auditor", "description": "reads logs", "scope": "Users", "protected": false}})
	ts.do("POST", "/api/roles", &ts.admin, "name=auditor").want(t, 409, map[string]any{"status": "fail", "error": "duplicate-role"})
	for _, bad := range []string{`{}`, `{"name":"two words"}`, `{"name":"x","scope":"Rooms"}`, `{"name":["x"]}`} {
		before := ts.counts()
		ts.do("POST", "/api/roles", &ts.admin, bad).want(t, 400, map[string]any{"status": "fail"})
		if !maps.Equal(before, ts.counts()) {
			t.Fatalf("%s wrote something", bad)
		}
	}

	// A user is named by id or by username; the answer is the user.
	res = ts.do("POST", "/api/users/"+bob.ID+"/roles", &ts.admin, `{"role":"auditor"}`)
	res.want(t, 200, map[string]any{"status": "success"})
	if u := res.Obj["user"].(map[string]any); u["username"] != "bob" || fmt.Sprint(u["roles"]) != "[user auditor]" {
		t.Fatalf("user = %v", u)
	}
	ts.do("POST", "/api/users/bob/roles", &ts.admin, `{"role":"auditor"}`).want(t, 200, nil) // held already: no change
	if u, _ := ts.st.User(bob.ID); len(u.Roles) != 2 {
		t.Fatalf("roles after a second grant: %v", u.Roles)
	}
	ts.do("POST", "/api/users/bob/roles", &ts.admin, `{}`).want(t, 400, map[string]any{"status": "fail"})

	// The permission takes effect on bob's very next request.
	bc := ts.login("bob", "pw")
	wantDenied(t, ts.do("GET", "/api/permissions", &bc, ""))
	res = ts.do("POST", "/api/permissions/access-permissions/roles", &ts.admin, `{"role":"auditor"}`)
	res.want(t, 200, map[string]any{"status": "success"})
	if p := res.Obj["permission"].(map[string]any); fmt.Sprint(p["roles"]) != "[admin auditor]" || p["_id"] != "access-permissions" {
		t.Fatalf("permission = %v", p)
	}
	res = ts.do("GET", "/api/permissions", &bc, "")
	res.want(t, 200, map[string]any{"status": "success"})
	found := false
	for _, p := range res.Obj["permissions"].([]any) {
		p := p.(map[string]any)
		if p["_id"] == "bulk-register-user" {
			found = fmt.Sprint(p["roles"]) == "[admin]"
		}
	}
	if !found {
		t.Fatalf("bulk-register-user [admin] not listed: %s", res.Raw)
	}
	ts.do("DELETE", "/api/users/bob/roles/auditor", &ts.admin, "").want(t, 200, nil)
	wantDenied(t, ts.do("GET", "/api/permissions", &bc, ""))

	// In use by a permission only: 409; once revoked, the role goes.
	ts.do("DELETE", "/api/roles/auditor", &ts.admin, "").want(t, 409, map[string]any{"status": "fail", "error": "role-in-use"})
	ts.revoke("access-permissions", "auditor")
	ts.do("DELETE", "/api/roles/auditor", &ts.admin, "").want(t, 200, map[string]any{"status": "success"})
	ts.do("GET", "/api/roles", &ts.admin, "").want(t, 200, nil)
	if r, _ := ts.st.Roles(); slices.ContainsFunc(r, func(x *store.Role) bool { return x.Name == "auditor" }) {
		t.Fatal("auditor still stored")
	}
}

// TestManagementNotFound: unknown role, user or permission is a 404 fail and changes nothing.
func TestManagementNotFound(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "pw")
	cases := []struct{ method, path, body, code string }{
		{"DELETE", "/api/roles/nosuch", "", "invalid-role"},
		{"POST", "/api/users/nosuch/roles", `{"role":"bot"}`, "invalid-user"},
		{"POST", "/api/users/bob/roles", `{"role":"nosuch"}`, "invalid-role"},
		{"DELETE", "/api/users/nosuch/roles/bot", "", "invalid-user"},
		{"DELETE", "/api/users/bob/roles/nosuch", "", "invalid-role"},
		{"POST", "/api/permissions/nosuch/roles", `{"role":"bot"}`, "invalid-permission"},
		{"POST", "/api/permissions/create-c/roles", `{"role":"nosuch"}`, "invalid-role"},
		{"DELETE", "/api/permissions/nosuch/roles/bot", "", "invalid-permission"},
		{"DELETE", "/api/permissions/create-c/roles/nosuch", "", "invalid-role"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			before := ts.counts()
			ts.do(c.method, c.path, &ts.admin, c.body).want(t, 404, map[string]any{"status": "fail", "error": c.code})
			if !maps.Equal(before, ts.counts()) {
				t.Fatal("a 404 wrote something")
			}
		})
	}
}

// TestLastAdminConflict: the last active admin keeps "admin"; a second admin lifts that.
func TestLastAdminConflict(t *testing.T) {
	ts := newTestServer(t)
	before := ts.counts()
	ts.do("DELETE", "/api/users/admin/roles/admin", &ts.admin, "").want(t, 409, map[string]any{
		"status": "fail", "error": "last-admin",
		"message": "The last active admin cannot lose the admin role, be deactivated or be deleted [last-admin]"})
	if !maps.Equal(before, ts.counts()) {
		t.Fatal("409 wrote something")
	}
	// An inactive admin does not count.
	idle := ts.createUser("idle", "pw", "admin")
	if _, err := ts.st.UpdateUser(idle.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	ts.do("DELETE", "/api/users/admin/roles/admin", &ts.admin, "").want(t, 409, nil)

	ts.do("POST", "/api/users/bob2/roles", &ts.admin, `{"role":"admin"}`).want(t, 404, nil)
	ts.createUser("second", "pw")
	ts.do("POST", "/api/users/second/roles", &ts.admin, `{"role":"admin"}`).want(t, 200, nil)
	second := ts.login("second", "pw")
	ts.do("DELETE", "/api/users/admin/roles/admin", &second, "").want(t, 200, nil)
	ts.do("DELETE", "/api/users/second/roles/admin", &second, "").want(t, 409, map[string]any{"error": "last-admin"})
}

// TestDeleteRoleInUse: a role that a user, a room membership or a permission holds stays.
func TestDeleteRoleInUse(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "pw")
	ts.createUser("carol", "pw")

	ts.do("POST", "/api/roles", &ts.admin, `{"name":"tester"}`).want(t, 200, nil)
	ts.do("POST", "/api/users/bob/roles", &ts.admin, `{"role":"tester"}`).want(t, 200, nil)
	before := ts.counts()
	ts.do("DELETE", "/api/roles/tester", &ts.admin, "").want(t, 409, map[string]any{
		"status": "fail", "message": `Role "tester" is still in use [role-in-use]`})
	if !maps.Equal(before, ts.counts()) {
		t.Fatal("409 wrote something")
	}
	ts.do("DELETE", "/api/users/bob/roles/tester", &ts.admin, "").want(t, 200, nil)
	ts.do("DELETE", "/api/roles/tester", &ts.admin, "").want(t, 200, nil)

	// "owner" held only by a membership: take it off every permission first.
	ts.do("POST", "/api/bulk/createRoom", &ts.admin, `{"rooms":[{"name":"owned","members":["bob","carol"]}]}`).want(t, 200, nil)
	res := ts.do("GET", "/api/permissions", &ts.admin, "")
	for _, p := range res.Obj["permissions"].([]any) {
		p := p.(map[string]any)
		if strings.Contains(fmt.Sprint(p["roles"]), "owner") {
			ts.revoke(p["_id"].(string), "owner")
		}
	}
	ts.do("DELETE", "/api/roles/owner", &ts.admin, "").want(t, 409, map[string]any{"error": "role-in-use"})
	// "guest" held only by permissions (view-c-room).
	ts.do("DELETE", "/api/roles/"+url.PathEscape("guest"), &ts.admin, "").want(t, 409, map[string]any{"error": "role-in-use"})
}

// Room roles (owner, moderator) live on memberships: given globally they would grant their
// permissions (edit-room, delete-message …) in every room, so no route gives them to a user.
func TestRoomRolesAreNotGlobal(t *testing.T) {
	ts := newTestServer(t)
	bob := ts.createUser("bob", "bobpass")
	before := ts.counts()
	for _, role := range []string{"owner", "moderator"} {
		ts.do("POST", "/api/users/bob/roles", &ts.admin, `{"role":"`+role+`"}`).want(t, 400, map[string]any{"error": "invalid-role-scope"})
		ts.do("POST", "/api/v1/users.create", &ts.admin, `{"email":"m@example.org","name":"m","username":"m","password":"mpass","roles":["`+role+`"]}`).wantErr1(t, 400, "error-invalid-role-scope")
		ts.do("POST", "/api/v1/users.update", &ts.admin, `{"userId":"`+bob.ID+`","data":{"roles":["user","`+role+`"]}}`).wantErr1(t, 400, "error-invalid-role-scope")
	}
	if !maps.Equal(before, ts.counts()) {
		t.Fatal("a refused role change wrote something")
	}
	// A global role that was just created is fine.
	ts.do("POST", "/api/roles", &ts.admin, `{"name":"support"}`).want(t, 200, nil)
	ts.do("POST", "/api/users/bob/roles", &ts.admin, `{"role":"support"}`).want(t, 200, nil)
}

// view-c-room guards public rooms on every route of both APIs: revoked from "user", a plain
// user can no longer list, read, join or post to them; granted back, everything works again.
// Private rooms keep their own rule (members only).
func TestViewPublicRoomsPermission(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	deny := map[string]any{"status": "error", "message": "You do not have permission to do this"}
	routes := []struct{ method, path, body string }{
		{"GET", "/api/publicRooms", ""},
		{"GET", "/api/rooms/GENERAL/messages", ""},
		{"POST", "/api/rooms/GENERAL/send", "msg=hi"},
		{"POST", "/api/rooms/GENERAL/join", ""},
		{"POST", "/api/rooms/GENERAL/read", ""},
	}
	routes1 := []struct{ method, path, body string }{
		{"GET", "/api/v1/channels.list", ""},
		{"GET", "/api/v1/channels.history?roomId=GENERAL", ""},
		{"GET", "/api/v1/channels.info?roomId=GENERAL", ""},
		{"POST", "/api/v1/chat.postMessage", `{"roomId":"GENERAL","text":"hi"}`},
	}
	ts.revoke("view-c-room", "user")
	before := ts.counts()
	for _, r := range routes {
		ts.do(r.method, r.path, &bob, r.body).want(t, 403, deny)
	}
	for _, r := range routes1 {
		ts.do(r.method, r.path, &bob, r.body).wantErr1(t, 403, "")
	}
	if !maps.Equal(before, ts.counts()) {
		t.Fatal("a refused request wrote something")
	}
	// The admin keeps it through "admin".
	ts.do("GET", "/api/rooms/GENERAL/messages", &ts.admin, "").want(t, 200, nil)
	ts.do("POST", "/api/permissions/view-c-room/roles", &ts.admin, `{"role":"user"}`).want(t, 200, nil)
	for _, r := range routes {
		ts.do(r.method, r.path, &bob, r.body).want(t, 200, nil)
	}
	for _, r := range routes1 {
		ts.do(r.method, r.path, &bob, r.body).want(t, 200, nil)
	}
}
