package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"rocketlite/realtime"
	"rocketlite/store"
)

// TestSlowReaderDropped: a socket that stops reading is closed once its queue is full, while
// a reading socket of the same room gets every message and the senders never wait.
func TestSlowReaderDropped(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.Queue = 16 }})
	u := e.user("writer")
	e.user("fast")
	e.user("slow")
	fast := e.dial(false)
	fast.login("fast")
	fast.mustSub("stream-room-messages", "GENERAL", false)

	// The slow client logs in and subscribes, then never reads again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, m := range []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","id":"1","method":"login","params":[{"user":{"username":"slow"},"password":"slowpass"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["GENERAL",false]}`,
	} {
		ws.Write(ctx, websocket.MessageText, []byte(m))
	}
	waitStats := func(want int) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for {
			if n, _ := e.hub.Stats(); n == want {
				return
			}
			if time.Now().After(deadline) {
				n, _ := e.hub.Stats()
				t.Fatalf("%d sockets open, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Wait until the slow socket's subscription is registered (2 sockets, 2 subscriptions).
	deadline := time.Now().Add(waitFor)
	for {
		if n, s := e.hub.Stats(); n == 2 && s == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slow client never subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Big messages fill the kernel's socket buffers quickly; then the queue overflows. They
	// are posted in rounds of 8, each once the fast reader has had the round before: the
	// fast reader is never more than a round behind (however slowly this machine runs its
	// goroutine), while the slow one falls further behind with every round.
	const n, round = 400, 8
	big := strings.Repeat("x", 60000)
	var wg sync.WaitGroup
	base := fast.n.Load()
	for r := 0; r < n; r += round {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := r + w; i < r+round; i += 4 {
					if err := e.st.PostMessage("GENERAL", u, &store.Message{Text: fmt.Sprintf("%d %s", i, big)}); err != nil {
						t.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		deadline := time.Now().Add(waitFor)
		for fast.n.Load() < base+int64(r) {
			if time.Now().After(deadline) {
				t.Fatalf("the fast reader got %d of %d messages", fast.n.Load()-base, r)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	waitStats(1)
	got := map[string]bool{}
	for len(got) < n {
		args := fast.event("stream-room-messages", "GENERAL", nil)
		got[strings.Fields(msgText(args))[0]] = true
	}
}

// TestSocketCaps: --max-sockets refuses a socket over the cap with 503; --max-sockets-per-user
// refuses a login over the cap.
func TestSocketCaps(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.MaxSockets = 3; c.MaxSocketsPerUser = 2 }})
	e.user("ann")
	a1, a2, a3 := e.dial(false), e.dial(true), e.dial(false)
	a1.login("ann")
	a2.login("ann")
	if got := a3.fails("login", map[string]any{"user": map[string]any{"username": "ann"}, "password": "annpass"}); got != "error-too-many-sockets" {
		t.Fatalf("third login: %v", got)
	}
	res, err := http.Get(e.srv.URL + "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, err := e.dialRaw("/websocket"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("fourth socket: %v", err)
	}
	// readyz shows the sockets and subscriptions.
	out := e.rest("GET", "/readyz", nil, nil)
	rt, _ := out["realtime"].(map[string]any)
	if rt["sockets"] != float64(3) {
		t.Fatalf("readyz: %v", out)
	}
	// Closing one frees a place.
	a3.ws.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(waitFor)
	for {
		if n, _ := e.hub.Stats(); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed socket still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.dial(false)
}

// TestIdleSocketPingedAndClosed: the server pings a silent socket and closes it when no
// answer comes; a socket that answers stays.
func TestIdleSocketPingedAndClosed(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.Ping = 100 * time.Millisecond }})
	answering := e.dial(false)
	silent := e.dial(true)
	silent.noPong.Store(true)
	silent.expect(func(m map[string]any) bool { return m["msg"] == "ping" })
	select {
	case <-silent.closed:
	case <-time.After(waitFor):
		t.Fatal("a socket that does not answer pings stays open")
	}
	answering.expect(func(m map[string]any) bool { return m["msg"] == "ping" })
	answering.sendJSON(map[string]any{"msg": "ping", "id": "x"})
	answering.expect(func(m map[string]any) bool { return m["msg"] == "pong" && m["id"] == "x" })
}

// TestOversizedMessageClosesSocket: a DDP message over the body cap closes the socket.
func TestOversizedMessageClosesSocket(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.MaxMessage = 2048 }})
	c := e.dial(false)
	c.sendRaw(`{"msg":"ping","id":"` + strings.Repeat("a", 4096) + `"}`)
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		t.Fatal("socket open after an oversized message")
	}
}

func TestSockJSInfoAndFraming(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.srv.URL + "/sockjs/info")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if info["websocket"] != true || info["cookie_needed"] != false || info["entropy"] == nil {
		t.Fatalf("info: %v", info)
	}
	for _, p := range []string{"/sockjs/1/2/xhr", "/sockjs/websocket"} {
		res, err := http.Get(e.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}
	// First frame "o", then a["{\"server_id\":\"0\"}"]; a bare JSON string is accepted too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/sockjs/999/sess/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for _, want := range []string{"o", `a["{\"server_id\":\"0\"}"]`} {
		_, data, err := ws.Read(ctx)
		if err != nil || string(data) != want {
			t.Fatalf("frame %q %v, want %q", data, err, want)
		}
	}
	ws.Write(ctx, websocket.MessageText, []byte(`"{\"msg\":\"connect\",\"version\":\"1\",\"support\":[\"1\"]}"`))
	_, data, err := ws.Read(ctx)
	if err != nil || !strings.HasPrefix(string(data), `a["{\"msg\":\"connected\"`) {
		t.Fatalf("connected frame %q %v", data, err)
	}
	ws.Write(ctx, websocket.MessageText, []byte(`not json`))
	_, data, err = ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), `Bad request`) {
		t.Fatalf("bad frame answer %q %v", data, err)
	}
}

