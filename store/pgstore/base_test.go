package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// openTest opens a store on a fresh schema (or on dsn's, for a second node), closed when the
// test ends.
func openTest(t testing.TB, dsn string, opts store.Options) *Store {
	t.Helper()
	if dsn == "" {
		dsn = pgtest.DSN(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Open(ctx, dsn, Options{Options: opts, Poll: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestMigrateTogether: nodes starting together on an empty database all come up, and the
// schema is applied once.
func TestMigrateTogether(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), dsn, Options{})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n, top int
	if err := stores[0].pool.QueryRow(context.Background(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrations()
	if n != len(ms) || top != SchemaVersion() {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, top, len(ms), SchemaVersion())
	}
}

// TestNewerSchemaRefused: a node of an older build must not write to a newer schema.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	st := openTest(t, dsn, store.Options{})
	if _, err := st.pool.Exec(context.Background(), `INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dsn, Options{}); err == nil {
		t.Fatal("a database of a newer schema was opened")
	}
}

type recorder struct {
	mu  sync.Mutex
	got []store.Event
	ch  chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1000)} }

func (r *recorder) Publish(evs []store.Event) {
	r.mu.Lock()
	r.got = append(r.got, evs...)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *recorder) wait(t *testing.T, n int) []store.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			out := append([]store.Event(nil), r.got...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(r.got), n)
		}
	}
}

// TestEventsReachEveryNode: the events of a commit on one node reach the publishers of
// every node, the writer's too, in commit order, with their records whole; a rolled-back
// transaction's events reach nobody.
func TestEventsReachEveryNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	ra, rb := newRecorder(), newRecorder()
	a.SetPublisher(ra)
	b.SetPublisher(rb)
	room := &store.Room{ID: "R1", Name: "general", Type: store.Public}
	for i := 1; i <= 3; i++ {
		err := a.write(func(t *Tx) error {
			t.Emit(store.Event{Kind: store.MessageAdded, Room: room, Message: &store.Message{ID: "m", RoomID: "R1", Seq: uint64(i), Text: "hi"},
				Member: &store.Member{RoomID: "R1", UserID: "U1"}, Token: store.TokenHash{1, 2}})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rollback := a.write(func(t *Tx) error {
		t.Emit(store.Event{Kind: store.RoomDeleted, Room: room})
		return store.ErrRoomNotFound
	})
	if rollback != store.ErrRoomNotFound {
		t.Fatalf("write: %v", rollback)
	}
	for name, r := range map[string]*recorder{"writer": ra, "other node": rb} {
		got := r.wait(t, 3)
		if len(got) != 3 {
			t.Fatalf("%s: %d events, want 3", name, len(got))
		}
		for i, ev := range got {
			if ev.Kind != store.MessageAdded || ev.Message.Seq != uint64(i+1) || ev.Member.UserID != "U1" || ev.Token[1] != 2 || ev.Room.Name != "general" {
				t.Fatalf("%s: event %d = %+v", name, i, ev)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // the safety poll would have brought the rolled-back one
	for name, r := range map[string]*recorder{"writer": ra, "other node": rb} {
		if n := len(r.wait(t, 3)); n != 3 {
			t.Fatalf("%s: %d events, want 3 (a rolled-back write published)", name, n)
		}
	}
}

// TestEventsCatchUpAfterReconnect: a node whose listening connection was cut reads what it
// missed from the table.
func TestEventsCatchUpAfterReconnect(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	rb := newRecorder()
	b.SetPublisher(rb)
	// Cut b's listening connection, then write while it reconnects.
	waitListening(t, a, 2)
	var cut int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "rocketlite events "+b.channel).Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut != 2 { // a's and b's
		t.Fatalf("cut %d listening connections, want 2", cut)
	}
	for i := 0; i < 5; i++ {
		if err := a.write(func(t *Tx) error { t.Emit(store.Event{Kind: store.UserDeleted, UserID: "U"}); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := rb.wait(t, 5); len(got) != 5 {
		t.Fatalf("%d events after reconnect, want 5", len(got))
	}
}

// waitListening waits until n connections listen on st's channel.
func waitListening(t *testing.T, st *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var have int
		if err := st.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`,
			"rocketlite events "+st.channel).Scan(&have); err != nil {
			t.Fatal(err)
		}
		if have == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listening connections, want %d", have, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventsHole: a row whose transaction is still open holds up the rows after it (order);
// once that transaction commits both go, in order; once it rolls back (a node killed
// mid-write) the rows after it go without waiting it out.
func TestEventsHole(t *testing.T) {
	for _, end := range []string{"commit", "rollback"} {
		t.Run(end, func(t *testing.T) {
			st := openTest(t, "", store.Options{})
			rec := newRecorder()
			st.SetPublisher(rec)
			ctx := context.Background()
			open, err := st.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer open.Rollback(ctx)
			seq, err := st.appendEvents(ctx, open, []store.Event{{Kind: store.UserDeleted, UserID: "first"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.write(func(t *Tx) error { t.Emit(store.Event{Kind: store.UserDeleted, UserID: "second"}); return nil }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * gapCheck)
			rec.mu.Lock()
			early := len(rec.got)
			rec.mu.Unlock()
			if early != 0 {
				t.Fatalf("%d events published past the hole of an open transaction", early)
			}
			ended := time.Now()
			if end == "commit" {
				if err := open.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				st.own.done(seq, true) // as write does after a commit
				got := rec.wait(t, 2)
				if got[0].UserID != "first" || got[1].UserID != "second" {
					t.Fatalf("order: %s, %s", got[0].UserID, got[1].UserID)
				}
			} else {
				if err := open.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
				st.own.done(seq, false)
				if got := rec.wait(t, 1); got[0].UserID != "second" {
					t.Fatalf("got %s", got[0].UserID)
				}
			}
			t.Logf("published %v after the %s", time.Since(ended), end)
		})
	}
}

// TestEventsTrimmed: events older than KeepEvents are deleted by the listeners; newer ones
// stay for nodes that fell behind.
func TestEventsTrimmed(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := openTest(t, dsn, store.Options{})
	ctx := context.Background()
	if _, err := a.pool.Exec(ctx, `INSERT INTO events (at, body) VALUES (now() - interval '2 hours', '[]'), (now(), '[]')`); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, dsn, Options{KeepEvents: time.Hour, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var old, recent int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE at < now() - interval '1 hour'), count(*) FILTER (WHERE at >= now() - interval '1 hour') FROM events`).Scan(&old, &recent); err != nil {
			t.Fatal(err)
		}
		if recent != 1 {
			t.Fatalf("%d recent events, want 1 kept", recent)
		}
		if old == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the event two hours old was never trimmed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
