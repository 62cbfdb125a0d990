package handlers

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"rocketlite/store"
	"rocketlite/store/testopen"
)

// txid is the id of the last committed write transaction: unchanged means nothing was written.
func (ts *testServer) txid() int {
	ts.t.Helper()
	b, ok := ts.st.(*store.Bolt)
	if !ok {
		// PostgreSQL: the store counts its committed write transactions.
		return int(ts.st.(interface{ Commits() int64 }).Commits())
	}
	var id int
	if err := b.DB().View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		ts.t.Fatal(err)
	}
	return id
}

// doFrom sends a request as if from the given X-Forwarded-For (empty: none).
func (ts *testServer) doFrom(xff, method, path string, c *creds, body string) response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	if c != nil {
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
	}
	return send(ts.t, req)
}

// withDefaultLimits gives a test server the production limits (the harness turns them off).
func withDefaultLimits(c *Config) { c.Limits = Limits{} }

func TestLoginThrottlePerAccount(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	ts.createUser("alice", "alicepass")
	for i := 0; i < 10; i++ {
		ts.do("POST", "/api/login", nil, "user=alice&password=wrong").want(t, 401, map[string]any{"message": "Unauthorized"})
	}
	before := ts.txid()
	// The right password during the lock-out is refused the same way, and writes no token.
	res := ts.do("POST", "/api/login", nil, "user=alice&password=alicepass")
	res.want(t, 429, map[string]any{"status": "error"})
	if ra := res.Header.Get("Retry-After"); ra != "900" {
		t.Fatalf("Retry-After = %q, want 900", ra)
	}
	// By e-mail it is the same account.
	ts.do("POST", "/api/login", nil, "user=alice@example.org&password=alicepass").want(t, 429, nil)
	if got := ts.txid(); got != before {
		t.Fatalf("a throttled login wrote: txid %d → %d", before, got)
	}
	// Other accounts are not affected.
	ts.login("admin", "adminpass")

	// Counters decay: once the window has passed, the right password works again.
	ts.clock.Advance(15 * time.Minute)
	ts.login("alice", "alicepass")
}

func TestLoginThrottleDecaysGradually(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	ts.createUser("bob", "bobpass12")
	for i := 0; i < 10; i++ {
		ts.do("POST", "/api/login", nil, "user=bob&password=wrong").want(t, 401, nil)
		ts.clock.Advance(time.Minute)
	}
	// The oldest failure is 10 minutes old: 5 more minutes until it expires.
	res := ts.do("POST", "/api/login", nil, "user=bob&password=bobpass12")
	res.want(t, 429, nil)
	if ra := res.Header.Get("Retry-After"); ra != "300" {
		t.Fatalf("Retry-After = %q, want 300", ra)
	}
	ts.clock.Advance(5 * time.Minute)
	// One failure has aged out: one more try is allowed, and a wrong one locks again.
	ts.do("POST", "/api/login", nil, "user=bob&password=wrong").want(t, 401, nil)
	ts.do("POST", "/api/login", nil, "user=bob&password=bobpass12").want(t, 429, nil)
	ts.clock.Advance(time.Minute)
	// A success clears the account's count.
	ts.login("bob", "bobpass12")
	for i := 0; i < 9; i++ {
		ts.do("POST", "/api/login", nil, "user=bob&password=wrong").want(t, 401, nil)
	}
	ts.login("bob", "bobpass12")
}

