package main

// The administration commands: users, roles and permissions on the database file of a stopped
// server, as the wiki did in the MongoDB shell. The rules (last admin, role in use, unknown
// names) are the store's and rbac's, the same the REST routes of API.md §3 apply.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/seed"
	"rocketlite/store"
)

const adminUsage = `Usage:
  rocketlite user add USERNAME [--email E] [--name N] [--role R,...] [--password-stdin]
  rocketlite user passwd USER [--password-stdin]
  rocketlite user disable USER
  rocketlite user enable USER
  rocketlite user list
  rocketlite user revoke-tokens USER | --all
  rocketlite user role add USER ROLE
  rocketlite user role remove USER ROLE
  rocketlite role add NAME [--description D] [--scope Users|Subscriptions]
  rocketlite role list
  rocketlite role remove NAME
  rocketlite permission list
  rocketlite permission grant PERMISSION ROLE
  rocketlite permission revoke PERMISSION ROLE

Every command takes --db FILE (env ROCKETLITE_DB, default rocketlite.db) and works while no
server holds the file; with a server running, use its REST routes (docs/api.md, "Roles and
permissions"). USER is a username or a user id. A password is read from a prompt, or from the
first line of standard input with --password-stdin; never from an argument. After restoring
a backup, "rocketlite user revoke-tokens --all" logs everyone out (a backup holds the tokens
of its time, including ones logged out since). "rocketlite user add -h" lists a command's flags.
`

// adminCmd is one administration command being run.
type adminCmd struct {
	ctx      context.Context // ends on SIGINT/SIGTERM
	args     []string        // positional arguments, after the command words
	db       string
	readOnly bool
	route    string // the REST route doing the same on a running server
	hasher   func() (*auth.Hasher, error)
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer

	// Flags of single commands.
	pwStdin               bool
	all                   bool   // user revoke-tokens --all
	email, display, roles string // user add
	description, scope    string // role add
}

// admin runs "rocketlite user|role|permission …". Errors are shown on stderr.
func admin(ctx context.Context, group string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := runAdmin(ctx, group, args, getenv, stdin, stdout, stderr)
	var u usageError
	if err == nil || errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	fmt.Fprintln(stderr, "rocketlite:", err)
	return errReported
}

