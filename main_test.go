package main

// Whole-program tests: run() with real flags, a real database file, a real listener on
// 127.0.0.1 and real HTTP requests, as a user of the README would drive it.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/store"
)

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

// logLines decodes the JSON log lines written so far.
func (s *syncBuffer) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func (s *syncBuffer) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	for _, e := range s.logLines(t) {
		if e["message"] == msg {
			return e
		}
	}
	return nil
}

func noEnv(string) string { return "" }

// server is one run() of the program, serving in the background.
type server struct {
	t      *testing.T
	base   string
	stderr *syncBuffer
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs the program with args after "rocketlite", waits for its "listening" log line and
// returns the address it serves on.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, stderr: &syncBuffer{}, stdout: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	full := append([]string{"rocketlite", "--addr", "127.0.0.1:0", "--log-format", "json", "--bcrypt-cost", "4"}, args...)
	go func() { s.done <- run(ctx, full, noEnv, strings.NewReader(""), s.stdout, s.stderr) }()
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(20 * time.Second) // a hang guard, not a speed check
	for {
		if e := s.stderr.find(t, "listening"); e != nil {
			addr, _ := e["addr"].(string)
			if addr == "" {
				t.Fatalf("listening line without addr: %v", e)
			}
			s.base = "http://" + addr
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("run returned before listening: %v\n%s", err, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line:\n%s", s.stderr.String())
		}
	}
}

// stop cancels the context (what SIGINT/SIGTERM do) and returns run's result.
func (s *server) stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		s.t.Fatal("run did not return after its context ended")
		return nil
	}
}

type answer struct {
	status int
	header http.Header
	raw    string
	obj    map[string]any
}

