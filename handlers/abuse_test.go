package handlers

// Issue 9 ("Hardening II"), items 2, 5, 6, 7 and 8: the limits that the attack got through.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/testopen"
)

// Item 2: a failed login with a huge name keeps a key of bounded size, not the name.
func TestFailedLoginNamesAreNotKept(t *testing.T) {
	testopen.BoltOnly(t, "on PostgreSQL failed logins per account are rows of login_failures (pgstore's logins_test)")
	ts := newTestServer(t, withDefaultLimits)
	long := strings.Repeat("n", 200<<10)
	for i := 0; i < 12; i++ {
		ts.do("POST", "/api/login", nil, `{"user":"`+long+strconv.Itoa(i)+`","password":"x"}`).want(t, 401, nil)
	}
	// The same name again (in another case) is the same account: 10 failures lock it.
	for i := 0; i < 10; i++ {
		ts.do("POST", "/api/login", nil, `{"user":"`+long+`","password":"x"}`)
	}
	ts.do("POST", "/api/login", nil, `{"user":"`+strings.ToUpper(long)+`","password":"x"}`).want(t, 429, nil)
	f := ts.api.loginAccount
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 13 {
		t.Fatalf("%d accounts tracked, want 13", len(f.seen))
	}
	for k := range f.seen {
		if len(k) > 64 {
			t.Fatalf("a failure table keeps a key of %d bytes", len(k))
		}
	}
}

// Item 2: entries expire on time, without needing the table to grow past a threshold.
func TestFailureEntriesExpireOnTime(t *testing.T) {
	testopen.BoltOnly(t, "on PostgreSQL failed logins per account are rows of login_failures (pgstore's logins_test)")
	ts := newTestServer(t, withDefaultLimits)
	for i := 0; i < 20; i++ {
		ts.do("POST", "/api/login", nil, "user=nobody"+strconv.Itoa(i)+"&password=x").want(t, 401, nil)
	}
	if n := ts.api.loginAccount.len(); n != 20 {
		t.Fatalf("%d entries, want 20", n)
	}
	ts.clock.Advance(16 * time.Minute)
	// Any later use of the table sweeps it: here a successful login.
	ts.login("admin", "adminpass")
	if n, m := ts.api.loginAccount.len(), ts.api.loginAddress.len(); n != 0 || m != 0 {
		t.Fatalf("%d account and %d address entries left after their window, want 0", n, m)
	}
	// And an idle table is swept by its timer.
	for i := 0; i < 5; i++ {
		ts.do("POST", "/api/login", nil, "user=idle"+strconv.Itoa(i)+"&password=x").want(t, 401, nil)
	}
	ts.clock.Advance(16 * time.Minute)
	ts.api.loginAccount.idleSweep()
	if n := ts.api.loginAccount.len(); n != 0 {
		t.Fatalf("%d entries left after the idle sweep, want 0", n)
	}
}

// Item 2: the idle sweep really runs on a timer (a real clock and a short window here).
func TestFailureTableTimerSweeps(t *testing.T) {
	f := newFailures(20*time.Millisecond, 3, 100, time.Now)
	f.add("a", time.Now())
	deadline := time.Now().Add(10 * time.Second) // a hang guard, not a speed check
	for f.len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the entry outlived its window by 10 s on an idle table")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		t.Fatal("the timer stays armed on an empty table")
	}
}

