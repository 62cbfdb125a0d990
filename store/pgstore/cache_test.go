package pgstore

import (
	"context"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// caughtUp waits until st's listener has handed on every event in the table.
func caughtUp(t *testing.T, st *Store) {
	t.Helper()
	var top int64
	if err := st.pool.QueryRow(context.Background(), `SELECT coalesce(max(seq), 0) FROM events`).Scan(&top); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); st.listen.seen.Load() < top; {
		if time.Now().After(deadline) {
			t.Fatalf("the listener saw up to %d, the table holds %d", st.listen.seen.Load(), top)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheFollowsWrites: a token and a read permission that a node answered from memory stop
// being answered as soon as a write revokes them — on the writing node at once, on another
// node once the write's event reached it (not only after cacheTTL).
func TestCacheFollowsWrites(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	u := &store.User{ID: "U1", Username: "ann", Name: "Ann", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	if err := a.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	room := &store.Room{ID: "R1", Name: "ops", Type: store.Private}
	if err := a.CreateRoom(room, []string{"U1"}, "U1"); err != nil {
		t.Fatal(err)
	}
	h1, h2 := store.TokenHash{1}, store.TokenHash{2}
	for _, h := range []store.TokenHash{h1, h2} {
		if err := a.AddToken(u, h, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// Both nodes answer, and now hold the answers.
	for _, st := range []*Store{a, b} {
		for _, h := range []store.TokenHash{h1, h2} {
			if _, err := st.Authenticate("U1", h); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.MayRead("R1", u); err != nil {
			t.Fatal(err)
		}
	}
	// The writer drops its answers at commit.
	if err := a.RevokeToken(h1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate("U1", h1); err != store.ErrUnauthorized {
		t.Fatalf("the writing node accepted a revoked token: %v", err)
	}
	if err := a.RemoveMember("R1", "U1", store.UserRef{ID: "U1", Username: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := a.MayRead("R1", u); err == nil {
		t.Fatal("the writing node let a removed member read the private room")
	}
	// The other node drops them with the events, well before cacheTTL.
	began := time.Now()
	caughtUp(t, b)
	if _, err := b.Authenticate("U1", h1); err != store.ErrUnauthorized {
		t.Fatalf("another node accepted a revoked token after its event: %v", err)
	}
	if err := b.MayRead("R1", u); err == nil {
		t.Fatal("another node let a removed member read the private room after the event")
	}
	if time.Since(began) >= cacheTTL {
		t.Logf("the events took %v, as long as the cache's lifetime: the check above proved less than it should", time.Since(began))
	}
	// The token not revoked still works everywhere.
	if _, err := b.Authenticate("U1", h2); err != nil {
		t.Fatal(err)
	}
}
