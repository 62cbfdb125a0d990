// Package seed parses seed files and applies them to the store: the embedded default seed on a
// new database, and an operator's --seed file at every start. Each entry is applied once per
// database: it creates what is missing, never overwrites or deletes what exists, and is not
// applied again after an admin removed or changed what it made (see ledger).
package seed

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/jsonerr"
	"rocketlite/rbac"
	"rocketlite/store"
)

//go:embed default.json
var defaultSeed []byte

// File is the seed format (see docs/operating.md, "Seed files").
type File struct {
	Roles       []Role       `json:"roles"`
	Permissions []Permission `json:"permissions"`
	Users       []User       `json:"users"`
	Rooms       []Room       `json:"rooms"`
}

// Role is a role to create.
type Role struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Scope       string `json:"scope"`
}

// Permission is a permission to create with the roles granted it.
type Permission struct {
	ID    string   `json:"_id"`
	Roles []string `json:"roles"`
}

// User is an account to create. Exactly one of Password and Bcrypt is given. Bcrypt is a
// bcrypt hash of the password's hex SHA-256 (auth.Digest), the form Rocket.Chat stores in
// services.password.bcrypt, so hashes exported from Rocket.Chat can be used as they are.
type User struct {
	ID       string   `json:"_id"` // optional fixed id, as Rocket.Chat's fixtures assume ("rocket.cat")
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Bcrypt   string   `json:"bcrypt"`
	Roles    []string `json:"roles"`
	Active   *bool    `json:"active"`
	Type     string   `json:"type"`
}

// Room is a room to create, with the usernames of its members.
type Room struct {
	ID          string   `json:"_id"`
	Name        string   `json:"name"`
	Type        string   `json:"t"`
	Default     bool     `json:"default"`
	ReadOnly    bool     `json:"ro"`
	Topic       string   `json:"topic"`
	Description string   `json:"description"`
	Members     []string `json:"members"`
	Owner       string   `json:"owner"`
}

// NameRE is what usernames, room names and role names may look like (store.NameRE).
var NameRE = store.NameRE

// Default returns the embedded default seed.
func Default() *File {
	f, err := Parse("(embedded default seed)", defaultSeed)
	if err != nil {
		panic(err)
	}
	return f
}

// Load reads and parses a seed file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err) // the *PathError names the file
	}
	return Parse(path, data)
}

// Parse decodes and checks a seed; every error names the file and the entry.
func Parse(name string, data []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("seed %s: %s", name, jsonerr.Describe(data, err, dec.InputOffset()))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		l, c := jsonerr.Position(data, jsonerr.NextValue(data, end))
		return nil, fmt.Errorf("seed %s: line %d, column %d: data after the JSON object", name, l, c)
	}
	bad := func(entry string, i int, format string, args ...any) error {
		return fmt.Errorf("seed %s: %s[%d]: %s", name, entry, i, fmt.Sprintf(format, args...))
	}
	for i, r := range f.Roles {
		if !store.ValidName(r.Name) {
			return nil, bad("roles", i, "name %q must match %s", r.Name, NameRE)
		}
	}
	for i, p := range f.Permissions {
		if !store.ValidName(p.ID) {
			return nil, bad("permissions", i, "_id %q must match %s", p.ID, NameRE)
		}
	}
	for i, u := range f.Users {
		switch {
		case !store.ValidName(u.Username):
			return nil, bad("users", i, "username %q must match %s", u.Username, NameRE)
		case u.ID != "" && !store.ValidName(u.ID):
			return nil, bad("users", i, "(%s) _id %q must match %s", u.Username, u.ID, NameRE)
		case u.Email != "" && !store.ValidEmail(u.Email):
			return nil, bad("users", i, "(%s) email %q is not an e-mail address", u.Username, u.Email)
		case (u.Password == "") == (u.Bcrypt == ""):
			return nil, bad("users", i, "(%s) needs exactly one of password and bcrypt", u.Username)
		case len(u.Password) > auth.MaxPasswordBytes:
			return nil, bad("users", i, "(%s) password is longer than %d bytes", u.Username, auth.MaxPasswordBytes)
		case u.Type != "" && u.Type != "user" && u.Type != "bot":
			return nil, bad("users", i, "(%s) type must be user or bot", u.Username)
		}
		if u.Bcrypt != "" {
			if _, err := bcrypt.Cost([]byte(u.Bcrypt)); err != nil {
				return nil, bad("users", i, "(%s) bcrypt is not a bcrypt hash", u.Username)
			}
		}
	}
	for i, r := range f.Rooms {
		switch {
		case !store.ValidName(r.Name):
			return nil, bad("rooms", i, "name %q must match %s", r.Name, NameRE)
		case r.ID != "" && !store.ValidName(r.ID):
			return nil, bad("rooms", i, "(%s) _id %q must match %s", r.Name, r.ID, NameRE)
		case r.Type != "" && r.Type != store.Public && r.Type != store.Private:
			return nil, bad("rooms", i, "(%s) t must be \"c\" or \"p\"", r.Name)
		}
	}
	return &f, nil
}

