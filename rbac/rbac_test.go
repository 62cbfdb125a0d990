package rbac

import (
	"path/filepath"
	"slices"
	"testing"

	"rocketlite/store"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "rbac.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, r := range []string{"admin", "user", "owner"} {
		if err := st.AddRole(&store.Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	for id, roles := range map[string][]string{CreateC: {"admin", "user"}, BulkCreateC: {"admin"}, "edit-room": {"admin", "owner"}} {
		if _, err := st.EnsurePermission(&store.Permission{ID: id, Roles: roles}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestRequire(t *testing.T) {
	st := newStore(t)
	admin := &store.User{Username: "root", Hash: "x", Active: true}
	bob := &store.User{Username: "bob", Hash: "x", Active: true}
	if err := st.CreateUsers([]*store.User{admin, bob}, false); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(admin.Roles, []string{"admin"}) || !slices.Equal(bob.Roles, []string{"user"}) {
		t.Fatalf("roles %v %v", admin.Roles, bob.Roles)
	}
	check := func(u *store.User, rid string, want error, perms ...string) {
		t.Helper()
		if got := RequireIn(st, u, rid, perms...); got != want {
			t.Fatalf("%s %v in %q: %v, want %v", u.Username, perms, rid, got, want)
		}
	}
	check(admin, "", nil, CreateC, BulkCreateC)
	check(bob, "", nil, CreateC)
	check(bob, "", store.ErrNoPermission, CreateC, BulkCreateC) // every one is needed
	check(bob, "", store.ErrNoPermission, "no-such-permission") // granted to nobody
	check(nil, "", store.ErrUnauthorized, CreateC)

	// A grant counts from the next call, a revoke too.
	if _, err := st.SetPermissionRoles(BulkCreateC, func(r []string) []string { return append(r, "user") }); err != nil {
		t.Fatal(err)
	}
	check(bob, "", nil, BulkCreateC)
	if _, err := st.SetPermissionRoles(BulkCreateC, func([]string) []string { return []string{"admin"} }); err != nil {
		t.Fatal(err)
	}
	check(bob, "", store.ErrNoPermission, BulkCreateC)

	// Room roles count only in their room.
	room := &store.Room{Name: "r"}
	if err := st.CreateRoom(room, nil, bob.ID); err != nil {
		t.Fatal(err)
	}
	check(bob, room.ID, nil, "edit-room")
	check(bob, "", store.ErrNoPermission, "edit-room")
	check(bob, "GENERAL", store.ErrNoPermission, "edit-room")
	if err := Require(st, bob, "edit-room"); err != store.ErrNoPermission {
		t.Fatalf("Require counts room roles: %v", err)
	}
	if err := Require(st, admin, "edit-room"); err != nil {
		t.Fatalf("Require(admin): %v", err)
	}
}

func TestNewRoleAndCheckRoles(t *testing.T) {
	st := newStore(t)
	r, err := NewRole("qa", "testers", "")
	if err != nil || r.Scope != ScopeGlobal || r.Name != "qa" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, c := range []struct{ name, scope, code string }{
		{"", "", "invalid-role-name"}, {"a b", "", "invalid-role-name"}, {string(make([]byte, 65)), "", "invalid-role-name"},
		{"ok", "Rooms", "invalid-scope"},
	} {
		if _, err := NewRole(c.name, "", c.scope); err == nil || err.(*store.Error).Code != c.code {
			t.Fatalf("NewRole(%q, %q): %v, want %s", c.name, c.scope, err, c.code)
		}
	}
	if err := CheckRoles(st, []string{"admin", "owner"}); err != nil {
		t.Fatal(err)
	}
	err = CheckRoles(st, []string{"admin", "wizard"})
	if store.KindOf(err) != store.NotFound || err.Error() != `Role "wizard" not found [invalid-role]` {
		t.Fatalf("CheckRoles: %v", err)
	}
}
