package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"rocketlite/store/pgstore/pgtest"
)

// rawDDP is a DDP client that keeps every message it receives, for the streams the plain
// subscriber (dialDDP) does not follow.
type rawDDP struct {
	ws   *websocket.Conn
	mu   sync.Mutex
	got  []map[string]any
	next int
}

func dialRawDDP(t *testing.T, base, token string) *rawDDP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 22)
	c := &rawDDP{ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				c.mu.Lock()
				c.got = append(c.got, m)
				c.mu.Unlock()
			}
		}
	}()
	c.send(t, map[string]any{"msg": "connect", "version": "1", "support": []string{"1"}})
	c.call(t, "login", map[string]any{"resume": token})
	return c
}

func (c *rawDDP) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// call runs a method and waits for its result.
func (c *rawDDP) call(t *testing.T, method string, params ...any) {
	t.Helper()
	c.mu.Lock()
	c.next++
	id := fmt.Sprint("m", c.next)
	c.mu.Unlock()
	c.send(t, map[string]any{"msg": "method", "id": id, "method": method, "params": params})
	c.wait(t, method, 5*time.Second, func(m map[string]any) bool {
		if m["msg"] == "result" && m["id"] == id {
			if m["error"] != nil {
				t.Fatalf("%s: %v", method, m["error"])
			}
			return true
		}
		return false
	})
}

// sub subscribes to a stream event and waits until it is ready.
func (c *rawDDP) sub(t *testing.T, name, event string) {
	t.Helper()
	c.mu.Lock()
	c.next++
	id := fmt.Sprint("s", c.next)
	c.mu.Unlock()
	c.send(t, map[string]any{"msg": "sub", "id": id, "name": name, "params": []any{event, false}})
	c.wait(t, "sub "+name, 5*time.Second, func(m map[string]any) bool {
		subs, _ := m["subs"].([]any)
		return m["msg"] == "ready" && len(subs) == 1 && subs[0] == id
	})
}

// wait waits for a message that ok accepts, among all received so far and to come.
func (c *rawDDP) wait(t *testing.T, what string, within time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(within); ; {
		c.mu.Lock()
		for _, m := range c.got {
			if ok(m) {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventArgs returns the args of a stream event of name and eventName, or nil.
func eventArgs(m map[string]any, name, eventName string) []any {
	f, _ := m["fields"].(map[string]any)
	if m["msg"] != "changed" || m["collection"] != name || f == nil || f["eventName"] != eventName {
		return nil
	}
	args, _ := f["args"].([]any)
	return args
}

// pollClient is one client for the polls below, so that they reuse their connections.
var pollClient = newClient()

// presenceOn is the presence users.getPresence on node base tells of uid.
func presenceOn(t *testing.T, base string, cr *apiCreds, uid string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/users.getPresence?userId="+url.QueryEscape(uid), nil)
	req.Header.Set("X-User-Id", cr.UserID)
	req.Header.Set("X-Auth-Token", cr.Token)
	res, err := pollClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var obj struct{ Presence string }
	if err := json.NewDecoder(res.Body).Decode(&obj); err != nil || res.StatusCode != 200 {
		t.Fatalf("users.getPresence on %s: %d %v", base, res.StatusCode, err)
	}
	return obj.Presence
}

// waitPresence waits until node base tells want of uid.
func waitPresence(t *testing.T, base string, cr *apiCreds, uid, want string, within time.Duration) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = presenceOn(t, base, cr, uid); got == want {
			return
		}
	}
	t.Fatalf("node %s tells %q of the user, want %q after %v", base, got, want, within)
}

// waitOtherNodes waits until node base's /readyz says it hears from want other nodes.
func waitOtherNodes(t *testing.T, base string, want int) {
	t.Helper()
	var got any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := pollClient.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Realtime map[string]any `json:"realtime"`
		}
		json.NewDecoder(res.Body).Decode(&obj)
		res.Body.Close()
		if got = obj.Realtime["otherNodes"]; got == float64(want) {
			return
		}
	}
	t.Fatalf("/readyz of %s: otherNodes %v, want %d", base, got, want)
}

