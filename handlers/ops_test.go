package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/store/testopen"

	"rocketlite/seed"
	"rocketlite/store"
)

func TestCORS(t *testing.T) {
	const listed = "https://chat.example.org"
	ts := newTestServer(t, func(c *Config) { c.CORSOrigins = []string{"https://Chat.example.org/", "http://localhost:8080"} })
	get := func(origin string) response {
		req, _ := http.NewRequest("GET", ts.srv.URL+"/api/version", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return send(t, req)
	}
	t.Run("Listed", func(t *testing.T) {
		res := get(listed)
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != listed {
			t.Fatalf("ACAO = %q", got)
		}
		if !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Origin") {
			t.Fatal("no Vary: Origin")
		}
	})
	for name, origin := range map[string]string{"Unlisted": "https://evil.example", "NoOrigin": "", "OtherPort": "http://localhost:8081", "Null": "null"} {
		t.Run(name, func(t *testing.T) {
			if got := get(origin).Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("ACAO = %q for %q", got, origin)
			}
		})
	}
	preflight := func(origin string) response {
		req, _ := http.NewRequest("OPTIONS", ts.srv.URL+"/api/rooms/GENERAL/send", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "x-user-id, x-auth-token, content-type")
		return send(t, req)
	}
	t.Run("PreflightListed", func(t *testing.T) {
		res := preflight(listed)
		if res.Status != 204 || res.Header.Get("Access-Control-Allow-Origin") != listed {
			t.Fatalf("status %d, headers %v", res.Status, res.Header)
		}
		for _, h := range []string{"X-User-Id", "X-Auth-Token", "Content-Type"} {
			if !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), h) {
				t.Fatalf("Allow-Headers %q lacks %s", res.Header.Get("Access-Control-Allow-Headers"), h)
			}
		}
		if !strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Fatalf("Allow-Methods %q", res.Header.Get("Access-Control-Allow-Methods"))
		}
	})
	t.Run("PreflightUnlisted", func(t *testing.T) {
		res := preflight("https://evil.example")
		for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods"} {
			if res.Header.Get(h) != "" {
				t.Fatalf("%s set for an unlisted origin", h)
			}
		}
	})
	t.Run("NoneConfigured", func(t *testing.T) {
		ts2 := newTestServer(t)
		req, _ := http.NewRequest("GET", ts2.srv.URL+"/api/version", nil)
		req.Header.Set("Origin", listed)
		if got := send(t, req).Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("ACAO = %q", got)
		}
	})
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
}

func TestHealth(t *testing.T) {
	ts := newTestServer(t)
	ts.do("GET", "/healthz", nil, "").want(t, 200, map[string]any{"status": "ok"})
	ts.do("GET", "/readyz", nil, "").want(t, 200, map[string]any{"status": "ok"})
	ts.do("GET", "/readyz/", nil, "").want(t, 200, nil)
	// readyz reports the database, whichever backend serves it (issue 14).
	db, _ := ts.do("GET", "/readyz", nil, "").Obj["database"].(map[string]any)
	switch db["backend"] {
	case "bbolt":
		if db["schema"] != "1" || db["size"] == nil {
			t.Fatalf("readyz database %v", db)
		}
	case "postgresql":
		pool, _ := db["pool"].(map[string]any)
		if v, _ := db["schema"].(float64); v < 1 || pool == nil || pool["max"].(float64) < 1 || db["eventsSeen"] == nil {
			t.Fatalf("readyz database %v", db)
		}
	default:
		t.Fatalf("readyz database %v: no backend named", db)
	}
	// A database that does not answer: readyz says so, healthz (no I/O) does not care.
	ts.st.Close()
	ts.do("GET", "/readyz", nil, "").want(t, 503, map[string]any{"status": "error"})
	ts.do("GET", "/healthz", nil, "").want(t, 200, nil)
}