func TestLoginThrottleUnknownUserLooksTheSame(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	for i := 0; i < 10; i++ {
		ts.do("POST", "/api/login", nil, "user=nobody&password=x").want(t, 401, map[string]any{"message": "Unauthorized"})
	}
	res := ts.do("POST", "/api/login", nil, "user=NoBody&password=x")
	res.want(t, 429, nil)
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestLoginThrottlePerAddress(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	// 30 failures from one address, each on a different name (no account reaches its cap).
	for i := 0; i < 30; i++ {
		// Without trusted proxies, X-Forwarded-For is ignored: every try counts for 127.0.0.1.
		xff := "10.0.0." + string(rune('1'+i%9))
		ts.doFrom(xff, "POST", "/api/login", nil, "user=u"+strings.Repeat("x", i)+"&password=x").want(t, 401, nil)
	}
	res := ts.doFrom("10.9.9.9", "POST", "/api/login", nil, "user=admin&password=adminpass")
	res.want(t, 429, nil)
	if res.Header.Get("Retry-After") != "900" {
		t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
	}
	ts.clock.Advance(15 * time.Minute)
	ts.login("admin", "adminpass")
}

func TestLoginThrottleTrustedProxy(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.Limits = Limits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	for i := 0; i < 30; i++ {
		ts.doFrom("203.0.113.7", "POST", "/api/login", nil, "user=n"+strings.Repeat("y", i)+"&password=x").want(t, 401, nil)
	}
	ts.doFrom("203.0.113.7", "POST", "/api/login", nil, "user=admin&password=adminpass").want(t, 429, nil)
	// A client may prepend anything: the right-most untrusted address is the one counted.
	ts.doFrom("198.51.100.1, 203.0.113.7", "POST", "/api/login", nil, "user=admin&password=adminpass").want(t, 429, nil)
	// Another client behind the same proxy is not locked out.
	ts.doFrom("203.0.113.8", "POST", "/api/login", nil, "user=admin&password=adminpass").want(t, 200, nil)
}

func TestClientAddr(t *testing.T) {
	a := &API{limits: Limits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	for _, tc := range []struct{ name, remote, xff, want string }{
		{"Direct", "192.0.2.1:5000", "", "192.0.2.1"},
		{"UntrustedPeerIgnoresHeader", "192.0.2.1:5000", "198.51.100.9", "192.0.2.1"},
		{"TrustedPeer", "10.1.2.3:5000", "198.51.100.9", "198.51.100.9"},
		{"ChainOfProxies", "10.1.2.3:5000", "198.51.100.9, 10.0.0.5", "198.51.100.9"},
		{"SpoofedLeftPart", "10.1.2.3:5000", "1.2.3.4, 198.51.100.9", "198.51.100.9"},
		{"GarbageStopsTheWalk", "10.1.2.3:5000", "198.51.100.9, junk", "10.1.2.3"},
		{"AllTrusted", "10.1.2.3:5000", "10.9.9.9", "10.9.9.9"},
		{"TrustedNoHeader", "10.1.2.3:5000", "", "10.1.2.3"},
		{"IPv6", "[::1]:80", "2001:db8::1", "2001:db8::1"},
		{"MappedIPv4", "[::ffff:192.0.2.1]:80", "", "192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/login", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := a.clientAddr(r); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.168.1.7 ,::1,")
	if err != nil || len(got) != 3 || got[1].String() != "192.168.1.7/32" || got[2].String() != "::1/128" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
	if _, err := ParseTrustedProxies("proxy.local"); err == nil {
		t.Fatal("a host name was accepted")
	}
}

func TestSendRateLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = 2, 3 })
	for i := 0; i < 3; i++ {
		ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=hi").want(t, 200, nil)
	}
	before, beforeCounts := ts.txid(), ts.counts()
	res := ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=one+too+many")
	res.want(t, 429, map[string]any{"status": "error"})
	if ra := res.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After = %q, want 1", ra)
	}
	if ts.txid() != before || ts.counts()["messages"] != beforeCounts["messages"] {
		t.Fatal("a throttled send wrote")
	}
	// Another user has a bucket of their own.
	ts.createUser("carol", "carolpass")
	carol := ts.login("carol", "carolpass")
	ts.do("POST", "/api/rooms/GENERAL/send", &carol, "msg=hello").want(t, 200, nil)
	// Half a second later one token (rate 2/s) is back.
	ts.clock.Advance(500 * time.Millisecond)
	ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=again").want(t, 200, nil)
	ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=again").want(t, 429, nil)
}

// One bucket per user across both APIs: v1's chat routes draw from the bucket 0.1's send
// drained, and a refused post writes nothing.
func TestSendRateLimitSharedByV1(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = 1, 2 })
	ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=one").want(t, 200, nil)
	ts.do("POST", "/api/v1/chat.postMessage", &ts.admin, `{"roomId":"GENERAL","text":"two"}`).want(t, 200, nil)
	before := ts.counts()["messages"]
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/chat.postMessage", `{"roomId":"GENERAL","text":"three"}`},
		{"/api/v1/chat.sendMessage", `{"message":{"rid":"GENERAL","msg":"three"}}`},
		{"/api/rooms/GENERAL/send", "msg=three"},
	} {
		res := ts.do("POST", tc.path, &ts.admin, tc.body)
		if res.Status != 429 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %d %s", tc.path, res.Status, res.Raw)
		}
	}
	if ts.counts()["messages"] != before {
		t.Fatal("a throttled post wrote")
	}
}

func TestSendRateLimitOff(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = -1, 1 })
	for i := 0; i < 5; i++ {
		ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, "msg=hi").want(t, 200, nil)
	}
}

