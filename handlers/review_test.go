package handlers

// Regression tests of the review (one per finding fixed).

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A non-member "leaving" a private room must not get the room's document (members, topic)
// back: channels.leave answered it with the room as it is, to anyone.
func TestV1LeavePrivateRoomNotMember(t *testing.T) {
	ts := newTestServer(t)
	owner, _ := ts.user1(t, "owner")
	_, cOut := ts.user1(t, "outsider")
	secret := ts.privateRoom1(t, "secret", owner)
	before := ts.counts()
	res := ts.do("POST", "/api/v1/channels.leave", &cOut, `{"roomId":"`+secret.ID+`"}`)
	res.wantErr1(t, 403, "")
	if strings.Contains(res.Raw, "owner") {
		t.Fatalf("the answer shows the private room's members: %s", res.Raw)
	}
	ts.unchanged1(t, before)
	// A member leaving still gets the room as it now is, without them.
	_, cIn := ts.user1(t, "insider")
	in := mustUser1(t, ts, "insider")
	if err := ts.st.AddMember(secret.ID, in.ID); err != nil {
		t.Fatal(err)
	}
	res = ts.do("POST", "/api/v1/channels.leave", &cIn, `{"roomId":"`+secret.ID+`"}`)
	res.want(t, 200, map[string]any{"success": true})
	names := res.Obj["channel"].(map[string]any)["usernames"].([]any)
	if len(names) != 1 || names[0] != "owner" {
		t.Fatalf("usernames after leave = %v", names)
	}
}

// access-permissions cannot be taken from the admin role, through any route: afterwards no
// one could manage roles and permissions, and no route could give it back.
func TestAdminKeepsAccessPermissions(t *testing.T) {
	ts := newTestServer(t)
	before := ts.counts()
	ts.do("DELETE", "/api/permissions/access-permissions/roles/admin", &ts.admin, "").want(t, 409, map[string]any{
		"status": "fail", "error": "admin-access"})
	ts.do("POST", "/api/v1/permissions.update", &ts.admin,
		`{"permissions":[{"_id":"access-permissions","roles":["user"]}]}`).wantErr1(t, 400, "error-admin-access")
	ts.do("POST", "/api/v1/permissions.update", &ts.admin,
		`{"permissions":[{"_id":"delete-user","roles":[]},{"_id":"access-permissions","roles":[]}]}`).wantErr1(t, 400, "error-admin-access")
	ts.unchanged1(t, before)
	p, err := ts.st.Permission("access-permissions")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Roles, ",") != "admin" {
		t.Fatalf("access-permissions roles = %v", p.Roles)
	}
	p, err = ts.st.Permission("delete-user")
	if err != nil || strings.Join(p.Roles, ",") != "admin" {
		t.Fatalf("delete-user changed by a refused update: %v %v", p, err)
	}
	ts.do("GET", "/api/permissions", &ts.admin, "").want(t, 200, nil)
	// Other roles may still be given it and taken away.
	ts.do("POST", "/api/permissions/access-permissions/roles", &ts.admin, `{"role":"bot"}`).want(t, 200, nil)
	ts.do("DELETE", "/api/permissions/access-permissions/roles/bot", &ts.admin, "").want(t, 200, nil)
	ts.do("POST", "/api/v1/permissions.update", &ts.admin,
		`{"permissions":[{"_id":"access-permissions","roles":["admin","bot"]}]}`).want(t, 200, nil)
}

// Guessing the current password through users.update counts against the account like failed
// logins: after the limit even the right one is refused, and so is a login.
func TestCurrentPasswordGuessesThrottled(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	alice, ca := ts.user1(t, "alice")
	guess := func(pw string) response {
		return ts.do("POST", "/api/v1/users.update", &ca,
			`{"userId":"`+alice.ID+`","data":{"password":"new-pass","currentPassword":"`+pw+`"}}`)
	}
	for i := range 10 {
		guess(fmt.Sprintf("guess-%d", i)).wantErr1(t, 400, "error-invalid-password")
	}
	before := ts.counts()
	res := guess("alice-pass")
	if res.Status != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("right password after 10 wrong guesses: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
	if res := ts.do("POST", "/api/login", nil, "user=alice&password=alice-pass"); res.Status != 429 {
		t.Fatalf("login after 10 wrong guesses: %d %s", res.Status, res.Raw)
	}
	ts.clock.Advance(16 * time.Minute)
	guess("alice-pass").want(t, 200, map[string]any{"success": true})
}

// An e-mail address longer than any real one is a bad record of bulk/register, found before
// any password is hashed, not a store error after the whole batch was hashed.
func TestBulkRegisterLongEmailIsBadRecord(t *testing.T) {
	ts := newTestServer(t)
	long := strings.Repeat("a", 250) + "@example.org"
	before := ts.counts()
	ts.do("POST", "/api/bulk/register", &ts.admin,
		`{"users":[{"email":"ok@example.org","name":"ok","pass":"p"},{"email":"`+long+`","name":"long","pass":"p"}]}`).
		want(t, 400, map[string]any{"status": "fail", "error": "invalid-user-record",
			"message": "[restapi] bulk/register -> record #1 is invalid [invalid-user-record]"})
	ts.unchanged1(t, before)
}