// newSizedServer is newTestServer on a store with a size cap.
func newSizedServer(t *testing.T, path string, maxSize int) *testServer {
	t.Helper()
	ts := &testServer{t: t, clock: &testClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}, path: path}
	st, err := store.Open(path, store.Options{MaxSize: maxSize, Now: ts.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts.st = st
	if ts.hasher, err = auth.NewHasher(bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.ApplyDefault(st, ts.hasher); err != nil {
		t.Fatal(err)
	}
	if _, _, err := seed.EnsureAdmin(st, ts.hasher, "admin", "adminpass"); err != nil {
		t.Fatal(err)
	}
	ts.api = New(Config{Store: st, Hasher: ts.hasher, Log: zerolog.New(ts.logs), Limits: Limits{SendRate: -1}})
	ts.srv = httptest.NewServer(ts.api)
	t.Cleanup(ts.srv.Close)
	ts.admin = ts.login("admin", "adminpass")
	return ts
}

func TestDatabaseFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.db")
	const cap = 256 << 10
	ts := newSizedServer(t, path, cap)
	big := strings.Repeat("x", 4000)
	var sent []string
	for i := 0; ; i++ {
		if i > 200 {
			t.Fatal("the database never filled up")
		}
		res := ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, fmt.Sprintf(`{"msg":"%d %s"}`, i, big))
		if res.Status == 507 {
			res.want(t, 507, map[string]any{"status": "error", "error": "database-full"})
			if !strings.Contains(res.Raw, "size limit") {
				t.Fatalf("unclear message: %s", res.Raw)
			}
			break
		}
		res.want(t, 200, nil)
		sent = append(sent, res.Obj["message"].(map[string]any)["_id"].(string))
	}
	if fi, _ := os.Stat(path); fi.Size() > cap {
		t.Fatalf("file is %d bytes, over the cap %d", fi.Size(), cap)
	}
	// Reads keep working; the server is still ready (a full file is not a fault).
	ts.do("GET", "/api/rooms/GENERAL/messages?count=5", &ts.admin, "").want(t, 200, nil)
	ts.do("GET", "/readyz", nil, "").want(t, 200, nil)
	if !strings.Contains(ts.logs.String(), "database size limit") {
		t.Fatal("the refusal was not logged")
	}

	// Freeing space (deleting messages) lets writes resume. A delete needs a few free pages
	// itself; bbolt has them from the pages the last commits freed.
	deleted := 0
	admin, err := ts.st.UserByUsername("admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range sent[:len(sent)/2] {
		if _, err := ts.st.DeleteMessage(id, admin, func(*store.Message) error { return nil }); err != nil {
			t.Fatalf("delete %d: %v", deleted, err)
		}
		deleted++
	}
	ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"after freeing `+big+`"}`).want(t, 200, nil)
	if errs := ts.st.Check(); errs != nil {
		t.Fatal(errs)
	}

	// Fill it again, then raise the cap on restart: writes resume too.
	for i := 0; ; i++ {
		if i > 200 {
			t.Fatal("never filled up again")
		}
		if ts.do("POST", "/api/rooms/GENERAL/send", &ts.admin, `{"msg":"`+big+`"}`).Status == 507 {
			break
		}
	}
	ts.srv.Close()
	ts.st.Close()
	ts2 := newSizedServer(t, path, 4*cap)
	ts2.do("POST", "/api/rooms/GENERAL/send", &ts2.admin, `{"msg":"`+big+`"}`).want(t, 200, nil)
	if errs := ts2.st.Check(); errs != nil {
		t.Fatal(errs)
	}
}

func TestBackupRoute(t *testing.T) {
	testopen.BoltOnly(t, "GET /api/backup streams the bbolt file; PostgreSQL's answer is tested in TestBackupCheckPostgres")
	ts := newTestServer(t)
	ts.createUser("erin", "erinpass")
	erin := ts.login("erin", "erinpass")
	ts.do("GET", "/api/backup", nil, "").want(t, 401, nil)
	ts.do("GET", "/api/backup", &erin, "").want(t, 403, map[string]any{"message": "You do not have permission to do this"})

	// A backup while eight writers send: it must be a sound, consistent file.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var acked atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 400; i++ {
				if ts.doQuiet("POST", "/api/rooms/GENERAL/send", &ts.admin, fmt.Sprintf("msg=w%d-%d", w, i)) == 200 {
					acked.Add(1)
				}
			}
		}()
	}
	for acked.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	req, _ := http.NewRequest("GET", ts.srv.URL+"/api/backup", nil)
	req.Header.Set("X-User-Id", ts.admin.UserID)
	req.Header.Set("X-Auth-Token", ts.admin.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, res.Body)
	res.Body.Close()
	f.Close()
	stop.Store(true)
	wg.Wait()
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("backup: %v, status %d, %v", err, res.StatusCode, res.Header)
	}
	if res.Header.Get("Content-Length") != fmt.Sprint(n) {
		t.Fatalf("Content-Length %s, got %d bytes", res.Header.Get("Content-Length"), n)
	}
	if acked.Load() == 0 {
		t.Fatal("no writes went through during the backup")
	}
	// Restore: open the copy as a database and check it.
	st, err := store.Open(out, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if errs := st.Check(); errs != nil {
		t.Fatalf("restored copy: %v", errs)
	}
	c, _ := st.Counts()
	if c["messages"] < 50 || c["users"] != 2 {
		t.Fatalf("restored copy has %v", c)
	}
	if !strings.Contains(ts.logs.String(), `"message":"backup"`) {
		t.Fatal("backup not logged")
	}
}

// doQuiet sends a form request and returns only the status (0 on a transport error); safe
// from many goroutines.
func (ts *testServer) doQuiet(method, path string, c *creds, body string) int {
	req, err := http.NewRequest(method, ts.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-User-Id", c.UserID)
	req.Header.Set("X-Auth-Token", c.Token)
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}
