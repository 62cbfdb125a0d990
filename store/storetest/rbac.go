package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
)

// The roles, permissions and integrations of the contract.

// permEvents collects the PermissionsChanged events a store publishes (on PostgreSQL they come
// through the events table, so after the write returned: wait for them).
type permEvents struct {
	mu  sync.Mutex
	got [][]string // each event: "id=role,role"
}

func (p *permEvents) Publish(events []store.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		if ev.Kind != store.PermissionsChanged {
			continue
		}
		var one []string
		for _, perm := range ev.Permissions {
			s := perm.ID + "="
			for i, r := range perm.Roles {
				if i > 0 {
					s += ","
				}
				s += r
			}
			one = append(one, s)
		}
		p.got = append(p.got, one)
	}
}

// wait returns the events once there are n of them (failing after 5 s).
func (p *permEvents) wait(t *testing.T, n int) [][]string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		got := slices.Clone(p.got)
		p.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("PermissionsChanged events = %v, want %d", got, n)
			}
			return got
		}
	}
}

func mustRoles(t *testing.T, st store.Store, roles ...*store.Role) {
	t.Helper()
	for _, r := range roles {
		if err := st.AddRole(r); err != nil {
			t.Fatalf("AddRole(%s): %v", r.Name, err)
		}
	}
}

func mustPerm(t *testing.T, st store.Store, id string, roles ...string) {
	t.Helper()
	if created, err := st.EnsurePermission(&store.Permission{ID: id, Roles: roles}); err != nil || !created {
		t.Fatalf("EnsurePermission(%s) = %v, %v", id, created, err)
	}
}

// wantErr fails unless err is a store error of that kind and code.
func wantErr(t *testing.T, what string, err error, kind store.Kind, code string) {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) || se.Kind != kind || se.Code != code {
		t.Fatalf("%s: err = %v, want kind %d code %q", what, err, kind, code)
	}
}

func roleNames(t *testing.T, st store.Store) []string {
	t.Helper()
	roles, err := st.Roles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range roles {
		names = append(names, r.Name)
	}
	return names
}

func permRoles(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	p, err := st.Permission(id)
	if err != nil {
		t.Fatalf("Permission(%s): %v", id, err)
	}
	return p.Roles
}

