package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// filledRoom opens a store with a public room of n messages (appended in bulk, statistics
// taken), and its reader.
func filledRoom(tb testing.TB, n int) (*Store, *store.User, *store.Room) {
	tb.Helper()
	st := openTest(tb, "", store.Options{})
	u := &store.User{Username: "reader", Name: "Reader", Hash: "x", Active: true, Roles: []string{"user"}}
	if err := st.CreateUser(u, false); err != nil {
		tb.Fatal(err)
	}
	r := &store.Room{Name: "big", Type: store.Public}
	if err := st.CreateRoom(r, []string{u.ID}, ""); err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		batch := make([]*store.Message, 0, 5000)
		for ; done < n && len(batch) < cap(batch); done++ {
			batch = append(batch, &store.Message{Text: fmt.Sprintf("message number %d with some words lorem ipsum", done),
				User: u.Ref(), TS: start.Add(time.Duration(done) * time.Second)})
		}
		if err := st.AppendMessages(r.ID, batch); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := st.pool.Exec(context.Background(), `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
	return st, u, r
}

// plan is PostgreSQL's plan of sql with args, as chosen for these values.
func plan(t *testing.T, st *Store, sql string, args ...any) string {
	t.Helper()
	rows, err := st.pool.Query(context.Background(), "EXPLAIN "+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestMessagePlans: on a filled room the pages walk the indexes the issue asks for (newest-N
// and before cursors the primary key backwards, time bounds the time index, search the
// trigram index or the newest MaxScan by key), never the whole table.
func TestMessagePlans(t *testing.T) {
	st, u, r := filledRoom(t, 30000)
	var mid string
	if err := st.pool.QueryRow(context.Background(), `SELECT id FROM messages WHERE room_id = $1 AND seq = 15000`, r.ID).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		q     store.HistoryQuery
		timed bool
		want  string
	}{
		{"newest 50", store.HistoryQuery{Count: 50}, false, "Index Scan Backward using messages_pkey"},
		{"before an id", store.HistoryQuery{Count: 50, BeforeID: mid}, false, "Index Scan Backward using messages_pkey"},
		{"unread", store.HistoryQuery{Count: 50, Unread: true}, false, "Index Scan Backward using messages_pkey"},
		{"before a date", store.HistoryQuery{Count: 50, Before: at}, true, "using messages_ts"},
	} {
		sql, args := historySQL(r.ID, u.ID, tc.q, tc.timed, time.Unix(0, 0).UTC(), at, mid)
		p := plan(t, st, sql, args...)
		if !strings.Contains(p, tc.want) || strings.Contains(p, "Seq Scan on messages") {
			t.Errorf("%s: plan does not use %q:\n%s", tc.name, tc.want, p)
		}
	}
	rare := plan(t, st, searchSQL, r.ID, int64(30000-store.SearchScanLimit), "%number 29999 %", 20)
	if !strings.Contains(rare, "messages_search") {
		t.Errorf("a rare needle is not looked up in the trigram index:\n%s", rare)
	}
	// A needle without trigrams reads the newest MaxScan by key (here 1,000 of 30,000).
	short := plan(t, st, searchSQL, r.ID, int64(30000-1000), "%é%", 20)
	if !strings.Contains(short, "using messages_pkey") || strings.Contains(short, "Seq Scan on messages") {
		t.Errorf("a needle without trigrams does not walk the newest messages by key:\n%s", short)
	}
	// The answers match the plans' promise.
	found, err := st.Search(r.ID, u, "NUMBER 29999 ", 5)
	if err != nil || len(found) != 1 || found[0].Seq != 30000 {
		t.Fatalf("search: %v %v", found, err)
	}
	page, err := st.History(r.ID, u, store.HistoryQuery{Count: 50, BeforeID: mid})
	if err != nil || len(page) != 50 || page[0].Seq != 14999 || page[49].Seq != 14950 {
		t.Fatalf("before page: %d messages, %v", len(page), err)
	}
}

// TestSystemMessagesColumns: system messages written by the rooms code (joins) go through
// the same insert as posts, with their type, so search never finds them.
func TestSystemMessagesColumns(t *testing.T) {
	st := openTest(t, "", store.Options{})
	u := &store.User{Username: "joiner", Hash: "x", Active: true, Roles: []string{"user"}}
	if err := st.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	r := &store.Room{Name: "lobby", Type: store.Public}
	if err := st.CreateRoom(r, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Join(r.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	var typ, text string
	if err := st.pool.QueryRow(context.Background(), `SELECT type, text FROM messages WHERE room_id = $1`, r.ID).Scan(&typ, &text); err != nil {
		t.Fatal(err)
	}
	if typ != "uj" || text != "" {
		t.Fatalf("join message stored with type %q text %q", typ, text)
	}
}

// BenchmarkPGPostMessageParallel: 64 senders into one room (every send takes the room's row
// lock: they serialize on it, each commit waiting for its own WAL flush).
func BenchmarkPGPostMessageParallel(b *testing.B) {
	st, u, r := filledRoom(b, 0)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.PostMessage(r.ID, u, &store.Message{Text: "hello"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPGHistory: newest 50 of a room of 100,000 messages, 64 readers.
func BenchmarkPGHistory(b *testing.B) {
	st, u, r := filledRoom(b, 100000)
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if msgs, err := st.History(r.ID, u, store.HistoryQuery{Count: 50}); err != nil || len(msgs) != 50 {
				b.Fatal(len(msgs), err)
			}
		}
	})
}
