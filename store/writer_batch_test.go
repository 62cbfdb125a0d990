package store

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A batch in which one write fails still commits the others together, in one transaction.
func TestBatchFailureKeepsSharedCommit(t *testing.T) {
	f := newFixture(t)
	put := func(k string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte(k), []byte("1")) }
	}
	fail := func(tx *bolt.Tx) error {
		if err := tx.Bucket(bMeta).Put([]byte("bad"), []byte("1")); err != nil {
			return err
		}
		return Errorf(Invalid, "bad", "refused")
	}
	fns := []func(tx *bolt.Tx) error{put("a"), put("b"), fail, put("c"), fail, put("d")}
	reqs := make([]*writeReq, len(fns))
	for i, fn := range fns {
		reqs[i] = &writeReq{fn: fn, done: make(chan error, 1)}
	}
	c0, w0 := f.s.WriterStats()
	tx0 := f.txID()
	f.s.runBatch(reqs)
	for i, r := range reqs {
		err := <-r.done
		if (i == 2 || i == 4) != (err != nil) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	c1, w1 := f.s.WriterStats()
	if c1-c0 != 1 || w1-w0 != 4 {
		t.Fatalf("WriterStats: %d commits carrying %d writes, want 1 carrying 4", c1-c0, w1-w0)
	}
	if got := f.txID() - tx0; got != 1 {
		t.Fatalf("%d transactions committed, want 1", got)
	}
	for k, want := range map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "bad": ""} {
		if v, _ := f.s.Meta(k); v != want {
			t.Fatalf("meta %s = %q, want %q", k, v, want)
		}
	}
}

func (f *fixture) txID() int {
	f.t.Helper()
	var id int
	f.s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// A refusal that a read can know (joining a room that does not exist, posting where one may
// not) is answered without the writer: it answers even while the write lock is held.
func TestKnowableRefusalSkipsWriter(t *testing.T) {
	f := newFixture(t)
	u := f.user("alice")
	bob := f.user("bob")
	f.room("P", "private", Private, u.ID)
	// Hold bbolt's one write lock: anything that reaches the writer waits.
	tx, err := f.s.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() {
		_, err := f.s.Join("nope", u.ID)
		done <- err
		done <- f.s.PostMessage("P", bob, &Message{Text: "hi"})
		_, err = f.s.Leave("P", bob.ID) // not a member: nothing to write
		done <- err
	}()
	for i, want := range []Kind{NotFound, Forbidden, 0} {
		select {
		case err := <-done:
			if KindOf(err) != want || (want == 0 && err != nil) {
				t.Fatalf("answer %d: %v, want kind %d", i, err, want)
			}
		case <-time.After(10 * time.Second):
			tx.Rollback()
			t.Fatalf("answer %d waited for the writer", i)
		}
	}
	tx.Rollback()
	if n := f.s.DryAnswered(); n != 3 {
		t.Fatalf("DryAnswered = %d, want 3", n)
	}
	f.post("P", u, "the writer still works")
}
