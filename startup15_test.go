package main

// Tests of issue 15's traps 1–8 and issue 9's items 15 and 18: what an operator meets on a
// first start, on a restart, at a prompt and around backups.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rocketlite/auth"
	"rocketlite/store"
)

// runServe runs the program to its end (a start that must fail) and returns its error and log.
func runServe(t *testing.T, env map[string]string, args ...string) (error, string) {
	t.Helper()
	stderr := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard
	defer cancel()
	full := append([]string{"rocketlite", "--log-format", "json", "--bcrypt-cost", "4"}, args...)
	err := run(ctx, full, func(k string) string { return env[k] }, strings.NewReader(""), io.Discard, stderr)
	return err, stderr.String()
}

// TestFailedFirstStartWritesNothing (issue 15, trap 1): a first start that fails — the port
// is taken, the address is nonsense, the admin name is bad, the seed does not apply — creates
// no database and shows no password, so the next, good start shows the admin's password.
func TestFailedFirstStartWritesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
		code int
	}{
		{"PortInUse", nil, []string{"--addr", busy.Addr().String()}, "--addr " + busy.Addr().String() + ": the port is in use", 1},
		{"AddrNonsense", nil, []string{"--addr", "nonsense"}, `--addr "nonsense": an address is [host]:port`, 2},
		{"AddrBadPort", nil, []string{"--addr", "127.0.0.1:http0"}, `--addr "127.0.0.1:http0": port "http0" is not a number`, 2},
		{"EnvAddrNonsense", map[string]string{"ROCKETLITE_ADDR": "nonsense"}, nil, `ROCKETLITE_ADDR "nonsense": an address is`, 2},
		{"EnvAddrInUse", map[string]string{"ROCKETLITE_ADDR": busy.Addr().String()}, nil, "ROCKETLITE_ADDR " + busy.Addr().String() + ": the port is in use", 1},
		{"BadAdminUser", nil, []string{"--addr", "127.0.0.1:0", "--admin-user", "no spaces"}, `--admin-user "no spaces": a user name must match`, 2},
		{"EnvBadAdminUser", map[string]string{"ROCKETLITE_ADMIN_USER": "a/b"}, []string{"--addr", "127.0.0.1:0"}, `ROCKETLITE_ADMIN_USER "a/b"`, 2},
		{"MissingTLSCert", nil, []string{"--addr", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "TLS: open /nonexistent/c.pem", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "first.db")
			err, log := runServe(t, tc.env, append([]string{"--db", db}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != tc.code {
				t.Fatalf("err %v (exit %d), want %q (exit %d)\n%s", err, exitCode(err), tc.want, tc.code, log)
			}
			if _, serr := os.Stat(db); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("a failed first start created the database (%v)", serr)
			}
			if strings.Contains(log, "created an admin") {
				t.Fatalf("a failed first start logged an admin password:\n%s", log)
			}
			// The next start, with the mistake fixed, is the first one: it shows the password.
			s := start(t, "--db", db)
			if e := s.stderr.find(t, "no user existed: created an admin"); e == nil || e["password"] == nil {
				t.Fatalf("the good start shows no password:\n%s", s.stderr.String())
			}
		})
	}
}

// TestPrivilegedPortAsNonRoot (trap 1): binding a port below 1024 as an ordinary user fails
// before the database exists, with a message that says why. The built binary runs as nobody.
func TestPrivilegedPortAsNonRoot(t *testing.T) {
	bin := buildBinary(t)
	dir, err := os.MkdirTemp("", "rl-priv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(bin)), 0o755)
	db := filepath.Join(dir, "p.db")
	addr, want := "127.0.0.1:81", "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE"
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= 81 {
			// Some containers let anyone bind every port: there, a bind that fails for
			// another reason (an address the machine lacks) checks the same start-up path.
			addr, want = "192.0.2.1:3000", "this machine has no such address"
		}
	}
	cmd := exec.Command(bin, "--addr", addr, "--db", db, "--log-format", "json")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(want)) {
		t.Fatalf("message:\n%s", out)
	}
	if _, serr := os.Stat(db); !errors.Is(serr, os.ErrNotExist) || bytes.Contains(out, []byte("created an admin")) {
		t.Fatalf("the database was created (%v):\n%s", serr, out)
	}
}

