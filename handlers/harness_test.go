package handlers

// The test harness every handlers test uses: a real bbolt file in t.TempDir(), the embedded
// default seed, real HTTP through httptest, an injectable clock.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
	"rocketlite/store/testopen"
)

// testClock is a settable clock for token expiry tests.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type testServer struct {
	t      *testing.T
	st     store.Store
	api    *API
	srv    *httptest.Server
	clock  *testClock
	hasher *auth.Hasher
	path   string
	admin  creds // logged-in admin ("admin" / "adminpass")
	logs   *syncBuffer
}

// creds are what a client sends in X-User-Id and X-Auth-Token.
type creds struct{ UserID, Token string }

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// seededStore opens a store at path with the default seed and the admin "admin"/"adminpass",
// closed when the test ends: the start of every handlers test and benchmark. now may be nil.
func seededStore(tb testing.TB, path string, cost int, now func() time.Time) (store.Store, *auth.Hasher) {
	tb.Helper()
	return seededStoreOpts(tb, path, cost, store.Options{Now: now})
}

// seededStoreOpts is seededStore with the store's options (caps) given.
func seededStoreOpts(tb testing.TB, path string, cost int, opts store.Options) (store.Store, *auth.Hasher) {
	tb.Helper()
	st := testopen.Open(tb, path, opts)
	h, err := auth.NewHasher(cost)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := seed.ApplyDefault(st, h); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := seed.EnsureAdmin(st, h, "admin", "adminpass"); err != nil {
		tb.Fatal(err)
	}
	return st, h
}

// newTestServer starts an API on a fresh database with the default seed and an admin.
// change, if given, may adjust the Config before the API is built.
func newTestServer(t *testing.T, change ...func(*Config)) *testServer {
	t.Helper()
	return newTestServerOpts(t, store.Options{}, change...)
}

// newTestServerOpts is newTestServer on a store opened with opts (the clock is the test's).
func newTestServerOpts(t *testing.T, opts store.Options, change ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{t: t, clock: &testClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	ts.path = filepath.Join(t.TempDir(), "test.db")
	opts.Now = ts.clock.Now
	st, h := seededStoreOpts(t, ts.path, bcrypt.MinCost, opts)
	ts.st, ts.hasher = st, h
	cfg := Config{Store: st, Hasher: ts.hasher, Log: zerolog.New(ts.logs), TokenTTL: 24 * time.Hour, Version: "test"}
	// Abuse limits off: tests send and fail logins faster than people, on a frozen clock.
	// limits_test.go turns them on (withDefaultLimits).
	cfg.Limits = Limits{SendRate: -1, WriteRate: -1, LoginPerAccount: 1 << 30, LoginPerAddress: 1 << 30}
	cfg.Reads = ReadLimits{ScanRate: -1}
	for _, c := range change {
		c(&cfg)
	}
	ts.api = New(cfg)
	ts.srv = httptest.NewServer(ts.api)
	t.Cleanup(ts.srv.Close)
	ts.admin = ts.login("admin", "adminpass")
	return ts
}

// createUser stores an active user with the password and global roles (default "user").
func (ts *testServer) createUser(name, password string, roles ...string) *store.User {
	ts.t.Helper()
	hash, err := ts.hasher.Hash(password)
	if err != nil {
		ts.t.Fatal(err)
	}
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	u := &store.User{Username: name, Name: name, Email: name + "@example.org", Hash: hash, Roles: roles, Active: true}
	if err := ts.st.CreateUser(u, true); err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// login logs in through POST /api/login and fails the test unless it succeeds.
func (ts *testServer) login(name, password string) creds {
	ts.t.Helper()
	res := ts.do("POST", "/api/login", nil, "user="+name+"&password="+password)
	if res.Status != 200 {
		ts.t.Fatalf("login %s: %d %s", name, res.Status, res.Raw)
	}
	data := res.Obj["data"].(map[string]any)
	return creds{UserID: data["userId"].(string), Token: data["authToken"].(string)}
}

// response is what a test sees of an answer.
type response struct {
	Status int
	Header http.Header
	Raw    string
	Obj    map[string]any // the body decoded, if it is a JSON object
}

// do sends a request. A body starting with '{' goes as application/json, any other non-empty
// body as a form.
func (ts *testServer) do(method, path string, c *creds, body string) response {
	ct := ""
	if body != "" {
		ct = "application/x-www-form-urlencoded"
		if strings.HasPrefix(strings.TrimSpace(body), "{") {
			ct = "application/json"
		}
	}
	return ts.doCT(method, path, c, body, ct)
}

// doCT sends a request with an explicit Content-Type ("" for none).
func (ts *testServer) doCT(method, path string, c *creds, body, contentType string) response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.srv.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c != nil {
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
	}
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	json.Unmarshal(raw, &r.Obj)
	return r
}

// want fails the test unless the response has the status and, for each key of fields, the
// same top-level value (compared after a JSON round trip).
func (r response) want(t *testing.T, status int, fields map[string]any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	for k, v := range fields {
		want, _ := json.Marshal(v)
		got, _ := json.Marshal(r.Obj[k])
		if string(got) != string(want) {
			t.Fatalf("%s = %s, want %s; body %s", k, got, want, r.Raw)
		}
	}
}

// counts returns the key count of every bucket, to prove a refused request wrote nothing.
func (ts *testServer) counts() map[string]int {
	ts.t.Helper()
	c, err := ts.st.Counts()
	if err != nil {
		ts.t.Fatal(err)
	}
	return c
}

func TestHarnessSmoke(t *testing.T) {
	ts := newTestServer(t)
	ts.do("GET", "/api/version", nil, "").want(t, 200, map[string]any{"status": "success"})
	ts.do("GET", "/api/publicRooms", &ts.admin, "").want(t, 200, map[string]any{"status": "success"})
}