// Item 2: the tables hold at most TableEntries keys; the newest offender stays tracked.
func TestFailureTablesAreCapped(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits = Limits{TableEntries: 100, LoginPerAddress: 1 << 30} })
	for i := 0; i < 300; i++ {
		ts.do("POST", "/api/login", nil, "user=guess"+strconv.Itoa(i)+"&password=x").want(t, 401, nil)
	}
	if n := ts.api.loginAccount.len(); n > 100 {
		t.Fatalf("%d entries, want at most 100", n)
	}
	for i := 0; i < 9; i++ {
		ts.do("POST", "/api/login", nil, "user=guess299&password=x").want(t, 401, nil)
	}
	ts.do("POST", "/api/login", nil, "user=guess299&password=x").want(t, 429, nil)
	// The send and write buckets are capped too.
	for i := 0; i < 300; i++ {
		if err := ts.api.allowWrite(&store.User{ID: "w" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ts.api.writes.users); n > 100 {
		t.Fatalf("%d write buckets, want at most 100", n)
	}
}

// Item 5: join and leave (which write system messages), edits, deletes and room changes count
// against a per-user write limit, in both APIs; past it, 429 with Retry-After and nothing
// written. Reads and sends do not draw from it.
func TestWritesAreRateLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.WriteRate, c.Limits.WriteBurst = 1, 4 })
	alice := ts.createUser("alice", "alicepass")
	ca := ts.login("alice", "alicepass")
	room := ts.publicRoom("lobby")
	post := func(text string) string {
		res := ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"`+room.ID+`","text":"`+text+`"}`)
		res.want(t, 200, nil)
		return res.Obj["message"].(map[string]any)["_id"].(string)
	}
	for _, tc := range []struct{ name, path, body string }{
		{"Join0", "/api/rooms/" + room.ID + "/join", ""},
		{"Leave0", "/api/rooms/" + room.ID + "/leave", ""},
		{"Join1", "/api/v1/channels.join", `{"roomId":"` + room.ID + `"}`},
		{"Leave1", "/api/v1/channels.leave", `{"roomId":"` + room.ID + `"}`},
		{"Update", "/api/v1/chat.update", `{"roomId":"` + room.ID + `","msgId":"MSG","text":"edited"}`},
		{"Delete", "/api/v1/chat.delete", `{"roomId":"` + room.ID + `","msgId":"MSG"}`},
		{"Read", "/api/rooms/" + room.ID + "/read", ""},
		{"Close", "/api/v1/channels.close", `{"roomId":"GENERAL"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.clock.Advance(time.Hour) // a full bucket
			for i := 0; i < 4; i++ {
				body := strings.ReplaceAll(tc.body, "MSG", post("m"))
				if res := ts.do("POST", tc.path, &ca, body); res.Status == 429 {
					t.Fatalf("write %d refused: %s", i, res.Raw)
				}
			}
			body := strings.ReplaceAll(tc.body, "MSG", post("m"))
			before, id := ts.counts(), ts.txid()
			res := ts.do("POST", tc.path, &ca, body)
			if res.Status != 429 || res.Header.Get("Retry-After") != "1" {
				t.Fatalf("fifth write: %d %q %s", res.Status, res.Header.Get("Retry-After"), res.Raw)
			}
			if id2 := ts.txid(); id2 != id {
				t.Fatalf("a refused write wrote (txid %d → %d, %v → %v)", id, id2, before, ts.counts())
			}
			// Reads and sends have their own budgets.
			ts.do("GET", "/api/rooms/"+room.ID+"/messages", &ca, "").want(t, 200, nil)
			post("still")
		})
	}
	// v1 refusals are v1 errors.
	res := ts.do("POST", "/api/v1/channels.join", &ca, `{"roomId":"`+room.ID+`"}`)
	res.want(t, 429, map[string]any{"success": false})
	// Another user has a bucket of their own.
	_, cb := ts.user1(t, "bob")
	ts.do("POST", "/api/v1/channels.join", &cb, `{"roomId":"`+room.ID+`"}`).want(t, 200, nil)
	_ = alice
}

// Item 5: the attack's join/leave flood (600 system messages in 3 s) against the defaults.
func TestJoinLeaveFloodIsLimitedByDefault(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	ts.createUser("mallory", "mallorypass")
	cm := ts.login("mallory", "mallorypass")
	before := ts.counts()["messages"]
	refused := 0
	for i := 0; i < 150; i++ {
		for _, op := range []string{"leave", "join"} {
			if ts.do("POST", "/api/rooms/GENERAL/"+op, &cm, "").Status == 429 {
				refused++
			}
		}
	}
	written := ts.counts()["messages"] - before
	if refused == 0 || written > 100 {
		t.Fatalf("300 join/leave at one instant: %d refused, %d system messages written (burst 100)", refused, written)
	}
}

