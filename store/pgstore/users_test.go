package pgstore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// TestUserRecordsInStep: the columns that lookups, uniqueness and the last-admin check use
// follow the user's doc through creation and every kind of change.
func TestUserRecordsInStep(t *testing.T) {
	st := openTest(t, "", store.Options{})
	ctx := context.Background()
	check := func(id string) {
		t.Helper()
		var username, usernameKey, email, emailKey string
		var active bool
		var roles []string
		var doc []byte
		if err := st.pool.QueryRow(ctx, `SELECT username, username_key, email, email_key, active, roles, doc FROM users WHERE id = $1`, id).
			Scan(&username, &usernameKey, &email, &emailKey, &active, &roles, &doc); err != nil {
			t.Fatal(err)
		}
		var u store.User
		if err := json.Unmarshal(doc, &u); err != nil {
			t.Fatal(err)
		}
		if username != u.Username || usernameKey != strings.ToLower(u.Username) || email != u.Email ||
			emailKey != strings.ToLower(u.Email) || active != u.Active || !slices.Equal(roles, u.Roles) {
			t.Fatalf("columns %q %q %q %q %v %v out of step with %+v", username, usernameKey, email, emailKey, active, roles, u)
		}
	}
	admin := &store.User{Username: "Root", Email: "Root@X.org", Active: true}
	ann := &store.User{Username: "ÄNN", Active: true}
	if err := st.CreateUsers([]*store.User{admin, ann}, false); err != nil {
		t.Fatal(err)
	}
	check(admin.ID)
	check(ann.ID)
	for _, change := range []func(u *store.User) error{
		func(u *store.User) error { u.Username, u.Email = "Änne", "ÄNNE@x.org"; return nil },
		func(u *store.User) error { u.Roles = append(u.Roles, "admin", "bot"); return nil },
		func(u *store.User) error { u.Active = false; return nil },
		func(u *store.User) error { u.Email = ""; return nil },
	} {
		if _, err := st.UpdateUser(ann.ID, change); err != nil {
			t.Fatal(err)
		}
		check(ann.ID)
	}
}

// TestUserQueriesUseIndexes: what every request and login runs reads one row by an index,
// not the table (checked on a table large enough for the planner to care).
func TestUserQueriesUseIndexes(t *testing.T) {
	st := openTest(t, "", store.Options{})
	ctx := context.Background()
	if _, err := st.pool.Exec(ctx, `INSERT INTO users (id, username, username_key, email, email_key, created_at, doc)
		SELECT 'u' || i, 'n' || i, 'n' || i, 'e' || i || '@x.org', 'e' || i || '@x.org', now(), '{}' FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `INSERT INTO tokens (hash, user_id, issued, expires)
		SELECT sha256(i::text::bytea), 'u' || i, i, i FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, `ANALYZE users; ANALYZE tokens`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sql   string
		args  []any
		index string
	}{
		{`SELECT doc FROM users WHERE username_key = $1`, []any{"n5"}, "users_username_key"},
		{`SELECT doc FROM users WHERE email_key = $1`, []any{"e5@x.org"}, "users_email_key"},
		{`SELECT t.user_id, t.expires, u.doc FROM tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = $1`, []any{make([]byte, 32)}, "tokens_pkey"},
		{`SELECT hash, issued, expires FROM tokens WHERE user_id = $1 AND expires <> $2 ORDER BY hash`, []any{"u5", noExpiry}, "tokens_user"},
		{`SELECT hash FROM tokens WHERE expires <= $1 ORDER BY expires, hash LIMIT $2`, []any{int64(10), 100}, "tokens_expires"},
		{`SELECT count(*) FROM users WHERE active AND 'admin' = ANY (roles)`, nil, "users_admins"},
		{`SELECT doc FROM users ORDER BY id COLLATE "C" OFFSET $1 LIMIT $2`, []any{100, 50}, "users_id_bytes"},
	} {
		rows, err := st.pool.Query(ctx, `EXPLAIN `+c.sql, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, c.index) || strings.Contains(all, "Seq Scan on users") || strings.Contains(all, "Seq Scan on tokens") {
			t.Errorf("%s: plan does not use %s:\n%s", c.sql, c.index, all)
		}
	}
}

