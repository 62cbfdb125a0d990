package pgstore

import (
	"context"
	"errors"
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
	// Both nodes answer, and now hold the answers (for less than cacheTTL from began).
	began := time.Now()
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
	caughtUp(t, b)
	if _, err := b.Authenticate("U1", h1); err != store.ErrUnauthorized {
		t.Fatalf("another node accepted a revoked token after its event: %v", err)
	}
	if err := b.MayRead("R1", u); err == nil {
		t.Fatal("another node let a removed member read the private room after the event")
	}
	if time.Since(began) >= cacheTTL {
		t.Fatalf("the events took %v, as long as the cache's lifetime: the answers may have expired instead of being dropped", time.Since(began))
	}
	// The token not revoked still works everywhere.
	if _, err := b.Authenticate("U1", h2); err != nil {
		t.Fatal(err)
	}
}

// publishFunc is a store.Publisher made of a function.
type publishFunc func([]store.Event)

func (f publishFunc) Publish(evs []store.Event) { f(evs) }

// TestOwnEventsSeeTheirWrite: the writing node's listener may hand on a write's event before
// the writer's goroutine has dropped the answers and pages the write changed. The hub, asking
// whether a removed member may still read the room, must not be answered from the cache of
// before the removal (CI saw a kicked member receive the next message on PostgreSQL); a client
// fetching history on hearing of a message must not get the page of before it.
func TestOwnEventsSeeTheirWrite(t *testing.T) {
	a := openTest(t, "", store.Options{})
	u := &store.User{ID: "U1", Username: "ann", Name: "Ann", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	if err := a.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateRoom(&store.Room{ID: "R1", Name: "ops", Type: store.Private}, []string{"U1"}, "U1"); err != nil {
		t.Fatal(err)
	}
	// heldWrite runs write with the writer held between its commit and its own cache and page
	// changes, and returns what check answered inside the publisher on the event of kind.
	heldWrite := func(kind store.EventKind, check func() error, write func() error) error {
		t.Helper()
		answered := make(chan error, 1)
		a.SetPublisher(publishFunc(func(evs []store.Event) {
			for _, ev := range evs {
				if ev.Kind == kind {
					answered <- check()
				}
			}
		}))
		defer a.SetPublisher(nil)
		// Long enough for the listener to read the row while the writer has not applied it.
		a.afterCommit = func() { time.Sleep(300 * time.Millisecond) }
		defer func() { a.afterCommit = nil }()
		if err := write(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-answered:
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("no event of kind %v was published", kind)
			return nil
		}
	}

	before := a.PageVersion("R1")
	err := heldWrite(store.MessageAdded, func() error {
		if a.PageVersion("R1") == before {
			return errors.New("page version unchanged")
		}
		return nil
	}, func() error { return a.PostMessage("R1", u, &store.Message{ID: "M1", Text: "hello"}) })
	if err != nil {
		t.Fatalf("the listener published a message while the room's cached pages stood: %v", err)
	}

	if err := a.MayRead("R1", u); err != nil { // now cached
		t.Fatal(err)
	}
	err = heldWrite(store.MemberRemoved, func() error { return a.MayRead("R1", u) },
		func() error { return a.RemoveMember("R1", "U1", store.UserRef{ID: "U1", Username: "ann"}) })
	if err == nil {
		t.Fatal("the listener published the removal while the cache still let the removed member read")
	}
}

// TestOwnEventsFromMemory: the listener hands on this node's own events as the writer made
// them, without decoding their row (with two nodes, each would otherwise decode every event
// of both); another node's events are decoded from the row.
func TestOwnEventsFromMemory(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	u := &store.User{ID: "U1", Username: "ann", Name: "Ann", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	if err := a.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateRoom(&store.Room{ID: "R1", Name: "ops", Type: store.Public}, []string{"U1"}, "U1"); err != nil {
		t.Fatal(err)
	}
	caughtUp(t, a)
	caughtUp(t, b)
	decodedA, decodedB := a.listen.decoded.Load(), b.listen.decoded.Load()
	got := make(chan string, 2)
	for _, st := range []*Store{a, b} {
		st.SetPublisher(publishFunc(func(evs []store.Event) {
			for _, ev := range evs {
				if ev.Kind == store.MessageAdded {
					got <- ev.Message.Text
				}
			}
		}))
	}
	if err := a.PostMessage("R1", u, &store.Message{ID: "M1", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case text := <-got:
			if text != "hello" {
				t.Fatalf("event of %q", text)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the message's event did not reach both nodes")
		}
	}
	if d := a.listen.decoded.Load() - decodedA; d != 0 {
		t.Fatalf("the writing node decoded %d rows of its own", d)
	}
	if d := b.listen.decoded.Load() - decodedB; d != 1 {
		t.Fatalf("the other node decoded %d rows, want 1", d)
	}
	a.own.mu.Lock()
	left := len(a.own.pending)
	a.own.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d own rows left behind", left)
	}
}

// TestCacheKeepsOthersOnMentions: a mention counts into the mentioned member's subscription
// (MemberChanged); it drops that member's answer for the room only, not every cached token
// and read answer of every node.
func TestCacheKeepsOthersOnMentions(t *testing.T) {
	st := openTest(t, "", store.Options{})
	ann := &store.User{ID: "U1", Username: "ann", Name: "Ann", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	bob := &store.User{ID: "U2", Username: "bob", Name: "Bob", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	if err := st.CreateUsers([]*store.User{ann, bob}, false); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRoom(&store.Room{ID: "R1", Name: "ops", Type: store.Private}, []string{"U1", "U2"}, "U1"); err != nil {
		t.Fatal(err)
	}
	h := store.TokenHash{7}
	if err := st.AddToken(ann, h, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate("U1", h); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*store.User{ann, bob} {
		if err := st.MayRead("R1", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PostMessage("R1", ann, &store.Message{Text: "hi @bob"}); err != nil {
		t.Fatal(err)
	}
	caughtUp(t, st)
	now := time.Now()
	if _, ok := st.cache.token(h, now); !ok {
		t.Fatal("a mention emptied the token cache")
	}
	if !st.cache.isReadable("R1", "U1", now) {
		t.Fatal("a mention of bob dropped ann's read answer")
	}
	if st.cache.isReadable("R1", "U2", now) {
		t.Fatal("bob's read answer stayed across a change of his membership")
	}
}
