package handlers

import (
	"strings"
	"testing"
	"time"

	"rocketlite/auth"
)

func TestPersonalAccessTokens(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("alice", "alicepass")
	ts.createUser("guest1", "guestpass", "guest")
	alice := ts.login("alice", "alicepass")
	guest := ts.login("guest1", "guestpass")

	// Refusals write nothing.
	before := ts.counts()
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", nil, `{"tokenName":"ci"}`).want(t, 401, nil)
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &guest, `{"tokenName":"ci"}`).wantErr1(t, 403, "")
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &alice, `{}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &alice, `{"tokenName":"`+strings.Repeat("n", 101)+`"}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &alice, `{"tokenName":"a\u0007b"}`).wantErr1(t, 400, "error-invalid-params")
	ts.do("POST", "/api/v1/users.regeneratePersonalAccessToken", &alice, `{"tokenName":"nope"}`).wantErr1(t, 400, "error-not-authorized")
	ts.do("POST", "/api/v1/users.removePersonalAccessToken", &alice, `{"tokenName":"nope"}`).wantErr1(t, 400, "error-not-authorized")
	ts.unchanged1(t, before)

	res := ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &alice, `{"tokenName":"ci","bypassTwoFactor":true}`)
	res.want(t, 200, map[string]any{"success": true})
	tok := res.Obj["token"].(string)
	pat := creds{UserID: alice.UserID, Token: tok}
	ts.do("GET", "/api/v1/me", &pat, "").want(t, 200, map[string]any{"username": "alice"})
	ts.do("POST", "/api/v1/users.generatePersonalAccessToken", &alice, `{"tokenName":"ci"}`).wantErr1(t, 400, "error-not-authorized")

	list := ts.do("GET", "/api/v1/users.getPersonalAccessTokens", &alice, "")
	list.want(t, 200, map[string]any{"success": true})
	toks := list.Obj["tokens"].([]any)
	if len(toks) != 1 || toks[0].(map[string]any)["name"] != "ci" || toks[0].(map[string]any)["lastTokenPart"] != tok[len(tok)-6:] {
		t.Fatalf("tokens: %s", list.Raw)
	}

	// No expiry: a year past the session lifetime the token still works, and the sweeper
	// leaves it while it removes the expired session token.
	ts.clock.Advance(400 * 24 * time.Hour)
	if n, err := ts.st.SweepTokens(1000); err != nil || n == 0 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	ts.do("GET", "/api/v1/me", &pat, "").want(t, 200, nil)
	ts.do("GET", "/api/v1/me", &alice, "").want(t, 401, nil)
	alice = ts.login("alice", "alicepass")

	// Regenerate: the old token stops working at once.
	res = ts.do("POST", "/api/v1/users.regeneratePersonalAccessToken", &alice, `{"tokenName":"ci"}`)
	res.want(t, 200, map[string]any{"success": true})
	tok2 := res.Obj["token"].(string)
	ts.do("GET", "/api/v1/me", &pat, "").want(t, 401, nil)
	pat2 := creds{UserID: alice.UserID, Token: tok2}
	ts.do("GET", "/api/v1/me", &pat2, "").want(t, 200, nil)

	// Stored as a hash only.
	if _, err := ts.st.Authenticate(alice.UserID, auth.HashToken(tok2)); err != nil {
		t.Fatal(err)
	}
	ts.do("POST", "/api/v1/users.removePersonalAccessToken", &alice, `{"tokenName":"ci"}`).want(t, 200, map[string]any{"success": true})
	ts.do("GET", "/api/v1/me", &pat2, "").want(t, 401, nil)
	ts.do("GET", "/api/v1/users.getPersonalAccessTokens", &alice, "").want(t, 200, map[string]any{"tokens": []any{}})
}