// TestPresence: online while a socket is open, the chosen status, away from UserPresence,
// offline when the last socket closes; REST agrees and stream-notify-logged tells.
func TestPresence(t *testing.T) {
	e := newEnv(t)
	dan := e.user("dan")
	e.user("eve")
	watcher := e.dial(false)
	watcher.login("eve")
	watcher.mustSub("stream-notify-logged", "user-status", false)
	eve := e.restLogin("eve", "evepass")
	presence := func() string {
		return e.rest("GET", "/api/v1/users.getPresence", &eve, map[string]any{"userId": dan.ID})["presence"].(string)
	}
	statusEvent := func(code float64, text string) {
		t.Helper()
		watcher.event("stream-notify-logged", "user-status", func(a []any) bool {
			s := a[0].([]any)
			return s[0] == dan.ID && s[1] == "dan" && s[2] == code && s[3] == text
		})
	}
	// A REST login alone is not presence.
	e.restLogin("dan", "danpass")
	if p := presence(); p != "offline" {
		t.Fatalf("before any socket: %s", p)
	}
	d1 := e.dial(false)
	d1.login("dan")
	statusEvent(1, "")
	d2 := e.dial(true)
	d2.login("dan")
	if p := presence(); p != "online" {
		t.Fatalf("with sockets: %s", p)
	}
	info := e.rest("GET", "/api/v1/users.info", &eve, map[string]any{"userId": dan.ID})
	if s := info["user"].(map[string]any)["status"]; s != "online" {
		t.Fatalf("users.info status %v", s)
	}
	list := e.rest("GET", "/api/v1/users.list", &eve, nil)
	for _, u := range list["users"].([]any) {
		if u.(map[string]any)["username"] == "dan" && u.(map[string]any)["status"] != "online" {
			t.Fatalf("users.list status %v", u)
		}
	}
	// Away only when every socket says so.
	d1.ok("UserPresence:away")
	if p := presence(); p != "online" {
		t.Fatalf("one socket away: %s", p)
	}
	d2.ok("UserPresence:away")
	statusEvent(2, "")
	d1.ok("UserPresence:online")
	statusEvent(1, "")
	// A chosen status (REST users.setStatus) with a message.
	danC := e.restLogin("dan", "danpass")
	e.rest("POST", "/api/v1/users.setStatus", &danC, map[string]any{"status": "busy", "message": "in a meeting"})
	statusEvent(3, "in a meeting")
	st := e.rest("GET", "/api/v1/users.getStatus", &eve, map[string]any{"userId": dan.ID})
	if st["status"] != "busy" || st["message"] != "in a meeting" || st["connectionStatus"] != "online" {
		t.Fatalf("getStatus: %v", st)
	}
	pres := e.rest("GET", "/api/v1/users.presence", &eve, nil)
	found := false
	for _, u := range pres["users"].([]any) {
		if u.(map[string]any)["_id"] == dan.ID {
			found = u.(map[string]any)["status"] == "busy"
		}
	}
	if !found || pres["full"] != true {
		t.Fatalf("users.presence: %v", pres)
	}
	// Another user's status needs edit-other-user-info; bad values are refused.
	if _, status := e.restStatus("POST", "/api/v1/users.setStatus", &eve, map[string]any{"userId": dan.ID, "status": "away"}); status != 403 {
		t.Fatalf("setStatus of another user: %d", status)
	}
	for _, bad := range []map[string]any{{"status": "sleeping"}, {}, {"message": strings.Repeat("m", 600)}} {
		if _, status := e.restStatus("POST", "/api/v1/users.setStatus", &danC, bad); status != 400 {
			t.Fatalf("setStatus %v: %d", bad, status)
		}
	}
	// DDP's setDefaultStatus; "offline" is invisible.
	d1.ok("UserPresence:setDefaultStatus", "offline")
	statusEvent(0, "in a meeting")
	d1.ok("UserPresence:setDefaultStatus", "online")
	statusEvent(1, "in a meeting")
	// Offline when the last socket closes.
	d1.ws.Close(websocket.StatusNormalClosure, "")
	statusEvent(2, "in a meeting") // the socket left said it is away
	if p := presence(); p != "away" {
		t.Fatalf("one away socket left: %s", p)
	}
	d2.ws.Close(websocket.StatusNormalClosure, "")
	statusEvent(0, "in a meeting")
	if p := presence(); p != "offline" {
		t.Fatalf("no socket: %s", p)
	}
}

// TestHubBacklogNeverBlocksWriters: when the fan-out falls far behind the commits, writers
// still get their answers at once, and every socket is closed (clients reconnect and reload)
// instead of the backlog growing.
func TestHubBacklogNeverBlocksWriters(t *testing.T) {
	defer realtime.SetMaxBacklog(8)()
	e := newEnv(t)
	u := e.user("w")
	e.user("r")
	c := e.dial(false)
	c.login("r")
	c.mustSub("stream-room-messages", "GENERAL", false)
	release := e.hub.Hold()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 50; i++ {
			if err := e.st.PostMessage("GENERAL", u, &store.Message{Text: fmt.Sprint("m", i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		release()
		t.Fatal("writers waited for a stalled hub")
	}
	release()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		t.Fatal("the sockets stayed open after the hub fell behind")
	}
	// The hub goes on: a new socket gets new messages.
	c2 := e.dial(false)
	c2.login("r")
	c2.mustSub("stream-room-messages", "GENERAL", false)
	e.st.PostMessage("GENERAL", u, &store.Message{Text: "after"})
	c2.event("stream-room-messages", "GENERAL", text("after"))
}
