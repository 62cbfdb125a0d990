package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/migratetest"
	"rocketlite/store/pgstore"
	"rocketlite/store/pgstore/pgtest"
)

// migrateSource writes a bbolt file with every kind of record and closes it (a stopped
// server's file).
func migrateSource(t *testing.T, perRoom int) (string, *migratetest.Fixture) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rocketlite.db")
	clock := &migratetest.Clock{T: migratetest.Start}
	st, err := store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := migratetest.Fill(t, st, clock, perRoom)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path, f
}

func runMigrate(env map[string]string, args ...string) (stdout, stderr string, err error) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	err = run(context.Background(), append([]string{"rocketlite", "migrate"}, args...),
		func(k string) string { return env[k] }, nil, out, errOut)
	return out.String(), errOut.String(), err
}

// TestMigrateCommand: rocketlite migrate copies a stopped server's file into an empty
// PostgreSQL database and prints the verified counts; the copy answers the store contract as
// the file does (logins with the old passwords, tokens, histories, unread counts,
// permissions); a second migrate into the now full database is refused and changes nothing.
func TestMigrateCommand(t *testing.T) {
	dsn := pgtest.DSN(t)
	path, f := migrateSource(t, 20)
	old := progressEvery
	progressEvery = 0 // every step reported
	defer func() { progressEvery = old }()
	// --to from the environment, as ROCKETLITE_TO; rows sent 5 at a time.
	stdout, stderr, err := runMigrate(map[string]string{"ROCKETLITE_TO": dsn}, "--from", path, "--batch-rows", "5", "--batch-bytes", "64K")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	for _, line := range []string{"rocketlite migrate: copying " + path, "rocketlite migrate: building the indexes",
		"rocketlite migrate: counting the rows", "start the nodes with --db"} {
		if !strings.Contains(stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, stderr)
		}
	}
	// Rows go 5 at a time (a message's stars and mentions are rows too): several reports of
	// the messages come before the last.
	if n := strings.Count(stderr, "rocketlite migrate: messages: "); n < 3 {
		t.Errorf("%d progress reports of the messages:\n%s", n, stderr)
	}
	src, err := store.Open(path, store.Options{ReadOnly: true, Now: f.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want, err := src.ExportCounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range store.RecordKinds {
		n := want[k]
		line := strings.Join(strings.Fields(string(k)+" "+itoa(n)+" "+itoa(n)), " ")
		if !strings.Contains(squeeze(stdout), line) {
			t.Errorf("stdout lacks %q:\n%s", line, stdout)
		}
	}
	if !strings.Contains(stdout, "every count verified") || strings.Contains(stdout+stderr, "password=") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dst, err := pgstore.Open(ctx, dsn, pgstore.Options{Options: store.Options{Now: f.Clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	migratetest.Compare(t, f, src, dst)

	before, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	// ROCKETLITE_DB=postgres://… stands for --to.
	_, stderr, err = runMigrate(map[string]string{"ROCKETLITE_DB": dsn}, "--from", path)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "users") {
		t.Fatalf("second migrate = %v (exit %d), want a refusal naming the full tables\n%s", err, exitCode(err), stderr)
	}
	after, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range before {
		if after[k] != n {
			t.Errorf("refused migrate changed %s: %d rows, now %d", k, n, after[k])
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func squeeze(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// TestMigrateUsage: a command line migrate cannot use is a usage error (exit 2) that says
// what to write instead, and touches no file.
func TestMigrateUsage(t *testing.T) {
	path, _ := migrateSource(t, 0)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"NoTarget", nil, []string{"--from", path}, "needs --to postgres://"},
		{"FileTarget", nil, []string{"--from", path, "--to", "/tmp/other.db"}, "--to must be a PostgreSQL address"},
		{"EnvFileTarget", map[string]string{"ROCKETLITE_TO": "other.db"}, []string{"--from", path}, "ROCKETLITE_TO must be a PostgreSQL address"},
		{"PostgresSource", nil, []string{"--from", "postgres://a@b/c", "--to", "postgres://a@b/d"}, "--from must be a bbolt database file"},
		{"Argument", nil, []string{"--from", path, "--to", "postgres://a@b/d", "now"}, "takes no argument"},
		{"Batch", nil, []string{"--from", path, "--to", "postgres://a@b/d", "--batch-rows", "0"}, "--batch-rows must be at least 1"},
		{"UnknownFlag", nil, []string{"--form", path}, "not defined"},
		{"BatchBytesSmall", nil, []string{"--from", path, "--to", "postgres://a@b/d", "--batch-bytes", "1K"}, "--batch-bytes must be from 64K to 1G"},
		{"EnvBatchBytesBig", map[string]string{"ROCKETLITE_BATCH_BYTES": "2G"}, []string{"--from", path, "--to", "postgres://a@b/d"}, "ROCKETLITE_BATCH_BYTES must be from 64K to 1G"},
		{"BatchBytesNotASize", nil, []string{"--batch-bytes", "lots"}, "is not a size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runMigrate(tc.env, tc.args...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error()+stderr, tc.want) {
				t.Fatalf("migrate %v = %v (exit %d), want a usage error with %q\n%s", tc.args, err, exitCode(err), tc.want, stderr)
			}
		})
	}
}

// TestMigrateSourceErrors: a missing file, a file a running server holds, and a target that
// does not answer are reported plainly (exit 1), and the source is left as it was.
func TestMigrateSourceErrors(t *testing.T) {
	path, f := migrateSource(t, 0)
	missing := filepath.Join(t.TempDir(), "missing.db")
	_, _, err := runMigrate(nil, "--from", missing, "--to", "postgres://u@127.0.0.1:1/x")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "no database at "+missing+" (--from names it)") {
		t.Fatalf("missing file: %v", err)
	}
	// ROCKETLITE_DB naming a file stands for --from.
	_, _, err = runMigrate(map[string]string{"ROCKETLITE_DB": missing}, "--to", "postgres://u@127.0.0.1:1/x")
	if err == nil || !strings.Contains(err.Error(), "no database at "+missing+" (ROCKETLITE_DB names it)") {
		t.Fatalf("missing file from ROCKETLITE_DB: %v", err)
	}
	st, err := store.Open(path, store.Options{Now: f.Clock.Now}) // a running server
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runMigrate(nil, "--from", path, "--to", "postgres://u@127.0.0.1:1/x")
	st.Close()
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("file in use: %v", err)
	}
	// Port 1 on loopback refuses connections: the error names the database without password.
	_, _, err = runMigrate(nil, "--from", path, "--to", "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
	if err == nil || exitCode(err) != 1 || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable target: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateIntoNonEmpty: a database a server already started on (default roles, an
// admin) is refused before anything is copied.
func TestMigrateIntoNonEmpty(t *testing.T) {
	dsn := pgtest.DSN(t)
	path, _ := migrateSource(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dst, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.EnsureRole(&store.Role{Name: "admin"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = runMigrate(nil, "--from", path, "--to", dsn)
	var ne *pgstore.NotEmptyError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "rows in roles") {
		t.Fatalf("migrate into a started database = %v", err)
	}
}

// TestMigrateWithoutPostgres: the Pi build (-tags nopostgres) says how to migrate instead.
func TestMigrateWithoutPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rocketlite")
	build := exec.Command("go", "build", "-tags", "nopostgres", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path, _ := migrateSource(t, 0)
	out, err := exec.Command(bin, "migrate", "--from", path, "--to", "postgres://u@127.0.0.1:1/x").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "built with -tags nopostgres") {
		t.Fatalf("nopostgres migrate: %v\n%s", err, out)
	}
}

// TestMigrateThenServe: a server started on the copy takes the users' old passwords and
// personal access tokens, and serves the history of the file.
func TestMigrateThenServe(t *testing.T) {
	dsn := pgtest.DSN(t)
	path, f := migrateSource(t, 30)
	if _, stderr, err := runMigrate(nil, "--from", path, "--to", dsn); err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	src, err := store.Open(path, store.Options{ReadOnly: true, Now: f.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	lobby := f.Rooms["lobby"]
	want, err := src.History(lobby, f.Users["ann"], store.HistoryQuery{Count: 100})
	if err != nil {
		t.Fatal(err)
	}

	s := start(t, "--db", dsn)
	login := s.curl("POST", "/api/v1/login", "", "", `{"user":"bob","password":"`+f.Passwords["bob"]+`"}`, "application/json")
	login.want(t, 200, "")
	data := login.obj["data"].(map[string]any)
	uid, tok := data["userId"].(string), data["authToken"].(string)
	if uid != f.Users["bob"].ID {
		t.Fatalf("bob logged in as %s, was %s", uid, f.Users["bob"].ID)
	}
	s.curl("POST", "/api/v1/login", "", "", `{"user":"bob","password":"wrong"}`, "application/json").want(t, 401, "")
	h := s.curl("GET", "/api/v1/channels.history?roomId="+lobby+"&count=100", uid, tok, "", "")
	h.want(t, 200, "")
	msgs := h.obj["messages"].([]any)
	if len(msgs) != len(want) || len(want) < 30 {
		t.Fatalf("history on the copy: %d messages, the file has %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		if id := m.(map[string]any)["_id"]; id != want[i].ID {
			t.Fatalf("message %d: %v on the copy, %s in the file", i, id, want[i].ID)
		}
	}
	me := s.curl("GET", "/api/v1/me", f.Users["ann"].ID, f.PersonalToken, "", "")
	me.want(t, 200, "")
	if me.obj["username"] != "ann" {
		t.Fatalf("me with ann's personal access token: %s", me.raw)
	}
}

// cancelOn is a stderr that ends the command's context when a line it prints holds text
// (what Ctrl-C does at that moment).
type cancelOn struct {
	syncBuffer
	text   string
	cancel context.CancelCauseFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	n, err := c.syncBuffer.Write(p)
	if strings.Contains(c.syncBuffer.String(), c.text) {
		c.cancel(interrupted{os.Interrupt})
	}
	return n, err
}

// TestMigrateInterrupted: Ctrl-C in the middle of the messages leaves the target empty and
// ready: the next migrate copies everything.
func TestMigrateInterrupted(t *testing.T) {
	dsn := pgtest.DSN(t)
	path, _ := migrateSource(t, 2000)
	old := progressEvery
	progressEvery = 0
	defer func() { progressEvery = old }()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stderr := &cancelOn{text: "rocketlite migrate: messages: ", cancel: cancel}
	err := run(ctx, []string{"rocketlite", "migrate", "--from", path, "--to", dsn, "--batch-rows", "100"}, noEnv, nil, io.Discard, stderr)
	var in interrupted
	if !errors.As(err, &in) || exitCode(err) != 130 {
		t.Fatalf("interrupted migrate = %v (exit %d)\n%s", err, exitCode(err), stderr.String())
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	dst, err := pgstore.Open(ctx2, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	c, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range c {
		if n != 0 && table != "schema_migrations" {
			t.Errorf("table %s has %d rows after an interrupted migrate", table, n)
		}
	}
	if _, stderr, err := runMigrate(nil, "--from", path, "--to", dsn); err != nil {
		t.Fatalf("migrate after the interruption: %v\n%s", err, stderr)
	}
}
