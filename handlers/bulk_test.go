package handlers

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// userRecords builds n valid bulk/register records named <prefix>0…
func userRecords(prefix string, n int) []string {
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"email":"%s%d@example.org","name":"%s%d","pass":"pass"}`, prefix, i, prefix, i)
	}
	return recs
}

func usersBody(recs []string) string { return `{"users":[` + strings.Join(recs, ",") + `]}` }

func roomsBody(recs ...string) string { return `{"rooms":[` + strings.Join(recs, ",") + `]}` }

// refused sends a request that must fail with status and write nothing; it returns the answer.
func (ts *testServer) refused(status int, method, path string, c *creds, body string) response {
	ts.t.Helper()
	before := ts.counts()
	res := ts.do(method, path, c, body)
	res.want(ts.t, status, map[string]any{"status": "fail"})
	if after := ts.counts(); !maps.Equal(before, after) {
		ts.t.Fatalf("refused call wrote: %v -> %v", before, after)
	}
	return res
}

func TestBulkRegisterOK(t *testing.T) {
	ts := newTestServer(t)
	res := ts.do("POST", "/api/bulk/register", &ts.admin, usersBody([]string{
		`{"email":"ann@example.org","name":"ann","pass":"pass"}`,
		`{"email":"Ben@Example.org","name":"Ben Bright","username":"ben.b","pass":"s3cret"}`,
	}))
	res.want(t, 200, map[string]any{"status": "success"})
	ids := res.Obj["ids"].([]any)
	if len(ids) != 2 || len(ids[0].(map[string]any)["uid"].(string)) != 17 {
		t.Fatalf("ids = %v", ids)
	}
	ann := ts.login("ann", "pass")
	if ann.UserID != ids[0].(map[string]any)["uid"] {
		t.Fatalf("ann logged in as %s, ids %v", ann.UserID, ids)
	}
	ts.login("ben.b", "s3cret")
	ben, err := ts.st.UserByUsername("ben.b")
	if err != nil || ben.Name != "Ben Bright" || ben.Email != "Ben@Example.org" || !slices.Equal(ben.Roles, []string{"user"}) || !ben.Active {
		t.Fatalf("ben = %+v, %v", ben, err)
	}
	if strings.Contains(ben.Hash, "s3cret") || !strings.HasPrefix(ben.Hash, "$2") {
		t.Fatalf("hash %q is not bcrypt", ben.Hash)
	}

	// Both are in GENERAL, which shows a "uj" message for each.
	res = ts.do("GET", "/api/publicRooms", &ann, "")
	var general map[string]any
	for _, r := range res.Obj["rooms"].([]any) {
		if r := r.(map[string]any); r["_id"] == "GENERAL" {
			general = r
		}
	}
	if names := fmt.Sprint(general["usernames"]); names != "[admin ann ben.b]" {
		t.Fatalf("GENERAL usernames %s", names)
	}
	res = ts.do("GET", "/api/rooms/GENERAL/messages", &ann, "")
	joined := map[string]bool{}
	for _, m := range res.Obj["messages"].([]any) {
		if m := m.(map[string]any); m["t"] == "uj" {
			joined[m["msg"].(string)] = true
		}
	}
	if !joined["ann"] || !joined["ben.b"] {
		t.Fatalf("uj messages: %v", joined)
	}
}

func TestBulkRegisterRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("stored", "pw") // e-mail stored@example.org
	five := userRecords("u", 5)
	over := userRecords("o", 1001)
	cases := []struct {
		name, body, message string
	}{
		{"ErrBadRecordAtEnd", usersBody(append(slices.Clone(five[:4]), `{"email":"not-an-email","name":"u4","pass":"pass"}`)),
			"[restapi] bulk/register -> record #4 is invalid [invalid-user-record]"},
		{"ErrNoPass", usersBody(append(slices.Clone(five[:2]), `{"email":"x@example.org","name":"x"}`)),
			"[restapi] bulk/register -> record #2 is invalid [invalid-user-record]"},
		{"ErrBadName", usersBody([]string{`{"email":"x@example.org","name":"a b","pass":"p"}`}),
			"[restapi] bulk/register -> record #0 is invalid [invalid-user-record]"},
		{"ErrBadUsername", usersBody([]string{`{"email":"x@example.org","name":"A B","username":"a/b","pass":"p"}`}),
			"[restapi] bulk/register -> record #0 is invalid [invalid-user-record]"},
		{"ErrNotObject", usersBody([]string{five[0], `"u9"`}),
			"[restapi] bulk/register -> record #1 is invalid [invalid-user-record]"},
		{"ErrWrongType", usersBody([]string{five[0], `{"email":"x@example.org","name":"x","pass":{"$ne":null}}`}),
			"[restapi] bulk/register -> record #1 is invalid [invalid-user-record]"},
		{"ErrLongPass", usersBody([]string{`{"email":"x@example.org","name":"x","pass":"` + strings.Repeat("p", 73) + `"}`}),
			"[restapi] bulk/register -> record #0 is invalid [invalid-user-record]"},
		{"ErrDuplicateEmailInBatch", usersBody(append(slices.Clone(five), `{"email":"U1@EXAMPLE.ORG","name":"other","pass":"p"}`)),
			`bulk/register -> record #5 repeats the e-mail "U1@EXAMPLE.ORG" of record #1 [email-taken]`},
		{"ErrDuplicateNameInBatch", usersBody(append(slices.Clone(five), `{"email":"z@example.org","name":"U3","pass":"p"}`)),
			`bulk/register -> record #5 repeats the username "U3" of record #3 [username-taken]`},
		{"ErrEmailStored", usersBody(append(slices.Clone(five), `{"email":"Stored@example.org","name":"fresh","pass":"p"}`)),
			`bulk/register -> record #5: e-mail "Stored@example.org" is already in use [email-taken]`},
		{"ErrNameStored", usersBody(append(slices.Clone(five), `{"email":"fresh@example.org","name":"ADMIN","pass":"p"}`)),
			`bulk/register -> record #5: username "ADMIN" is already in use [username-taken]`},
		{"ErrEmpty", `{"users":[]}`, `bulk/register needs from 1 to 1000 records in "users", got 0 [invalid-batch-size]`},
		{"ErrMissing", `{}`, `bulk/register needs from 1 to 1000 records in "users", got 0 [invalid-batch-size]`},
		{"ErrForm", `users=x`, `bulk/register needs from 1 to 1000 records in "users", got 0 [invalid-batch-size]`},
		{"ErrNotList", `{"users":{"email":"x@example.org"}}`, `users must be a list of records [invalid-param]`},
		{"ErrOverLimit", usersBody(over), `bulk/register needs from 1 to 1000 records in "users", got 1001 [invalid-batch-size]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := ts.refused(400, "POST", "/api/bulk/register", &ts.admin, c.body)
			if res.Obj["message"] != c.message {
				t.Fatalf("message %q, want %q", res.Obj["message"], c.message)
			}
		})
	}
	// The limit itself is allowed.
	ts.do("POST", "/api/bulk/register", &ts.admin, usersBody(over[:1000])).want(t, 200, nil)
	if _, total, _ := ts.st.Users(0, 1); total != 1002 {
		t.Fatalf("%d users, want 1002", total)
	}
}

func TestBulkCreateRoomOK(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "pw")
	ts.createUser("carol", "pw")
	res := ts.do("POST", "/api/bulk/createRoom", &ts.admin, roomsBody(
		`{"name":"team-a","members":["bob","carol"]}`,
		`{"name":"team.b","members":["Bob","admin","carol"]}`))
	res.want(t, 200, map[string]any{"status": "success"})
	ids := res.Obj["ids"].([]any)
	if len(ids) != 2 {
		t.Fatalf("ids = %v", ids)
	}
	for i, want := range []string{"[admin bob carol]", "[admin bob carol]"} {
		rid := ids[i].(map[string]any)["rid"].(string)
		r, err := ts.st.RoomMembers(rid)
		if err != nil || fmt.Sprint(r.Usernames) != want || r.Type != "c" || r.Creator == nil || r.Creator.Username != "admin" {
			t.Fatalf("room %d: %+v %v %v", i, r.Room, r.Usernames, err)
		}
		m, err := ts.st.Membership(rid, ts.admin.UserID)
		if err != nil || m == nil || !m.HasRole("owner") {
			t.Fatalf("admin membership of room %d: %+v %v", i, m, err)
		}
		bob, _ := ts.st.UserByUsername("bob")
		if m, _ := ts.st.Membership(rid, bob.ID); m == nil || m.HasRole("owner") {
			t.Fatalf("bob membership of room %d: %+v", i, m)
		}
	}
	ts.do("GET", "/api/rooms/"+ids[0].(map[string]any)["rid"].(string)+"/messages", &ts.admin, "").want(t, 200, nil)
}

func TestBulkCreateRoomRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "pw")
	ts.createUser("carol", "pw")
	ok := `{"name":"fine","members":["bob","carol"]}`
	var over []string
	for i := range 1001 {
		over = append(over, fmt.Sprintf(`{"name":"r%d","members":["bob","carol"]}`, i))
	}
	cases := []struct {
		name, body, message string
	}{
		{"ErrBadRecordAtEnd", roomsBody(ok, `{"name":"bad name","members":["bob","carol"]}`),
			"[methods] bulk/createRoom -> record #1 is invalid [invalid-room-record]"},
		{"ErrOneMember", roomsBody(ok, `{"name":"solo","members":["bob"]}`),
			"[methods] bulk/createRoom -> record #1 is invalid [invalid-room-record]"},
		{"ErrOneMemberTwice", roomsBody(`{"name":"solo","members":["bob","BOB"]}`),
			"[methods] bulk/createRoom -> record #0 is invalid [invalid-room-record]"},
		{"ErrNoMembers", roomsBody(`{"name":"solo"}`),
			"[methods] bulk/createRoom -> record #0 is invalid [invalid-room-record]"},
		{"ErrMembersWrongType", roomsBody(`{"name":"solo","members":"bob,carol"}`),
			"[methods] bulk/createRoom -> record #0 is invalid [invalid-room-record]"},
		{"ErrUnknownMember", roomsBody(ok, `{"name":"x","members":["bob","nobody"]}`),
			`bulk/createRoom -> record #1: member "nobody" does not exist [invalid-user]`},
		{"ErrDuplicateNameInBatch", roomsBody(ok, `{"name":"FINE","members":["bob","carol"]}`),
			`bulk/createRoom -> record #1 repeats the room name "FINE" of record #0 [duplicate-name]`},
		{"ErrDuplicateNameStored", roomsBody(ok, `{"name":"General","members":["bob","carol"]}`),
			`bulk/createRoom -> record #1: a room named "General" already exists [duplicate-name]`},
		{"ErrEmpty", `{"rooms":[]}`, `bulk/createRoom needs from 1 to 1000 records in "rooms", got 0 [invalid-batch-size]`},
		{"ErrOverLimit", roomsBody(over...), `bulk/createRoom needs from 1 to 1000 records in "rooms", got 1001 [invalid-batch-size]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := ts.refused(400, "POST", "/api/bulk/createRoom", &ts.admin, c.body)
			if res.Obj["message"] != c.message {
				t.Fatalf("message %q, want %q", res.Obj["message"], c.message)
			}
		})
	}
	ts.do("POST", "/api/bulk/createRoom", &ts.admin, roomsBody(over[:1000]...)).want(t, 200, nil)
}

// TestBulkRegisterOutlivesWriteTimeout: a bulk call may take longer than the server's
// WriteTimeout (its bcrypt work); the handler moves its own write deadline, so the client
// still gets the answer. With a 1 ms WriteTimeout any slower answer would be cut off.
func TestBulkRegisterOutlivesWriteTimeout(t *testing.T) {
	ts := newTestServer(t)
	srv := httptest.NewUnstartedServer(ts.api)
	srv.Config.WriteTimeout = time.Millisecond
	srv.Start()
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/bulk/register", strings.NewReader(usersBody(userRecords("w", 300))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", ts.admin.UserID)
	req.Header.Set("X-Auth-Token", ts.admin.Token)
	start := time.Now()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(body), `"uid"`) {
		t.Fatalf("%d %s %v", res.StatusCode, body, err)
	}
	t.Logf("300 users at bcrypt.MinCost answered after %v", time.Since(start))
}
