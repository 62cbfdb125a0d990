package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/store"
)

// cli runs the program against one temp database (named through ROCKETLITE_DB, bcrypt at
// its minimum cost).
type cli struct {
	t  *testing.T
	db string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, db: filepath.Join(t.TempDir(), "admin.db")}
}

type cliResult struct {
	stdout, stderr string
	err            error
}

func (c *cli) run(stdin string, args ...string) cliResult {
	c.t.Helper()
	env := map[string]string{"ROCKETLITE_DB": c.db, "ROCKETLITE_BCRYPT_COST": "4"}
	var out, errOut strings.Builder
	err := run(context.Background(), append([]string{"rocketlite"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &out, &errOut)
	return cliResult{out.String(), errOut.String(), err}
}

// ok runs a command that must succeed and returns its output.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.err != nil {
		c.t.Fatalf("%v: %v\nstderr: %s", args, r.err, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with exit status code and say want on stderr.
func (c *cli) fails(code int, want string, stdin string, args ...string) {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.err == nil {
		c.t.Fatalf("%v succeeded: %s", args, r.stdout)
	}
	msg := r.stderr
	if !errors.Is(r.err, errReported) {
		msg += r.err.Error() // main prints usage errors itself
	}
	if got := exitCode(r.err); got != code || !strings.Contains(msg, want) {
		c.t.Fatalf("%v: exit %d, message %q; want exit %d and %q", args, got, msg, code, want)
	}
}

// user reads a user straight from the file (no command may hold it then).
func (c *cli) user(name string) *store.User {
	c.t.Helper()
	st, err := store.Open(c.db, store.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

func checkPassword(t *testing.T, u *store.User, pw string) bool {
	t.Helper()
	h, err := auth.NewHasher(4)
	if err != nil {
		t.Fatal(err)
	}
	return h.Check(u.Hash, pw)
}

func TestCLIUsers(t *testing.T) {
	c := newCLI(t)
	// A new file gets the default seed; the first user is admin, later ones user.
	out := c.ok("s3cret\n", "user", "add", "alice", "--email", "alice@example.org", "--password-stdin")
	if !strings.Contains(out, "created user alice") || !strings.Contains(out, "roles admin") {
		t.Fatalf("user add: %q", out)
	}
	// Flags before the argument, password from the prompt (stdin is no terminal here).
	r := c.run("pw-bob\n", "user", "add", "--name", "Bob B", "bob")
	if r.err != nil || !strings.Contains(r.stderr, "Password: ") || !strings.Contains(r.stdout, "roles user") {
		t.Fatalf("user add bob: %v %q %q", r.err, r.stdout, r.stderr)
	}
	c.ok("pw\n", "user", "add", "carol", "--role", "user,bot", "--password-stdin")

	alice, bob, carol := c.user("alice"), c.user("bob"), c.user("carol")
	if !checkPassword(t, alice, "s3cret") || !checkPassword(t, bob, "pw-bob") || bob.Name != "Bob B" ||
		!slices.Equal(carol.Roles, []string{"user", "bot"}) {
		t.Fatalf("stored: %+v %+v %+v", alice, bob, carol)
	}

	out = c.ok("", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "USERNAME") ||
		strings.Join(strings.Fields(lines[1]), " ") != "alice "+alice.ID+" alice@example.org admin yes" ||
		strings.Join(strings.Fields(lines[3]), " ") != "carol "+carol.ID+" - user,bot yes" {
		t.Fatalf("user list:\n%s", out)
	}

	// Refusals: bad names, taken names, unknown roles, a password as an argument, empty password.
	c.fails(1, `username "a b" must match`, "pw\n", "user", "add", "a b", "--password-stdin")
	c.fails(1, `Username "ALICE" is already in use [username-taken]`, "pw\n", "user", "add", "ALICE", "--password-stdin")
	c.fails(1, `Role "wizard" not found [invalid-role]`, "pw\n", "user", "add", "dave", "--role", "wizard", "--password-stdin")
	c.fails(2, "never from an argument", "", "user", "add", "dave", "secret")
	c.fails(1, "empty password", "\n", "user", "add", "dave", "--password-stdin")

	// passwd: a new hash; by id as well as by name.
	c.ok("n3w\n", "user", "passwd", alice.ID, "--password-stdin")
	if !checkPassword(t, c.user("alice"), "n3w") {
		t.Fatal("password not changed")
	}
	c.fails(1, `no user "nobody" [invalid-user]`, "x\n", "user", "passwd", "nobody", "--password-stdin")

	// disable/enable, with the last-admin rule.
	c.fails(1, "The last active admin cannot lose the admin role, be deactivated or be deleted [last-admin]", "", "user", "disable", "alice")
	c.ok("", "user", "disable", "bob")
	if c.user("bob").Active {
		t.Fatal("bob still active")
	}
	c.ok("", "user", "enable", "bob")
	if !c.user("bob").Active {
		t.Fatal("bob not active again")
	}

	// user role add/remove, with the last-admin rule and unknown names.
	c.fails(1, "[last-admin]", "", "user", "role", "remove", "alice", "admin")
	out = c.ok("", "user", "role", "add", "bob", "admin")
	if !strings.Contains(out, "bob now has roles user,admin") {
		t.Fatalf("role add: %q", out)
	}
	c.ok("", "user", "role", "remove", "alice", "admin")
	c.fails(1, "[last-admin]", "", "user", "role", "remove", "bob", "admin")
	c.fails(1, `Role not found [invalid-role]`, "", "user", "role", "add", "bob", "wizard")
	c.fails(1, `no user "nobody"`, "", "user", "role", "add", "nobody", "bot")
	if u := c.user("alice"); u.HasRole("admin") {
		t.Fatalf("alice roles %v", u.Roles)
	}
}

func TestCLIRolesAndPermissions(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "role", "add", "tester", "--description", "QA people")
	if out != "created role tester (Users)\n" {
		t.Fatalf("role add: %q", out)
	}
	c.ok("", "role", "add", "--scope", "Subscriptions", "helper")
	c.fails(1, `Role "tester" already exists [duplicate-role]`, "", "role", "add", "tester")
	c.fails(1, "[invalid-role-name]", "", "role", "add", "bad/name")
	c.fails(1, "[invalid-scope]", "", "role", "add", "x", "--scope", "Rooms")

	out = c.ok("", "role", "list")
	if !strings.Contains(out, "tester     Users          QA people") || !strings.Contains(out, "helper     Subscriptions  -") {
		t.Fatalf("role list:\n%s", out)
	}

	out = c.ok("", "permission", "grant", "create-user", "tester")
	if out != "create-user: admin,tester\n" {
		t.Fatalf("grant: %q", out)
	}
	out = c.ok("", "permission", "list")
	// The column is as wide as the longest permission id: match any run of spaces.
	if !regexp.MustCompile(`\ncreate-user +admin,tester\n`).MatchString(out) || !strings.HasPrefix(out, "PERMISSION") {
		t.Fatalf("permission list:\n%s", out)
	}
	c.fails(1, "[role-in-use]", "", "role", "remove", "tester")
	c.fails(1, "[invalid-permission]", "", "permission", "grant", "fly", "tester")
	c.fails(1, "[invalid-role]", "", "permission", "grant", "create-user", "wizard")
	c.fails(1, "[invalid-role]", "", "permission", "revoke", "create-user", "wizard")
	out = c.ok("", "permission", "revoke", "create-user", "tester")
	if out != "create-user: admin\n" {
		t.Fatalf("revoke: %q", out)
	}
	c.ok("", "role", "remove", "tester")
	c.fails(1, "[invalid-role]", "", "role", "remove", "tester")
	c.fails(1, "[role-in-use]", "", "role", "remove", "guest") // view-c-room holds it

	// A room role is never given to a user globally (it would count in every room).
	c.ok("pw\n", "user", "add", "root", "--password-stdin")
	c.fails(1, "[invalid-role-scope]", "", "user", "role", "add", "root", "helper")
	c.fails(1, "[invalid-role-scope]", "", "user", "role", "add", "root", "owner")
	c.fails(1, "[invalid-role-scope]", "pw\n", "user", "add", "mod", "--role", "moderator", "--password-stdin")
	// A role a user holds stays too.
	c.ok("", "role", "add", "helper2")
	c.ok("", "user", "role", "add", "root", "helper2")
	c.fails(1, "[role-in-use]", "", "role", "remove", "helper2")
}

func TestCLIUsage(t *testing.T) {
	c := newCLI(t)
	c.fails(2, "rocketlite user needs a subcommand", "", "user")
	c.fails(2, "rocketlite user role needs a subcommand", "", "user", "role")
	c.fails(2, `unknown command "rocketlite role fly"`, "", "role", "fly")
	c.fails(2, "takes 2 argument(s) (PERMISSION ROLE), got 1", "", "permission", "grant", "x")
	if out := c.ok("", "user", "help"); !strings.Contains(out, "rocketlite permission grant PERMISSION ROLE") {
		t.Fatalf("help: %q", out)
	}
	// A listing never creates a database.
	c.fails(1, "no database at", "", "role", "list")

	// --db wins over ROCKETLITE_DB.
	other := filepath.Join(t.TempDir(), "other.db")
	c.ok("", "role", "add", "x", "--db", other)
	if out := c.ok("", "role", "list", "--db", other); !strings.Contains(out, "\nx ") {
		t.Fatalf("--db ignored:\n%s", out)
	}
	c.fails(1, "no database at", "", "role", "list")
}

// Every command names the one route that does its job on a running server, and that route is
// served: a vague pointer ("the user routes") leaves the operator guessing.
func TestCLIRouteHintsAreRoutes(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "routes.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	served := map[string]bool{}
	for _, r := range handlers.New(handlers.Config{Store: st}).Routes() {
		served[r.Method+" "+r.Path] = true
	}
	for name, spec := range adminCommands {
		if !served[spec.route] {
			t.Errorf("rocketlite %s points at %q, which is not a served route", name, spec.route)
		}
	}
}

// TestCLIFileInUse: with the file held (as a running server holds it), every command stops
// after the one-second lock timeout, says so and names the REST route to use instead.
func TestCLIFileInUse(t *testing.T) {
	c := newCLI(t)
	c.ok("pw\n", "user", "add", "alice", "--password-stdin")
	st, err := store.Open(c.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cases := []struct {
		args  []string
		route string
	}{
		{[]string{"user", "role", "add", "alice", "bot"}, "POST /api/users/:id/roles"},
		{[]string{"role", "list"}, "GET /api/roles"},
		{[]string{"permission", "revoke", "create-c", "user"}, "DELETE /api/permissions/:id/roles/:role"},
		{[]string{"user", "add", "bob", "--password-stdin"}, "POST /api/v1/users.create"},
		{[]string{"user", "passwd", "alice", "--password-stdin"}, "POST /api/v1/users.update"},
		{[]string{"user", "disable", "alice"}, "POST /api/v1/users.update"},
		{[]string{"user", "list"}, "GET /api/v1/users.list"},
	}
	for _, tc := range cases {
		start := time.Now()
		c.fails(1, "is in use by another process (a running rocketlite server?): stop it, or do this through the server's REST API instead: "+tc.route, "pw\n", tc.args...)
		t.Logf("%v gave up after %v", tc.args, time.Since(start).Round(time.Millisecond))
	}
	if u, _ := st.UserByUsername("alice"); u.HasRole("bot") {
		t.Fatal("a refused command changed the file")
	}
}
