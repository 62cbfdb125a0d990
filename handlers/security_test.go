package handlers

import (
	"bytes"
	"os"
	"rocketlite/store/testopen"
	"strings"
	"testing"
)

// openRoutes are the only routes a client may call without credentials.
var openRoutes = map[string]bool{
	"/api/version": true, "/api/login": true, "/api/info": true,
	"/api/v1/login": true, "/api/v1/info": true,
	"/healthz": true, "/readyz": true,
	"/avatar/:username": true, // public pictures, as in Rocket.Chat
	// Incoming webhooks: the id and token in the path are the credential (hooks_test.go).
	"/hooks/:id/:token": true, "/hooks/:id/:token/:userId": true,
}

// concrete fills a route pattern's parameters.
func concrete(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "GENERAL"
		}
	}
	return strings.Join(parts, "/")
}

// TestEveryRouteNeedsCredentials walks every registered route, including those other parts
// of the program add, so a new route cannot forget authentication unnoticed.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	ts := newTestServer(t)
	routes := ts.api.Routes()
	seen := map[string]bool{}
	for _, r := range routes {
		seen[r.Method+" "+r.Path] = true
	}
	for _, must := range []string{"POST /api/login", "POST /api/rooms/:id/send", "GET /api/backup", "GET /healthz", "GET /readyz"} {
		if !seen[must] {
			t.Fatalf("route list lacks %s: %v", must, routes)
		}
	}
	bogus := &creds{UserID: "GENERAL", Token: "not-a-token-not-a-token-not-a-token-000000"}
	for _, r := range routes {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			path := concrete(r.Path)
			if openRoutes[r.Path] {
				if !r.Open {
					t.Fatalf("%s should be open", r.Path)
				}
				if res := ts.do(r.Method, path, nil, ""); res.Status == 401 && r.Path != "/api/login" && r.Path != "/api/v1/login" {
					t.Fatalf("open route answered 401: %s", res.Raw)
				}
				return
			}
			if r.Open {
				t.Fatalf("%s %s is registered without authentication", r.Method, r.Path)
			}
			before := ts.txid()
			for _, c := range []*creds{nil, bogus, {UserID: ts.admin.UserID}, {Token: ts.admin.Token}} {
				res := ts.do(r.Method, path, c, "")
				res.want(t, 401, map[string]any{"status": "error", "message": "You must be logged in to do this."})
			}
			if ts.txid() != before {
				t.Fatal("an unauthenticated request wrote")
			}
		})
	}
}

// TestSecretsStayOutOfLogsAndFile: passwords and tokens never reach the log or the database
// file in clear, nor do message bodies reach the log.
func TestSecretsStayOutOfLogsAndFile(t *testing.T) {
	testopen.BoltOnly(t, "it reads the database file")
	ts := newTestServer(t)
	const pw, wrong, body = "S3cret-Pa55word-xyz", "Wr0ng-Pa55word-abc", "top secret message body 12345"
	ts.createUser("frank", pw)
	frank := ts.login("frank", pw)
	ts.do("POST", "/api/login", nil, "user=frank&password="+wrong).want(t, 401, nil)
	ts.do("POST", "/api/login", nil, `{"user":"frank","password":"`+wrong+`"}`).want(t, 401, nil)
	ts.do("POST", "/api/rooms/GENERAL/send", &frank, "msg="+body).want(t, 200, nil)
	ts.do("GET", "/api/rooms/GENERAL/messages?before="+body, &frank, "").want(t, 400, nil)
	badTok := "Bad-Token-Bad-Token-Bad-Token-Bad-Token-000"
	ts.do("GET", "/api/publicRooms", &creds{UserID: frank.UserID, Token: badTok}, "").want(t, 401, nil)
	second := ts.login("frank", pw)
	ts.do("POST", "/api/logout", &second, "").want(t, 200, nil)

	logs := ts.logs.String()
	if !strings.Contains(logs, "/api/rooms/GENERAL/send") {
		t.Fatalf("the log holds no requests at all: %q", logs)
	}
	for _, secret := range []string{pw, wrong, "adminpass", frank.Token, second.Token, ts.admin.Token, badTok, body} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	file, err := os.ReadFile(ts.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(file, []byte(body)) {
		t.Fatal("the message is not in the file: is this the right file?")
	}
	for _, secret := range []string{pw, wrong, "adminpass", frank.Token, second.Token, ts.admin.Token} {
		if bytes.Contains(file, []byte(secret)) {
			t.Errorf("the database file holds %q in clear", secret)
		}
	}
}