// TestFailingSeedAppliesNothing (trap 4): a seed file whose last entry fails leaves nothing of
// it (nor the admin, whose password would otherwise be shown for a start that failed).
func TestFailingSeedAppliesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	seedFile := writeFile(t, filepath.Join(dir, "seed.json"), `{
  "roles": [{"name": "support"}],
  "users": [{"username": "sing", "password": "MySECRET", "roles": ["support"]}],
  "rooms": [{"name": "dev", "members": ["sing"]}, {"name": "ops", "members": ["ghost"]}]
}`)
	err, log := runServe(t, nil, "--addr", "127.0.0.1:0", "--db", db, "--seed", seedFile)
	if err == nil || !strings.Contains(err.Error(), `rooms[1]`) || !strings.Contains(err.Error(), "nothing of it was applied") {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, `"users":1,"rooms":2,"passwords":1`) || !strings.Contains(log, "applying the seed file") {
		t.Fatalf("the start did not say what it applies:\n%s", log)
	}
	if strings.Contains(log, "created an admin") || strings.Contains(log, `"seeded"`) {
		t.Fatalf("a failed seed logged success:\n%s", log)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, total, _ := st.Users(0, 0)
	_, errRoom := st.RoomByName("dev")
	roles, _ := st.Roles()
	st.Close()
	if total != 0 || store.KindOf(errRoom) != store.NotFound || len(roles) != 0 {
		t.Fatalf("a failed seed was applied in part: %d users, room dev %v, %d roles", total, errRoom, len(roles))
	}
}

// TestSeedErrorsSayWhere (trap 4): seed errors give line and column, in plain words.
func TestSeedErrorsSayWhere(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ seed, want string }{
		{"{\n  \"users\": [\n    {\"username\": \"x\", \"roles\": \"admin\"}\n  ]\n}", `line 3, column 38: "users.roles" must be a list of strings, not a string`},
		{"{\n  \"users\": [\n    {\"username\": \"x\",}\n  ]\n}", "line 3, column 22: invalid character '}'"},
		{"{\"rooms\": [{\"name\": \"a\", \"ro\": \"yes\"}]}", `line 1, column 36: "rooms.ro" must be true or false, not a string`},
	} {
		f := writeFile(t, filepath.Join(dir, "bad.json"), tc.seed)
		err, _ := runServe(t, nil, "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "x.db"), "--seed", f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "[]string") || strings.Contains(err.Error(), "Go ") {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
	// A missing file is named once.
	missing := filepath.Join(dir, "missing.json")
	err, _ := runServe(t, nil, "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "x.db"), "--seed", missing)
	if err == nil || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing seed: %v", err)
	}
}

// TestFileErrorsNameThePathOnce (trap 4): "open X: open X: …" becomes "open X: …".
func TestFileErrorsNameThePathOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")
	err, _ := runServe(t, nil, "--addr", "127.0.0.1:0", "--db", db)
	if err == nil || strings.Count(err.Error(), db) != 1 {
		t.Fatalf("%v", err)
	}
}

// TestAdminPasswordOnExistingDatabase (issue 15, trap 2): --admin-password only creates the
// first admin. On a database with users it is never silently ignored: the same password is
// accepted (a unit that keeps its password file restarts), another one stops the start and
// says how to change a password.
func TestAdminPasswordOnExistingDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	s := start(t, "--db", db, "--admin-password", "first-pass")
	s.stop()
	s = start(t, "--db", db, "--admin-password", "first-pass")
	if e := s.stderr.find(t, "--admin-password is already this admin's password: it is used only to create the first admin of an empty database"); e == nil {
		t.Fatalf("no word about the password:\n%s", s.stderr.String())
	}
	s.stop()
	before := counts(t, db)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		from string
	}{
		{nil, []string{"--admin-password", "second-pass"}, "--admin-password"},
		{map[string]string{"ROCKETLITE_ADMIN_PASSWORD": "second-pass"}, nil, "ROCKETLITE_ADMIN_PASSWORD"},
		{nil, []string{"--admin-password", "first-pass", "--admin-user", "other"}, "--admin-password"},
	} {
		err, log := runServe(t, tc.env, append([]string{"--addr", "127.0.0.1:0", "--db", db}, tc.args...)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.from+" is used only to create the first admin") ||
			!strings.Contains(err.Error(), "rocketlite user passwd USER --db "+db) {
			t.Fatalf("%v: %v\n%s", tc.args, err, log)
		}
	}
	if after := counts(t, db); after["users"] != before["users"] {
		t.Fatal("a refused start changed the users")
	}
	// The old password still logs in: nothing was changed.
	s = start(t, "--db", db)
	s.curl("POST", "/api/login", "", "", "user=admin&password=first-pass", "").want(t, 200, "")
}