func runAdmin(ctx context.Context, group string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, adminUsage)
		return nil
	}
	// The command words come first: "user role add", "role list", …
	words := []string{group}
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		words = append(words, args[0])
		args = args[1:]
		if strings.Join(words, " ") != "user role" {
			break
		}
	}
	name := strings.Join(words, " ")
	spec, ok := adminCommands[name]
	if !ok {
		fmt.Fprint(stderr, adminUsage)
		if len(words) == 1 || name == "user role" {
			return usageError{fmt.Sprintf("rocketlite %s needs a subcommand", name)}
		}
		return usageError{fmt.Sprintf("unknown command %q", "rocketlite "+name)}
	}

	fs := flag.NewFlagSet("rocketlite "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rocketlite %s %s\n\nFlags (each also read from its environment variable; a flag wins):\n", name, strings.Join(spec.params, " "))
		printFlags(stderr, fs)
		fmt.Fprint(stderr, "\n", adminUsage)
	}
	c := &adminCmd{ctx: ctx, readOnly: spec.readOnly, route: spec.route, stdin: stdin, stdout: stdout, stderr: stderr}
	fs.StringVar(&c.db, "db", "rocketlite.db", "database file")
	cost := fs.Int("bcrypt-cost", 10, "bcrypt cost of a new password hash (minimum 4)")
	if spec.password {
		fs.BoolVar(&c.pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	}
	switch name {
	case "user add":
		fs.StringVar(&c.email, "email", "", "e-mail address")
		fs.StringVar(&c.display, "name", "", "display name (default: the username)")
		fs.StringVar(&c.roles, "role", "", "global roles, comma-separated (default: admin for the first user, else user)")
	case "user revoke-tokens":
		fs.BoolVar(&c.all, "all", false, "log every user out (after restoring a backup)")
	case "role add":
		fs.StringVar(&c.description, "description", "", "what the role is for")
		fs.StringVar(&c.scope, "scope", rbac.ScopeGlobal, "Users (a global role) or Subscriptions (a room role)")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if name == "user revoke-tokens" && c.all {
		spec.params = nil
	}
	if len(pos) != len(spec.params) {
		msg := fmt.Sprintf("rocketlite %s takes %d argument(s) (%s), got %d", name, len(spec.params), strings.Join(spec.params, " "), len(pos))
		if spec.password && len(pos) > len(spec.params) {
			msg += ": a password is read from a prompt or --password-stdin, never from an argument"
		}
		if name == "user revoke-tokens" {
			msg = "rocketlite user revoke-tokens takes a USER, or --all"
		}
		return usageError{msg}
	}
	if _, err := envFallback(fs, getenv); err != nil {
		return err
	}
	if *cost < 4 || *cost > 31 {
		return usageError{fmt.Sprintf("--bcrypt-cost %d: must be from 4 to 31", *cost)}
	}
	c.args = pos
	c.hasher = func() (*auth.Hasher, error) { return auth.NewHasher(*cost) }

	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	return spec.run(c, st)
}

type adminSpec struct {
	params   []string // names of the positional arguments
	readOnly bool     // only reads: never creates the file, opens it shared
	password bool     // reads a password
	route    string
	run      func(c *adminCmd, st store.Store) error
}

var adminCommands = map[string]adminSpec{
	"user add":           {params: []string{"USERNAME"}, password: true, route: "POST /api/v1/users.create", run: (*adminCmd).userAdd},
	"user passwd":        {params: []string{"USER"}, password: true, route: "POST /api/v1/users.update", run: (*adminCmd).userPasswd},
	"user disable":       {params: []string{"USER"}, route: "POST /api/v1/users.update", run: (*adminCmd).userDisable},
	"user enable":        {params: []string{"USER"}, route: "POST /api/v1/users.update", run: (*adminCmd).userEnable},
	"user list":          {readOnly: true, route: "GET /api/v1/users.list", run: (*adminCmd).userList},
	"user revoke-tokens": {params: []string{"USER"}, route: "POST /api/v1/users.update", run: (*adminCmd).userRevokeTokens},
	"user role add":      {params: []string{"USER", "ROLE"}, route: "POST /api/users/:id/roles", run: (*adminCmd).userRoleAdd},
	"user role remove":   {params: []string{"USER", "ROLE"}, route: "DELETE /api/users/:id/roles/:role", run: (*adminCmd).userRoleRemove},
	"role add":           {params: []string{"NAME"}, route: "POST /api/roles", run: (*adminCmd).roleAdd},
	"role list":          {readOnly: true, route: "GET /api/roles", run: (*adminCmd).roleList},
	"role remove":        {params: []string{"NAME"}, route: "DELETE /api/roles/:name", run: (*adminCmd).roleRemove},
	"permission list":    {readOnly: true, route: "GET /api/permissions", run: (*adminCmd).permissionList},
	"permission grant":   {params: []string{"PERMISSION", "ROLE"}, route: "POST /api/permissions/:id/roles", run: (*adminCmd).permissionGrant},
	"permission revoke":  {params: []string{"PERMISSION", "ROLE"}, route: "DELETE /api/permissions/:id/roles/:role", run: (*adminCmd).permissionRevoke},
}

// parseInterleaved parses flags that may come before, between or after the positional
// arguments ("rocketlite user add bob --email …") and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// cliLockTimeout bounds the wait for a file a server holds: the command says so at once.
const cliLockTimeout = time.Second

// open opens the database. A file held by a running server is an error that points at the
// REST route doing the same job; a listing never creates a file.
func (c *adminCmd) open() (store.Store, error) {
	if isPostgres(c.db) {
		// No file lock: the command works beside the running nodes, and they hear of it.
		return openPostgres(context.Background(), c.db, store.Options{}, zerolog.Nop())
	}
	if c.readOnly {
		if _, err := os.Stat(c.db); err != nil {
			return nil, fmt.Errorf("no database at %s (--db or ROCKETLITE_DB names it)", c.db)
		}
	}
	st, err := store.Open(c.db, store.Options{LockTimeout: cliLockTimeout, ReadOnly: c.readOnly})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by another process (a running rocketlite server?): stop it, or do this through the server's REST API instead: %s (see docs/operating.md)", c.db, c.route)
	}
	if err != nil {
		return nil, err
	}
	if !c.readOnly {
		// A database no server has opened yet still needs the default roles and permissions.
		h, err := auth.NewHasher(4) // the default seed holds no user: no password is hashed
		if err == nil {
			_, err = seed.ApplyDefault(st, h)
		}
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// findUser looks a user up by username, else by id.
func findUser(st store.Store, key string) (*store.User, error) {
	u, err := st.UserByUsername(key)
	if store.KindOf(err) == store.NotFound {
		u, err = st.User(key)
	}
	if store.KindOf(err) == store.NotFound {
		return nil, fmt.Errorf("no user %q [invalid-user]", key)
	}
	return u, err
}

func (c *adminCmd) userAdd(st store.Store) error {
	username, email, display := c.args[0], c.email, c.display
	if !store.ValidName(username) {
		return fmt.Errorf("username %q must match %s", username, store.NameRE)
	}
	if email != "" && !store.ValidEmail(email) {
		return fmt.Errorf("--email %q is not an e-mail address", email)
	}
	if display == "" {
		display = username
	}
	var roles []string
	for _, r := range strings.Split(c.roles, ",") {
		if r = strings.TrimSpace(r); r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if err := rbac.CheckGlobalRoles(st, roles); err != nil {
		return err
	}
	hash, err := c.newHash()
	if err != nil {
		return err
	}
	u := &store.User{Username: username, Name: display, Email: email, Hash: hash, Roles: roles, Active: true}
	if err := st.CreateUser(u, true); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created user %s (id %s, roles %s)\n", u.Username, u.ID, strings.Join(u.Roles, ","))
	return nil
}

// newHash reads a password and returns its bcrypt hash.
func (c *adminCmd) newHash() (string, error) {
	pw, err := readPassword(c.ctx, c.stdin, c.stderr, c.pwStdin)
	if err != nil {
		return "", err
	}
	h, err := c.hasher()
	if err != nil {
		return "", err
	}
	return h.Hash(pw)
}

// readPassword reads a password: the first line of stdin with fromStdin; else after a prompt
// on stderr, without echo and twice when stdin is a terminal. It gives up when ctx ends
// (Ctrl-C at the prompt), with the terminal's echo restored.
func readPassword(ctx context.Context, stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	var pw string
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		if state, err := term.GetState(fd); err == nil {
			defer term.Restore(fd, state) // term.ReadPassword's own restore does not run when a read is abandoned
		}
		read := func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := awaitRead(ctx, func() ([]byte, error) { return term.ReadPassword(fd) })
			fmt.Fprintln(stderr)
			return string(b), err
		}
		first, err := read("Password: ")
		if err != nil {
			return "", err
		}
		again, err := read("Repeat password: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the passwords differ")
		}
		pw = first
	} else {
		if !fromStdin {
			fmt.Fprint(stderr, "Password: ")
		}
		line, err := awaitRead(ctx, func() ([]byte, error) {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			return []byte(line), err
		})
		if err != nil && err != io.EOF {
			return "", err
		}
		pw = strings.TrimRight(string(line), "\r\n")
	}
	switch {
	case pw == "":
		return "", errors.New("empty password")
	case len(pw) > auth.MaxPasswordBytes:
		return "", fmt.Errorf("password is longer than %d bytes", auth.MaxPasswordBytes)
	}
	return pw, nil
}

