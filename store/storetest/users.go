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
	"sync"
	"testing"
	"time"

	"rocketlite/store"
)

// The users domain: accounts, their unique names and e-mails, login and personal access
// tokens, pictures and preferences.

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

	add("UsersFirstAdminConcurrent", func(t *testing.T, open Opener) {
		// Users registering at once on an empty store: exactly one becomes the admin.
		st := open(t, store.Options{})
		const n = 6
		errs := make(chan error, n)
		for i := range n {
			go func() { errs <- st.CreateUser(&store.User{Username: fmt.Sprint("u", i), Active: true}, false) }()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		users, total, err := st.Users(0, 0)
		if err != nil || total != n {
			t.Fatalf("%d users, %v", total, err)
		}
		admins := 0
		for _, u := range users {
			if u.HasRole("admin") {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("%d admins among %v", admins, uNames(users))
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

	add("UsersRenameRace", func(t *testing.T, open Opener) {
		// Two users renamed to one name at once, and a user created with it: one wins, the
		// others get the store's "taken" errors (never a database error).
		st := open(t, store.Options{})
		mustUser(t, st, "", "admin")
		a, b := mustUser(t, st, "", "a"), mustUser(t, st, "", "b")
		for round := range 5 {
			name := fmt.Sprint("name", round)
			errs := make(chan error, 3)
			for _, u := range []*store.User{a, b} {
				go func() {
					_, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Username = strings.ToUpper(name); return nil })
					errs <- err
				}()
			}
			go func() { errs <- st.CreateUser(&store.User{Username: name}, false) }()
			won := 0
			for range 3 {
				err := <-errs
				var e *store.Error
				switch {
				case err == nil:
					won++
				case errors.As(err, &e) && e.Code == "username-taken":
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d writers took the name", round, won)
			}
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
		if n, err := st.UserTokenCount(ann.ID); err != nil || n != 0 {
			t.Fatalf("%d tokens of the deleted user (err %v)", n, err)
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

// uEvents records, as short strings, the events of the users domain a store publishes (on
// PostgreSQL they come through the events table, after the write returned: wait for them).
type uEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *uEvents) Publish(events []store.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range events {
		var s string
		switch ev.Kind {
		case store.UserChanged:
			s = fmt.Sprintf("changed %s name=%s hash=%q", ev.UserID, ev.User.Username, ev.User.Hash)
		case store.UserDeleted:
			s = "deleted " + ev.UserID
		case store.TokenRevoked:
			s = fmt.Sprintf("revoked %s %x", ev.UserID, ev.Token[:2])
		case store.MemberAdded:
			s = fmt.Sprintf("joined %s %s msgs=%d", ev.Room.ID, ev.UserID, ev.Room.Msgs)
		case store.MessageAdded:
			s = fmt.Sprintf("message %s %s %s by %s msgs=%d", ev.Room.ID, ev.Message.Type, ev.Message.Text, ev.Message.User.ID, ev.Room.Msgs)
		default:
			continue
		}
		e.got = append(e.got, s)
	}
}

// wait returns the events once there are n of them (failing after 5 s).
func (e *uEvents) wait(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		e.mu.Lock()
		got := slices.Clone(e.got)
		e.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("events = %q, want %d", got, n)
			}
			return got
		}
	}
}

// reset forgets the events seen so far.
func (e *uEvents) reset() {
	e.mu.Lock()
	e.got = nil
	e.mu.Unlock()
}

func uWantEvents(t *testing.T, e *uEvents, want ...string) {
	t.Helper()
	got := e.wait(t, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	e.reset()
}

func init() {
	add("UsersEvents", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		ev := new(uEvents)
		st.SetPublisher(ev)
		root := &store.User{ID: "root", Username: "root", Active: true}
		ann := &store.User{ID: "ann", Username: "ann", Active: true, Hash: "h"}
		if err := st.CreateUsers([]*store.User{root, ann}, false); err != nil {
			t.Fatal(err)
		}
		for _, h := range []store.TokenHash{{2}, {1}} {
			if err := st.AddToken(ann, h, clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		// A rename: one UserChanged, without the password hash.
		if _, err := st.UpdateUser(ann.ID, func(u *store.User) error { u.Username = "anna"; return nil }); err != nil {
			t.Fatal(err)
		}
		uWantEvents(t, ev, `changed ann name=anna hash=""`)
		// A password change: the tokens go first (in hash order), then the change.
		if _, err := st.UpdateUser(ann.ID, func(u *store.User) error { u.Hash = "h2"; return nil }); err != nil {
			t.Fatal(err)
		}
		uWantEvents(t, ev, "revoked ann 0100", "revoked ann 0200", `changed ann name=anna hash=""`)
		// A refused change publishes nothing; a logout publishes its token; an unknown
		// token, nothing.
		if _, err := st.UpdateUser(root.ID, func(u *store.User) error { u.Active = false; return nil }); err != store.ErrLastAdmin {
			t.Fatal(err)
		}
		ann.Hash = "h2"
		if err := st.AddToken(ann, store.TokenHash{3}, clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeToken(store.TokenHash{9}); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeToken(store.TokenHash{3}); err != nil {
			t.Fatal(err)
		}
		uWantEvents(t, ev, "revoked ann 0300")
		// A deletion: the tokens, then the user.
		if err := st.AddToken(ann, store.TokenHash{4}, clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(ann.ID); err != nil {
			t.Fatal(err)
		}
		uWantEvents(t, ev, "revoked ann 0400", "deleted ann")
	})

	add("UsersCreateJoinsDefaultRooms", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ev := new(uEvents)
		first := mustUser(t, st, "first", "first")
		lobby := &store.Room{ID: "lobby", Name: "lobby", Type: store.Public, Default: true}
		hall := &store.Room{ID: "hall", Name: "hall", Type: store.Public, Default: true}
		other := &store.Room{ID: "other", Name: "other", Type: store.Public}
		for _, r := range []*store.Room{lobby, hall, other} {
			if err := st.CreateRoom(r, nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		st.SetPublisher(ev)
		// Without joinDefault, nothing is joined.
		if err := st.CreateUser(&store.User{ID: "loner", Username: "loner"}, false); err != nil {
			t.Fatal(err)
		}
		a, b := &store.User{ID: "a", Username: "a"}, &store.User{ID: "b", Username: "b"}
		if err := st.CreateUsers([]*store.User{a, b}, true); err != nil {
			t.Fatal(err)
		}
		// Rooms in id order (hall, lobby), users in the batch's order, each room as it was
		// at that step.
		uWantEvents(t, ev,
			"joined hall a msgs=0", "message hall uj a by a msgs=1",
			"joined lobby a msgs=0", "message lobby uj a by a msgs=1",
			"joined hall b msgs=1", "message hall uj b by b msgs=2",
			"joined lobby b msgs=1", "message lobby uj b by b msgs=2")
		for _, rid := range []string{"lobby", "hall"} {
			r, err := st.RoomMembers(rid)
			if err != nil || !slices.Equal(r.Usernames, []string{"a", "b"}) || r.Room.Msgs != 2 || r.Room.Seq != 2 {
				t.Fatalf("%s: %+v %v", rid, r, err)
			}
			for _, uid := range []string{"a", "b"} {
				if m, err := st.Membership(rid, uid); err != nil || m == nil || m.Username != uid {
					t.Fatalf("%s/%s: %+v %v", rid, uid, m, err)
				}
			}
		}
		for _, uid := range []string{"loner", first.ID} {
			if ids, err := st.UserRoomIDs(uid); err != nil || len(ids) != 0 {
				t.Fatalf("%s joined %v, %v", uid, ids, err)
			}
		}
		if ids, _ := st.UserRoomIDs("a"); len(ids) != 2 {
			t.Fatalf("a is in %v", ids)
		}
		// A refused batch joins nobody.
		err := st.CreateUsers([]*store.User{{ID: "c", Username: "c"}, {ID: "d", Username: "A"}}, true)
		uCode(t, err, "username-taken")
		if r, _ := st.RoomMembers("lobby"); len(r.Usernames) != 2 || r.Room.Msgs != 2 {
			t.Fatalf("a refused batch joined: %+v", r)
		}
		// A renamed member is listed under the new name; a deleted one is gone from the room.
		if _, err := st.UpdateUser("a", func(u *store.User) error { u.Username = "alpha"; return nil }); err != nil {
			t.Fatal(err)
		}
		if m, _ := st.Membership("lobby", "a"); m == nil || m.Username != "alpha" {
			t.Fatalf("membership after rename: %+v", m)
		}
		if err := st.DeleteUser("b"); err != nil {
			t.Fatal(err)
		}
		if r, _ := st.RoomMembers("lobby"); !slices.Equal(r.Usernames, []string{"alpha"}) || r.Room.Msgs != 2 {
			t.Fatalf("after the deletion: %+v", r)
		}
		if m, err := st.Membership("hall", "b"); err != nil || m != nil {
			t.Fatalf("a deleted user's membership stayed: %+v (err %v)", m, err)
		}
	})
}

func init() {
	add("TokensExpiryAndSweep", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		u := mustUser(t, st, "", "alice")
		ttl := time.Hour
		short, long := store.TokenHash{1}, store.TokenHash{2}
		if err := st.AddToken(u, short, clock.Now().Add(ttl)); err != nil {
			t.Fatal(err)
		}
		if err := st.AddToken(u, long, clock.Now().Add(3*ttl)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Authenticate(u.ID, short); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		clock.Advance(ttl - time.Nanosecond)
		if got, err := st.Authenticate(u.ID, short); err != nil || got.ID != u.ID || got.Username != "alice" {
			t.Fatalf("token refused before its expiry: %+v %v", got, err)
		}
		if got, exp, err := st.UserByToken(short); err != nil || got.ID != u.ID || !exp.Equal(clock.Now().Add(time.Nanosecond)) {
			t.Fatalf("UserByToken = %+v, %v, %v", got, exp, err)
		}
		clock.Advance(time.Nanosecond) // the instant of expiry
		uIs(t, func() error { _, err := st.Authenticate(u.ID, short); return err }(), store.ErrUnauthorized)
		uIs(t, func() error { _, _, err := st.UserByToken(short); return err }(), store.ErrUnauthorized)
		if _, err := st.Authenticate(u.ID, long); err != nil {
			t.Fatalf("unexpired token refused: %v", err)
		}
		if n, err := st.SweepTokens(0); err != nil || n != 0 {
			t.Fatalf("sweep(0) = %d, %v", n, err)
		}
		if n, err := st.SweepTokens(100); err != nil || n != 1 {
			t.Fatalf("sweep deleted %d (%v), want 1", n, err)
		}
		if c, _ := st.TokenCount(); c != 1 {
			t.Fatalf("%d tokens left, want 1", c)
		}
		if _, err := st.Authenticate(u.ID, long); err != nil {
			t.Fatalf("sweep removed an unexpired token: %v", err)
		}
		if n, err := st.SweepTokens(100); err != nil || n != 0 {
			t.Fatalf("second sweep deleted %d (%v)", n, err)
		}
	})

	add("TokensSweepLimit", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		u := mustUser(t, st, "", "alice")
		ev := new(uEvents)
		st.SetPublisher(ev)
		for i := range 5 {
			// Expiries in the reverse of hash order: the sweep goes by expiry.
			if err := st.AddToken(u, store.TokenHash{byte(9 - i)}, clock.Now().Add(time.Duration(i+1)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		// A personal access token never expires.
		if err := st.SetPersonalToken(u.ID, "ci", store.TokenHash{1}, "xx", false); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Minute)
		if n, err := st.SweepTokens(2); err != nil || n != 2 {
			t.Fatalf("sweep(2) = %d, %v", n, err)
		}
		uWantEvents(t, ev, "revoked "+u.ID+" 0900", "revoked "+u.ID+" 0800")
		if n, err := st.SweepTokens(100); err != nil || n != 3 {
			t.Fatalf("sweep(100) = %d, %v", n, err)
		}
		if n, _ := st.TokenCount(); n != 1 {
			t.Fatalf("%d tokens left, want the personal one", n)
		}
		if _, err := st.Authenticate(u.ID, store.TokenHash{1}); err != nil {
			t.Fatal(err)
		}
	})

	add("TokensOwnerAndRevoke", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		alice, bob := mustUser(t, st, "", "alice"), mustUser(t, st, "", "bob")
		h1, h2 := store.TokenHash{1}, store.TokenHash{2}
		exp := clock.Now().Add(time.Hour)
		for _, h := range []store.TokenHash{h1, h2} {
			if err := st.AddToken(alice, h, exp); err != nil {
				t.Fatal(err)
			}
		}
		uIs(t, func() error { _, err := st.Authenticate(bob.ID, h1); return err }(), store.ErrUnauthorized)
		uIs(t, func() error { _, err := st.Authenticate(alice.ID, store.TokenHash{9}); return err }(), store.ErrUnauthorized)
		uIs(t, func() error { _, _, err := st.UserByToken(store.TokenHash{9}); return err }(), store.ErrUnauthorized)
		if u, _, err := st.UserByToken(h1); err != nil || u.ID != alice.ID {
			t.Fatalf("UserByToken: %+v %v", u, err)
		}
		if err := st.RevokeToken(h1); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeToken(h1); err != nil { // logging out twice is no error
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.Authenticate(alice.ID, h1); return err }(), store.ErrUnauthorized)
		if _, err := st.Authenticate(alice.ID, h2); err != nil {
			t.Fatalf("logout revoked another token: %v", err)
		}
		uIs(t, st.AddToken(&store.User{ID: "nobody"}, store.TokenHash{5}, exp), store.ErrUserNotFound)
	})

	add("TokensRevokedByUserChanges", func(t *testing.T, open Opener) {
		for _, tc := range []struct {
			name   string
			change func(u *store.User) error
			revoke bool
		}{
			{"PasswordChange", func(u *store.User) error { u.Hash = "new-hash"; return nil }, true},
			{"Deactivation", func(u *store.User) error { u.Active = false; return nil }, true},
			{"NameChangeKeepsTokens", func(u *store.User) error { u.Name = "Someone Else"; return nil }, false},
			{"RenameKeepsTokens", func(u *store.User) error { u.Username = "alicia"; return nil }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, clock := uClock(t, open, store.Options{})
				mustUser(t, st, "", "admin")
				u := mustUser(t, st, "", "alice")
				other := mustUser(t, st, "", "bob")
				exp := clock.Now().Add(time.Hour)
				for i, owner := range []*store.User{u, u, other} {
					if err := st.AddToken(owner, store.TokenHash{byte(i + 1)}, exp); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.SetPersonalToken(u.ID, "ci", store.TokenHash{7}, "xx", false); err != nil {
					t.Fatal(err)
				}
				if _, err := st.UpdateUser(u.ID, tc.change); err != nil {
					t.Fatal(err)
				}
				n, _ := st.TokenCount()
				want := 4
				if tc.revoke {
					want = 1
				}
				if n != want {
					t.Fatalf("%d tokens left, want %d", n, want)
				}
				if list, _ := st.PersonalTokens(u.ID); (len(list) == 0) != tc.revoke {
					t.Fatalf("personal tokens after the change: %v", list)
				}
				if _, err := st.Authenticate(other.ID, store.TokenHash{3}); err != nil {
					t.Fatalf("another user's token was revoked: %v", err)
				}
			})
		}
	})

	// A login that checked the password just before the user was deactivated must not store
	// its token afterwards: re-enabling the user would bring that session back to life.
	add("TokensRefuseStaleLogin", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		mustUser(t, st, "", "admin")
		u := &store.User{Username: "ghost", Hash: "h", Active: false}
		if err := st.CreateUser(u, false); err != nil {
			t.Fatal(err)
		}
		uIs(t, st.AddToken(u, store.TokenHash{7}, clock.Now().Add(time.Hour)), store.ErrLoginRefused)
		if n, err := st.TokenCount(); err != nil || n != 0 {
			t.Fatalf("a refused token was stored: %d (err %v)", n, err)
		}
		if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Active = true; return nil }); err != nil {
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.Authenticate(u.ID, store.TokenHash{7}); return err }(), store.ErrUnauthorized)
		// Likewise a login that checked the old password while it was being changed.
		checked, err := st.User(u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Hash = "new-hash"; return nil }); err != nil {
			t.Fatal(err)
		}
		uIs(t, st.AddToken(checked, store.TokenHash{8}, clock.Now().Add(time.Hour)), store.ErrLoginRefused)
		if n, err := st.TokenCount(); err != nil || n != 0 {
			t.Fatalf("%d tokens stored for a stale password (err %v)", n, err)
		}
		// An inactive user's personal token is refused too.
		if _, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		uIs(t, st.SetPersonalToken(u.ID, "ci", store.TokenHash{9}, "xx", false), store.ErrLoginRefused)
		uIs(t, st.SetPersonalToken("nobody", "ci", store.TokenHash{9}, "xx", false), store.ErrUserNotFound)
	})

	add("TokensLoginRacesPasswordChange", func(t *testing.T, open Opener) {
		// Logins with the old password racing its change: whatever the order, no token
		// stored with the old password survives the change.
		st, clock := uClock(t, open, store.Options{})
		mustUser(t, st, "", "admin")
		u := mustUser(t, st, "", "ann")
		const logins = 20
		done := make(chan error, logins+1)
		for i := range logins {
			go func() {
				err := st.AddToken(u, uHash(fmt.Sprint("login", i)), clock.Now().Add(time.Hour))
				if err == store.ErrLoginRefused {
					err = nil
				}
				done <- err
			}()
		}
		go func() {
			_, err := st.UpdateUser(u.ID, func(u *store.User) error { u.Hash = "changed"; return nil })
			done <- err
		}()
		for range logins + 1 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.UserTokenCount(u.ID); err != nil || n != 0 {
			t.Fatalf("%d tokens of the old password survived its change (err %v)", n, err)
		}
	})

	add("TokensHasLive", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		const a0ID = "AAAAAAAAAAAAAAAAA"
		a := &store.User{ID: a0ID, Username: "a", Active: true}
		ab := &store.User{ID: a0ID + "b", Username: "ab", Active: true} // id "…b" has "…" as a prefix
		if err := st.CreateUsers([]*store.User{a, ab}, false); err != nil {
			t.Fatal(err)
		}
		if live, err := st.HasLiveToken(a.ID); err != nil || live {
			t.Fatalf("no token: %v %v", live, err)
		}
		if err := st.AddToken(a, store.TokenHash{1}, clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if live, _ := st.HasLiveToken(a.ID); !live {
			t.Fatal("token not seen")
		}
		if live, err := st.HasLiveToken(ab.ID); err != nil || live {
			t.Fatalf("another user's token seen (err %v)", err)
		}
		if n, err := st.UserTokenCount(ab.ID); err != nil || n != 0 {
			t.Fatalf("another user's token counted: %d (err %v)", n, err)
		}
		clock.Advance(2 * time.Hour)
		if live, err := st.HasLiveToken(a.ID); err != nil || live {
			t.Fatalf("expired token counted (err %v)", err)
		}
		if n, _ := st.UserTokenCount(a.ID); n != 1 {
			t.Fatalf("UserTokenCount counts expired tokens too: %d", n)
		}
		if err := st.SetPersonalToken(a.ID, "ci", store.TokenHash{2}, "xx", false); err != nil {
			t.Fatal(err)
		}
		if live, _ := st.HasLiveToken(a.ID); !live {
			t.Fatal("a personal token is live")
		}
	})

	add("TokensPerUserCap", func(t *testing.T, open Opener) {
		// The default cap is 50 live tokens; the oldest goes first, and expired ones go
		// before any live one.
		st, clock := uClock(t, open, store.Options{})
		u := mustUser(t, st, "", "ann")
		v := mustUser(t, st, "", "vic")
		if err := st.AddToken(v, uHash("vic"), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < store.DefaultMaxTokensPerUser+10; i++ {
			if err := st.AddToken(u, uHash(strconv.Itoa(i)), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Millisecond)
		}
		if n, _ := st.UserTokenCount(u.ID); n != store.DefaultMaxTokensPerUser {
			t.Fatalf("ann holds %d tokens, want %d", n, store.DefaultMaxTokensPerUser)
		}
		for i, want := range map[int]bool{0: false, 9: false, 10: true, 59: true} {
			_, err := st.Authenticate(u.ID, uHash(strconv.Itoa(i)))
			if (err == nil) != want {
				t.Errorf("token %d: %v, want live %v", i, err, want)
			}
		}
		if _, err := st.Authenticate(v.ID, uHash("vic")); err != nil {
			t.Fatalf("another user's token was revoked: %v", err)
		}
		clock.Advance(2 * time.Hour)
		if err := st.AddToken(u, uHash("fresh"), clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.UserTokenCount(u.ID); n != 1 {
			t.Fatalf("ann holds %d tokens after expiry, want 1", n)
		}
		if n, _ := st.TokenCount(); n != 2 {
			t.Fatalf("%d tokens in all, want ann's and vic's", n)
		}
	})

	add("TokensCapOptions", func(t *testing.T, open Opener) {
		// Personal access tokens are not sessions: logins past the cap never evict them. A
		// negative cap is none.
		st, clock := uClock(t, open, store.Options{MaxTokensPerUser: 2})
		u := mustUser(t, st, "", "ann")
		for _, name := range []string{"ci", "monitor"} {
			if err := st.SetPersonalToken(u.ID, name, uHash(name), "xx", false); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 5; i++ {
			if err := st.AddToken(u, uHash("session"+strconv.Itoa(i)), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Millisecond)
		}
		for _, name := range []string{"ci", "monitor", "session3", "session4"} {
			if _, err := st.Authenticate(u.ID, uHash(name)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if n, _ := st.UserTokenCount(u.ID); n != 4 {
			t.Fatalf("%d tokens, want 2 personal + 2 sessions", n)
		}
		free, clock2 := uClock(t, open, store.Options{MaxTokensPerUser: -1})
		w := mustUser(t, free, "", "wim")
		for i := 0; i < store.DefaultMaxTokensPerUser+5; i++ {
			if err := free.AddToken(w, uHash(strconv.Itoa(i)), clock2.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := free.UserTokenCount(w.ID); n != store.DefaultMaxTokensPerUser+5 {
			t.Fatalf("no cap: %d tokens", n)
		}
	})

	add("TokensRevokeUserAndAll", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		ann, bob := mustUser(t, st, "", "ann"), mustUser(t, st, "", "bob")
		exp := clock.Now().Add(time.Hour)
		for i, u := range []*store.User{ann, ann, bob} {
			if err := st.AddToken(u, store.TokenHash{byte(i + 1)}, exp); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetPersonalToken(ann.ID, "ci", store.TokenHash{9}, "xx", false); err != nil {
			t.Fatal(err)
		}
		ev := new(uEvents)
		st.SetPublisher(ev)
		if n, err := st.RevokeUserTokens(ann.ID); err != nil || n != 3 {
			t.Fatalf("RevokeUserTokens = %d, %v", n, err)
		}
		uWantEvents(t, ev, "revoked "+ann.ID+" 0100", "revoked "+ann.ID+" 0200", "revoked "+ann.ID+" 0900")
		if n, err := st.RevokeUserTokens(ann.ID); err != nil || n != 0 {
			t.Fatalf("again = %d, %v", n, err)
		}
		_, err := st.RevokeUserTokens("nobody")
		uIs(t, err, store.ErrUserNotFound)
		if _, err := st.Authenticate(bob.ID, store.TokenHash{3}); err != nil {
			t.Fatal(err)
		}
		if err := st.AddToken(ann, store.TokenHash{4}, exp); err != nil {
			t.Fatal(err)
		}
		if n, err := st.RevokeAllTokens(); err != nil || n != 2 {
			t.Fatalf("RevokeAllTokens = %d, %v", n, err)
		}
		if n, err := st.TokenCount(); err != nil || n != 0 {
			t.Fatalf("%d tokens left (err %v)", n, err)
		}
		if n, err := st.RevokeAllTokens(); err != nil || n != 0 {
			t.Fatalf("again = %d, %v", n, err)
		}
	})

	add("PersonalTokens", func(t *testing.T, open Opener) {
		st, clock := uClock(t, open, store.Options{})
		u := mustUser(t, st, "", "alice")
		if list, err := st.PersonalTokens(u.ID); err != nil || len(list) != 0 {
			t.Fatalf("none yet: %v %v", list, err)
		}
		for _, name := range []string{"monitor", "ci", "Backup"} {
			if err := st.SetPersonalToken(u.ID, name, uHash(name), "last-"+name, false); err != nil {
				t.Fatal(err)
			}
		}
		list, err := st.PersonalTokens(u.ID)
		if err != nil || len(list) != 3 {
			t.Fatalf("%v %v", list, err)
		}
		var names []string
		for _, p := range list {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, []string{"Backup", "ci", "monitor"}) {
			t.Fatalf("listed %v, want byte order", names)
		}
		if p := list[1]; p.Hash != uHash("ci") || p.LastTokenPart != "last-ci" || !p.CreatedAt.Equal(clock.Now()) {
			t.Fatalf("%+v", p)
		}
		if got, err := st.Authenticate(u.ID, uHash("ci")); err != nil || got.ID != u.ID {
			t.Fatalf("a personal token does not log in: %v", err)
		}
		if got, exp, err := st.UserByToken(uHash("ci")); err != nil || got.ID != u.ID || !store.IsPersonalToken(exp) {
			t.Fatalf("UserByToken = %v, %v, %v", got, exp, err)
		}
		uIs(t, st.SetPersonalToken(u.ID, "ci", uHash("ci2"), "x", false), store.ErrPersonalTokenExists)
		uIs(t, st.SetPersonalToken(u.ID, "nope", uHash("nope"), "x", true), store.ErrPersonalTokenNotFound)
		// Regenerating replaces the token.
		clock.Advance(time.Minute)
		if err := st.SetPersonalToken(u.ID, "ci", uHash("ci2"), "new", true); err != nil {
			t.Fatal(err)
		}
		uIs(t, func() error { _, err := st.Authenticate(u.ID, uHash("ci")); return err }(), store.ErrUnauthorized)
		if _, err := st.Authenticate(u.ID, uHash("ci2")); err != nil {
			t.Fatal(err)
		}
		list, _ = st.PersonalTokens(u.ID)
		if len(list) != 3 || list[1].LastTokenPart != "new" || !list[1].CreatedAt.Equal(clock.Now()) {
			t.Fatalf("after regenerate: %+v", list[1])
		}
		// Removal.
		if err := st.RemovePersonalToken(u.ID, "monitor"); err != nil {
			t.Fatal(err)
		}
		uIs(t, st.RemovePersonalToken(u.ID, "monitor"), store.ErrPersonalTokenNotFound)
		uIs(t, st.RemovePersonalToken("nobody", "ci"), store.ErrPersonalTokenNotFound)
		uIs(t, func() error { _, err := st.Authenticate(u.ID, uHash("monitor")); return err }(), store.ErrUnauthorized)
		// A token revoked otherwise (a logout with it) is no longer listed, and its name is
		// free again.
		if err := st.RevokeToken(uHash("Backup")); err != nil {
			t.Fatal(err)
		}
		list, _ = st.PersonalTokens(u.ID)
		if len(list) != 1 || list[0].Name != "ci" {
			t.Fatalf("after a revocation: %v", list)
		}
		uIs(t, st.RemovePersonalToken(u.ID, "Backup"), store.ErrPersonalTokenNotFound)
		if err := st.SetPersonalToken(u.ID, "Backup", uHash("b2"), "x", false); err != nil {
			t.Fatal(err)
		}
		// Another user's tokens are apart.
		v := mustUser(t, st, "", "vic")
		if list, err := st.PersonalTokens(v.ID); err != nil || len(list) != 0 {
			t.Fatalf("vic sees %v (err %v)", list, err)
		}
		if err := st.SetPersonalToken(v.ID, "ci", uHash("vic-ci"), "x", false); err != nil {
			t.Fatal(err)
		}
	})

	// A user holds at most MaxPersonalTokens personal access tokens; regenerating one of them
	// is still allowed at the cap.
	add("PersonalTokensCap", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		u := mustUser(t, st, "", "alice")
		hash := func(i int) (h store.TokenHash) { h[0], h[1] = byte(i), byte(i>>8); return h }
		for i := 0; i < store.MaxPersonalTokens; i++ {
			if err := st.SetPersonalToken(u.ID, fmt.Sprintf("t%d", i), hash(i), "last", false); err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
		}
		uIs(t, st.SetPersonalToken(u.ID, "one-more", hash(1000), "last", false), store.ErrTooManyPersonalTokens)
		if err := st.SetPersonalToken(u.ID, "t0", hash(1001), "last", true); err != nil {
			t.Fatalf("regenerate at the cap: %v", err)
		}
		if list, err := st.PersonalTokens(u.ID); err != nil || len(list) != store.MaxPersonalTokens {
			t.Fatalf("%d tokens, %v; want %d", len(list), err, store.MaxPersonalTokens)
		}
	})
}
