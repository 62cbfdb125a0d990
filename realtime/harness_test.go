package realtime_test

// The realtime test harness: a real bbolt file with the default seed, the REST API and the
// DDP server on one httptest listener, and DDP clients over real websockets.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/realtime"
	"rocketlite/seed"
	"rocketlite/store"
	"rocketlite/store/testopen"
)

type env struct {
	t      *testing.T
	st     store.Store
	hasher *auth.Hasher
	hub    *realtime.Hub
	rt     *realtime.Server
	api    *handlers.API
	srv    *httptest.Server
}

type options struct {
	rt     func(*realtime.Config)
	api    func(*handlers.Config)
	limits bool // the REST API's default abuse limits (off otherwise)
}

func newEnv(t *testing.T, opt ...options) *env {
	t.Helper()
	var o options
	if len(opt) > 0 {
		o = opt[0]
	}
	st := testopen.Open(t, filepath.Join(t.TempDir(), "rt.db"), store.Options{})
	h, _ := auth.NewHasher(bcrypt.MinCost)
	if _, err := seed.ApplyDefault(st, h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := seed.EnsureAdmin(st, h, "admin", "adminpass"); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, hasher: h}
	e.hub = realtime.NewHub(st, zerolog.Nop())
	st.SetPublisher(e.hub)
	cfg := handlers.Config{Store: st, Hasher: h, Log: zerolog.Nop(), Version: "test",
		Realtime: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.rt.ServeHTTP(w, r) }),
		Presence: e.hub, RealtimeStats: e.hub.Stats}
	if !o.limits {
		cfg.Limits = handlers.Limits{SendRate: -1, WriteRate: -1, LoginPerAccount: 1 << 30, LoginPerAddress: 1 << 30}
	}
	if o.api != nil {
		o.api(&cfg)
	}
	e.api = handlers.New(cfg)
	rc := realtime.Config{Store: st, Hub: e.hub, Core: e.api, Log: zerolog.Nop()}
	if o.rt != nil {
		o.rt(&rc)
	}
	e.rt = realtime.New(rc)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e.rt.Shutdown(ctx)
		cancel()
		e.srv.Close()
		st.SetPublisher(nil)
		e.hub.Close()
		st.Close()
	})
	return e
}

