package seed

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/store"
)

// The development seed of testdata/ mirrors Rocket.Chat's test fixtures (API-v1.md).
func TestRocketChatTestSeed(t *testing.T) {
	st, h := newSeeded(t)
	const path = "../testdata/rocketchat-test-seed.json"
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	created, err := Apply(st, h, path, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 3 { // two users and the admin's membership of GENERAL
		t.Fatalf("created %v", created)
	}
	const admin = "rocketchat.internal.admin.test"
	u, err := st.UserByEmail("rocketchat.internal.admin.test@rocket.chat")
	if err != nil || u.Username != admin || !u.HasRole("admin") || !u.Active || !h.Check(u.Hash, admin) {
		t.Fatalf("admin = %+v, %v", u, err)
	}
	if m, err := st.Membership("GENERAL", u.ID); err != nil || m == nil {
		t.Fatalf("admin not in GENERAL: %v", err)
	}
	g, err := st.RoomMembers("GENERAL")
	if err != nil || g.Name != "general" || g.Type != store.Public || !g.Default || !slices.Equal(g.Usernames, []string{admin}) {
		t.Fatalf("GENERAL = %+v, %v", g, err)
	}
	cat, err := st.UserByUsername("rocket.cat")
	if err != nil || cat.ID != "rocket.cat" || cat.Type != "bot" || !cat.HasRole("bot") || h.Check(cat.Hash, "") || h.Check(cat.Hash, "rocket.cat") {
		t.Fatalf("rocket.cat = %+v, %v", cat, err)
	}
	// Applying again (every start) creates nothing.
	if again, err := Apply(st, h, path, f); err != nil || len(again) != 0 {
		t.Fatalf("second apply: %v, %v", again, err)
	}
	// EnsureAdmin sees users and creates no other admin.
	if _, made, err := EnsureAdmin(st, h, "admin", ""); err != nil || made {
		t.Fatalf("EnsureAdmin after the seed: %v, %v", made, err)
	}
}

// A seed user may not hold a room role (owner, moderator) globally; the error names the entry.
func TestSeedRefusesRoomRoleForUser(t *testing.T) {
	st, h := newSeeded(t)
	f, err := Parse("s.json", []byte(`{"users":[{"username":"ann","password":"pw","roles":["user","owner"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(st, h, "s.json", f)
	if err == nil || !strings.Contains(err.Error(), "s.json: users[0]") || store.KindOf(err) != store.Invalid {
		t.Fatalf("got %v", err)
	}
	if _, err := st.UserByUsername("ann"); store.KindOf(err) != store.NotFound {
		t.Fatalf("the refused user was stored: %v", err)
	}
}

// newSeeded opens a store in a temporary directory with the embedded default seed applied.
func newSeeded(t *testing.T) (store.Store, *auth.Hasher) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "seed.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyDefault(st, h); err != nil {
		t.Fatal(err)
	}
	return st, h
}

// Every permission id the code checks (rbac.Known) is in the embedded default seed: a
// misspelt or unseeded id would be a permission nobody holds.
func TestCheckedPermissionsAreSeeded(t *testing.T) {
	seeded := map[string]bool{}
	for _, p := range Default().Permissions {
		seeded[p.ID] = true
	}
	for _, id := range rbac.Known {
		if !seeded[id] {
			t.Errorf("permission %q is checked by the code but not in seed/default.json", id)
		}
	}
}

// A seed user's _id is kept as given, must look like a name, and may not be taken.
func TestSeedUserID(t *testing.T) {
	st, h := newSeeded(t)
	if _, err := Parse("s.json", []byte(`{"users":[{"_id":"no spaces","username":"ann","password":"pw"}]}`)); err == nil || !strings.Contains(err.Error(), `users[0]: (ann) _id "no spaces"`) {
		t.Fatalf("bad _id: %v", err)
	}
	f, err := Parse("s.json", []byte(`{"users":[{"_id":"fixed.id","username":"ann","password":"pw"},{"_id":"fixed.id","username":"bob","password":"pw"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(st, h, "s.json", f)
	if err == nil || !strings.Contains(err.Error(), "users[1]") {
		t.Fatalf("taken _id: %v", err)
	}
	if u, err := st.User("fixed.id"); err != nil || u.Username != "ann" {
		t.Fatalf("fixed.id = %+v, %v", u, err)
	}
}

// A seed file's JSON errors name the line and column; a room naming a member or owner that
// does not exist fails the apply at that room, and records nothing for it: the mended file
// applies it at the next start.
func TestSeedErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"{\"users\": []}\n{}", "seed s.json: line 2, column 1: data after the JSON object"},
		{"{\n\"users\": [}", "seed s.json: line 2"},
	} {
		if _, err := Parse("s.json", []byte(c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.text, err, c.want)
		}
	}
	st, h := newSeeded(t)
	for _, c := range []struct{ text, want string }{
		{`{"rooms":[{"name":"r1","members":["ghost"]}]}`, `seed s.json: rooms[0]: member "ghost" does not exist`},
		{`{"rooms":[{"name":"r1","owner":"ghost"}]}`, `seed s.json: rooms[0]: owner "ghost" does not exist`},
	} {
		if _, err := Apply(st, h, "s.json", mustParse(t, c.text)); err == nil || err.Error() != c.want {
			t.Errorf("Apply(%s) = %v, want %q", c.text, err, c.want)
		}
	}
	if created, err := Apply(st, h, "s.json", mustParse(t, `{"users":[{"username":"ann","password":"pw"}],"rooms":[{"name":"r1","members":["ann"]}]}`)); err != nil || !slices.Contains(created, "room r1") {
		t.Fatalf("mended seed: %v, %v", created, err)
	}
}