// The seed ledger: every entry applied is recorded in the store (meta keys "seeded/<kind>/<id>")
// and never applied again. Without it, the seed ran at every start and brought back what an
// admin had removed: a deleted or renamed seed user came back with the seed's password and
// roles (admin/change-me logged in again), a member removed from a private room was put back.
// An entry is its kind and the identity the file gives it, so an entry added to the file later
// is applied at the next start, and an entry whose name is changed in the file is a new one.
const ledgerPrefix = "seeded/"

func roleEntry(r Role) string             { return "role/" + r.Name }
func permissionEntry(p Permission) string { return "permission/" + p.ID }
func userEntry(u User) string             { return "user/" + strings.ToLower(u.Username) }

func roomEntry(r Room) string {
	if r.ID != "" {
		return "room/" + r.ID
	}
	return "room/" + strings.ToLower(r.Name)
}

func memberEntry(r Room, username string) string {
	return "member/" + strings.TrimPrefix(roomEntry(r), "room/") + "/" + strings.ToLower(username)
}

// ledger reads and records entries; records are written together at the end of Apply (one
// commit). A start interrupted before that applies the entries again, which finds them
// existing and records them: applying is idempotent until recorded.
type ledger struct {
	st  store.Store
	new []string
}

func (l *ledger) applied(entry string) (bool, error) {
	v, err := l.st.Meta(ledgerPrefix + entry)
	return v != "" || slices.Contains(l.new, entry), err
}

func (l *ledger) record(entries ...string) { l.new = append(l.new, entries...) }

func (l *ledger) flush() error {
	if len(l.new) == 0 {
		return nil
	}
	keys := make([]string, len(l.new))
	for i, e := range l.new {
		keys[i] = ledgerPrefix + e
	}
	return l.st.SetMetaKeys(keys, l.st.Now().UTC().Format(time.RFC3339))
}

// Apply applies each entry of f that was never applied to this store before (see ledger): it
// creates the role, permission, user or room if the store lacks it, adds the membership if the
// user is not in the room, and records the entry. What exists is left as it is, and an entry
// once applied is never applied again, whatever became of what it created. It returns a
// description of each thing it created.
func Apply(st store.Store, h *auth.Hasher, name string, f *File) (created []string, err error) {
	fail := func(entry string, i int, err error) error {
		return fmt.Errorf("seed %s: %s[%d]: %w", name, entry, i, err)
	}
	l := &ledger{st: st}
	defer func() {
		if ferr := l.flush(); err == nil && ferr != nil {
			err = fmt.Errorf("seed %s: recording the entries applied: %w", name, ferr)
		}
	}()
	for i, r := range f.Roles {
		if done, err := l.applied(roleEntry(r)); err != nil || done {
			if err != nil {
				return created, fail("roles", i, err)
			}
			continue
		}
		ok, err := st.EnsureRole(&store.Role{Name: r.Name, Description: r.Description, Scope: r.Scope})
		if err != nil {
			return created, fail("roles", i, err)
		}
		if ok {
			created = append(created, "role "+r.Name)
		}
		l.record(roleEntry(r))
	}
	for i, p := range f.Permissions {
		if done, err := l.applied(permissionEntry(p)); err != nil || done {
			if err != nil {
				return created, fail("permissions", i, err)
			}
			continue
		}
		ok, err := st.EnsurePermission(&store.Permission{ID: p.ID, Roles: slices.Clone(p.Roles)})
		if err != nil {
			return created, fail("permissions", i, err)
		}
		if ok {
			created = append(created, "permission "+p.ID)
		}
		l.record(permissionEntry(p))
	}
	for i, u := range f.Users {
		if done, err := l.applied(userEntry(u)); err != nil || done {
			if err != nil {
				return created, fail("users", i, err)
			}
			continue
		}
		if _, err := st.UserByUsername(u.Username); err == nil {
			l.record(userEntry(u))
			continue
		}
		hash := u.Bcrypt
		if hash == "" {
			if hash, err = h.Hash(u.Password); err != nil {
				return created, fail("users", i, err)
			}
		}
		if err := rbac.CheckGlobalRoles(st, u.Roles); err != nil {
			return created, fail("users", i, err)
		}
		nu := &store.User{ID: u.ID, Username: u.Username, Name: u.Name, Email: u.Email, Hash: hash,
			Roles: slices.Clone(u.Roles), Active: u.Active == nil || *u.Active, Type: u.Type}
		if nu.Name == "" {
			nu.Name = u.Username
		}
		if slices.Contains(nu.Roles, "bot") && nu.Type == "" {
			nu.Type = "bot"
		}
		if err := st.CreateUser(nu, false); err != nil {
			return created, fail("users", i, err)
		}
		created = append(created, "user "+u.Username)
		l.record(userEntry(u))
	}
	for i, r := range f.Rooms {
		more, err := applyRoom(st, l, r)
		created = append(created, more...)
		if err != nil {
			return created, fail("rooms", i, err)
		}
	}
	return created, nil
}

