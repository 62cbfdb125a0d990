package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHeadOnGetRoutes: uptime monitors ask with HEAD. Every GET route answers HEAD as it
// answers GET, without a body; the ones with effects (logout) or a big cost (backup) refuse.
func TestHeadOnGetRoutes(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/api/version", "/api/info", "/healthz", "/readyz", "/api/v1/info"} {
		get := ts.do("GET", path, nil, "")
		head := ts.do("HEAD", path, nil, "")
		if head.Status != get.Status || head.Raw != "" || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q %q; GET gave %d", path, head.Status, head.Raw, head.Header.Get("Content-Type"), get.Status)
		}
	}
	// Authentication applies as for GET.
	if r := ts.do("HEAD", "/api/v1/me", nil, ""); r.Status != http.StatusUnauthorized || r.Raw != "" {
		t.Errorf("HEAD /api/v1/me without credentials: %d %q", r.Status, r.Raw)
	}
	if r := ts.do("HEAD", "/api/v1/me", &ts.admin, ""); r.Status != http.StatusOK || r.Raw != "" {
		t.Errorf("HEAD /api/v1/me: %d %q", r.Status, r.Raw)
	}
	// HEAD is safe: it must not log anyone out.
	for _, path := range []string{"/api/logout", "/api/v1/logout", "/api/backup"} {
		if r := ts.do("HEAD", path, &ts.admin, ""); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s: %d", path, r.Status)
		}
	}
	ts.do("GET", "/api/v1/me", &ts.admin, "").want(t, 200, nil)
}

// TestMalformedJSONSaysWhere: a malformed body gets one text that says where it broke.
func TestMalformedJSONSaysWhere(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct{ body, want string }{
		{`{"user": "admin", "password": }`, "Request body is not valid JSON: line 1, column 31: invalid character '}' looking for beginning of value"},
		{"{\n  \"user\": \"admin\",\n  \"password\": \"x\"", "Request body is not valid JSON: line 3, column 18: the JSON ends early"},
		{`{"user": "admin"} {"more": 1}`, "Request body is not valid JSON: line 1, column 19: data after the JSON object"},
		{`{"user": "admin",}`, "Request body is not valid JSON: line 1, column 18: invalid character '}' looking for beginning of object key string"},
	} {
		before := ts.counts()
		r := ts.do("POST", "/api/login", nil, tc.body)
		msg, _ := r.Obj["message"].(string)
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%q: %d %q, want 400 %q", tc.body, r.Status, msg, tc.want)
		}
		if after := ts.counts(); after["tokens"] != before["tokens"] {
			t.Errorf("%q wrote a token", tc.body)
		}
	}
	// JSON that is not an object, under a JSON Content-Type.
	r := ts.doCT("POST", "/api/v1/login", nil, `["admin"]`, "application/json")
	if msg, _ := r.Obj["error"].(string); r.Status != http.StatusBadRequest || !strings.Contains(msg, "must be a JSON object, not a list") {
		t.Errorf("array body: %d %s", r.Status, r.Raw)
	}
}

// logLines returns the JSON log lines whose message is msg.
func logLines(t *testing.T, logs string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// TestAccessLogHasClientAndUser (issue 15, trap 6): the access line names the client address
// the limits count (after --trusted-proxies) and the caller's user id.
func TestAccessLogHasClientAndUser(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.Limits.TrustedProxies, _ = ParseTrustedProxies("127.0.0.1/32")
	})
	ts.do("GET", "/api/v1/me", &ts.admin, "").want(t, 200, nil)
	req, _ := http.NewRequest("GET", ts.srv.URL+"/api/info", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var me, info map[string]any
	for _, e := range logLines(t, ts.logs.String(), "request") {
		switch e["path"] {
		case "/api/v1/me":
			me = e
		case "/api/info":
			info = e
		}
	}
	if me == nil || me["uid"] != ts.admin.UserID || me["client"] != "127.0.0.1" {
		t.Errorf("access line of an authenticated call: %v", me)
	}
	if info == nil || info["client"] != "203.0.113.7" || info["uid"] != nil {
		t.Errorf("access line behind a trusted proxy: %v", info)
	}
}

// TestRefusalsLoggedOncePerWindow (trap 6): a locked account and a client past its send rate
// get one warning each per window, not one per refused request.
func TestRefusalsLoggedOncePerWindow(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.Limits.LoginPerAccount = 2
		c.Limits.SendRate, c.Limits.SendBurst = 0.001, 1
	})
	bob := ts.createUser("bob", "bobpass")
	for range 2 {
		ts.do("POST", "/api/login", nil, "user=bob&password=wrong").want(t, 401, nil)
	}
	for range 5 {
		ts.do("POST", "/api/login", nil, "user=bob&password=wrong").want(t, 429, nil)
	}
	ts.do("POST", "/api/login", nil, "user=nobody-like-this&password=x")
	ts.do("POST", "/api/login", nil, "user=nobody-like-this&password=x")
	for range 4 {
		ts.do("POST", "/api/login", nil, "user=nobody-like-this&password=x").want(t, 429, nil)
	}
	for range 5 {
		ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"hi"}`)
	}
	lines := logLines(t, ts.logs.String(), "refusing with 429 until the window passes (logged once per limit, key and window)")
	var account, name, sends int
	for _, e := range lines {
		switch {
		case e["account"] == bob.ID:
			account++
		case e["limit"] == loginThrottledMsg:
			name++
			if strings.Contains(fmt.Sprint(e), "nobody-like-this") {
				t.Errorf("a name tried was logged (it may be a password): %v", e)
			}
		case e["uid"] == ts.admin.UserID:
			sends++
		}
	}
	if account != 1 || name != 1 || sends != 1 || len(lines) != 3 {
		t.Fatalf("refusal lines: account %d, name %d, sends %d, all %d:\n%v", account, name, sends, len(lines), lines)
	}
	if n := len(logLines(t, ts.logs.String(), "request")); n < 17 {
		t.Fatalf("the access log lost requests: %d", n)
	}
}

// TestBulkRegisterReportsProgress (trap 6): a bulk registration says in the log that it is
// hashing, how far it is, and when it is done.
func TestBulkRegisterReportsProgress(t *testing.T) {
	ts := newTestServer(t)
	old := bulkProgressEvery
	bulkProgressEvery = time.Millisecond
	defer func() { bulkProgressEvery = old }()
	ts.do("POST", "/api/bulk/register", &ts.admin, usersBody(userRecords("prog", 30))).want(t, 200, nil)
	begin := logLines(t, ts.logs.String(), "bulk registration: hashing passwords")
	end := logLines(t, ts.logs.String(), "bulk registration: hashing done")
	if len(begin) != 1 || begin[0]["total"] != float64(30) || len(end) != 1 || end[0]["hashed"] != float64(30) {
		t.Fatalf("progress lines: %v %v\n%s", begin, end, ts.logs.String())
	}
}