func init() {
	add("RolesAddEnsureList", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		if names := roleNames(t, st); len(names) != 0 {
			t.Fatalf("a new store has roles %v", names)
		}
		mustRoles(t, st, &store.Role{Name: "user", Description: "A user", Scope: "Users"},
			&store.Role{Name: "owner", Scope: store.RoomScope, Protected: true})
		wantErr(t, "AddRole of an existing name", st.AddRole(&store.Role{Name: "user", Description: "other"}), store.Conflict, "duplicate-role")
		if created, err := st.EnsureRole(&store.Role{Name: "user", Description: "other"}); err != nil || created {
			t.Fatalf("EnsureRole of an existing role = %v, %v", created, err)
		}
		if created, err := st.EnsureRole(&store.Role{Name: "Zed"}); err != nil || !created {
			t.Fatalf("EnsureRole of a new role = %v, %v", created, err)
		}
		// Byte order, as bbolt's keys: capitals first.
		if names := roleNames(t, st); !reflect.DeepEqual(names, []string{"Zed", "owner", "user"}) {
			t.Fatalf("Roles = %v", names)
		}
		roles, _ := st.Roles()
		if want := (store.Role{Name: "owner", Scope: store.RoomScope, Protected: true}); *roles[1] != want {
			t.Fatalf("owner = %+v, want %+v", *roles[1], want)
		}
		if want := (store.Role{Name: "user", Description: "A user", Scope: "Users"}); *roles[2] != want {
			t.Fatalf("user = %+v, want %+v (neither AddRole nor EnsureRole of an existing name overwrites)", *roles[2], want)
		}
	})

	add("DeleteRoleHeldByPermission", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "spare"}, &store.Role{Name: "gone"})
		mustPerm(t, st, "p", "admin", "spare")
		wantErr(t, "DeleteRole of an unknown role", st.DeleteRole("nosuch"), store.NotFound, "invalid-role")
		wantErr(t, "DeleteRole of a role a permission holds", st.DeleteRole("spare"), store.Conflict, "role-in-use")
		if err := st.DeleteRole("gone"); err != nil {
			t.Fatal(err)
		}
		if names := roleNames(t, st); !reflect.DeepEqual(names, []string{"admin", "spare"}) {
			t.Fatalf("Roles after deletions = %v", names)
		}
		if _, err := st.SetPermissionRoles("p", func([]string) []string { return []string{"admin"} }); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteRole("spare"); err != nil {
			t.Fatalf("DeleteRole once no permission holds it: %v", err)
		}
		wantErr(t, "DeleteRole again", st.DeleteRole("spare"), store.NotFound, "invalid-role")
	})

	add("EnsurePermission", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "user"})
		_, err := st.EnsurePermission(&store.Permission{ID: "p", Roles: []string{"user", "ghost"}})
		wantErr(t, "EnsurePermission naming an unknown role", err, store.Invalid, "invalid-role")
		wantErr(t, "the refused permission", func() error { _, err := st.Permission("p"); return err }(), store.NotFound, "invalid-permission")
		// Stored as given: EnsurePermission neither sorts nor checks access-permissions.
		mustPerm(t, st, "p", "user", "admin")
		clock.Advance(time.Hour)
		if created, err := st.EnsurePermission(&store.Permission{ID: "p", Roles: []string{"ghost"}}); err != nil || created {
			t.Fatalf("EnsurePermission of an existing permission = %v, %v (its roles are not even checked)", created, err)
		}
		p, err := st.Permission("p")
		if err != nil || p.ID != "p" || !reflect.DeepEqual(p.Roles, []string{"user", "admin"}) || !p.UpdatedAt.Equal(clock.T.Add(-time.Hour)) {
			t.Fatalf("Permission = %+v, %v", p, err)
		}
		mustPerm(t, st, "access-permissions")
		mustPerm(t, st, "B", "admin")
		perms, err := st.Permissions()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range perms {
			ids = append(ids, p.ID)
		}
		if !reflect.DeepEqual(ids, []string{"B", "access-permissions", "p"}) {
			t.Fatalf("Permissions = %v", ids)
		}
		if len(perms[1].Roles) != 0 {
			t.Fatalf("a permission created without roles has %v", perms[1].Roles)
		}
		// A permission without roles grants nothing, even to a user with no roles.
		if ok, err := st.HasPermission(&store.User{ID: "u"}, "access-permissions", ""); err != nil || ok {
			t.Fatalf("HasPermission of a roleless permission = %v, %v", ok, err)
		}
	})

	add("SetPermissionRoles", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		ev := &permEvents{}
		st.SetPublisher(ev)
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "user"}, &store.Role{Name: "bot"})
		mustPerm(t, st, "p", "admin")
		mustPerm(t, st, "access-permissions", "admin")
		clock.Advance(time.Minute)
		var seen []string
		p, err := st.SetPermissionRoles("p", func(roles []string) []string {
			seen = roles
			return append(roles, "user", "bot", "user")
		})
		if err != nil || !reflect.DeepEqual(p.Roles, []string{"admin", "bot", "user"}) || !p.UpdatedAt.Equal(clock.T) {
			t.Fatalf("SetPermissionRoles = %+v, %v", p, err)
		}
		if !reflect.DeepEqual(seen, []string{"admin"}) {
			t.Fatalf("change got %v", seen)
		}
		if got := permRoles(t, st, "p"); !reflect.DeepEqual(got, []string{"admin", "bot", "user"}) {
			t.Fatalf("stored roles %v", got)
		}
		if ok, err := st.HasPermission(&store.User{ID: "u", Roles: []string{"bot"}}, "p", ""); err != nil || !ok {
			t.Fatalf("a role just granted: HasPermission = %v, %v", ok, err)
		}
		// Refusals change nothing and publish nothing.
		_, err = st.SetPermissionRoles("nosuch", func(r []string) []string { return r })
		wantErr(t, "unknown permission", err, store.NotFound, "invalid-permission")
		_, err = st.SetPermissionRoles("p", func([]string) []string { return []string{"user", "king"} })
		wantErr(t, "unknown role", err, store.NotFound, "invalid-role")
		_, err = st.SetPermissionRoles("access-permissions", func([]string) []string { return []string{"user"} })
		wantErr(t, "access-permissions without admin", err, store.Conflict, "admin-access")
		if got := permRoles(t, st, "p"); !reflect.DeepEqual(got, []string{"admin", "bot", "user"}) {
			t.Fatalf("a refused change changed p to %v", got)
		}
		if got := permRoles(t, st, "access-permissions"); !reflect.DeepEqual(got, []string{"admin"}) {
			t.Fatalf("a refused change changed access-permissions to %v", got)
		}
		// Revoking everything stores an empty list, which grants nothing.
		if p, err = st.SetPermissionRoles("p", func([]string) []string { return nil }); err != nil || p.Roles == nil || len(p.Roles) != 0 {
			t.Fatalf("revoking all = %+v, %v", p, err)
		}
		if ok, err := st.HasPermission(&store.User{ID: "u", Roles: []string{"admin"}}, "p", ""); err != nil || ok {
			t.Fatalf("a permission revoked from everyone: HasPermission = %v, %v", ok, err)
		}
		if got := ev.wait(t, 2); !reflect.DeepEqual(got, [][]string{{"p=admin,bot,user"}, {"p="}}) {
			t.Fatalf("events %v", got)
		}
	})

	add("SetPermissionsRolesAllOrNothing", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ev := &permEvents{}
		st.SetPublisher(ev)
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "user"})
		mustPerm(t, st, "a", "admin")
		mustPerm(t, st, "b", "admin")
		mustPerm(t, st, "access-permissions", "admin")
		for _, tc := range []struct {
			name string
			in   []store.Permission
			kind store.Kind
			code string
		}{
			{"UnknownPermission", []store.Permission{{ID: "a", Roles: []string{"user"}}, {ID: "zz"}}, store.NotFound, "invalid-permission"},
			{"UnknownRole", []store.Permission{{ID: "a", Roles: []string{"user"}}, {ID: "b", Roles: []string{"king"}}}, store.NotFound, "invalid-role"},
			{"AdminAccess", []store.Permission{{ID: "a", Roles: []string{"user"}}, {ID: "access-permissions", Roles: []string{"user"}}}, store.Conflict, "admin-access"},
		} {
			_, err := st.SetPermissionsRoles(tc.in)
			wantErr(t, tc.name, err, tc.kind, tc.code)
			if got := permRoles(t, st, "a"); !reflect.DeepEqual(got, []string{"admin"}) {
				t.Fatalf("%s: a changed to %v", tc.name, got)
			}
		}
		got, err := st.SetPermissionsRoles([]store.Permission{{ID: "b", Roles: []string{}}, {ID: "a", Roles: []string{"user", "admin", "user"}}})
		if err != nil || len(got) != 2 || got[0].ID != "b" || len(got[0].Roles) != 0 || got[1].ID != "a" || !reflect.DeepEqual(got[1].Roles, []string{"admin", "user"}) {
			t.Fatalf("SetPermissionsRoles = %+v, %v", got, err)
		}
		// A permission named twice: the last list wins, and each step is an event.
		got, err = st.SetPermissionsRoles([]store.Permission{{ID: "a", Roles: []string{"user"}}, {ID: "a", Roles: []string{"admin"}}})
		if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0].Roles, []string{"user"}) || !reflect.DeepEqual(got[1].Roles, []string{"admin"}) {
			t.Fatalf("SetPermissionsRoles naming a twice = %+v, %v", got, err)
		}
		if r := permRoles(t, st, "a"); !reflect.DeepEqual(r, []string{"admin"}) {
			t.Fatalf("a = %v", r)
		}
		if r := permRoles(t, st, "b"); len(r) != 0 {
			t.Fatalf("b = %v", r)
		}
		if evs := ev.wait(t, 4); !reflect.DeepEqual(evs, [][]string{{"b="}, {"a=admin,user"}, {"a=user"}, {"a=admin"}}) {
			t.Fatalf("events %v", evs)
		}
	})

	add("HasPermissionGlobal", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "user"}, &store.Role{Name: "owner", Scope: store.RoomScope})
		mustPerm(t, st, "p", "admin", "owner")
		for _, tc := range []struct {
			roles []string
			perm  string
			want  bool
		}{
			{[]string{"admin"}, "p", true},
			{[]string{"user", "admin"}, "p", true},
			{[]string{"user"}, "p", false},
			{nil, "p", false},
			{[]string{"admin"}, "nosuch", false}, // an unknown permission is granted to nobody
		} {
			ok, err := st.HasPermission(&store.User{ID: "u", Roles: tc.roles}, tc.perm, "")
			if err != nil || ok != tc.want {
				t.Fatalf("HasPermission(%v, %s) = %v, %v", tc.roles, tc.perm, ok, err)
			}
		}
		// A room role counts only through a membership: a room that does not exist (or where
		// the user is no member) grants nothing, and is not an error.
		if ok, err := st.HasPermission(&store.User{ID: "u", Roles: []string{"user"}}, "p", "NOROOM"); err != nil || ok {
			t.Fatalf("HasPermission in a missing room = %v, %v", ok, err)
		}
	})
}