// TestAdminPasswordFile (issue 9, item 18): the password can come from a file (a systemd
// credential) named by a flag or ROCKETLITE_ADMIN_PASSWORD_FILE, so it is never in ps.
func TestAdminPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, filepath.Join(dir, "pw"), "from-a-file\n")
	s := start(t, "--db", filepath.Join(dir, "f.db"), "--admin-password-file", pw)
	if e := s.stderr.find(t, "no user existed: created an admin"); e == nil || e["password"] != nil {
		t.Fatalf("admin line %v", e)
	}
	s.curl("POST", "/api/login", "", "", "user=admin&password=from-a-file", "").want(t, 200, "")
	s.stop()

	// An empty file (the unit's default credential) is no password: a random one is logged.
	s = start(t, "--db", filepath.Join(dir, "g.db"), "--admin-password-file", writeFile(t, filepath.Join(dir, "empty"), ""))
	if e := s.stderr.find(t, "no user existed: created an admin"); e == nil || e["password"] == nil {
		t.Fatalf("admin line %v", e)
	}
	s.stop()

	// Through the environment, as the documented unit does.
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	env := map[string]string{"ROCKETLITE_ADMIN_PASSWORD_FILE": pw, "ROCKETLITE_DB": filepath.Join(dir, "e.db"), "ROCKETLITE_ADDR": "127.0.0.1:0"}
	go func() {
		done <- run(ctx, []string{"rocketlite", "--log-format", "json", "--bcrypt-cost", "4"}, func(k string) string { return env[k] }, nil, io.Discard, stderr)
	}()
	for stderr.find(t, "listening") == nil {
		select {
		case err := <-done:
			t.Fatalf("%v\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
	st, err := store.Open(filepath.Join(dir, "e.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByUsername("admin")
	h, _ := auth.NewHasher(4)
	if err != nil || !h.Check(u.Hash, "from-a-file") {
		t.Fatalf("admin from ROCKETLITE_ADMIN_PASSWORD_FILE: %v", err)
	}
	st.Close()

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-password-file", pw, "--admin-password", "x"}, "--admin-password and --admin-password-file exclude each other"},
		{[]string{"--admin-password-file", filepath.Join(dir, "nope")}, "--admin-password-file: open " + filepath.Join(dir, "nope") + ": no such file"},
		{[]string{"--admin-password-file", writeFile(t, filepath.Join(dir, "blank-first"), "\nsecret\n")}, "the first line is empty"},
	} {
		db := filepath.Join(t.TempDir(), "x.db")
		err, _ := runServe(t, nil, append([]string{"--addr", "127.0.0.1:0", "--db", db}, tc.args...)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.args, err)
		}
		if _, serr := os.Stat(db); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%v created the database", tc.args)
		}
	}
}

// TestTokenTTLLimits (issue 9, item 15; trap 4): a lifetime whose expiry would overflow is
// refused at start naming the flag; "90d" is answered with what a duration looks like.
func TestTokenTTLLimits(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--token-ttl", "2562047h"}, nil, "--token-ttl 2562047h0m0s: at most 876000h0m0s (100 years)"},
		{[]string{"--token-ttl", "2000000h"}, nil, "--token-ttl 2000000h0m0s: at most"},
		{nil, map[string]string{"ROCKETLITE_TOKEN_TTL": "2000000h"}, "ROCKETLITE_TOKEN_TTL 2000000h0m0s: at most"},
		{[]string{"--token-ttl", "90d"}, nil, `invalid value "90d" for flag -token-ttl: a duration is a number with a unit h, m, s or ms, e.g. 2160h (90 days)`},
		{nil, map[string]string{"ROCKETLITE_TOKEN_TTL": "90d"}, `ROCKETLITE_TOKEN_TTL="90d": a duration is a number with a unit`},
		{[]string{"--drain-timeout", "1 minute"}, nil, "flag -drain-timeout: a duration is"},
	} {
		_, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
	// The longest lifetime allowed works: a token issued with it is accepted.
	s := start(t, "--db", filepath.Join(t.TempDir(), "ttl.db"), "--admin-password", "pw", "--token-ttl", "876000h")
	login := s.curl("POST", "/api/v1/login", "", "", "user=admin&password=pw", "")
	data, _ := login.obj["data"].(map[string]any)
	uid, _ := data["userId"].(string)
	token, _ := data["authToken"].(string)
	s.curl("GET", "/api/v1/me", uid, token, "", "").want(t, 200, "")
}

// TestDefaultAddrIsLoopback (trap 8): plain HTTP listens on 127.0.0.1 unless told otherwise;
// with TLS the default is every interface.
func TestDefaultAddrIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1:3000"},
		{[]string{"--tls-self-signed"}, ":3000"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, ":3000"},
		{[]string{"--addr", ":4000"}, ":4000"},
	} {
		c, err := parseServe(tc.args, noEnv, io.Discard)
		if err != nil || c.addr != tc.want {
			t.Errorf("%v: %v %v, want %s", tc.args, c, err, tc.want)
		}
	}
	// Plain HTTP beyond loopback is warned about; on loopback it is not.
	s := start(t, "--db", filepath.Join(t.TempDir(), "l.db"))
	if strings.Contains(s.stderr.String(), `"level":"warn","message":"serving plain HTTP`) {
		t.Fatalf("warned on loopback:\n%s", s.stderr.String())
	}
	if defaultMaxDBSize(32) != 1<<30 || defaultMaxDBSize(64) != 0 {
		t.Fatal("32-bit builds must cap the database at 1 GiB by default")
	}
}