// curl sends a request the way the wiki's curl lines do: -d bodies go with curl's default
// form Content-Type unless contentType says otherwise.
func (s *server) curl(method, path, uid, token, body, contentType string) answer {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		if contentType == "" {
			contentType = "application/x-www-form-urlencoded"
		}
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if uid != "" {
		req.Header.Set("X-User-Id", uid)
		req.Header.Set("X-Auth-Token", token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, header: res.Header, raw: string(raw)}
	json.Unmarshal(raw, &a.obj)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	return a
}

func (a answer) want(t *testing.T, status int, raw string) {
	t.Helper()
	if a.status != status || (raw != "" && a.raw != raw) {
		t.Fatalf("got %d\n%s\nwant %d\n%s", a.status, a.raw, status, raw)
	}
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wikiSeed adds a second public room to join and leave, as the wiki's x4pRahjs5oYcTYu7i.
// It creates no user, so the program still creates the admin of --admin-password.
const wikiSeed = `{"rooms": [{"name": "dev", "t": "c"}]}`

func counts(t *testing.T, db string) map[string]int {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWikiWalkthrough walks every curl example of the 2015 wiki, in the order of the README,
// against the whole program, then restarts it on the same database.
func TestWikiWalkthrough(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rocketlite.db")
	seedFile := writeFile(t, filepath.Join(dir, "seed.json"), wikiSeed)
	s := start(t, "--db", db, "--seed", seedFile, "--admin-password", "adminpass")

	// curl http://localhost:3000/api/version
	s.curl("GET", "/api/version", "", "", "", "").want(t, 200,
		"{\n  \"status\": \"success\",\n  \"versions\": {\n    \"api\": \"0.1\",\n    \"rocketchat\": \"0.5\"\n  }\n}\n")

	// curl http://localhost:3000/api/login -d "password=MySECRET&user=sing"
	login := s.curl("POST", "/api/login", "", "", "password=adminpass&user=admin", "")
	login.want(t, 200, "")
	data, _ := login.obj["data"].(map[string]any)
	uid, _ := data["userId"].(string)
	token, _ := data["authToken"].(string)
	if len(uid) != 17 || len(token) != 43 {
		t.Fatalf("login data %v", data)
	}
	if want := "{\n  \"status\": \"success\",\n  \"data\": {\n    \"authToken\": \"" + token +
		"\",\n    \"userId\": \"" + uid + "\"\n  }\n}\n"; login.raw != want {
		t.Fatalf("login body %s", login.raw)
	}
	// A second session, used after the restart.
	login2 := s.curl("POST", "/api/login", "", "", `{"username":"admin","password":"adminpass"}`, "application/json")
	login2.want(t, 200, "")
	data2, _ := login2.obj["data"].(map[string]any)
	token2, _ := data2["authToken"].(string)

	// curl -H ... http://localhost:3000/api/publicRooms
	pr := s.curl("GET", "/api/publicRooms", uid, token, "", "")
	pr.want(t, 200, "")
	rooms, _ := pr.obj["rooms"].([]any)
	var general, dev map[string]any
	for _, r := range rooms {
		r := r.(map[string]any)
		switch r["name"] {
		case "general":
			general = r
		case "dev":
			dev = r
		}
	}
	if general == nil || dev == nil || general["_id"] != "GENERAL" || general["t"] != "c" {
		t.Fatalf("rooms %s", pr.raw)
	}
	if names, _ := json.Marshal(general["usernames"]); string(names) != `["admin"]` {
		t.Fatalf("GENERAL usernames %s", names)
	}
	devID := dev["_id"].(string)

	// curl -H ... http://localhost:3000/api/rooms/x4pRahjs5oYcTYu7i/join -d "{}"
	s.curl("POST", "/api/rooms/"+devID+"/join", uid, token, "{}", "").want(t, 200, "{\n  \"status\": \"success\"\n}\n")
	// curl -H ... http://localhost:3000/api/rooms/x4pRahjs5oYcTYu7i/leave -d "{}"
	s.curl("POST", "/api/rooms/"+devID+"/leave", uid, token, "{}", "").want(t, 200, "{\n  \"status\": \"success\"\n}\n")

	// curl -H ... http://localhost:3000/api/rooms/x4pRahjs5oYcTYu7i/messages
	ms := s.curl("GET", "/api/rooms/"+devID+"/messages", uid, token, "", "")
	ms.want(t, 200, "")
	list, _ := ms.obj["messages"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["t"] != "ul" || list[1].(map[string]any)["t"] != "uj" {
		t.Fatalf("messages %s", ms.raw)
	}

	// curl -H ... -H "Content-Type: application/json" -X POST .../send -d "{ \"msg\" : \"OK\" }"
	send := s.curl("POST", "/api/rooms/"+devID+"/send", uid, token, `{ "msg" : "OK" }`, "application/json")
	send.want(t, 200, "")
	if send.obj["status"] != "success" {
		t.Fatalf("send %s", send.raw)
	}
	ms = s.curl("GET", "/api/rooms/"+devID+"/messages", uid, token, "", "")
	list, _ = ms.obj["messages"].([]any)
	if len(list) != 3 || list[0].(map[string]any)["msg"] != "OK" {
		t.Fatalf("messages after send %s", ms.raw)
	}

	// curl -H ... http://localhost:3000/api/logout
	s.curl("GET", "/api/logout", uid, token, "", "").want(t, 200,
		"{\n  \"status\": \"success\",\n  \"data\": {\n    \"message\": \"You've been logged out!\"\n  }\n}\n")
	s.curl("GET", "/api/publicRooms", uid, token, "", "").want(t, 401,
		"{\n  \"status\": \"error\",\n  \"message\": \"You must be logged in to do this.\"\n}\n")

	// Neither the password of --admin-password nor a token is ever logged.
	if strings.Contains(s.stderr.String(), "adminpass") || strings.Contains(s.stderr.String(), token) ||
		strings.Contains(s.stderr.String(), token2) {
		t.Fatalf("the log holds a password or token:\n%s", s.stderr.String())
	}

	// Cancelling the context (SIGINT/SIGTERM) drains and returns nil.
	if err := s.stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if s.stderr.find(t, "stopped") == nil {
		t.Fatalf("no stopped line:\n%s", s.stderr.String())
	}
	before := counts(t, db)

	// Restart on the same database: users, tokens, rooms and messages are all there.
	s2 := start(t, "--db", db, "--seed", seedFile)
	if e := s2.stderr.find(t, "no user existed: created an admin"); e != nil {
		t.Fatal("a restart created another admin")
	}
	if e := s2.stderr.find(t, "seeded"); e != nil {
		t.Fatalf("a restart seeded again: %v", e)
	}
	ms = s2.curl("GET", "/api/rooms/"+devID+"/messages", uid, token2, "", "")
	ms.want(t, 200, "")
	list, _ = ms.obj["messages"].([]any)
	if len(list) != 3 || list[0].(map[string]any)["msg"] != "OK" {
		t.Fatalf("messages after restart %s", ms.raw)
	}
	s2.curl("POST", "/api/login", "", "", "user=admin&password=adminpass", "").want(t, 200, "")
	if err := s2.stop(); err != nil {
		t.Fatal(err)
	}
	after := counts(t, db)
	// The restart wrote only the login's token (tokens, tokens_by_expiry, tokens_by_user).
	for k, v := range before {
		want := v
		if strings.HasPrefix(k, "tokens") {
			want++
		}
		if after[k] != want {
			t.Fatalf("bucket %s: %d keys before restart, %d after", k, v, after[k])
		}
	}
}

func TestRandomAdminPassword(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	s := start(t, "--db", db, "--admin-user", "boss")
	e := s.stderr.find(t, "no user existed: created an admin")
	if e == nil || e["user"] != "boss" {
		t.Fatalf("admin line %v", e)
	}
	password, _ := e["password"].(string)
	if len(password) < 16 {
		t.Fatalf("generated password %q", password)
	}
	s.curl("POST", "/api/login", "", "", "user=boss&password="+password, "").want(t, 200, "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Printed once: a restart neither creates another admin nor shows the password again.
	s2 := start(t, "--db", db)
	if strings.Contains(s2.stderr.String(), password) || s2.stderr.find(t, "no user existed: created an admin") != nil {
		t.Fatalf("restart:\n%s", s2.stderr.String())
	}
	// Another start on a new database gets another password.
	s3 := start(t, "--db", filepath.Join(t.TempDir(), "other.db"))
	if e3 := s3.stderr.find(t, "no user existed: created an admin"); e3 == nil || e3["password"] == password {
		t.Fatalf("second database: %v", e3)
	}
}

// A quiet --log-level must not swallow the generated admin password: it is shown nowhere else.
func TestRandomAdminPasswordQuietLog(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := &serveConfig{adminUser: "admin", logLevel: "error"}
	if err := applySeeds(context.Background(), st, h, cfg, newLogger(logs, "json", cfg.logLevel)); err != nil {
		t.Fatal(err)
	}
	if logs.find(t, "seeded") != nil {
		t.Fatalf("an info line passed --log-level error:\n%s", logs.String())
	}
	e := logs.find(t, "no user existed: created an admin")
	if e == nil {
		t.Fatalf("--log-level error hid the generated admin password:\n%s", logs.String())
	}
	password, _ := e["password"].(string)
	u, err := st.UserByUsername("admin")
	if err != nil || u == nil || !h.Check(u.Hash, password) {
		t.Fatalf("the logged password %q does not log the admin in (%v)", password, err)
	}
}

func TestFlagEnvPrecedence(t *testing.T) {
	env := map[string]string{
		"ROCKETLITE_ADDR":           "127.0.0.1:4000",
		"ROCKETLITE_DB":             "/env/db",
		"ROCKETLITE_SEED":           "/env/seed.json",
		"ROCKETLITE_ADMIN_USER":     "envadmin",
		"ROCKETLITE_ADMIN_PASSWORD": "envpass",
		"ROCKETLITE_BCRYPT_COST":    "5",
		"ROCKETLITE_TOKEN_TTL":      "1h",
		"ROCKETLITE_TOKEN_SWEEP":    "2m",
		"ROCKETLITE_LOG_LEVEL":      "warn",
		"ROCKETLITE_LOG_FORMAT":     "console",
	}
	getenv := func(k string) string { return env[k] }
	// The flags of issue 2; later flags have tests of their own.
	core := func(c *serveConfig) serveConfig {
		return serveConfig{addr: c.addr, db: c.db, seedFile: c.seedFile, adminUser: c.adminUser,
			adminPassword: c.adminPassword, bcryptCost: c.bcryptCost, tokenTTL: c.tokenTTL,
			tokenSweep: c.tokenSweep, logLevel: c.logLevel, logFormat: c.logFormat}
	}

	t.Run("Defaults", func(t *testing.T) {
		c, err := parseServe(nil, noEnv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := serveConfig{addr: "127.0.0.1:3000", db: "rocketlite.db", adminUser: "admin", bcryptCost: 10,
			tokenTTL: 2160 * time.Hour, tokenSweep: time.Hour, logLevel: "info"}
		if !reflect.DeepEqual(core(c), want) {
			t.Fatalf("got %+v\nwant %+v", *c, want)
		}
	})
	t.Run("EnvOverDefault", func(t *testing.T) {
		c, err := parseServe(nil, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := serveConfig{addr: "127.0.0.1:4000", db: "/env/db", seedFile: "/env/seed.json", adminUser: "envadmin",
			adminPassword: "envpass", bcryptCost: 5, tokenTTL: time.Hour, tokenSweep: 2 * time.Minute,
			logLevel: "warn", logFormat: "console"}
		if !reflect.DeepEqual(core(c), want) {
			t.Fatalf("got %+v\nwant %+v", *c, want)
		}
	})
	t.Run("FlagOverEnv", func(t *testing.T) {
		c, err := parseServe([]string{"--addr", ":5000", "--db", "flag.db", "--seed", "f.json", "--admin-user", "flagadmin",
			"--admin-password", "flagpass", "--bcrypt-cost", "6", "--token-ttl", "2h", "--token-sweep", "3m",
			"--log-level", "debug", "--log-format", "json"}, getenv, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := serveConfig{addr: ":5000", db: "flag.db", seedFile: "f.json", adminUser: "flagadmin",
			adminPassword: "flagpass", bcryptCost: 6, tokenTTL: 2 * time.Hour, tokenSweep: 3 * time.Minute,
			logLevel: "debug", logFormat: "json"}
		if !reflect.DeepEqual(core(c), want) {
			t.Fatalf("got %+v\nwant %+v", *c, want)
		}
	})
	t.Run("FlagEqualToDefaultStillWins", func(t *testing.T) {
		c, err := parseServe([]string{"--bcrypt-cost=10", "--addr=:3000"}, getenv, io.Discard)
		if err != nil || c.bcryptCost != 10 || c.addr != ":3000" || c.tokenTTL != time.Hour {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("ThroughRun", func(t *testing.T) {
		// The environment reaches the real program: ROCKETLITE_DB names the file it creates.
		dir := t.TempDir()
		db := filepath.Join(dir, "env.db")
		ctx, cancel := context.WithCancel(context.Background())
		stderr := &syncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"rocketlite", "serve"}, func(k string) string {
				return map[string]string{"ROCKETLITE_DB": db, "ROCKETLITE_ADDR": "127.0.0.1:0",
					"ROCKETLITE_LOG_FORMAT": "json", "ROCKETLITE_BCRYPT_COST": "4", "ROCKETLITE_ADMIN_PASSWORD": "x"}[k]
			}, nil, io.Discard, stderr)
		}()
		for stderr.find(t, "listening") == nil {
			select {
			case err := <-done:
				t.Fatalf("run: %v\n%s", err, stderr.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		if e := stderr.find(t, "listening"); e["db"] != db {
			t.Fatalf("listening on db %v, want %s", e["db"], db)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(db); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"CostTooLow", []string{"--bcrypt-cost", "3"}, nil},
		{"CostTooHigh", []string{"--bcrypt-cost", "32"}, nil},
		{"CostNotANumber", []string{"--bcrypt-cost", "ten"}, nil},
		{"TTLNotADuration", []string{"--token-ttl", "90days"}, nil},
		{"TTLNegative", []string{"--token-ttl", "-1h"}, nil},
		{"TTLZero", []string{"--token-ttl", "0s"}, nil},
		{"SweepZero", []string{"--token-sweep", "0"}, nil},
		{"LogFormat", []string{"--log-format", "xml"}, nil},
		{"LogLevel", []string{"--log-level", "loud"}, nil},
		{"UnknownFlag", []string{"--port", "3000"}, nil},
		{"ExtraArgument", []string{"serve", "now"}, nil},
		{"UnknownCommand", []string{"frobnicate"}, nil},
		{"EnvCostNotANumber", nil, map[string]string{"ROCKETLITE_BCRYPT_COST": "ten"}},
		{"EnvTTL", nil, map[string]string{"ROCKETLITE_TOKEN_TTL": "forever"}},
		{"EnvCostTooLow", nil, map[string]string{"ROCKETLITE_BCRYPT_COST": "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "never.db")
			env := map[string]string{"ROCKETLITE_DB": db, "ROCKETLITE_ADDR": "127.0.0.1:0"}
			maps.Copy(env, tc.env)
			stderr := &syncBuffer{}
			err := run(context.Background(), append([]string{"rocketlite"}, tc.args...),
				func(k string) string { return env[k] }, nil, io.Discard, stderr)
			if err == nil {
				t.Fatal("run accepted a bad command line")
			}
			if code := exitCode(err); code != 2 {
				t.Fatalf("exit code %d for %v, want 2 (usage)", code, err)
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a refused command line created the database")
			}
		})
	}
	t.Run("ServeHelp", func(t *testing.T) {
		err := run(context.Background(), []string{"rocketlite", "serve", "-h"}, noEnv, nil, io.Discard, io.Discard)
		if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 2 {
			t.Fatalf("%v", err)
		}
	})
}

func TestVersionCommand(t *testing.T) {
	out := &syncBuffer{}
	if err := run(context.Background(), []string{"rocketlite", "version"}, noEnv, nil, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "rocketlite "+version+"\n" {
		t.Fatalf("version printed %q", got)
	}
}

func TestBadSeedFile(t *testing.T) {
	cases := []struct{ name, seed, entry string }{
		{"BadUsername", `{"users":[{"username":"ok","password":"p"},{"username":"no spaces","password":"p"}]}`, "users[1]"},
		{"NoPassword", `{"users":[{"username":"nopass"}]}`, "users[0]"},
		{"BadBcrypt", `{"users":[{"username":"x","bcrypt":"$2a$nope"}]}`, "users[0]"},
		{"UnknownRole", `{"users":[{"username":"x","password":"p","roles":["wizard"]}]}`, "users[0]"},
		{"UnknownMember", `{"rooms":[{"name":"ok"},{"name":"dev","members":["ghost"]}]}`, "rooms[1]"},
		{"BadRoomType", `{"rooms":[{"name":"dev","t":"x"}]}`, "rooms[0]"},
		{"PermissionUnknownRole", `{"permissions":[{"_id":"do-it","roles":["wizard"]}]}`, "permissions[0]"},
		{"UnknownField", `{"users":[{"username":"x","password":"p","pasword":"typo"}]}`, "pasword"},
		{"NotJSON", `{"users":[`, "seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seedFile := writeFile(t, filepath.Join(dir, "bad-seed.json"), tc.seed)
			err := run(context.Background(), []string{"rocketlite", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "x.db"),
				"--seed", seedFile, "--bcrypt-cost", "4", "--log-format", "json", "--admin-password", "x"}, noEnv, nil, io.Discard, io.Discard)
			if err == nil {
				t.Fatal("a bad seed file was accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, seedFile) || !strings.Contains(msg, tc.entry) {
				t.Fatalf("error %q does not name the file and %s", msg, tc.entry)
			}
		})
	}
	t.Run("MissingFile", func(t *testing.T) {
		dir := t.TempDir()
		missing := filepath.Join(dir, "missing.json")
		err := run(context.Background(), []string{"rocketlite", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "x.db"),
			"--seed", missing, "--bcrypt-cost", "4", "--log-format", "json"}, noEnv, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("%v", err)
		}
	})
}

func TestSeedIdempotent(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	seedFile := writeFile(t, filepath.Join(dir, "seed.json"), `{
  "roles": [{"name": "support", "description": "Answers questions"}],
  "permissions": [{"_id": "answer-questions", "roles": ["support", "admin"]}],
  "users": [
    {"username": "sing", "name": "Sing", "email": "sing@example.org", "password": "MySECRET", "roles": ["user", "support"]},
    {"username": "hashed", "email": "h@example.org", "bcrypt": "$2a$04$zbku3TAMtkB5NpoTKGQTt.qEuwsf8u6CJGhHU2ayaS4SXrk7kWgTa"},
    {"username": "gone", "password": "gonepass", "active": false}
  ],
  "rooms": [
    {"_id": "GENERAL", "name": "general", "t": "c", "default": true, "members": ["sing"]},
    {"name": "support", "t": "p", "members": ["sing", "hashed"], "owner": "sing"}
  ]
}`)
	s := start(t, "--db", db, "--seed", seedFile)
	s.curl("POST", "/api/login", "", "", "user=sing&password=MySECRET", "").want(t, 200, "")
	// A user seeded with a bcrypt hash logs in with its password; an inactive one cannot.
	s.curl("POST", "/api/login", "", "", "user=hashed&password=hashedpass", "").want(t, 200, "")
	s.curl("POST", "/api/login", "", "", "user=gone&password=gonepass", "").want(t, 401, "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	first := counts(t, db)

	s = start(t, "--db", db, "--seed", seedFile)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if second := counts(t, db); !maps.Equal(first, second) {
		t.Fatalf("second start with the same seed changed the store:\nfirst  %v\nsecond %v", first, second)
	}
	if s.stderr.find(t, "seeded") != nil {
		t.Fatal("the second start reports seeding")
	}

	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sing, err := st.UserByUsername("sing")
	if err != nil || !sing.HasRole("support") {
		t.Fatalf("sing %+v %v", sing, err)
	}
	room, err := st.RoomByName("support")
	if err != nil || room.Type != store.Private || room.Creator == nil || room.Creator.Username != "sing" {
		t.Fatalf("room %+v %v", room, err)
	}
	if m, err := st.Membership(room.ID, sing.ID); err != nil || m == nil || !m.HasRole("owner") {
		t.Fatalf("owner membership %+v %v", m, err)
	}
	if p, err := st.Permission("answer-questions"); err != nil || len(p.Roles) != 2 {
		t.Fatalf("permission %+v %v", p, err)
	}
}

// A second program on the same database file gives up at once with a message saying why.
func TestDatabaseInUse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "busy.db")
	s := start(t, "--db", db, "--admin-password", "x")
	err := run(context.Background(), []string{"rocketlite", "--addr", "127.0.0.1:0", "--db", db, "--log-format", "json"},
		noEnv, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), db) {
		t.Fatalf("second run: %v", err)
	}
	if exitCode(err) != 1 {
		t.Fatalf("exit code %d", exitCode(err))
	}
	// The first one is unharmed.
	s.curl("GET", "/api/version", "", "", "", "").want(t, 200, "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// Cancelling the context (SIGINT/SIGTERM) lets a request in flight finish and commit before
// run returns.
func TestShutdownDrainsInFlight(t *testing.T) {
	db := filepath.Join(t.TempDir(), "drain.db")
	s := start(t, "--db", db, "--admin-password", "adminpass")
	login := s.curl("POST", "/api/login", "", "", "user=admin&password=adminpass", "")
	data, _ := login.obj["data"].(map[string]any)
	uid, _ := data["userId"].(string)
	token, _ := data["authToken"].(string)

	// One connection for both requests, so that the slow one rides a connection the server
	// has accepted already.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	if res, err := client.Get(s.base + "/api/version"); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.base+"/api/rooms/GENERAL/send", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User-Id", uid)
	req.Header.Set("X-Auth-Token", token)
	type result struct {
		status int
		err    error
	}
	got := make(chan result, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			got <- result{0, err}
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		got <- result{res.StatusCode, nil}
	}()
	if _, err := pw.Write([]byte(`{"msg":"in fl`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the server start reading the request
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	time.Sleep(300 * time.Millisecond) // let shutdown begin while the body is half sent
	select {
	case err := <-stopped:
		t.Fatalf("run returned with a request in flight: %v", err)
	default:
	}
	pw.Write([]byte(`ight"}`))
	pw.Close()
	if r := <-got; r.err != nil || r.status != 200 {
		t.Fatalf("in-flight request: %d %v", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reader, err := st.User(uid)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.History("GENERAL", reader, store.HistoryQuery{Count: 1})
	if err != nil || len(msgs) != 1 || msgs[0].Text != "in flight" {
		t.Fatalf("after shutdown: %v %v", msgs, err)
	}
}

// testdata/seed.json is the example of the README: it must load, and the wiki's own login
// must work with it.
func TestReadmeSeedExample(t *testing.T) {
	db := filepath.Join(t.TempDir(), "example.db")
	s := start(t, "--db", db, "--seed", filepath.Join("testdata", "seed.json"))
	if s.stderr.find(t, "no user existed: created an admin") != nil {
		t.Fatal("an admin was created although the seed has users")
	}
	login := s.curl("POST", "/api/login", "", "", "password=MySECRET&user=sing", "")
	login.want(t, 200, "")
	s.curl("POST", "/api/login", "", "", "user=deploybot&password=deploy-secret", "").want(t, 200, "")
	s.curl("POST", "/api/login", "", "", "user=admin&password=change-me", "").want(t, 200, "")
	data, _ := login.obj["data"].(map[string]any)
	uid, _ := data["userId"].(string)
	token, _ := data["authToken"].(string)
	pr := s.curl("GET", "/api/publicRooms", uid, token, "", "")
	rooms, _ := pr.obj["rooms"].([]any)
	if len(rooms) != 1 {
		t.Fatalf("public rooms %s", pr.raw)
	}
	if names, _ := json.Marshal(rooms[0].(map[string]any)["usernames"]); string(names) != `["admin","sing"]` {
		t.Fatalf("GENERAL usernames %s", names)
	}
}

// TestSeedDoesNotResurrect (issue 9 item 11): with the README's seed, an admin deletes the
// seeded `admin` (whose password, change-me, is public) and renames `sing`; a restart with the
// same --seed brings neither back, so change-me opens nothing.
func TestSeedDoesNotResurrect(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	seedFile := filepath.Join("testdata", "seed.json")
	s := start(t, "--db", db, "--seed", seedFile)
	login := s.curl("POST", "/api/v1/login", "", "", "user=admin&password=change-me", "")
	login.want(t, 200, "")
	data, _ := login.obj["data"].(map[string]any)
	uid, _ := data["userId"].(string)
	token, _ := data["authToken"].(string)
	// A new admin takes over, then deletes the seeded one and renames sing.
	s.curl("POST", "/api/v1/users.create", uid, token,
		`{"username":"boss","email":"boss@example.org","name":"Boss","password":"boss-secret","roles":["admin"]}`, "application/json").want(t, 200, "")
	boss := s.curl("POST", "/api/v1/login", "", "", "user=boss&password=boss-secret", "")
	bd, _ := boss.obj["data"].(map[string]any)
	bid, _ := bd["userId"].(string)
	btok, _ := bd["authToken"].(string)
	info := s.curl("GET", "/api/v1/users.info?username=sing", bid, btok, "", "")
	info.want(t, 200, "")
	singID, _ := info.obj["user"].(map[string]any)["_id"].(string)
	s.curl("POST", "/api/v1/users.update", bid, btok, `{"userId":"`+singID+`","data":{"username":"singer"}}`, "application/json").want(t, 200, "")
	s.curl("POST", "/api/v1/users.delete", bid, btok, `{"userId":"`+uid+`"}`, "application/json").want(t, 200, "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	s = start(t, "--db", db, "--seed", seedFile)
	if s.stderr.find(t, "seeded") != nil {
		t.Fatal("the restart seeded something")
	}
	s.curl("POST", "/api/v1/login", "", "", "user=admin&password=change-me", "").want(t, 401, "")
	s.curl("POST", "/api/v1/login", "", "", "user=sing&password=MySECRET", "").want(t, 401, "")
	s.curl("POST", "/api/v1/login", "", "", "user=singer&password=MySECRET", "").want(t, 200, "")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}