// The tests below need users and rooms.
func init() {
	add("UserRoles", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		mustRoles(t, st, &store.Role{Name: "admin"}, &store.Role{Name: "user"}, &store.Role{Name: "bot"},
			&store.Role{Name: "owner", Scope: store.RoomScope})
		ann := mustUser(t, st, "ann1", "ann")
		// The role is checked before the user, as bbolt's checks run first.
		_, err := st.AddUserRole("nobody", "ghost")
		wantErr(t, "AddUserRole of an unknown role", err, store.NotFound, "invalid-role")
		_, err = st.AddUserRole("nobody", "bot")
		wantErr(t, "AddUserRole to an unknown user", err, store.NotFound, store.ErrUserNotFound.Code)
		_, err = st.AddUserRole(ann.ID, "owner")
		wantErr(t, "AddUserRole of a room role", err, store.Invalid, "invalid-role-scope")
		_, err = st.RemoveUserRole(ann.ID, "owner")
		wantErr(t, "RemoveUserRole of a room role", err, store.Invalid, "invalid-role-scope")
		_, err = st.RemoveUserRole(ann.ID, "ghost")
		wantErr(t, "RemoveUserRole of an unknown role", err, store.NotFound, "invalid-role")
		if u, _ := st.User(ann.ID); !reflect.DeepEqual(u.Roles, []string{"user"}) {
			t.Fatalf("refusals changed the roles to %v", u.Roles)
		}
		clock.Advance(time.Minute)
		u, err := st.AddUserRole(ann.ID, "bot")
		if err != nil || !reflect.DeepEqual(u.Roles, []string{"user", "bot"}) || !u.UpdatedAt.Equal(clock.T) {
			t.Fatalf("AddUserRole = %+v, %v", u, err)
		}
		if u, err = st.AddUserRole(ann.ID, "bot"); err != nil || !reflect.DeepEqual(u.Roles, []string{"user", "bot"}) {
			t.Fatalf("AddUserRole of a role held = %+v, %v", u, err)
		}
		if stored, _ := st.User(ann.ID); !reflect.DeepEqual(stored.Roles, []string{"user", "bot"}) {
			t.Fatalf("stored roles %v", stored.Roles)
		}
		wantErr(t, "DeleteRole of a role a user holds", st.DeleteRole("bot"), store.Conflict, "role-in-use")
		if u, err = st.RemoveUserRole(ann.ID, "bot"); err != nil || !reflect.DeepEqual(u.Roles, []string{"user"}) {
			t.Fatalf("RemoveUserRole = %+v, %v", u, err)
		}
		if u, err = st.RemoveUserRole(ann.ID, "bot"); err != nil || !reflect.DeepEqual(u.Roles, []string{"user"}) {
			t.Fatalf("RemoveUserRole of a role not held = %+v, %v", u, err)
		}
		if err := st.DeleteRole("bot"); err != nil {
			t.Fatalf("DeleteRole once nobody holds it: %v", err)
		}
		// The last active admin keeps the role; with a second admin it can go.
		if _, err := st.AddUserRole(ann.ID, "admin"); err != nil {
			t.Fatal(err)
		}
		_, err = st.RemoveUserRole(ann.ID, "admin")
		wantErr(t, "RemoveUserRole of the last admin", err, store.Conflict, "last-admin")
		bob := mustUser(t, st, "bob1", "bob")
		if _, err := st.AddUserRole(bob.ID, "admin"); err != nil {
			t.Fatal(err)
		}
		if u, err = st.RemoveUserRole(ann.ID, "admin"); err != nil || u.HasRole("admin") {
			t.Fatalf("RemoveUserRole of one of two admins = %+v, %v", u, err)
		}
		if errs := st.Check(); errs != nil {
			t.Fatal(errs)
		}
	})

	add("RoomRolesGrantAndHold", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		mustRoles(t, st, &store.Role{Name: "user"}, &store.Role{Name: "owner", Scope: store.RoomScope},
			&store.Role{Name: "moderator", Scope: store.RoomScope})
		mustPerm(t, st, "p", "owner")
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		room := &store.Room{Name: "team", Type: store.Private}
		if err := st.CreateRoom(room, []string{bob.ID}, ann.ID); err != nil {
			t.Fatal(err)
		}
		other := &store.Room{Name: "other", Type: store.Public}
		if err := st.CreateRoom(other, []string{ann.ID}, ""); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			u    *store.User
			rid  string
			want bool
		}{
			{ann, room.ID, true},   // owner of the room
			{ann, "", false},       // a room role does not count globally
			{ann, other.ID, false}, // nor in a room where the user holds no role
			{bob, room.ID, false},  // a plain member
		} {
			if ok, err := st.HasPermission(tc.u, "p", tc.rid); err != nil || ok != tc.want {
				t.Fatalf("HasPermission(%s, p, %q) = %v, %v", tc.u.Username, tc.rid, ok, err)
			}
		}
		if err := st.SetRoomRole(room.ID, bob.ID, "moderator", true, ann); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetPermissionRoles("p", func([]string) []string { return []string{"moderator"} }); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.HasPermission(bob, "p", room.ID); err != nil || !ok {
			t.Fatalf("a moderator: HasPermission = %v, %v", ok, err)
		}
		if ok, err := st.HasPermission(ann, "p", room.ID); err != nil || ok {
			t.Fatalf("the owner once p went to moderators only: HasPermission = %v, %v", ok, err)
		}
		// Held by memberships only, the room roles cannot go.
		if _, err := st.SetPermissionRoles("p", func([]string) []string { return nil }); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "DeleteRole of the owner role the creator holds", st.DeleteRole("owner"), store.Conflict, "role-in-use")
		wantErr(t, "DeleteRole of a role a membership holds", st.DeleteRole("moderator"), store.Conflict, "role-in-use")
		if err := st.SetRoomRole(room.ID, bob.ID, "moderator", false, ann); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteRole("moderator"); err != nil {
			t.Fatalf("DeleteRole once nobody holds it: %v", err)
		}
	})

	add("Integrations", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		mustRoles(t, st, &store.Role{Name: "user"})
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		wantErr(t, "CreateIntegration posting as nobody", st.CreateIntegration(&store.Integration{Type: store.IncomingWebhook, UserID: "nobody"}),
			store.NotFound, store.ErrUserNotFound.Code)
		if list, err := st.Integrations(nil); err != nil || len(list) != 0 {
			t.Fatalf("a refused integration was stored: %v, %v", list, err)
		}
		in := &store.Integration{Type: store.IncomingWebhook, Name: "ci", Enabled: true, UserID: ann.ID, Username: "stale",
			Channels: []string{"#general"}, Alias: "CI", TokenHash: store.HookTokenHash("tok"), CreatedBy: ann.Ref()}
		if err := st.CreateIntegration(in); err != nil {
			t.Fatal(err)
		}
		if in.ID == "" || in.Username != "ann" || !in.CreatedAt.Equal(clock.T) || !in.UpdatedAt.Equal(clock.T) {
			t.Fatalf("created %+v", in)
		}
		got, err := st.Integration(in.ID)
		if err != nil || !sameIntegration(got, in) || !got.TokenMatches("tok") {
			t.Fatalf("Integration = %+v, %v; want %+v", got, err, in)
		}
		_, err = st.Integration("nosuch")
		wantErr(t, "Integration of an unknown id", err, store.NotFound, "invalid-integration")
		wantErr(t, "CreateIntegration of an existing id", st.CreateIntegration(&store.Integration{ID: in.ID, UserID: bob.ID}),
			store.Conflict, "duplicate-integration")
		// Oldest first; at the same time, by id.
		clock.Advance(time.Second)
		for _, id := range []string{"zz", "aa"} {
			if err := st.CreateIntegration(&store.Integration{ID: id, Type: store.OutgoingWebhook, UserID: bob.ID, Enabled: id == "aa"}); err != nil {
				t.Fatal(err)
			}
		}
		if ids := integrationIDs(t, st, nil); !reflect.DeepEqual(ids, []string{in.ID, "aa", "zz"}) {
			t.Fatalf("Integrations = %v", ids)
		}
		enabledOut := func(i *store.Integration) bool { return i.Type == store.OutgoingWebhook && i.Enabled }
		if ids := integrationIDs(t, st, enabledOut); !reflect.DeepEqual(ids, []string{"aa"}) {
			t.Fatalf("Integrations(enabled outgoing) = %v", ids)
		}
		// Updates: a refused change or an unknown poster changes nothing.
		refuse := store.Errorf(store.Invalid, "no", "refused")
		_, err = st.UpdateIntegration(in.ID, func(i *store.Integration) error { i.Name = "x"; return refuse })
		wantErr(t, "a refused change", err, store.Invalid, "no")
		_, err = st.UpdateIntegration(in.ID, func(i *store.Integration) error { i.Name = "x"; i.UserID = "nobody"; return nil })
		wantErr(t, "a change to an unknown poster", err, store.NotFound, store.ErrUserNotFound.Code)
		_, err = st.UpdateIntegration("nosuch", func(i *store.Integration) error { return nil })
		wantErr(t, "UpdateIntegration of an unknown id", err, store.NotFound, "invalid-integration")
		if got, _ := st.Integration(in.ID); !sameIntegration(got, in) {
			t.Fatalf("refused updates changed it to %+v", got)
		}
		if _, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Username = "robert"; return nil }); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		up, err := st.UpdateIntegration(in.ID, func(i *store.Integration) error {
			i.ID, i.Name, i.UserID, i.Username = "other", "ci2", bob.ID, "whatever"
			return nil
		})
		if err != nil || up.ID != in.ID || up.Name != "ci2" || up.UserID != bob.ID || up.Username != "robert" ||
			!up.UpdatedAt.Equal(clock.T) || !up.CreatedAt.Equal(in.CreatedAt) {
			t.Fatalf("UpdateIntegration = %+v, %v", up, err)
		}
		if got, _ := st.Integration(in.ID); !sameIntegration(got, up) {
			t.Fatalf("stored %+v, returned %+v", got, up)
		}
		if ids := integrationIDs(t, st, nil); !reflect.DeepEqual(ids, []string{in.ID, "aa", "zz"}) {
			t.Fatalf("an update moved it: %v", ids)
		}
		// Removal: check may refuse.
		_, err = st.RemoveIntegration("aa", func(i *store.Integration) error {
			if i.ID != "aa" {
				t.Errorf("check got %s", i.ID)
			}
			return refuse
		})
		wantErr(t, "a refused removal", err, store.Invalid, "no")
		removed, err := st.RemoveIntegration("aa", nil)
		if err != nil || removed.ID != "aa" || removed.Username != "bob" {
			t.Fatalf("RemoveIntegration = %+v, %v", removed, err)
		}
		_, err = st.RemoveIntegration("aa", nil)
		wantErr(t, "RemoveIntegration again", err, store.NotFound, "invalid-integration")
		if ids := integrationIDs(t, st, nil); !reflect.DeepEqual(ids, []string{in.ID, "zz"}) {
			t.Fatalf("Integrations after removal = %v", ids)
		}
		if errs := st.Check(); errs != nil {
			t.Fatal(errs)
		}
	})

	add("SeedDefaultAndAdmin", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		h, err := auth.NewHasher(bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		created, err := seed.ApplyDefault(st, h)
		if err != nil {
			t.Fatal(err)
		}
		def := seed.Default()
		if want := len(def.Roles) + len(def.Permissions) + len(def.Rooms); len(created) != want {
			t.Fatalf("ApplyDefault created %d things, want %d: %v", len(created), want, created)
		}
		if names := roleNames(t, st); len(names) != len(def.Roles) {
			t.Fatalf("roles %v", names)
		}
		for _, p := range def.Permissions {
			if got := permRoles(t, st, p.ID); !reflect.DeepEqual(got, p.Roles) {
				t.Fatalf("permission %s has %v, want %v", p.ID, got, p.Roles)
			}
		}
		generated, made, err := seed.EnsureAdmin(st, h, "admin", "")
		if err != nil || !made || generated == "" {
			t.Fatalf("EnsureAdmin = %q, %v, %v", generated, made, err)
		}
		admin, err := st.UserByUsername("admin")
		if err != nil || !admin.HasRole("admin") || !admin.Active {
			t.Fatalf("admin = %+v, %v", admin, err)
		}
		if !h.Check(admin.Hash, generated) {
			t.Fatal("the generated password does not log in")
		}
		if m, err := st.Membership("GENERAL", admin.ID); err != nil || m == nil {
			t.Fatalf("the admin is not in the default room: %v, %v", m, err)
		}
		for _, perm := range []string{"access-permissions", "view-c-room", "create-c"} {
			if ok, err := st.HasPermission(admin, perm, ""); err != nil || !ok {
				t.Fatalf("admin lacks %s: %v", perm, err)
			}
		}
		// A second start creates nothing: the ledger and the users there are.
		if created, err = seed.ApplyDefault(st, h); err != nil || len(created) != 0 {
			t.Fatalf("ApplyDefault again = %v, %v", created, err)
		}
		if _, made, err = seed.EnsureAdmin(st, h, "admin", ""); err != nil || made {
			t.Fatalf("EnsureAdmin again = %v, %v", made, err)
		}
		// A default role the operator removed stays removed.
		if err := st.DeleteRole("leader"); err != nil {
			t.Fatal(err)
		}
		if created, err = seed.ApplyDefault(st, h); err != nil || len(created) != 0 {
			t.Fatalf("ApplyDefault after a deletion = %v, %v", created, err)
		}
		if names := roleNames(t, st); slices.Contains(names, "leader") {
			t.Fatalf("the deleted role came back: %v", names)
		}
		if errs := st.Check(); errs != nil {
			t.Fatal(errs)
		}
	})
}

