package store

import (
	"path/filepath"
	"sync"
	"testing"
)

// TestGroupCommitConcurrentSenders: many concurrent posts all land, in order of their
// sequence numbers, and share commits; then a lone writer still commits alone.
func TestGroupCommitConcurrentSenders(t *testing.T) {
	db := openBenchDB(t, t.TempDir(), 0)
	defer db.st.Close()
	c0, w0 := db.st.WriterStats()
	const senders, each = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- db.st.PostMessage(db.room, db.user, &Message{Text: "hi"})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := db.st.Room(db.room)
	if err != nil {
		t.Fatal(err)
	}
	if r.Msgs != senders*each || r.Seq != senders*each {
		t.Fatalf("room has msgs=%d seq=%d, want %d", r.Msgs, r.Seq, senders*each)
	}
	c1, w1 := db.st.WriterStats()
	if w1-w0 != senders*each {
		t.Fatalf("writer carried %d writes, want %d", w1-w0, senders*each)
	}
	if c1-c0 >= w1-w0 {
		t.Fatalf("%d commits for %d concurrent writes: nothing was shared", c1-c0, w1-w0)
	}
	// After a crowd, one lone write: one more commit carrying exactly it.
	if err := db.st.PostMessage(db.room, db.user, &Message{Text: "alone"}); err != nil {
		t.Fatal(err)
	}
	if c2, w2 := db.st.WriterStats(); c2 != c1+1 || w2 != w1+1 {
		t.Fatalf("lone write: commits %d→%d, writes %d→%d", c1, c2, w1, w2)
	}
	msgs, err := db.st.History(db.room, db.user, HistoryQuery{Count: 1})
	if err != nil || len(msgs) != 1 || msgs[0].Text != "alone" {
		t.Fatalf("newest message %v, %v", msgs, err)
	}
}

func TestAppendMessagesUnknownRoom(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AppendMessages("nope", []*Message{{Text: "x"}}); KindOf(err) != NotFound {
		t.Fatalf("got %v, want not found", err)
	}
	if c := mustCounts(t, st); c["messages"] != 0 {
		t.Fatalf("%d messages written", c["messages"])
	}
}
