package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// BenchmarkPGPostMessageRooms: 64 senders over 16 rooms (the send lanes commit side by side).
func BenchmarkPGPostMessageRooms(b *testing.B) {
	st, u, r := filledRoom(b, 0)
	rooms := []string{r.ID}
	for i := 1; i < 16; i++ {
		room := &store.Room{Name: fmt.Sprint("room", i), Type: store.Public}
		if err := st.CreateRoom(room, []string{u.ID}, ""); err != nil {
			b.Fatal(err)
		}
		rooms = append(rooms, room.ID)
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rid := rooms[next.Add(1)%int64(len(rooms))]
		for pb.Next() {
			if err := st.PostMessage(rid, u, &store.Message{Text: "hello"}); err != nil {
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

// TestSendBatch: sends that share a transaction are each checked, numbered, counted and
// answered as on their own: a refused one gets its error while the others commit, and a
// transaction that fails (an id taken twice) is run again send by send.
func TestSendBatch(t *testing.T) {
	st := openTest(t, "", store.Options{})
	alice := &store.User{Username: "alice", Hash: "x", Active: true, Roles: []string{"user"}}
	bob := &store.User{Username: "bob", Hash: "x", Active: true, Roles: []string{"user"}}
	if err := st.CreateUsers([]*store.User{alice, bob}, false); err != nil {
		t.Fatal(err)
	}
	pub := &store.Room{Name: "pub", Type: store.Public}
	priv := &store.Room{Name: "priv", Type: store.Private}
	if err := st.CreateRooms([]store.NewRoom{{Room: pub, Members: []string{alice.ID, bob.ID}}, {Room: priv, Members: []string{alice.ID}}}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	st.SetPublisher(rec)
	before, _ := st.Room(pub.ID)
	req := func(rid string, u *store.User, id, text string) *sendReq {
		r := &sendReq{rid: rid, author: u, m: &store.Message{Text: text}, id: id, now: st.Now()}
		if r.id == "" {
			r.id = store.NewID()
		}
		r.reset()
		var err error
		if r.data, err = store.CheckMessageCaps(r.m, st.maxMsgBytes, st.maxMsgDepth); err != nil {
			t.Fatal(err)
		}
		return r
	}
	reqs := []*sendReq{req(pub.ID, alice, "", "a1"), req(priv.ID, bob, "", "secret"), req(pub.ID, alice, "", "a2 @bob"),
		req("nope", alice, "", "lost"), req(pub.ID, bob, "", "b1")}
	st.postBatch(reqs)
	for i, want := range []store.Kind{0, store.Forbidden, 0, store.NotFound, 0} {
		if store.KindOf(reqs[i].err) != want || (want == 0 && reqs[i].err != nil) {
			t.Fatalf("send %d: %v, want kind %d", i, reqs[i].err, want)
		}
	}
	page, err := st.History(pub.ID, alice, store.HistoryQuery{Count: 10})
	if err != nil || len(page) != 3 || page[0].Text != "b1" || page[2].Text != "a1" || page[0].Seq != before.Seq+3 {
		t.Fatalf("history %v %v", page, err)
	}
	after, _ := st.Room(pub.ID)
	if after.Msgs != before.Msgs+3 || after.Seq != before.Seq+3 || after.Counted != before.Counted+3 {
		t.Fatalf("room counters %+v after %+v", after, before)
	}
	sub, err := st.SubscriptionOf(pub.ID, bob.ID)
	if err != nil || sub.Member.Mentions != 1 || sub.Unread != 0 {
		t.Fatalf("bob's subscription: %+v %v", sub, err)
	}
	// Alice's mark is written once for her two sends, at the second: b1 alone is unread.
	if sub, err := st.SubscriptionOf(pub.ID, alice.ID); err != nil || sub.Unread != 1 {
		t.Fatalf("alice's subscription: %+v %v", sub, err)
	}
	// The batch's events, up to a marker posted after it (the rooms' creation may come
	// through the events table after SetPublisher).
	if err := st.PostMessage(pub.ID, alice, &store.Message{Text: "marker"}); err != nil {
		t.Fatal(err)
	}
	var kinds []store.EventKind
	for n := 1; kinds == nil; n++ {
		evs := rec.wait(t, n)
		last := evs[len(evs)-1]
		if last.Message == nil || last.Message.Text != "marker" {
			continue
		}
		for _, ev := range evs[:len(evs)-1] {
			if ev.Kind == store.MessageAdded || ev.Kind == store.MemberChanged {
				kinds = append(kinds, ev.Kind)
			}
		}
	}
	if want := []store.EventKind{store.MessageAdded, store.MemberChanged, store.MessageAdded, store.MessageAdded}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}

	dup := []*sendReq{req(pub.ID, alice, "dup-id", "d1"), req(pub.ID, alice, "dup-id", "d2"), req(pub.ID, bob, "", "ok")}
	st.postBatch(dup)
	if dup[0].err != nil || dup[1].err != store.ErrMessageIDTaken || dup[2].err != nil {
		t.Fatalf("batch with an id twice: %v, %v, %v", dup[0].err, dup[1].err, dup[2].err)
	}
	if m, err := st.Message("dup-id", alice); err != nil || m.Text != "d1" {
		t.Fatalf("the id's message: %+v %v", m, err)
	}
	if r, _ := st.Room(pub.ID); r.Msgs != after.Msgs+3 || r.Seq != after.Seq+3 {
		t.Fatalf("room after the retried batch: msgs %d seq %d", r.Msgs, r.Seq)
	}
}

// TestCleanHistoryChunks: a clean larger than one chunk goes on chunk after chunk, each its own
// transaction, and removes exactly the range.
func TestCleanHistoryChunks(t *testing.T) {
	defer func(old int) { cleanChunk = old }(cleanChunk)
	cleanChunk = 4
	st, u, r := filledRoom(t, 30)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, err := st.CleanHistory(r.ID, start.Add(5*time.Second), time.Time{}, true); err != nil || n != 25 {
		t.Fatalf("clean from 5 s on: %d, %v", n, err)
	}
	room, _ := st.Room(r.ID)
	page, _ := st.History(r.ID, u, store.HistoryQuery{Count: 50})
	if room.Msgs != 5 || len(page) != 5 || page[0].Seq != 5 {
		t.Fatalf("after cleaning: msgs %d, %d left, newest seq %d", room.Msgs, len(page), page[0].Seq)
	}
	var tombs int
	if err := st.pool.QueryRow(context.Background(), `SELECT count(*) FROM message_tombstones WHERE room_id = $1`, r.ID).Scan(&tombs); err != nil || tombs != 25 {
		t.Fatalf("%d tombstones, %v", tombs, err)
	}
}

// TestSendBatchTakesMore: once a batch holds its room's lock, it takes the sends to that room
// that queued meanwhile, in their order, numbered after its own and committed with them;
// sends to other rooms stay queued.
func TestSendBatchTakesMore(t *testing.T) {
	st, u, r := filledRoom(t, 0)
	other := &store.Room{Name: "other", Type: store.Public}
	if err := st.CreateRoom(other, []string{u.ID}, ""); err != nil {
		t.Fatal(err)
	}
	req := func(rid, text string) *sendReq {
		q := &sendReq{rid: rid, author: u, m: &store.Message{Text: text}, id: store.NewID(), now: st.Now(), done: make(chan struct{})}
		q.reset()
		return q
	}
	first, later, elsewhere, last := req(r.ID, "first"), req(r.ID, "later"), req(other.ID, "elsewhere"), req(r.ID, "last")
	sd := &sender{pending: []*sendReq{later, elsewhere, last}}
	commits := st.Commits()
	all := postSafely(st, []*sendReq{first}, sd.takeFor)
	if len(all) != 3 || all[1] != later || all[2] != last {
		t.Fatalf("the batch posted %d sends", len(all))
	}
	for _, q := range all {
		if q.err != nil {
			t.Fatal(q.err)
		}
	}
	if len(sd.pending) != 1 || sd.pending[0] != elsewhere {
		t.Fatalf("left queued: %d", len(sd.pending))
	}
	if n := st.Commits() - commits; n != 1 {
		t.Fatalf("%d transactions, want 1", n)
	}
	page, err := st.History(r.ID, u, store.HistoryQuery{Count: 5})
	if err != nil || len(page) != 3 || page[2].Text != "first" || page[1].Text != "later" || page[0].Text != "last" ||
		page[1].Seq != page[2].Seq+1 || page[0].Seq != page[1].Seq+1 {
		t.Fatalf("history %v %v", page, err)
	}
}

// TestSendBatchPanic: a batch that panics (a bug) answers each of its sends with an error,
// commits none of them, and the sender goes on.
func TestSendBatchPanic(t *testing.T) {
	st, u, r := filledRoom(t, 0)
	ok := &sendReq{rid: r.ID, author: u, m: &store.Message{Text: "fine"}, id: store.NewID(), now: st.Now()}
	ok.reset()
	bad := &sendReq{rid: r.ID, m: &store.Message{Text: "no author"}, id: store.NewID(), now: st.Now()} // reset panics
	postSafely(st, []*sendReq{ok, bad}, nil)
	if ok.err == nil || bad.err == nil {
		t.Fatalf("errors %v, %v", ok.err, bad.err)
	}
	if page, _ := st.History(r.ID, u, store.HistoryQuery{Count: 5}); len(page) != 0 {
		t.Fatalf("a panicked batch committed %v", page)
	}
	if err := st.PostMessage(r.ID, u, &store.Message{Text: "after"}); err != nil {
		t.Fatal(err)
	}
}

// TestSendBatchUnavailable: when the database cannot be reached, a batch answers all its
// sends with the 503 at once rather than trying them one by one (each would wait out the
// timeout again).
func TestSendBatchUnavailable(t *testing.T) {
	st, u, r := filledRoom(t, 0)
	// Every connection held: a transaction cannot begin before its timeout.
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for int(st.pool.Stat().AcquiredConns()) < int(st.pool.Config().MaxConns) {
		c, err := st.pool.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	st.timeout = 200 * time.Millisecond
	var reqs []*sendReq
	for i := range 5 {
		req := &sendReq{rid: r.ID, author: u, m: &store.Message{Text: fmt.Sprint(i)}, id: store.NewID(), now: st.Now()}
		req.reset()
		reqs = append(reqs, req)
	}
	canceled := st.pool.Stat().CanceledAcquireCount()
	st.postBatch(reqs)
	for i, req := range reqs {
		if store.KindOf(req.err) != store.Unavailable {
			t.Fatalf("send %d: %v, want unavailable", i, req.err)
		}
	}
	if n := st.pool.Stat().CanceledAcquireCount() - canceled; n != 1 {
		t.Fatalf("%d transactions waited for a connection, want 1 (the batch's)", n)
	}
}
