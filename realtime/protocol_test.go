package realtime_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"rocketlite/store"
)

func TestProtocolMessages(t *testing.T) {
	e := newEnv(t)
	for _, sockjs := range []bool{false, true} {
		name := "websocket"
		if sockjs {
			name = "sockjs"
		}
		t.Run(name, func(t *testing.T) {
			path := "/websocket"
			if sockjs {
				path = "/sockjs/000/xyz/websocket"
			}
			c, err := e.dialRaw(path)
			if err != nil {
				t.Fatal(err)
			}
			c.t = t
			c.expect(func(m map[string]any) bool { return m["server_id"] == "0" })
			// Before connect: an error naming the offending message.
			c.sendJSON(map[string]any{"msg": "method", "id": "1", "method": "login", "params": []any{}})
			m := c.expect(func(m map[string]any) bool { return m["msg"] == "error" })
			if m["reason"] != "Must connect first" || m["offendingMessage"] == nil {
				t.Fatalf("before connect: %v", m)
			}
			// A version we do not speak.
			c.sendJSON(map[string]any{"msg": "connect", "version": "9", "support": []string{"9"}})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] != nil }); m["msg"] != "failed" || m["version"] != "1" {
				t.Fatalf("connect 9: %v", m)
			}
			c.sendJSON(map[string]any{"msg": "connect", "version": "1", "support": []string{"1", "pre2"}})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] != nil }); m["msg"] != "connected" || m["session"] == "" {
				t.Fatalf("connect 1: %v", m)
			}
			// Ping with and without an id.
			c.sendJSON(map[string]any{"msg": "ping", "id": "p1"})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] == "pong" }); m["id"] != "p1" {
				t.Fatalf("pong: %v", m)
			}
			c.sendJSON(map[string]any{"msg": "ping"})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] == "pong" }); m["id"] != nil {
				t.Fatalf("pong without id: %v", m)
			}
			// Bad JSON, unknown msg.
			c.sendRaw(`{"msg":`)
			if m := c.expect(func(m map[string]any) bool { return m["msg"] == "error" }); m["reason"] != "Bad request" {
				t.Fatalf("bad json: %v", m)
			}
			c.sendJSON(map[string]any{"msg": "dance"})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] == "error" }); m["reason"] != "Bad request" {
				t.Fatalf("unknown msg: %v", m)
			}
			// Unknown method: 404 and the Rocket.Chat reason; then updated.
			res := c.call("noSuchMethod")
			if e := res["error"].(map[string]any); e["error"] != float64(404) || e["reason"] != "Method 'noSuchMethod' not found" {
				t.Fatalf("unknown method: %v", e)
			}
			// A method that needs a login.
			if got := c.fails("rooms/get"); got != "error-invalid-user" {
				t.Fatalf("rooms/get without login: %v", got)
			}
			// Unknown subscription; unsub answers nosub.
			if err := c.sub("no-such-stream", "x", false); err == nil {
				t.Fatal("unknown stream accepted")
			}
			c.sendJSON(map[string]any{"msg": "unsub", "id": "nothing"})
			if m := c.expect(func(m map[string]any) bool { return m["msg"] == "nosub" }); m["id"] != "nothing" {
				t.Fatalf("unsub: %v", m)
			}
		})
	}
}

