package handlers

import (
	"net/http"
	"strings"
	"testing"
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