// TestHelpAndVersion (trap 5): --help lists every command; each command's -h its flags with
// their ROCKETLITE_* variables; --version works.
func TestHelpAndVersion(t *testing.T) {
	out := &syncBuffer{}
	if err := run(context.Background(), []string{"rocketlite", "--help"}, noEnv, nil, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "user", "role", "permission", "backup", "check", "version", "help", "revoke-tokens"} {
		if !strings.Contains(out.String(), "rocketlite "+cmd) && !strings.Contains(out.String(), cmd+",") && !strings.Contains(out.String(), ", "+cmd) {
			t.Errorf("--help does not list %s:\n%s", cmd, out)
		}
	}
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		v := &syncBuffer{}
		if err := run(context.Background(), append([]string{"rocketlite"}, args...), noEnv, nil, v, io.Discard); err != nil || v.String() != "rocketlite "+version+"\n" {
			t.Errorf("%v: %q %v", args, v, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"serve", "-h"}, []string{"--token-ttl", "env ROCKETLITE_TOKEN_TTL", "--admin-password-file", "env ROCKETLITE_ADMIN_PASSWORD_FILE", "(default 2160h0m0s)", "default 127.0.0.1:3000"}},
		{[]string{"user", "add", "-h"}, []string{"--email", "env ROCKETLITE_DB", "env ROCKETLITE_BCRYPT_COST"}},
		{[]string{"backup", "-h"}, []string{"--force", "env ROCKETLITE_FORCE", "env ROCKETLITE_DB"}},
		{[]string{"check", "-h"}, []string{"--db", "env ROCKETLITE_DB"}},
		{[]string{"hook", "add", "-h"}, []string{"--base-url", "env ROCKETLITE_BASE_URL", "env ROCKETLITE_DB"}},
	} {
		errOut := &syncBuffer{}
		err := run(context.Background(), append([]string{"rocketlite"}, tc.args...), noEnv, nil, io.Discard, errOut)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut.String(), w) {
				t.Errorf("%v does not show %q:\n%s", tc.args, w, errOut)
			}
		}
	}
}

// TestCheckAndBackupArguments (traps 4 and 7): "check FILE" says to use --db; backup does not
// replace an existing file unless --force.
func TestCheckAndBackupArguments(t *testing.T) {
	c := newCLI(t)
	c.ok("pw\n", "user", "add", "bob", "--password-stdin")
	c.fails(2, "rocketlite check takes no argument: name the database with --db "+c.db, "", "check", c.db)
	c.fails(2, "rocketlite backup takes one argument, OUT (and the database with --db FILE)", "", "backup")
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(out, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(2, out+" exists: choose another name, or replace it with --force", "", "backup", out)
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatal("backup overwrote an existing file")
	}
	// Long copies and checks say how far they are (here: always).
	oldEvery, oldSize := progressEvery, checkProgressSize
	progressEvery, checkProgressSize = 0, 0
	defer func() { progressEvery, checkProgressSize = oldEvery, oldSize }()
	r := c.run("", "backup", out, "--force")
	if r.err != nil || !strings.Contains(r.stderr, "rocketlite backup: 0 of 0 MiB (100%)") {
		t.Fatalf("backup --force: %v\n%s", r.err, r.stderr)
	}
	r = c.run("", "check", "--db", out)
	if r.err != nil || !strings.Contains(r.stderr, "rocketlite check: checking messages") {
		t.Fatalf("check: %v\n%s", r.err, r.stderr)
	}
}