func integrationIDs(t *testing.T, st store.Store, keep func(*store.Integration) bool) []string {
	t.Helper()
	list, err := st.Integrations(keep)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range list {
		ids = append(ids, i.ID)
	}
	return ids
}

// sameIntegration compares two integrations, their times by instant.
func sameIntegration(a, b *store.Integration) bool {
	if a == nil || b == nil || !a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	x, y := *a, *b
	x.CreatedAt, x.UpdatedAt, y.CreatedAt, y.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}

// The check after a workload of every domain: what the operations write is what Check
// expects (on PostgreSQL, the columns beside each doc, the counters and the references).
func init() {
	add("CheckSoundAfterWorkload", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		h, err := auth.NewHasher(bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seed.ApplyDefault(st, h); err != nil {
			t.Fatal(err)
		}
		must := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		tick := func() { clock.Advance(time.Second) }
		ann, bob, cat := &store.User{Username: "Ann", Email: "Ann@X.org", Roles: []string{"user"}, Active: true, Hash: "x"},
			&store.User{Username: "bob", Roles: []string{"user"}, Active: true, Hash: "x"},
			&store.User{Username: "cat", Email: "cat@x.org", Roles: []string{"user", "bot"}, Active: true, Hash: "x", Type: "bot"}
		must("CreateUsers", st.CreateUsers([]*store.User{ann, bob, cat}, true))
		tick()
		ann, err = st.UpdateUser(ann.ID, func(u *store.User) error { u.Username, u.Email = "Anna", "anna@x.org"; return nil })
		must("rename", err)
		_, err = st.AddUserRole(bob.ID, "admin")
		must("AddUserRole", err)
		team := &store.Room{Name: "Team", Type: store.Private}
		must("CreateRoom", st.CreateRoom(team, []string{bob.ID}, ann.ID))
		pub := &store.Room{Name: "pub", Type: store.Public}
		must("CreateRoom", st.CreateRoom(pub, nil, bob.ID))
		_, err = st.Join(pub.ID, ann.ID)
		must("Join", err)
		_, err = st.Join(pub.ID, cat.ID)
		must("Join", err)
		must("SetRoomRole", st.SetRoomRole(team.ID, bob.ID, "moderator", true, ann))
		tick()
		_, err = st.UpdateRoom(pub.ID, func(r *store.Room) error { r.Name, r.Topic = "Public", "all"; return nil })
		must("UpdateRoom", err)
		dm, _, err := st.OpenDirect(ann, []string{bob.ID})
		must("OpenDirect", err)
		var ids []string
		for i, rid := range []string{team.ID, pub.ID, dm.ID, pub.ID, team.ID} {
			tick()
			m := &store.Message{Text: fmt.Sprintf("Hello @bob %d", i)}
			must("PostMessage", st.PostMessage(rid, ann, m))
			ids = append(ids, m.ID)
		}
		reply := &store.Message{Text: "a reply", TMID: ids[1]}
		must("reply", st.PostMessage(pub.ID, bob, reply))
		tick()
		_, err = st.UpdateMessage(ids[0], ann, func(m *store.Message) error { m.Text = "Edited"; return nil })
		must("UpdateMessage", err)
		_, err = st.React(ids[1], bob, ":smile:", nil)
		must("React", err)
		_, err = st.Star(ids[1], bob, true)
		must("Star", err)
		_, err = st.Pin(ids[4], ann, true, func(string) error { return nil })
		must("Pin", err)
		_, err = st.DeleteMessage(ids[3], ann, func(*store.Message) error { return nil })
		must("DeleteMessage", err)
		must("MarkRead", st.MarkRead(pub.ID, bob))
		_, err = st.Leave(pub.ID, cat.ID)
		must("Leave", err)
		must("SetArchived", st.SetArchived(team.ID, true, ann))
		_, err = st.CleanHistory(dm.ID, time.Time{}, clock.T.Add(time.Hour), true)
		must("CleanHistory", err)
		must("CreateIntegration", st.CreateIntegration(&store.Integration{Type: store.IncomingWebhook, UserID: cat.ID}))
		must("DeleteUser", st.DeleteUser(cat.ID))
		other := &store.Room{Name: "gone", Type: store.Public}
		must("CreateRoom", st.CreateRoom(other, []string{ann.ID}, bob.ID))
		must("PostMessage", st.PostMessage(other.ID, ann, &store.Message{Text: "bye"}))
		must("DeleteRoom", st.DeleteRoom(other.ID))
		if errs := st.Check(); errs != nil {
			t.Fatalf("Check after the workload: %v", errs)
		}
	})
}

