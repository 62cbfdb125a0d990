package storetest

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
)

// The users domain: accounts, their unique names and e-mails, login and personal access
// tokens, pictures and preferences.

func uKind(t *testing.T, err error, kind store.Kind) {
	t.Helper()
	if store.KindOf(err) != kind {
		t.Fatalf("err = %v (kind %d), want kind %d", err, store.KindOf(err), kind)
	}
}

func uIs(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func uCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *store.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %q", err, code)
	}
}

func uHash(s string) store.TokenHash { return sha256.Sum256([]byte(s)) }

// openClock opens a store on a settable clock.
func uClock(t *testing.T, open Opener, opts store.Options) (store.Store, *Clock) {
	c := NewClock()
	opts.Now = c.Now
	return open(t, opts), c
}

func uNames(us []*store.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

func init() {
	add("UsersCreateDefaults", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		clock.Advance(1234567 * time.Nanosecond) // stored times are cut to milliseconds
		first := &store.User{Username: "root", Active: true}
		second := &store.User{Username: "ann", Active: true}
		bot := &store.User{Username: "helper", Type: "bot", Roles: []string{"bot"}, Active: true}
		if err := st.CreateUsers([]*store.User{first, second}, false); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(bot, false); err != nil {
			t.Fatal(err)
		}
		want := clock.Now().UTC().Truncate(time.Millisecond)
		for _, c := range []struct {
			u     *store.User
			roles []string
			typ   string
		}{{first, []string{"admin"}, "user"}, {second, []string{"user"}, "user"}, {bot, []string{"bot"}, "bot"}} {
			if len(c.u.ID) != 17 {
				t.Fatalf("%s got id %q", c.u.Username, c.u.ID)
			}
			got, err := st.User(c.u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Roles, c.roles) || got.Type != c.typ || !got.CreatedAt.Equal(want) || !got.UpdatedAt.Equal(want) || !got.Active {
				t.Fatalf("%s stored as %+v; want roles %v, type %s, times %v", c.u.Username, got, c.roles, c.typ, want)
			}
			if !slices.Equal(c.u.Roles, c.roles) || !c.u.CreatedAt.Equal(want) {
				t.Fatalf("the caller's record was not completed: %+v", c.u)
			}
		}
		// The first user of a store is the admin only if no roles were given.
		st2 := open(t, store.Options{})
		u := &store.User{Username: "x", Roles: []string{"user"}, Active: true}
		if err := st2.CreateUser(u, false); err != nil || !slices.Equal(u.Roles, []string{"user"}) {
			t.Fatalf("roles %v, %v", u.Roles, err)
		}
	})

	add("UsersCreateFixedID", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		u := &store.User{ID: "fixed-id", Username: "ann", Active: true}
		if err := st.CreateUser(u, false); err != nil {
			t.Fatal(err)
		}
		if got, err := st.User("fixed-id"); err != nil || got.Username != "ann" {
			t.Fatalf("%+v %v", got, err)
		}
		err := st.CreateUser(&store.User{ID: "fixed-id", Username: "bob", Active: true}, false)
		uCode(t, err, "invalid-id")
		err = st.CreateUser(&store.User{ID: "a\x00b", Username: "bob", Active: true}, false)
		uCode(t, err, "invalid-id")
		// The same id twice in one batch.
		err = st.CreateUsers([]*store.User{{ID: "twice", Username: "c1"}, {ID: "twice", Username: "c2"}}, false)
		uCode(t, err, "invalid-id")
		if _, err := st.UserByUsername("c1"); store.KindOf(err) != store.NotFound {
			t.Fatalf("half of a refused batch was written: %v", err)
		}
		if _, err := st.UserByUsername("bob"); store.KindOf(err) != store.NotFound {
			t.Fatalf("a refused user was written: %v", err)
		}
	})

	add("UsersCreateValidates", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		for _, c := range []struct {
			u    store.User
			code string
		}{
			{store.User{Username: ""}, "invalid-username"},
			{store.User{Username: "a\x01b"}, "invalid-username"},
			{store.User{Username: "ok", Email: "\xff@x.org"}, "invalid-email"},
			{store.User{Username: "ok", Name: strings.Repeat("n", 5000)}, "invalid-name"},
			{store.User{Username: "ok", Status: "sleeping"}, "invalid-status"},
			{store.User{Username: "ok", StatusText: strings.Repeat("s", store.MaxStatusTextBytes+1)}, "invalid-statusText"},
		} {
			u := c.u
			// A valid user first: the batch is refused whole.
			err := st.CreateUsers([]*store.User{{Username: "good-" + c.code}, &u}, false)
			uCode(t, err, c.code)
			if _, err := st.UserByUsername("good-" + c.code); store.KindOf(err) != store.NotFound {
				t.Fatalf("%s: half of a refused batch was written: %v", c.code, err)
			}
		}
		if _, total, err := st.Users(0, 0); err != nil || total != 0 {
			t.Fatalf("%d users after refusals, %v", total, err)
		}
	})

	add("UsersUniqueNamesAndEmails", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		alice := mustUser(t, st, "", "Alice")
		uCode(t, st.CreateUser(&store.User{Username: "aLiCe", Email: "other@example.org", Active: true}, false), "username-taken")
		uCode(t, st.CreateUser(&store.User{Username: "other", Email: "ALICE@Example.ORG", Active: true}, false), "email-taken")
		uCode(t, st.CheckNewUser("ALICE", ""), "username-taken")
		uCode(t, st.CheckNewUser("someone", "alice@EXAMPLE.org"), "email-taken")
		if err := st.CheckNewUser("someone", "someone@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := st.CheckNewUser("someone", ""); err != nil {
			t.Fatal(err)
		}
		// Inside one batch, names and e-mails collide too.
		uCode(t, st.CreateUsers([]*store.User{{Username: "carol"}, {Username: "CAROL"}}, false), "username-taken")
		uCode(t, st.CreateUsers([]*store.User{{Username: "c1", Email: "c@x.org"}, {Username: "c2", Email: "C@X.org"}}, false), "email-taken")
		if _, err := st.UserByUsername("carol"); store.KindOf(err) != store.NotFound {
			t.Fatalf("half of a refused batch was written: %v", err)
		}
		// Users without an e-mail do not collide on it.
		if err := st.CreateUsers([]*store.User{{Username: "n1"}, {Username: "n2"}}, false); err != nil {
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.UserByEmail(""); return err }(), store.ErrUserNotFound)

		if u, err := st.UserByUsername("ALICE"); err != nil || u.ID != alice.ID || u.Username != "Alice" {
			t.Fatalf("%+v %v", u, err)
		}
		if u, err := st.UserByEmail("alice@EXAMPLE.org"); err != nil || u.ID != alice.ID {
			t.Fatalf("%+v %v", u, err)
		}
		uIs(t, func() error { _, err := st.UserByUsername("nobody"); return err }(), store.ErrUserNotFound)
		uIs(t, func() error { _, err := st.UserByEmail("nobody@x.org"); return err }(), store.ErrUserNotFound)
		uIs(t, func() error { _, err := st.User("no-such-id"); return err }(), store.ErrUserNotFound)

		// Strings no record can hold (0x00, invalid UTF-8) find nothing, and fail nothing.
		for _, bad := range []string{"a\x00b", "\xff\xfe"} {
			uIs(t, func() error { _, err := st.User(bad); return err }(), store.ErrUserNotFound)
			uIs(t, func() error { _, err := st.UserByUsername(bad); return err }(), store.ErrUserNotFound)
			uIs(t, func() error { _, err := st.UserByEmail(bad); return err }(), store.ErrUserNotFound)
			uIs(t, func() error { _, err := st.AvatarOf(bad); return err }(), store.ErrUserNotFound)
			uIs(t, func() error { _, err := st.Preferences(bad); return err }(), store.ErrUserNotFound)
			if err := st.CheckNewUser(bad, bad); err != nil {
				t.Fatalf("CheckNewUser(%q): %v", bad, err)
			}
			if n, err := st.UserTokenCount(bad); err != nil || n != 0 {
				t.Fatalf("UserTokenCount(%q) = %d, %v", bad, n, err)
			}
			if live, err := st.HasLiveToken(bad); err != nil || live {
				t.Fatalf("HasLiveToken(%q) = %v, %v", bad, live, err)
			}
			uIs(t, func() error { _, err := st.UpdateUser(bad, func(*store.User) error { return nil }); return err }(), store.ErrUserNotFound)
			uIs(t, st.DeleteUser(bad), store.ErrUserNotFound)
		}

		// Case is folded beyond ASCII (Go's strings.ToLower, whatever the database's locale).
		emile := mustUser(t, st, "", "Émile")
		uCode(t, st.CreateUser(&store.User{Username: "éMILE"}, false), "username-taken")
		if u, err := st.UserByUsername("ÉMILE"); err != nil || u.ID != emile.ID {
			t.Fatalf("%+v %v", u, err)
		}
		if u, err := st.UserByEmail("ÉMILE@example.org"); err != nil || u.ID != emile.ID {
			t.Fatalf("%+v %v", u, err)
		}
	})

	add("UsersRenameKeepsIndexes", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		mustUser(t, st, "", "admin")
		mustUser(t, st, "", "Alice")
		bob := mustUser(t, st, "", "bob")
		_, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Username = "ALICE"; return nil })
		uIs(t, err, store.ErrUsernameTaken)
		_, err = st.UpdateUser(bob.ID, func(u *store.User) error { u.Email = "Alice@example.org"; return nil })
		uIs(t, err, store.ErrEmailTaken)
		if u, _ := st.User(bob.ID); u.Username != "bob" || u.Email != "bob@example.org" {
			t.Fatalf("a refused change was written: %+v", u)
		}
		if _, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Username = "Robert"; return nil }); err != nil {
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.UserByUsername("bob"); return err }(), store.ErrUserNotFound)
		if u, err := st.UserByUsername("robert"); err != nil || u.ID != bob.ID {
			t.Fatalf("new name not indexed: %+v %v", u, err)
		}
		// The old name is free again.
		if err := st.CheckNewUser("bob", ""); err != nil {
			t.Fatal(err)
		}
		// A change of case only keeps the index.
		if _, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Username = "ROBERT"; return nil }); err != nil {
			t.Fatal(err)
		}
		if u, err := st.UserByUsername("Robert"); err != nil || u.Username != "ROBERT" {
			t.Fatalf("%+v %v", u, err)
		}
		// "ſ" (long s) folds to "s" but does not lower-case to it: the index must follow the
		// lower-cased form, or the renamed user can no longer be found.
		sam := mustUser(t, st, "", "ſam")
		if _, err := st.UpdateUser(sam.ID, func(u *store.User) error { u.Username = "sam"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, err := st.UserByUsername("SAM"); err != nil || got.ID != sam.ID {
			t.Fatalf("renamed user not found by new name: %+v %v", got, err)
		}
		// An e-mail removed is free for another user; a new one is indexed.
		if _, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Email = ""; return nil }); err != nil {
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.UserByEmail("bob@example.org"); return err }(), store.ErrUserNotFound)
		if _, err := st.UpdateUser(sam.ID, func(u *store.User) error { u.Email = "BOB@example.org"; return nil }); err != nil {
			t.Fatal(err)
		}
		if u, err := st.UserByEmail("bob@EXAMPLE.org"); err != nil || u.ID != sam.ID {
			t.Fatalf("%+v %v", u, err)
		}
	})

	add("UsersUpdate", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		mustUser(t, st, "", "admin")
		ann := mustUser(t, st, "", "ann")
		clock.Advance(time.Minute)
		boom := errors.New("boom")
		_, err := st.UpdateUser(ann.ID, func(u *store.User) error { u.Name = "changed"; return boom })
		uIs(t, err, boom)
		_, err = st.UpdateUser(ann.ID, func(u *store.User) error { u.Status = "dancing"; return nil })
		uCode(t, err, "invalid-status")
		_, err = st.UpdateUser("no-such-id", func(u *store.User) error { return nil })
		uIs(t, err, store.ErrUserNotFound)
		if u, _ := st.User(ann.ID); u.Name != "ann" || u.Status != "" {
			t.Fatalf("a refused change was written: %+v", u)
		}
		got, err := st.UpdateUser(ann.ID, func(u *store.User) error {
			u.ID = "stolen" // the id cannot change
			u.Name, u.Status, u.StatusText, u.Roles = "Ann A.", "away", "lunch", []string{"user", "moderator"}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ann.ID || !got.UpdatedAt.Equal(clock.Now()) || !got.CreatedAt.Equal(ann.CreatedAt) {
			t.Fatalf("updated %+v", got)
		}
		stored, err := st.User(ann.ID)
		if err != nil || stored.Name != "Ann A." || stored.Status != "away" || stored.StatusText != "lunch" ||
			!slices.Equal(stored.Roles, []string{"user", "moderator"}) || !stored.UpdatedAt.Equal(clock.Now()) {
			t.Fatalf("stored %+v %v", stored, err)
		}
		uIs(t, func() error { _, err := st.User("stolen"); return err }(), store.ErrUserNotFound)
	})

	add("UsersLastAdmin", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		root := &store.User{Username: "root", Active: true}
		if err := st.CreateUser(root, false); err != nil { // the first user: admin
			t.Fatal(err)
		}
		other := mustUser(t, st, "", "other")
		for name, change := range map[string]func(u *store.User) error{
			"demote":     func(u *store.User) error { u.Roles = []string{"user"}; return nil },
			"deactivate": func(u *store.User) error { u.Active = false; return nil },
		} {
			_, err := st.UpdateUser(root.ID, change)
			if err != store.ErrLastAdmin {
				t.Fatalf("%s: %v, want ErrLastAdmin", name, err)
			}
		}
		if err := st.DeleteUser(root.ID); err != store.ErrLastAdmin {
			t.Fatalf("delete: %v, want ErrLastAdmin", err)
		}
		// An inactive admin does not count.
		ghost := &store.User{Username: "ghost", Roles: []string{"admin"}, Active: false}
		if err := st.CreateUser(ghost, false); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateUser(root.ID, func(u *store.User) error { u.Active = false; return nil }); err != store.ErrLastAdmin {
			t.Fatalf("with an inactive second admin: %v", err)
		}
		// With a second active admin, the first may go.
		if _, err := st.UpdateUser(other.ID, func(u *store.User) error { u.Roles = append(u.Roles, "admin"); return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateUser(root.ID, func(u *store.User) error { u.Roles = []string{"user"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(other.ID); err != store.ErrLastAdmin {
			t.Fatalf("delete of the new last admin: %v", err)
		}
		// A user who is not an admin can always be changed, an inactive admin deleted.
		if _, err := st.UpdateUser(root.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(ghost.ID); err != nil {
			t.Fatal(err)
		}
	})

	add("UsersLastAdminConcurrent", func(t *testing.T, open Opener) {
		// Two admins demote each other at once: one must be refused.
		st := open(t, store.Options{})
		a := &store.User{Username: "a", Roles: []string{"admin"}, Active: true}
		b := &store.User{Username: "b", Roles: []string{"admin"}, Active: true}
		if err := st.CreateUsers([]*store.User{a, b}, false); err != nil {
			t.Fatal(err)
		}
		for round := 0; round < 5; round++ {
			errs := make(chan error, 2)
			for _, u := range []*store.User{a, b} {
				go func() {
					_, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Roles = []string{"user"}; return nil })
					errs <- err
				}()
			}
			e1, e2 := <-errs, <-errs
			if (e1 == nil) == (e2 == nil) {
				t.Fatalf("round %d: %v, %v: want exactly one ErrLastAdmin", round, e1, e2)
			}
			for _, err := range []error{e1, e2} {
				if err != nil && err != store.ErrLastAdmin {
					t.Fatal(err)
				}
			}
			// Make both admins again.
			for _, u := range []*store.User{a, b} {
				if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Roles = []string{"admin"}; return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	add("UsersList", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ids := []string{"b", "B", "a", "c", "ab", "A"}
		for i, id := range ids {
			mustUser(t, st, id, "user"+strconv.Itoa(len(ids)-i))
		}
		sorted := slices.Clone(ids)
		slices.Sort(sorted) // byte-wise, as the ids of bbolt's keys: "A" < "B" < "a"
		page := func(offset, count int) []string {
			us, total, err := st.Users(offset, count)
			if err != nil || total != len(ids) {
				t.Fatalf("Users(%d, %d): total %d, %v", offset, count, total, err)
			}
			var out []string
			for _, u := range us {
				out = append(out, u.ID)
			}
			return out
		}
		if got := page(0, 0); !slices.Equal(got, sorted) {
			t.Fatalf("all: %v, want %v", got, sorted)
		}
		if got := page(2, 3); !slices.Equal(got, sorted[2:5]) {
			t.Fatalf("page: %v, want %v", got, sorted[2:5])
		}
		if got := page(4, 10); !slices.Equal(got, sorted[4:]) {
			t.Fatalf("last page: %v", got)
		}
		if got := page(100, 10); len(got) != 0 {
			t.Fatalf("past the end: %v", got)
		}
		if got := page(-1, 2); !slices.Equal(got, sorted[:2]) {
			t.Fatalf("negative offset: %v", got)
		}
		byName := func(a, b *store.User) int { return cmp.Compare(a.Username, b.Username) }
		us, total, err := st.UsersBy(byName, 1, 2)
		if err != nil || total != len(ids) || !slices.Equal(uNames(us), []string{"user2", "user3"}) {
			t.Fatalf("UsersBy = %v, %d, %v", uNames(us), total, err)
		}
		us, total, err = st.UsersBy(byName, 10, 2)
		if err != nil || total != len(ids) || len(us) != 0 {
			t.Fatalf("UsersBy past the end = %v, %d, %v", uNames(us), total, err)
		}
		// A stable sort: ties keep id order.
		same := func(a, b *store.User) int { return 0 }
		us, _, _ = st.UsersBy(same, 0, 0)
		var got []string
		for _, u := range us {
			got = append(got, u.ID)
		}
		if !slices.Equal(got, sorted) {
			t.Fatalf("ties: %v, want %v", got, sorted)
		}
		empty := open(t, store.Options{})
		if us, total, err := empty.Users(0, 10); err != nil || total != 0 || len(us) != 0 {
			t.Fatalf("empty store: %v %d %v", us, total, err)
		}
	})

	add("UsersDelete", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		mustUser(t, st, "", "admin")
		ann := mustUser(t, st, "", "ann")
		bob := mustUser(t, st, "", "bob")
		if err := st.AddToken(ann, uHash("s"), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.AddToken(bob, uHash("b"), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.SetPersonalToken(ann.ID, "ci", uHash("p"), "xx", false); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAvatar(ann.ID, &store.Avatar{ContentType: "image/png", Data: []byte("png")}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetPreferences(ann.ID, map[string]json.RawMessage{"k": json.RawMessage(`1`)}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(ann.ID); err != nil {
			t.Fatal(err)
		}
		uIs(t, st.DeleteUser(ann.ID), store.ErrUserNotFound)
		uIs(t, func() error { _, err := st.User(ann.ID); return err }(), store.ErrUserNotFound)
		uIs(t, func() error { _, err := st.UserByUsername("ann"); return err }(), store.ErrUserNotFound)
		uIs(t, func() error { _, err := st.UserByEmail("ann@example.org"); return err }(), store.ErrUserNotFound)
		if n, _ := st.TokenCount(); n != 1 {
			t.Fatalf("%d tokens left, want bob's", n)
		}
		if n, _ := st.UserTokenCount(ann.ID); n != 0 {
			t.Fatalf("%d tokens of the deleted user", n)
		}
		if _, err := st.Authenticate(bob.ID, uHash("b")); err != nil {
			t.Fatalf("another user's token went: %v", err)
		}
		// The name, e-mail and even the id are free again; nothing of the old user shows.
		again := &store.User{ID: ann.ID, Username: "ANN", Email: "ann@example.org", Active: true}
		if err := st.CreateUser(again, false); err != nil {
			t.Fatal(err)
		}
		if a, err := st.AvatarOf("ann"); err != nil || a != nil {
			t.Fatalf("avatar of a deleted user came back: %+v %v", a, err)
		}
		if p, err := st.Preferences(ann.ID); err != nil || string(p) != "{}" {
			t.Fatalf("preferences of a deleted user came back: %s %v", p, err)
		}
		if list, err := st.PersonalTokens(ann.ID); err != nil || len(list) != 0 {
			t.Fatalf("personal tokens of a deleted user came back: %v %v", list, err)
		}
	})

	add("UsersPreferences", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ann := mustUser(t, st, "", "ann")
		if p, err := st.Preferences(ann.ID); err != nil || string(p) != "{}" {
			t.Fatalf("none yet: %s %v", p, err)
		}
		p, err := st.SetPreferences(ann.ID, map[string]json.RawMessage{"b": json.RawMessage(`{"x": 1}`), "a": json.RawMessage(`true`)})
		if err != nil || string(p) != `{"a":true,"b":{"x":1}}` {
			t.Fatalf("set: %s %v", p, err)
		}
		p, err = st.SetPreferences(ann.ID, map[string]json.RawMessage{"a": json.RawMessage(`"no"`), "c": json.RawMessage(`[]`)})
		if err != nil || string(p) != `{"a":"no","b":{"x":1},"c":[]}` {
			t.Fatalf("merge: %s %v", p, err)
		}
		if got, err := st.Preferences(ann.ID); err != nil || string(got) != string(p) {
			t.Fatalf("read back: %s %v", got, err)
		}
		_, err = st.Preferences("nobody")
		uIs(t, err, store.ErrUserNotFound)
		_, err = st.SetPreferences("nobody", map[string]json.RawMessage{"a": json.RawMessage(`1`)})
		uIs(t, err, store.ErrUserNotFound)
	})

	add("UsersPreferencesConcurrent", func(t *testing.T, open Opener) {
		// Merges of different keys at once all stay.
		st := open(t, store.Options{})
		ann := mustUser(t, st, "", "ann")
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := st.SetPreferences(ann.ID, map[string]json.RawMessage{fmt.Sprint("k", i): json.RawMessage(`1`)})
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		p, _ := st.Preferences(ann.ID)
		var m map[string]int
		if err := json.Unmarshal(p, &m); err != nil || len(m) != n {
			t.Fatalf("%s: %v", p, err)
		}
	})

	add("UsersAvatars", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ann := mustUser(t, st, "", "Ann")
		if a, err := st.AvatarOf("ann"); err != nil || a != nil {
			t.Fatalf("none yet: %+v %v", a, err)
		}
		a := &store.Avatar{ContentType: "image/png", Data: []byte{1, 2, 3}}
		if err := st.SetAvatar(ann.ID, a); err != nil {
			t.Fatal(err)
		}
		if a.ETag == "" {
			t.Fatal("no etag")
		}
		got, err := st.AvatarOf("ANN")
		if err != nil || got == nil || got.ContentType != "image/png" || string(got.Data) != "\x01\x02\x03" || got.ETag != a.ETag {
			t.Fatalf("%+v %v", got, err)
		}
		b := &store.Avatar{ContentType: "image/jpeg", Data: []byte{4}}
		if err := st.SetAvatar(ann.ID, b); err != nil {
			t.Fatal(err)
		}
		if b.ETag == a.ETag {
			t.Fatal("the etag did not change with the upload")
		}
		if got, _ := st.AvatarOf("ann"); got == nil || got.ContentType != "image/jpeg" || got.ETag != b.ETag {
			t.Fatalf("replaced: %+v", got)
		}
		if err := st.ResetAvatar(ann.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := st.AvatarOf("ann"); err != nil || got != nil {
			t.Fatalf("after reset: %+v %v", got, err)
		}
		if err := st.ResetAvatar(ann.ID); err != nil { // nothing to reset
			t.Fatal(err)
		}
		_, err = st.AvatarOf("nobody")
		uIs(t, err, store.ErrUserNotFound)
		uIs(t, st.SetAvatar("nobody", &store.Avatar{ContentType: "image/png", Data: []byte{1}}), store.ErrUserNotFound)
		uIs(t, st.ResetAvatar("nobody"), store.ErrUserNotFound)
	})
}