func TestLoginResumeLogout(t *testing.T) {
	e := newEnv(t)
	e.user("alice")
	c := e.dial(false)
	if got := c.fails("login", map[string]any{"user": map[string]any{"username": "alice"}, "password": "wrong"}); got != float64(403) {
		t.Fatalf("wrong password: %v", got)
	}
	if got := c.fails("login", map[string]any{"user": map[string]any{"username": "nobody"}, "password": "x"}); got != float64(403) {
		t.Fatalf("unknown user: %v", got)
	}
	if got := c.fails("login", "junk"); got != "error-invalid-params" {
		t.Fatalf("junk params: %v", got)
	}
	res := c.login("alice")
	if res["type"] != "password" || res["token"] == "" || res["tokenExpires"].(map[string]any)["$date"] == nil {
		t.Fatalf("login result: %v", res)
	}
	// The users document follows the result.
	added := c.expect(func(m map[string]any) bool { return m["msg"] == "added" && m["collection"] == "users" })
	if added["id"] != res["id"] || added["fields"].(map[string]any)["username"] != "alice" {
		t.Fatalf("added: %v", added)
	}
	tok := res["token"].(string)
	uid := res["id"].(string)

	// The DDP token works over REST, and a REST token resumes over DDP.
	me := e.rest("GET", "/api/v1/me", &restCreds{uid, tok}, nil)
	if me["username"] != "alice" {
		t.Fatalf("REST with DDP token: %v", me)
	}
	rc := e.restLogin("alice", "alicepass")
	c2 := e.dial(true)
	r2 := c2.ok("login", map[string]any{"resume": rc.token}).(map[string]any)
	if r2["type"] != "resume" || r2["id"] != uid {
		t.Fatalf("resume: %v", r2)
	}
	// A digest password works too.
	c3 := e.dial(false)
	sum := sha256.Sum256([]byte("alicepass"))
	c3.ok("login", map[string]any{"user": map[string]any{"username": "alice"},
		"password": map[string]any{"digest": hex.EncodeToString(sum[:]), "algorithm": "sha-256"}})

	// Logout over DDP revokes the token for REST; logout over REST for DDP.
	if c.ok("logout") != nil {
		t.Fatal("logout result is not null")
	}
	if _, status := e.restStatus("GET", "/api/v1/me", &restCreds{uid, tok}, nil); status != 401 {
		t.Fatalf("REST after DDP logout: %d", status)
	}
	if got := c.fails("rooms/get"); got != "error-invalid-user" {
		t.Fatalf("method after logout: %v", got)
	}
	e.rest("POST", "/api/v1/logout", &rc, nil)
	c4 := e.dial(false)
	if got := c4.fails("login", map[string]any{"resume": rc.token}); got != float64(403) {
		t.Fatalf("resume after REST logout: %v", got)
	}
}

func TestLoginThrottledAndDeactivated(t *testing.T) {
	e := newEnv(t, options{limits: true})
	e.user("bob")
	c := e.dial(false)
	var got any
	for i := 0; i < 20; i++ {
		got = c.fails("login", map[string]any{"user": map[string]any{"username": "bob"}, "password": "wrong"})
		if got == float64(429) {
			break
		}
	}
	if got != float64(429) {
		t.Fatalf("failed logins never throttled over DDP: %v", got)
	}
	// REST sees the same lock-out: one login code, one set of counters.
	if _, status := e.restStatus("POST", "/api/v1/login", nil, map[string]any{"user": "bob", "password": "bobpass"}); status != 429 {
		t.Fatalf("REST after DDP lock-out: %d", status)
	}

	e2 := newEnv(t)
	carol := e2.user("carol")
	c2 := e2.dial(false)
	c2.login("carol")
	if _, err := e2.st.UpdateUser(carol.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	// A deactivated user's sockets are closed, and they cannot log in again.
	select {
	case <-c2.closed:
	case <-time.After(waitFor):
		t.Fatal("socket of a deactivated user stays open")
	}
	c3 := e2.dial(false)
	if got := c3.fails("login", map[string]any{"user": map[string]any{"username": "carol"}, "password": "carolpass"}); got != float64(403) {
		t.Fatalf("deactivated login: %v", got)
	}
}

// TestRESTLogoutEndsSocket: a logout over REST ends the DDP sessions of that token (and only
// those); a DDP logout keeps its own socket open for another login.
func TestRESTLogoutEndsSocket(t *testing.T) {
	e := newEnv(t)
	e.user("dora")
	rc := e.restLogin("dora", "dorapass")
	same := e.dial(false)
	same.ok("login", map[string]any{"resume": rc.token})
	other := e.dial(false)
	other.login("dora")
	e.rest("POST", "/api/v1/logout", &rc, nil)
	select {
	case <-same.closed:
	case <-time.After(waitFor):
		t.Fatal("the socket of a logged-out token stays open")
	}
	if other.ok("logout") != nil {
		t.Fatal("logout result")
	}
	other.login("dora") // the socket is still usable
}