// awaitRead runs a blocking read and returns its result, or ctx's error once ctx ends (the
// read is left behind; the process is about to exit).
func awaitRead(ctx context.Context, read func() ([]byte, error)) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := read()
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *adminCmd) userRevokeTokens(st store.Store) error {
	if c.all {
		n, err := st.RevokeAllTokens()
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "revoked %d token(s): every user is logged out\n", n)
		return nil
	}
	u, err := findUser(st, c.args[0])
	if err != nil {
		return err
	}
	n, err := st.RevokeUserTokens(u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "revoked %d token(s) of %s\n", n, u.Username)
	return nil
}

func (c *adminCmd) userPasswd(st store.Store) error {
	u, err := findUser(st, c.args[0])
	if err != nil {
		return err
	}
	hash, err := c.newHash()
	if err != nil {
		return err
	}
	// A new hash revokes every token of the user (store.UpdateUser).
	if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Hash = hash; return nil }); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "changed the password of %s; their sessions are logged out\n", u.Username)
	return nil
}

func (c *adminCmd) userDisable(st store.Store) error { return c.setActive(st, false) }

func (c *adminCmd) userEnable(st store.Store) error { return c.setActive(st, true) }

func (c *adminCmd) setActive(st store.Store, active bool) error {
	u, err := findUser(st, c.args[0])
	if err != nil {
		return err
	}
	if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Active = active; return nil }); err != nil {
		return err
	}
	if active {
		fmt.Fprintf(c.stdout, "enabled %s\n", u.Username)
	} else {
		fmt.Fprintf(c.stdout, "disabled %s; their sessions are logged out\n", u.Username)
	}
	return nil
}