// TestMultiNodePresence: with several nodes on one database, a user's presence and typing
// reach the users of every node: connected on A, online on B (REST and user-status) and on C
// started later; away on A is away everywhere; the socket closed, offline everywhere; a node
// killed is taken for gone after --node-timeout, a node stopped says so at once.
func TestMultiNodePresence(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := buildBinary(t)
	a := startProc(t, nil, bin, "--db", dsn, "--node-timeout", "3s")
	b := startProc(t, nil, bin, "--db", dsn, "--node-timeout", "3s")
	admin := loginAdmin(t, newClient(), a.base)
	if st, obj := v1JSON(t, "POST", a.base+"/api/v1/users.create", admin, map[string]any{
		"username": "bob", "email": "bob@example.org", "password": "bobpass-123", "name": "Bob"}); st != 200 {
		t.Fatalf("users.create: %d %v", st, obj)
	}
	st, obj := v1JSON(t, "POST", a.base+"/api/v1/login", nil, map[string]any{"user": "bob", "password": "bobpass-123"})
	if st != 200 {
		t.Fatalf("bob's login: %d %v", st, obj)
	}
	bob := &apiCreds{UserID: obj["data"].(map[string]any)["userId"].(string), Token: obj["data"].(map[string]any)["authToken"].(string)}
	if p := presenceOn(t, b.base, admin, bob.UserID); p != "offline" {
		t.Fatalf("bob with no socket anywhere: %q on B", p)
	}

	watcher := dialRawDDP(t, b.base, admin.Token) // the admin, on B
	watcher.sub(t, "stream-notify-logged", "user-status")
	watcher.sub(t, "stream-notify-room", "GENERAL/typing")
	status := func(want float64) func(map[string]any) bool {
		return func(m map[string]any) bool {
			args := eventArgs(m, "stream-notify-logged", "user-status")
			return len(args) == 1 && fmt.Sprint(args[0].([]any)[0]) == bob.UserID && args[0].([]any)[2] == want
		}
	}

	bobA := dialRawDDP(t, a.base, bob.Token)
	waitPresence(t, b.base, admin, bob.UserID, "online", 5*time.Second)
	watcher.wait(t, "bob's user-status online on B", 5*time.Second, status(1))

	// Typing on A is seen on B.
	bobA.call(t, "stream-notify-room", "GENERAL/typing", "bob", true)
	watcher.wait(t, "bob's typing on B", 5*time.Second, func(m map[string]any) bool {
		args := eventArgs(m, "stream-notify-room", "GENERAL/typing")
		return len(args) == 2 && args[0] == "bob" && args[1] == true
	})

	// Away on A is away on B, and on C, which starts after it.
	bobA.call(t, "UserPresence:away")
	waitPresence(t, b.base, admin, bob.UserID, "away", 5*time.Second)
	watcher.wait(t, "bob's user-status away on B", 5*time.Second, status(2))
	c := startProc(t, nil, bin, "--db", dsn, "--node-timeout", "60s")
	waitPresence(t, c.base, admin, bob.UserID, "away", 5*time.Second)
	waitOtherNodes(t, b.base, 2) // /readyz tells who B hears from: A and C

	// The socket closed: offline everywhere.
	bobA.ws.Close(websocket.StatusNormalClosure, "")
	waitPresence(t, b.base, admin, bob.UserID, "offline", 5*time.Second)
	waitPresence(t, c.base, admin, bob.UserID, "offline", 5*time.Second)
	watcher.wait(t, "bob's user-status offline on B", 5*time.Second, status(0))

	// A node killed: the others take it for gone after its own timeout (3 s), C too, whose
	// own is a minute.
	dialRawDDP(t, a.base, bob.Token)
	waitPresence(t, b.base, admin, bob.UserID, "online", 5*time.Second)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	killed := time.Now()
	waitPresence(t, b.base, admin, bob.UserID, "offline", 20*time.Second)
	waitPresence(t, c.base, admin, bob.UserID, "offline", 20*time.Second)
	waitOtherNodes(t, b.base, 1)
	t.Logf("bob shown offline on B and C %v after his node was killed (--node-timeout 3s)", time.Since(killed).Round(100*time.Millisecond))

	// A node stopped says so: C shows bob offline long before D's minute could pass.
	d := startProc(t, nil, bin, "--db", dsn, "--node-timeout", "60s")
	dialRawDDP(t, d.base, bob.Token)
	waitPresence(t, c.base, admin, bob.UserID, "online", 5*time.Second)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitPresence(t, c.base, admin, bob.UserID, "offline", 20*time.Second)
}
