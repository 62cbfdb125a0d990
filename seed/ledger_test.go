package seed

import (
	"maps"
	"slices"
	"testing"

	"rocketlite/store"
)

// The seed file of the README (testdata/seed.json), as text so that a test can extend it.
const readmeSeed = `{
  "roles": [{"name": "support", "description": "Answers questions"}],
  "permissions": [{"_id": "answer-questions", "roles": ["support", "admin"]}],
  "users": [
    {"username": "admin", "email": "admin@example.org", "password": "change-me", "roles": ["admin"]},
    {"username": "sing", "name": "Sing", "email": "sing@example.org", "password": "MySECRET", "roles": ["user", "support"]},
    {"username": "deploybot", "password": "deploy-secret", "roles": ["bot"], "active": true}
  ],
  "rooms": [
    {"_id": "GENERAL", "name": "general", "t": "c", "default": true, "members": ["admin", "sing"]},
    {"name": "support", "t": "p", "members": ["sing"], "owner": "sing", "topic": "Ask here"},
    {"name": "lounge", "members": ["admin", "deploybot"]}
  ]
}`

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("seed.json", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustUser(t *testing.T, st store.Store, name string) *store.User {
	t.Helper()
	u, err := st.UserByUsername(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	return u
}

// TestSeedAppliedOnce (issue 9 item 11): what an admin removed or changed after the seed made
// it stays so when the same seed is applied again at the next start.
func TestSeedAppliedOnce(t *testing.T) {
	st, h := newSeeded(t)
	f := mustParse(t, readmeSeed)
	created, err := Apply(st, h, "seed.json", f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(created, "user admin") || !slices.Contains(created, "room support") {
		t.Fatalf("first apply created %v", created)
	}

	// What an admin does afterwards. Another admin first: the last one cannot be deleted.
	root := &store.User{Username: "root", Name: "root", Hash: "x", Roles: []string{"admin"}, Active: true}
	if err := st.CreateUser(root, false); err != nil {
		t.Fatal(err)
	}
	admin, sing, bot := mustUser(t, st, "admin"), mustUser(t, st, "sing"), mustUser(t, st, "deploybot")
	if err := st.DeleteUser(admin.ID); err != nil { // the seeded admin, whose password is public
		t.Fatal(err)
	}
	if _, err := st.UpdateUser(sing.ID, func(u *store.User) error { // renamed, and no longer support
		u.Username, u.Roles = "singer", []string{"user"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateUser(bot.ID, func(u *store.User) error { u.Roles = []string{"guest"}; return nil }); err != nil {
		t.Fatal(err)
	}
	support, err := st.RoomByName("support")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Leave(support.ID, sing.ID); err != nil { // the seeded member leaves the private room
		t.Fatal(err)
	}
	lounge, err := st.RoomByName("lounge")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveMember(lounge.ID, bot.ID, root.Ref()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPermissionRoles("answer-questions", func([]string) []string { return []string{"admin"} }); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteRole("support"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateRoom(lounge.ID, func(r *store.Room) error { r.Name = "salon"; return nil }); err != nil {
		t.Fatal(err)
	}
	before, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}

	// The next start, with the same seed: nothing comes back.
	again, err := Apply(st, h, "seed.json", mustParse(t, readmeSeed))
	if err != nil || len(again) != 0 {
		t.Fatalf("second apply created %v (%v)", again, err)
	}
	after, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, after) {
		t.Fatalf("the second apply wrote:\nbefore %v\nafter  %v", before, after)
	}
	for _, gone := range []string{"admin", "sing"} {
		if _, err := st.UserByUsername(gone); store.KindOf(err) != store.NotFound {
			t.Fatalf("user %s came back: %v", gone, err)
		}
	}
	if u := mustUser(t, st, "deploybot"); !slices.Equal(u.Roles, []string{"guest"}) {
		t.Fatalf("deploybot's roles were re-granted: %v", u.Roles)
	}
	if m, err := st.Membership(support.ID, sing.ID); err != nil || m != nil {
		t.Fatalf("sing is back in the private room: %+v %v", m, err)
	}
	if m, err := st.Membership(lounge.ID, bot.ID); err != nil || m != nil {
		t.Fatalf("deploybot is back in the lounge: %+v %v", m, err)
	}
	if _, err := st.RoomByName("lounge"); store.KindOf(err) != store.NotFound {
		t.Fatalf("a room named lounge came back beside the renamed one: %v", err)
	}
	if p, err := st.Permission("answer-questions"); err != nil || !slices.Equal(p.Roles, []string{"admin"}) {
		t.Fatalf("answer-questions = %+v %v", p, err)
	}
	roles, err := st.Roles()
	if err != nil || slices.ContainsFunc(roles, func(r *store.Role) bool { return r.Name == "support" }) {
		t.Fatalf("role support came back: %v", err)
	}

	// Entries added to the file later are applied, once.
	more := mustParse(t, `{
  "roles": [{"name": "helpers"}],
  "users": [
    {"username": "admin", "password": "change-me", "roles": ["admin"]},
    {"username": "newbie", "password": "newbie-pass"}
  ],
  "rooms": [
    {"name": "support", "t": "p", "members": ["sing", "newbie"], "owner": "sing"},
    {"_id": "GENERAL", "name": "general", "members": ["admin", "sing", "newbie"]},
    {"name": "lounge", "members": ["admin", "deploybot", "newbie"]},
    {"name": "attic", "t": "p", "members": ["newbie"]}
  ]
}`)
	// sing no longer exists, but its membership entries were applied: they are not looked at.
	got, err := Apply(st, h, "seed.json", more)
	if err != nil {
		t.Fatal(err)
	}
	newbie := mustUser(t, st, "newbie")
	want := []string{"role helpers", "user newbie", "membership support/" + newbie.ID,
		"membership general/" + newbie.ID, "room attic"}
	if !slices.Equal(got, want) {
		t.Fatalf("created %v, want %v", got, want)
	}
	if _, err := st.UserByUsername("admin"); store.KindOf(err) != store.NotFound {
		t.Fatalf("admin came back with the extended seed: %v", err)
	}
	// The lounge was renamed: its new member has no room to join and is not an error.
	if m, err := st.Membership(lounge.ID, newbie.ID); err != nil || m != nil {
		t.Fatalf("newbie joined the renamed lounge: %+v %v", m, err)
	}
	// A member who left after being added by the extended seed stays out too.
	if _, err := st.Leave(support.ID, newbie.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := Apply(st, h, "seed.json", more); err != nil || len(got) != 0 {
		t.Fatalf("third apply created %v (%v)", got, err)
	}
}

// TestSeedLedgerAdoptsExisting: on a database where the seed's things exist already (made by
// hand, or by a version before the ledger), applying records them without changing them, and
// an admin's later change holds.
func TestSeedLedgerAdoptsExisting(t *testing.T) {
	st, h := newSeeded(t)
	pre := &store.User{Username: "Admin", Name: "mine", Hash: "x", Roles: []string{"admin"}, Active: true}
	if err := st.CreateUser(pre, false); err != nil {
		t.Fatal(err)
	}
	f := mustParse(t, `{"users":[{"username":"admin","password":"change-me","roles":["admin"]},{"username":"other","password":"p"}]}`)
	if got, err := Apply(st, h, "seed.json", f); err != nil || !slices.Equal(got, []string{"user other"}) {
		t.Fatalf("created %v (%v)", got, err)
	}
	if u := mustUser(t, st, "admin"); u.Hash != "x" || u.Name != "mine" {
		t.Fatalf("an existing user was changed: %+v", u)
	}
	if err := st.DeleteUser(mustUser(t, st, "other").ID); err != nil {
		t.Fatal(err)
	}
	if got, err := Apply(st, h, "seed.json", f); err != nil || len(got) != 0 {
		t.Fatalf("created %v (%v)", got, err)
	}
}