func (c *adminCmd) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *adminCmd) userList(st store.Store) error {
	users, _, err := st.Users(0, 0)
	if err != nil {
		return err
	}
	slices.SortFunc(users, func(a, b *store.User) int {
		return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
	})
	rows := make([][]string, len(users))
	for i, u := range users {
		active := "yes"
		if !u.Active {
			active = "no"
		}
		rows[i] = []string{u.Username, u.ID, orDash(u.Email), orDash(strings.Join(u.Roles, ",")), active}
	}
	return c.table("USERNAME\tID\tEMAIL\tROLES\tACTIVE", rows)
}

func (c *adminCmd) userRoleAdd(st store.Store) error {
	u, err := findUser(st, c.args[0])
	if err != nil {
		return err
	}
	if u, err = st.AddUserRole(u.ID, c.args[1]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s now has roles %s\n", u.Username, strings.Join(u.Roles, ","))
	return nil
}

func (c *adminCmd) userRoleRemove(st store.Store) error {
	u, err := findUser(st, c.args[0])
	if err != nil {
		return err
	}
	if u, err = st.RemoveUserRole(u.ID, c.args[1]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s now has roles %s\n", u.Username, orDash(strings.Join(u.Roles, ",")))
	return nil
}

func (c *adminCmd) roleAdd(st store.Store) error {
	r, err := rbac.NewRole(c.args[0], c.description, c.scope)
	if err != nil {
		return err
	}
	if err := st.AddRole(r); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created role %s (%s)\n", r.Name, r.Scope)
	return nil
}

func (c *adminCmd) roleList(st store.Store) error {
	roles, err := st.Roles()
	if err != nil {
		return err
	}
	rows := make([][]string, len(roles))
	for i, r := range roles {
		rows[i] = []string{r.Name, orDash(r.Scope), orDash(r.Description)}
	}
	return c.table("ROLE\tSCOPE\tDESCRIPTION", rows)
}

func (c *adminCmd) roleRemove(st store.Store) error {
	if err := st.DeleteRole(c.args[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed role %s\n", c.args[0])
	return nil
}

func (c *adminCmd) permissionList(st store.Store) error {
	perms, err := st.Permissions()
	if err != nil {
		return err
	}
	rows := make([][]string, len(perms))
	for i, p := range perms {
		rows[i] = []string{p.ID, orDash(strings.Join(p.Roles, ","))}
	}
	return c.table("PERMISSION\tROLES", rows)
}

func (c *adminCmd) permissionGrant(st store.Store) error {
	role := c.args[1]
	p, err := st.SetPermissionRoles(c.args[0], func(roles []string) []string { return append(roles, role) })
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", p.ID, orDash(strings.Join(p.Roles, ",")))
	return nil
}

func (c *adminCmd) permissionRevoke(st store.Store) error {
	role := c.args[1]
	if err := rbac.CheckRoles(st, []string{role}); err != nil {
		return err
	}
	p, err := st.SetPermissionRoles(c.args[0], func(roles []string) []string {
		return slices.DeleteFunc(roles, func(r string) bool { return r == role })
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: %s\n", p.ID, orDash(strings.Join(p.Roles, ",")))
	return nil
}