func TestSendRateLimitDefaults(t *testing.T) {
	ts := newTestServer(t, withDefaultLimits)
	if ts.api.limits.SendRate != 50 || ts.api.limits.SendBurst != 200 || ts.api.limits.LoginPerAccount != 10 ||
		ts.api.limits.LoginPerAddress != 30 || ts.api.limits.LoginWindow != 15*time.Minute {
		t.Fatalf("defaults: %+v", ts.api.limits)
	}
	// The default bucket holds 200: the 201st send at one instant is refused.
	for i := 0; i < 200; i++ {
		if err := ts.api.allowSend(&store.User{ID: "u1"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := ts.api.allowSend(&store.User{ID: "u1"}); store.KindOf(err) != store.TooMany {
		t.Fatalf("201st send: %v", err)
	}
}

func TestSizeCaps(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxBody = 4096 })
	before := ts.txid()
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"BodyTooLarge", `{"msg":"` + strings.Repeat("a", 5000) + `"}`, 413},
		{"UnderBothCaps", "msg=" + strings.Repeat("é", 5001)[:4000], 200}, // under the body cap, 2000 chars: fine
		{"InvalidUTF8", "msg=%ff%fe", 400},
		{"ControlChar", "msg=a%07b", 400},
		{"NulChar", `{"msg":"a\u0000b"}`, 400},
		{"EscapeChar", `{"msg":"\u001b[31mred"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, tc.body)
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.Status, tc.status, res.Raw)
			}
			if tc.status != 200 && ts.txid() != before {
				t.Fatal("a refused request wrote")
			}
			before = ts.txid()
		})
	}
	// The message cap itself (5000 characters) with a body cap that lets it through.
	ts2 := newTestServer(t)
	ts2.do("POST", "/api/rooms/GENERAL/send", &ts2.admin, `{"msg":"`+strings.Repeat("é", 5001)+`"}`).want(t, 400, nil)
	ts2.do("POST", "/api/rooms/GENERAL/send", &ts2.admin, `{"msg":"`+strings.Repeat("é", 5000)+`"}`).want(t, 200, nil)
}

func TestLongPasswords(t *testing.T) {
	ts := newTestServer(t)
	pw72 := strings.Repeat("p", 72)
	ts.createUser("dave", pw72)
	ts.login("dave", pw72)
	// bcrypt reads 72 bytes: the same 72 and more must not log in.
	ts.do("POST", "/api/login", nil, "user=dave&password="+pw72+"extra").want(t, 401, nil)
	// Setting one is refused with 400 and nothing written, on every route that sets one.
	long := strings.Repeat("x", 73)
	bob := ts.createUser("bob", "bobpass")
	open := newTestServer(t, func(c *Config) { c.OpenRegistration = true })
	for _, tc := range []struct {
		ts         *testServer
		path, body string
	}{
		{ts, "/api/bulk/register", `{"users":[{"email":"n@example.org","name":"n","pass":"` + long + `"}]}`},
		{ts, "/api/v1/users.create", `{"email":"n@example.org","name":"n","username":"n","password":"` + long + `"}`},
		{ts, "/api/v1/users.update", `{"userId":"` + bob.ID + `","data":{"password":"` + long + `"}}`},
		{open, "/api/v1/users.register", `{"email":"n@example.org","name":"n","username":"n","pass":"` + long + `"}`},
	} {
		before := tc.ts.counts()
		if res := tc.ts.do("POST", tc.path, &tc.ts.admin, tc.body); res.Status != 400 {
			t.Fatalf("%s with a 73-byte password: %d %s", tc.path, res.Status, res.Raw)
		}
		if !maps.Equal(before, tc.ts.counts()) {
			t.Fatalf("%s wrote something", tc.path)
		}
	}
}

// TestLimiterMapsArePruned: an attacker trying many names, or many users sending once, must not
// grow the limiters' memory without bound.
func TestLimiterMapsArePruned(t *testing.T) {
	testopen.BoltOnly(t, "on PostgreSQL failed logins per account are rows of login_failures (pgstore's logins_test)")
	ts := newTestServer(t, withDefaultLimits)
	now := ts.st.Now()
	f := ts.api.loginAccount
	for i := 0; i <= limiterPruneN; i++ {
		f.add("name"+strconv.Itoa(i), now)
	}
	f.add("late", now.Add(15*time.Minute))
	if n := len(f.seen); n != 1 {
		t.Fatalf("%d failure entries after the window passed, want 1", n)
	}
	for i := 0; i <= limiterPruneN; i++ {
		if err := ts.api.allowSend(&store.User{ID: "u" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ts.clock.Advance(time.Second) // at 50/s every one-token-short bucket is full again
	if err := ts.api.allowSend(&store.User{ID: "last"}); err != nil {
		t.Fatal(err)
	}
	if n := len(ts.api.sends.users); n > 1 {
		t.Fatalf("%d send buckets kept, want 1", n)
	}
}