// TestRevokeTokensCommand (trap 7): after restoring a backup, its tokens (including ones
// logged out since) can all be revoked.
func TestRevokeTokensCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	s := start(t, "--db", db, "--admin-password", "pw")
	var tokens [][2]string
	for range 3 {
		login := s.curl("POST", "/api/v1/login", "", "", "user=admin&password=pw", "")
		data, _ := login.obj["data"].(map[string]any)
		tokens = append(tokens, [2]string{data["userId"].(string), data["authToken"].(string)})
	}
	s.stop()
	c := &cli{t: t, db: db}
	c.fails(2, "takes a USER, or --all", "", "user", "revoke-tokens")
	c.fails(1, `no user "nobody"`, "", "user", "revoke-tokens", "nobody")
	if got := c.ok("", "user", "revoke-tokens", "admin"); got != "revoked 3 token(s) of admin\n" {
		t.Fatalf("%q", got)
	}
	s = start(t, "--db", db, "--admin-password", "pw")
	s.curl("POST", "/api/v1/login", "", "", "user=admin&password=pw", "").want(t, 200, "")
	s.curl("GET", "/api/v1/me", tokens[0][0], tokens[0][1], "", "").want(t, 401, "")
	s.stop()
	if got := c.ok("", "user", "revoke-tokens", "--all"); got != "revoked 1 token(s): every user is logged out\n" {
		t.Fatalf("%q", got)
	}
	if n := counts(t, db); n["tokens"] != 0 || n["tokens_by_expiry"] != 0 || n["tokens_by_user"] != 0 {
		t.Fatalf("tokens left: %v", n)
	}
	c.ok("", "check")
}

// TestSignalAtPromptStops (trap 3): Ctrl-C (SIGINT) or SIGTERM at a password prompt ends the
// command at once with a non-zero status, and the database is free afterwards.
func TestSignalAtPromptStops(t *testing.T) {
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "p.db")
			cmd := exec.Command(bin, "user", "add", "bob", "--db", db, "--bcrypt-cost", "4")
			stdin, err := cmd.StdinPipe() // never written: the prompt waits
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), "Password: "); {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no prompt: %s", stderr.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(sig)
			select {
			case err := <-waited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
					t.Fatalf("exit %v, want status %d\n%s", err, 128+int(sig), stderr.String())
				}
			case <-time.After(20 * time.Second): // a hang guard, not a speed check
				cmd.Process.Kill()
				t.Fatalf("%v did not stop the command at its prompt", sig)
			}
			st, err := store.Open(db, store.Options{LockTimeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatalf("the database is still held: %v", err)
			}
			_, total, _ := st.Users(0, 0)
			st.Close()
			if total != 0 {
				t.Fatal("an interrupted user add created the user")
			}
		})
	}
}

// TestInterruptedBackupLeavesNothing (trap 3): a backup stopped by a signal removes its
// temporary file and leaves no OUT.
func TestInterruptedBackupLeavesNothing(t *testing.T) {
	c := newCLI(t)
	c.ok("pw\n", "user", "add", "bob", "--password-stdin")
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGINT}) // already interrupted when the copy starts
	err := run(ctx, []string{"rocketlite", "backup", "--db", c.db, out}, noEnv, nil, io.Discard, io.Discard)
	if exitCode(err) != 130 {
		t.Fatalf("%v (exit %d)", err, exitCode(err))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	// check stops between its stages too.
	err = run(ctx, []string{"rocketlite", "check", "--db", c.db}, noEnv, nil, io.Discard, io.Discard)
	if exitCode(err) != 130 {
		t.Fatalf("check: %v (exit %d)", err, exitCode(err))
	}
	st, err := store.Open(c.db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stages []string
	if errs := st.CheckProgress(ctx, func(s string) { stages = append(stages, s) }); len(errs) != 1 || !errors.Is(errs[0], interrupted{syscall.SIGINT}) || len(stages) > 1 {
		t.Fatalf("an interrupted check went on: %v %v", errs, stages)
	}
}