// Item 6: a user may create at most MaxRoomsPerCreator rooms; admins are exempt.
func TestRoomsPerCreatorCapped(t *testing.T) {
	ts := newTestServerOpts(t, store.Options{MaxRoomsPerCreator: 3})
	_, ca := ts.user1(t, "alice")
	for i := 0; i < 3; i++ {
		ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"a`+strconv.Itoa(i)+`"}`).want(t, 200, nil)
	}
	before := ts.counts()
	res := ts.do("POST", "/api/v1/channels.create", &ca, `{"name":"a3"}`)
	res.want(t, 400, map[string]any{"success": false, "errorType": "error-too-many-rooms"})
	if !strings.Contains(res.Obj["error"].(string), "3 rooms") {
		t.Fatalf("the refusal does not name the limit: %s", res.Raw)
	}
	ts.unchanged1(t, before)
	// Other users are not affected; admins are exempt, through v1 and bulk/createRoom.
	_, cb := ts.user1(t, "bob")
	ts.do("POST", "/api/v1/channels.create", &cb, `{"name":"b0"}`).want(t, 200, nil)
	for i := 0; i < 4; i++ {
		ts.do("POST", "/api/v1/channels.create", &ts.admin, `{"name":"admin`+strconv.Itoa(i)+`"}`).want(t, 200, nil)
	}
	ts.do("POST", "/api/bulk/createRoom", &ts.admin, `{"rooms":[{"name":"bulk1","members":["alice","bob"]}]}`).want(t, 200, nil)
}

// Item 6: the default cap is 1000 rooms per creator.
func TestRoomsPerCreatorDefault(t *testing.T) {
	ts := newTestServer(t)
	u := ts.createUser("carol", "carolpass")
	ref := u.Ref()
	for i := 0; i < store.DefaultMaxRoomsPerCreator; i += 250 {
		var batch []store.NewRoom
		for j := i; j < i+250; j++ {
			batch = append(batch, store.NewRoom{Room: &store.Room{Name: "c" + strconv.Itoa(j), Type: store.Public, Creator: &ref}})
		}
		if err := ts.st.CreateRooms(batch); err != nil {
			t.Fatal(err)
		}
	}
	cc := ts.login("carol", "carolpass")
	ts.do("POST", "/api/v1/channels.create", &cc, `{"name":"one-more"}`).want(t, 400, map[string]any{"errorType": "error-too-many-rooms"})
}

// Item 6: publicRooms pages by default (50), says where the page is, and pages on with
// offset; the order is most messages first, ties by name, as before.
func TestPublicRoomsPagesByDefault(t *testing.T) {
	ts := newTestServer(t)
	var rooms []string
	for i := 0; i < 60; i++ {
		rooms = append(rooms, `{"name":"r`+fmt.Sprintf("%02d", i)+`","members":["admin"]}`)
	}
	// bulk/createRoom needs two members; use the admin and a user.
	ts.createUser("bob", "bobpass")
	body := `{"rooms":[` + strings.ReplaceAll(strings.Join(rooms, ","), `["admin"]`, `["admin","bob"]`) + `]}`
	ts.do("POST", "/api/bulk/createRoom", &ts.admin, body).want(t, 200, nil)
	for i := 0; i < 3; i++ {
		ts.do("POST", "/api/rooms/"+roomID(t, ts, "r59")+"/send", &ts.admin, "msg=hi").want(t, 200, nil)
	}
	ts.do("POST", "/api/rooms/"+roomID(t, ts, "r30")+"/send", &ts.admin, "msg=hi").want(t, 200, nil)
	names := func(res response) []string {
		var out []string
		for _, r := range res.Obj["rooms"].([]any) {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return out
	}
	res := ts.do("GET", "/api/publicRooms", &ts.admin, "")
	res.want(t, 200, map[string]any{"status": "success", "count": 50, "offset": 0, "total": 61})
	got := names(res)
	// GENERAL holds the admin's join message: r59 (3), r30 (1), general (1), then by name.
	if len(got) != 50 || got[0] != "r59" || got[1] != "general" || got[2] != "r30" || got[3] != "r00" || got[49] != "r47" {
		t.Fatalf("first page %v", got)
	}
	res = ts.do("GET", "/api/publicRooms?offset=50", &ts.admin, "")
	res.want(t, 200, map[string]any{"count": 11, "offset": 50, "total": 61})
	if got := names(res); got[0] != "r48" || got[10] != "r58" {
		t.Fatalf("second page %v", got)
	}
	ts.do("GET", "/api/publicRooms?count=1000", &ts.admin, "").want(t, 200, map[string]any{"count": 61})
	ts.do("GET", "/api/publicRooms?count=5000", &ts.admin, "").want(t, 200, map[string]any{"count": 61})
	ts.do("GET", "/api/publicRooms?count=x", &ts.admin, "").want(t, 400, nil)
	// channels.list has the same order.
	res = ts.do("GET", "/api/v1/channels.list?count=3", &ts.admin, "")
	res.want(t, 200, map[string]any{"count": 3, "total": 61})
	var v struct{ Channels []struct{ Name string } }
	json.Unmarshal([]byte(res.Raw), &v)
	if v.Channels[0].Name != "r59" || v.Channels[2].Name != "r30" {
		t.Fatalf("channels.list %s", res.Raw)
	}
	// A rename moves the room in the order; a private room is never listed.
	ts.do("POST", "/api/v1/channels.rename", &ts.admin, `{"roomId":"`+roomID(t, ts, "r00")+`","name":"zz"}`).want(t, 200, nil)
	ts.privateRoom("secret")
	res = ts.do("GET", "/api/publicRooms?offset=58", &ts.admin, "")
	res.want(t, 200, map[string]any{"total": 61})
	if got := names(res); len(got) != 3 || got[2] != "zz" {
		t.Fatalf("last page after a rename %v", got)
	}
}

func roomID(t *testing.T, ts *testServer, name string) string {
	t.Helper()
	r, err := ts.st.RoomByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// Item 7: a user holds at most MaxTokensPerUser live tokens; a login past it revokes the
// oldest (with both APIs' logins), and other users' tokens are untouched.
func TestLiveTokensPerUserCapped(t *testing.T) {
	ts := newTestServerOpts(t, store.Options{MaxTokensPerUser: 3})
	u := ts.createUser("dave", "davepass")
	var toks []creds
	for i := 0; i < 5; i++ {
		if i%2 == 0 {
			toks = append(toks, ts.login("dave", "davepass"))
		} else {
			toks = append(toks, ts.login1(t, `{"user":"dave","password":"davepass"}`))
		}
		ts.clock.Advance(time.Second)
	}
	for i, c := range toks {
		want := 200
		if i < 2 {
			want = 401
		}
		ts.do("GET", "/api/v1/me", &c, "").want(t, want, nil)
	}
	if n, err := ts.st.UserTokenCount(u.ID); err != nil || n != 3 {
		t.Fatalf("dave holds %d tokens (%v), want 3", n, err)
	}
	ts.do("GET", "/api/v1/me", &ts.admin, "").want(t, 200, nil)
}

// Item 8: with open registration every attempt counts, refused ones too, and a name or an
// e-mail already taken is refused before the password is hashed.
func TestRegisterCountsEveryAttempt(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.OpenRegistration = true })
	ts.createUser("taken", "takenpass")
	reg := func(body string) response { return ts.do("POST", "/api/v1/users.register", nil, body) }
	// The duplicate answer comes before the hash: a password bcrypt refuses (73 bytes) is
	// not what the answer is about.
	long := strings.Repeat("p", 73)
	reg(`{"username":"taken","email":"new@example.org","pass":"`+long+`","name":"T"}`).
		want(t, 400, map[string]any{"errorType": "error-username-taken"})
	reg(`{"username":"fresh","email":"taken@example.org","pass":"`+long+`","name":"T"}`).
		want(t, 400, map[string]any{"errorType": "error-email-taken"})
	for i := 0; i < 8; i++ {
		reg(`{"username":"taken","email":"x@example.org","pass":"pw","name":"T"}`).want(t, 400, nil)
	}
	before := ts.counts()
	res := reg(`{"username":"fresh","email":"fresh@example.org","pass":"pw","name":"F"}`)
	if res.Status != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the 11th attempt: %d %s", res.Status, res.Raw)
	}
	ts.unchanged1(t, before)
	ts.clock.Advance(time.Hour)
	reg(`{"username":"fresh","email":"fresh@example.org","pass":"pw","name":"F"}`).want(t, 200, nil)
}

// Item 8: the per-address cap is configurable.
func TestRegisterLimitConfigurable(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.OpenRegistration = true; c.Limits.RegisterPerAddress = 2 })
	for i := 0; i < 2; i++ {
		ts.do("POST", "/api/v1/users.register", nil, `{"username":"u`+strconv.Itoa(i)+`","email":"u`+strconv.Itoa(i)+`@example.org","pass":"pw","name":"U"}`).want(t, 200, nil)
	}
	ts.do("POST", "/api/v1/users.register", nil, `{"username":"u9","email":"u9@example.org","pass":"pw","name":"U"}`).want(t, 429, nil)
}

// Refused requests take nothing from the bucket: a client hammering past the limit is let in
// again as soon as a token is back, and Retry-After says so (a cancelled reservation used to
// leave debt behind).
func TestRefusalsLeaveNoDebt(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.WriteRate, c.Limits.WriteBurst = 10, 2 })
	u := &store.User{ID: "hammer"}
	for i := 0; i < 2; i++ {
		if err := ts.api.allowWrite(u); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent requests read the clock before they queue for the bucket: their times
	// arrive a little out of order.
	t0 := ts.clock.Now()
	for i := 0; i < 1000; i++ {
		at := t0.Add(time.Duration(i%7) * time.Millisecond)
		if err := ts.api.writes.take(u.ID, at); store.KindOf(err) != store.TooMany {
			t.Fatalf("refusal %d: %v", i, err)
		}
	}
	ts.clock.Advance(100 * time.Millisecond) // one token back since the bucket ran dry
	if err := ts.api.allowWrite(u); err != nil {
		t.Fatalf("after a token came back: %v", err)
	}
	var re *retryError
	if err := ts.api.allowWrite(u); !errors.As(err, &re) || re.after > 100*time.Millisecond {
		t.Fatalf("Retry-After of the next refusal: %v", err)
	}
}