func (e *env) user(name string, roles ...string) *store.User {
	e.t.Helper()
	hash, _ := e.hasher.Hash(name + "pass")
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	u := &store.User{Username: name, Name: name, Email: name + "@example.org", Hash: hash, Roles: roles, Active: true}
	if err := e.st.CreateUser(u, true); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// rest calls the REST API as user (nil: anonymous) with a JSON body (GET: query string).
type restCreds struct{ uid, token string }

func (e *env) restLogin(name, password string) restCreds {
	e.t.Helper()
	out := e.rest("POST", "/api/v1/login", nil, map[string]any{"user": name, "password": password})
	data := out["data"].(map[string]any)
	return restCreds{data["userId"].(string), data["authToken"].(string)}
}

func (e *env) rest(method, path string, c *restCreds, body map[string]any) map[string]any {
	e.t.Helper()
	out, status := e.restStatus(method, path, c, body)
	if status != 200 {
		e.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func (e *env) restStatus(method, path string, c *restCreds, body map[string]any) (map[string]any, int) {
	e.t.Helper()
	var rd io.Reader
	if method == "GET" && body != nil {
		q := url.Values{}
		for k, v := range body {
			q.Set(k, fmt.Sprint(v))
		}
		path += "?" + q.Encode()
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c != nil {
		req.Header.Set("X-User-Id", c.uid)
		req.Header.Set("X-Auth-Token", c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	json.Unmarshal(raw, &out)
	return out, res.StatusCode
}

// client is a DDP client on a real websocket.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	sockjs bool
	msgs   chan map[string]any
	closed chan struct{}
	err    atomic.Value
	n      atomic.Int64
	noPong atomic.Bool // do not answer the server's pings
	// backlog keeps the messages no expectation took yet (test goroutine only).
	backlog []map[string]any
	mu      sync.Mutex
}

func (e *env) dialRaw(path string) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+path, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(16 << 20)
	c := &client{t: e.t, ws: ws, sockjs: strings.HasPrefix(path, "/sockjs/"), msgs: make(chan map[string]any, 100000), closed: make(chan struct{})}
	go c.read()
	e.t.Cleanup(func() { ws.CloseNow() })
	return c, nil
}

// dial opens /websocket (or SockJS), reads server_id and connects.
func (e *env) dial(sockjs bool) *client {
	e.t.Helper()
	path := "/websocket"
	if sockjs {
		path = "/sockjs/123/abcdefgh/websocket"
	}
	c, err := e.dialRaw(path)
	if err != nil {
		e.t.Fatal(err)
	}
	c.expect(func(m map[string]any) bool { return m["server_id"] == "0" })
	c.sendJSON(map[string]any{"msg": "connect", "version": "1", "support": []string{"1"}})
	c.expect(func(m map[string]any) bool { return m["msg"] == "connected" })
	return c
}

func (c *client) read() {
	defer close(c.closed)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err.Store(err)
			return
		}
		var raws []string
		if c.sockjs {
			switch {
			case len(data) > 0 && data[0] == 'a':
				if json.Unmarshal(data[1:], &raws) != nil {
					c.err.Store(fmt.Errorf("bad sockjs frame %q", data))
					return
				}
			case string(data) == "o" || string(data) == "h":
				continue
			case len(data) > 0 && data[0] == 'c':
				raws = []string{`{"msg":"sockjs-close","frame":` + strings.TrimPrefix(string(data), "c") + `}`}
			default:
				c.err.Store(fmt.Errorf("bad sockjs frame %q", data))
				return
			}
		} else {
			raws = []string{string(data)}
		}
		for _, r := range raws {
			var m map[string]any
			if err := json.Unmarshal([]byte(r), &m); err != nil {
				c.err.Store(fmt.Errorf("bad DDP message %q", r))
				return
			}
			if m["msg"] == "ping" && !c.noPong.Load() {
				p := map[string]any{"msg": "pong"}
				if id, ok := m["id"]; ok {
					p["id"] = id
				}
				c.sendJSON(p)
			}
			c.n.Add(1)
			c.msgs <- m
		}
	}
}

func (c *client) sendJSON(v any) {
	b, _ := json.Marshal(v)
	c.sendRaw(string(b))
}

func (c *client) sendRaw(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sockjs {
		b, _ := json.Marshal([]string{s})
		s = string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.ws.Write(ctx, websocket.MessageText, []byte(s))
}

const waitFor = 5 * time.Second

// expect returns the first message (skipping others) for which ok is true.
func (c *client) expect(ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	m, found := c.within(waitFor, ok)
	if !found {
		c.t.Fatalf("no expected message within %v (connection error: %v)", waitFor, c.err.Load())
	}
	return m
}

// within returns the first message, kept or new, for which ok is true; the others are kept
// for later expectations, in order.
func (c *client) within(d time.Duration, ok func(map[string]any) bool) (map[string]any, bool) {
	for i, m := range c.backlog {
		if ok(m) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			return m, true
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-c.msgs:
			if ok(m) {
				return m, true
			}
			if len(c.backlog) < 100000 {
				c.backlog = append(c.backlog, m)
			}
		case <-timer.C:
			return nil, false
		}
	}
}

var ids atomic.Int64

func nextID() string { return fmt.Sprint(ids.Add(1)) }

// call invokes a method and returns its result message (result or error) after the updated.
func (c *client) call(method string, params ...any) map[string]any {
	c.t.Helper()
	if params == nil {
		params = []any{}
	}
	id := nextID()
	c.sendJSON(map[string]any{"msg": "method", "id": id, "method": method, "params": params})
	res := c.expect(func(m map[string]any) bool { return m["msg"] == "result" && m["id"] == id })
	c.expect(func(m map[string]any) bool {
		ms, _ := m["methods"].([]any)
		return m["msg"] == "updated" && len(ms) == 1 && ms[0] == id
	})
	return res
}

// ok calls a method that must succeed and returns its result.
func (c *client) ok(method string, params ...any) any {
	c.t.Helper()
	res := c.call(method, params...)
	if res["error"] != nil {
		c.t.Fatalf("%s: error %v", method, res["error"])
	}
	return res["result"]
}

// fails calls a method that must fail and returns the error's "error" field.
func (c *client) fails(method string, params ...any) any {
	c.t.Helper()
	res := c.call(method, params...)
	e, _ := res["error"].(map[string]any)
	if e == nil {
		c.t.Fatalf("%s succeeded: %v", method, res["result"])
	}
	if e["errorType"] != "Meteor.Error" || e["isClientSafe"] != true {
		c.t.Fatalf("%s: error is not a Meteor.Error: %v", method, e)
	}
	return e["error"]
}

func (c *client) login(name string) map[string]any {
	c.t.Helper()
	res := c.ok("login", map[string]any{"user": map[string]any{"username": name}, "password": name + "pass"})
	return res.(map[string]any)
}

// sub subscribes and returns nil when ready, or the nosub error.
func (c *client) sub(name string, params ...any) any {
	c.t.Helper()
	id := nextID()
	c.sendJSON(map[string]any{"msg": "sub", "id": id, "name": name, "params": params})
	m := c.expect(func(m map[string]any) bool {
		if m["msg"] == "ready" {
			subs, _ := m["subs"].([]any)
			return len(subs) == 1 && subs[0] == id
		}
		return m["msg"] == "nosub" && m["id"] == id
	})
	if m["msg"] == "ready" {
		return nil
	}
	if m["error"] == nil {
		return "nosub without error"
	}
	return m["error"]
}

func (c *client) mustSub(name string, params ...any) {
	c.t.Helper()
	if err := c.sub(name, params...); err != nil {
		c.t.Fatalf("sub %s %v refused: %v", name, params, err)
	}
}

// event waits for a changed message on the stream with the event name.
func (c *client) event(stream, eventName string, ok func(args []any) bool) []any {
	c.t.Helper()
	m := c.expect(func(m map[string]any) bool { return isEvent(m, stream, eventName, ok) })
	return m["fields"].(map[string]any)["args"].([]any)
}

// noEvent checks that no such event comes within d.
func (c *client) noEvent(d time.Duration, stream, eventName string, ok func(args []any) bool) {
	c.t.Helper()
	if m, found := c.within(d, func(m map[string]any) bool { return isEvent(m, stream, eventName, ok) }); found {
		c.t.Fatalf("unexpected event %v", m)
	}
}

func isEvent(m map[string]any, stream, eventName string, ok func(args []any) bool) bool {
	if m["msg"] != "changed" || m["collection"] != stream {
		return false
	}
	f, _ := m["fields"].(map[string]any)
	if f == nil || f["eventName"] != eventName {
		return false
	}
	args, _ := f["args"].([]any)
	return ok == nil || ok(args)
}

// msgText returns the msg of a message document in args[0].
func msgText(args []any) string {
	if len(args) == 0 {
		return ""
	}
	m, _ := args[0].(map[string]any)
	s, _ := m["msg"].(string)
	return s
}

func text(want string) func([]any) bool {
	return func(args []any) bool { return msgText(args) == want }
}