// BenchmarkAuthenticate: what every authenticated request costs the database, from parallel
// callers (go test -run X -bench Authenticate ./store/pgstore).
func BenchmarkAuthenticate(b *testing.B) {
	st := openTest(b, "", store.Options{})
	u := &store.User{Username: "ann", Active: true, Hash: "h"}
	if err := st.CreateUser(u, false); err != nil {
		b.Fatal(err)
	}
	h := store.TokenHash{1}
	if err := st.AddToken(u, h, st.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.Authenticate(u.ID, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestUserChangesReachOtherNodes: a logout, a rename and a deletion on one node reach the
// publishers of another (which ends the sockets of a revoked token and redraws names), and
// the other node's next request sees them.
func TestUserChangesReachOtherNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	rb := newRecorder()
	b.SetPublisher(rb)
	mustCreate := func(u *store.User) {
		t.Helper()
		if err := a.CreateUser(u, false); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(&store.User{Username: "root", Active: true})
	ann := &store.User{Username: "ann", Active: true, Hash: "h"}
	mustCreate(ann)
	h1, h2 := store.TokenHash{1}, store.TokenHash{2}
	for _, h := range []store.TokenHash{h1, h2} {
		if err := a.AddToken(ann, h, a.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Authenticate(ann.ID, h1); err != nil {
		t.Fatalf("node b refuses a token of node a: %v", err)
	}
	if err := a.RevokeToken(h1); err != nil {
		t.Fatal(err)
	}
	// Node b answered from memory (cache.go) until the revocation's event reaches it.
	got := rb.wait(t, 1)
	if ev := got[0]; ev.Kind != store.TokenRevoked || ev.Token != h1 || ev.UserID != ann.ID {
		t.Fatalf("node b got %+v", ev)
	}
	if _, err := b.Authenticate(ann.ID, h1); err != store.ErrUnauthorized {
		t.Fatalf("node b accepts a token revoked on node a: %v", err)
	}
	version := b.PageVersion("any-room")
	if _, err := a.UpdateUser(ann.ID, func(u *store.User) error { u.Username = "anna"; return nil }); err != nil {
		t.Fatal(err)
	}
	got = rb.wait(t, 2)
	if ev := got[1]; ev.Kind != store.UserChanged || ev.User == nil || ev.User.Username != "anna" || ev.User.Hash != "" {
		t.Fatalf("node b got %+v", ev)
	}
	if b.PageVersion("any-room") == version {
		t.Fatal("a rename on node a left node b's cached pages showing the old name")
	}
	if u, err := b.UserByUsername("ANNA"); err != nil || u.ID != ann.ID {
		t.Fatalf("node b: %+v %v", u, err)
	}
	if err := a.DeleteUser(ann.ID); err != nil {
		t.Fatal(err)
	}
	got = rb.wait(t, 4)
	if got[2].Kind != store.TokenRevoked || got[2].Token != h2 || got[3].Kind != store.UserDeleted || got[3].UserID != ann.ID {
		t.Fatalf("node b got %+v, %+v", got[2], got[3])
	}
	if _, _, err := b.UserByToken(h2); err != store.ErrUnauthorized {
		t.Fatalf("node b: a deleted user's token: %v", err)
	}
}

// TestLastAdminAcrossNodes: two admins demoted at once on two nodes: one is refused, so
// one active admin always remains.
func TestLastAdminAcrossNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	nodes := []*Store{openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})}
	admins := []*store.User{{Username: "a", Roles: []string{"admin"}, Active: true}, {Username: "b", Roles: []string{"admin"}, Active: true}}
	if err := nodes[0].CreateUsers(admins, false); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = nodes[i].UpdateUser(admins[i].ID, func(u *store.User) error { u.Active = false; return nil })
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) || (errs[0] != nil && errs[0] != store.ErrLastAdmin) || (errs[1] != nil && errs[1] != store.ErrLastAdmin) {
			t.Fatalf("round %d: %v, %v; want one ErrLastAdmin", round, errs[0], errs[1])
		}
		for i := range admins {
			if _, err := nodes[0].UpdateUser(admins[i].ID, func(u *store.User) error { u.Active = true; return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestJoinRacesRenameAndDeletion: a join that reads the user while a rename or a deletion
// of that user is in flight waits for it, so the membership neither keeps the old name nor
// outlives the user. (The rename and deletion are held open here between their statements,
// as a slow commit would hold them.)
func TestJoinRacesRenameAndDeletion(t *testing.T) {
	st := openTest(t, "", store.Options{})
	ctx := context.Background()
	mustUser := func(name string) *store.User {
		u := &store.User{Username: name, Active: true}
		if err := st.CreateUser(u, false); err != nil {
			t.Fatal(err)
		}
		return u
	}
	mustUser("root")
	room := &store.Room{ID: "R", Name: "general", Type: store.Public}
	if err := st.CreateRoom(room, nil, ""); err != nil {
		t.Fatal(err)
	}
	// held runs change in a transaction that holds the user's row as UpdateUser and
	// DeleteUser do, starts a join of the user meanwhile, and commits after a pause.
	held := func(u *store.User, change func(t *Tx) error) error {
		tx, err := st.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := lockUser(ctx, tx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := change(&Tx{Tx: tx, Ctx: ctx}); err != nil {
			t.Fatal(err)
		}
		joined := make(chan error, 1)
		go func() { _, err := st.Join(room.ID, u.ID); joined <- err }()
		time.Sleep(200 * time.Millisecond) // the join reads the user now
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return <-joined
	}

	ann := mustUser("ann")
	err := held(ann, func(t *Tx) error {
		ann.Username = "anna"
		if err := putUser(t.Ctx, t, ann); err != nil {
			return err
		}
		return renameInMemberships(t, ann)
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.Membership(room.ID, ann.ID); err != nil || m == nil || m.Username != "anna" {
		t.Fatalf("membership of a user renamed during the join: %+v %v", m, err)
	}

	bob := mustUser("bob")
	err = held(bob, func(t *Tx) error {
		if err := dropMemberships(t, bob.ID); err != nil {
			return err
		}
		_, err := t.Exec(t.Ctx, `DELETE FROM users WHERE id = $1`, bob.ID)
		return err
	})
	if err != store.ErrUserNotFound {
		t.Fatalf("join of a user deleted meanwhile: %v", err)
	}
	var n int
	if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM members WHERE user_id = $1`, bob.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d memberships outlived their user (%v)", n, err)
	}
}

// TestSweepOnTwoNodes: every node runs the sweeper; sweeping at once, they delete each
// expired token once between them, and never a live one.
func TestSweepOnTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	a, b := openTest(t, dsn, store.Options{Now: now, MaxTokensPerUser: -1}), openTest(t, dsn, store.Options{Now: now, MaxTokensPerUser: -1})
	u := &store.User{Username: "ann", Active: true}
	if err := a.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	const expired, live = 300, 20
	if _, err := a.pool.Exec(context.Background(), `INSERT INTO tokens (hash, user_id, issued, expires)
		SELECT sha256(i::text::bytea), $1, 0, CASE WHEN i <= $2 THEN $3::bigint ELSE $4::bigint END FROM generate_series(1, $5::int) i`,
		u.ID, expired, clock.UnixNano(), clock.Add(time.Hour).UnixNano(), expired+live); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	swept := make([]int, 2)
	for i, st := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := st.SweepTokens(7)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
				swept[i] += n
			}
		}()
	}
	wg.Wait()
	if swept[0]+swept[1] != expired {
		t.Fatalf("the nodes swept %d + %d tokens, want %d in all", swept[0], swept[1], expired)
	}
	if n, _ := b.TokenCount(); n != live {
		t.Fatalf("%d tokens left, want the %d live ones", n, live)
	}
}

// TestRevokeAllTokensWhileServing: on PostgreSQL the CLI's revoke-tokens --all runs beside
// serving nodes: every node hears of each token (its sockets end) and stops accepting them at
// once, even those it had just answered from memory.
func TestRevokeAllTokensWhileServing(t *testing.T) {
	dsn := pgtest.DSN(t)
	node, cli := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	rec := newRecorder()
	node.SetPublisher(rec)
	ann := &store.User{Username: "ann", Active: true}
	bob := &store.User{Username: "bob", Active: true}
	if err := node.CreateUsers([]*store.User{ann, bob}, false); err != nil {
		t.Fatal(err)
	}
	tokens := map[store.TokenHash]*store.User{{3}: ann, {1}: bob, {2}: ann}
	for h, u := range tokens {
		if err := node.AddToken(u, h, node.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := node.Authenticate(u.ID, h); err != nil { // now cached
			t.Fatal(err)
		}
	}
	if n, err := cli.RevokeAllTokens(); err != nil || n != 3 {
		t.Fatalf("RevokeAllTokens = %d, %v", n, err)
	}
	got := rec.wait(t, 3)
	for i, want := range []store.TokenHash{{1}, {2}, {3}} {
		if ev := got[i]; ev.Kind != store.TokenRevoked || ev.Token != want || ev.UserID != tokens[want].ID {
			t.Fatalf("event %d = %+v, want the revocation of %x", i, ev, want[:1])
		}
	}
	for h, u := range tokens {
		if _, err := node.Authenticate(u.ID, h); err != store.ErrUnauthorized {
			t.Fatalf("token %x still accepted: %v", h[:1], err)
		}
	}
}