// applyRoom applies a room entry and its membership entries.
func applyRoom(st store.Store, l *ledger, r Room) (created []string, err error) {
	done, err := l.applied(roomEntry(r))
	if err != nil {
		return nil, err
	}
	room, err := findRoom(st, r)
	if err != nil {
		return nil, err
	}
	// Members not applied yet, as user ids.
	var entries, ids []string
	for _, m := range r.Members {
		e := memberEntry(r, m)
		if ok, err := l.applied(e); err != nil || ok || slices.Contains(entries, e) {
			if err != nil {
				return nil, err
			}
			continue
		}
		u, err := st.UserByUsername(m)
		if err != nil {
			return nil, fmt.Errorf("member %q does not exist", m)
		}
		entries, ids = append(entries, e), append(ids, u.ID)
	}
	switch {
	case !done && room == nil:
		owner := ""
		var creator *store.UserRef
		if r.Owner != "" {
			u, err := st.UserByUsername(r.Owner)
			if err != nil {
				return nil, fmt.Errorf("owner %q does not exist", r.Owner)
			}
			owner = u.ID
			ref := store.UserRef{ID: u.ID, Username: u.Username}
			creator = &ref
		}
		t := r.Type
		if t == "" {
			t = store.Public
		}
		nr := &store.Room{ID: r.ID, Name: r.Name, Type: t, Default: r.Default, ReadOnly: r.ReadOnly,
			Topic: r.Topic, Description: r.Description, Creator: creator}
		if err := st.CreateRoom(nr, ids, owner); err != nil {
			return nil, err
		}
		l.record(roomEntry(r))
		l.record(entries...)
		return []string{"room " + r.Name}, nil
	case room == nil:
		// The room was created once and is gone (deleted or renamed since): members added
		// to the file since have nothing to join, and the entries are spent.
		l.record(entries...)
		return nil, nil
	}
	if !done {
		l.record(roomEntry(r))
	}
	for j, id := range ids {
		if m, err := st.Membership(room.ID, id); err != nil {
			return created, err
		} else if m == nil {
			if err := st.AddMember(room.ID, id); err != nil {
				return created, err
			}
			created = append(created, "membership "+r.Name+"/"+id)
		}
		l.record(entries[j])
	}
	return created, nil
}

func findRoom(st store.Store, r Room) (*store.Room, error) {
	if r.ID != "" {
		room, err := st.Room(r.ID)
		if err == nil || store.KindOf(err) != store.NotFound {
			return room, err
		}
	}
	room, err := st.RoomByName(r.Name)
	if store.KindOf(err) == store.NotFound {
		return nil, nil
	}
	return room, err
}

// EnsureAdmin creates an admin when the store has no user at all. With password == "" it
// generates one and returns it, so that the caller can show it once; it never uses a fixed one.
func EnsureAdmin(st store.Store, h *auth.Hasher, username, password string) (generated string, created bool, err error) {
	_, total, err := st.Users(0, 1)
	if err != nil || total > 0 {
		return "", false, err
	}
	if !store.ValidName(username) {
		return "", false, fmt.Errorf("admin user name %q must match %s", username, NameRE)
	}
	if password == "" {
		password = auth.NewToken()[:20]
		generated = password
	}
	hash, err := h.Hash(password)
	if err != nil {
		return "", false, err
	}
	u := &store.User{Username: username, Name: username, Hash: hash, Roles: []string{"admin"}, Active: true}
	if err := st.CreateUser(u, true); err != nil {
		return "", false, err
	}
	return generated, true, nil
}

// ApplyDefault applies the embedded default seed whole to a new database. On a database that
// had it before it only adds default permissions that a newer version introduced (with those
// of their roles that still exist), so a role or room the operator removed stays removed.
func ApplyDefault(st store.Store, h *auth.Hasher) ([]string, error) {
	const key = "default-seed-applied"
	done, err := st.Meta(key)
	if err != nil {
		return nil, err
	}
	f := Default()
	if done == "" {
		created, err := Apply(st, h, "(embedded default seed)", f)
		if err != nil {
			return created, err
		}
		return created, st.SetMeta(key, "1")
	}
	roles, err := st.Roles()
	if err != nil {
		return nil, err
	}
	have := func(name string) bool {
		return slices.ContainsFunc(roles, func(r *store.Role) bool { return r.Name == name })
	}
	var created []string
	for _, p := range f.Permissions {
		ok, err := st.EnsurePermission(&store.Permission{ID: p.ID, Roles: slices.DeleteFunc(slices.Clone(p.Roles), func(r string) bool { return !have(r) })})
		if err != nil {
			return created, err
		}
		if ok {
			created = append(created, "permission "+p.ID)
		}
	}
	return created, nil
}