// kindCount counts the events of one kind a store publishes.
type kindCount struct {
	kind store.EventKind
	mu   sync.Mutex
	n    int
}

func (k *kindCount) Publish(events []store.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ev := range events {
		if ev.Kind == k.kind {
			k.n++
		}
	}
}

// wait fails unless there are n events, waiting up to 5 s for them (on PostgreSQL they come
// through the events table) and a little longer for one too many.
func (k *kindCount) wait(t *testing.T, n int) {
	t.Helper()
	get := func() int { k.mu.Lock(); defer k.mu.Unlock(); return k.n }
	deadline := time.Now().Add(5 * time.Second)
	for get() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got := get(); got != n {
		t.Fatalf("%d events of kind %d, want %d", got, k.kind, n)
	}
}

func init() {
	// Every node's outgoing-hook dispatcher learns of a webhook change through the events.
	add("IntegrationsChangedEvents", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ev := &kindCount{kind: store.IntegrationsChanged}
		st.SetPublisher(ev)
		mustRoles(t, st, &store.Role{Name: "user"})
		ann := mustUser(t, st, "ann1", "ann")
		in := &store.Integration{Type: store.OutgoingWebhook, UserID: ann.ID}
		if err := st.CreateIntegration(in); err != nil {
			t.Fatal(err)
		}
		ev.wait(t, 1)
		// Refusals publish nothing.
		if err := st.CreateIntegration(&store.Integration{ID: in.ID, UserID: ann.ID}); err == nil {
			t.Fatal("a duplicate id was accepted")
		}
		if err := st.CreateIntegration(&store.Integration{UserID: "nobody"}); err == nil {
			t.Fatal("an unknown poster was accepted")
		}
		if _, err := st.UpdateIntegration(in.ID, func(i *store.Integration) error { i.UserID = "nobody"; return nil }); err == nil {
			t.Fatal("an unknown poster was accepted")
		}
		if _, err := st.RemoveIntegration(in.ID, func(*store.Integration) error { return store.ErrNoPermission }); err == nil {
			t.Fatal("a refused removal went through")
		}
		ev.wait(t, 1)
		if _, err := st.UpdateIntegration(in.ID, func(i *store.Integration) error { i.Enabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RemoveIntegration(in.ID, nil); err != nil {
			t.Fatal(err)
		}
		ev.wait(t, 3)
	})
}
