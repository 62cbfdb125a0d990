package store

// Benchmarks of the store's hot paths. The 1,000,000-message room is built once per `go
// test` process, and only when a benchmark that needs it runs: plain `go test` never pays.
//
//	go test ./store -run '^$' -bench . -benchmem

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

type benchDB struct {
	st    *Bolt
	room  string
	user  *User
	token TokenHash
}

// openBenchDB opens a fresh store in dir with one user, one public room of msgs messages
// and one token.
func openBenchDB(tb testing.TB, dir string, msgs int) *benchDB {
	tb.Helper()
	st, err := Open(filepath.Join(dir, "bench.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	u := &User{Username: "alice", Name: "Alice", Hash: "x", Active: true, Roles: []string{"user"}}
	if err := st.CreateUser(u, false); err != nil {
		tb.Fatal(err)
	}
	for _, r := range []string{"user", "owner", "admin"} {
		if _, err := st.EnsureRole(&Role{Name: r}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := st.EnsurePermission(&Permission{ID: "delete-message", Roles: []string{"admin", "owner"}}); err != nil {
		tb.Fatal(err)
	}
	r := &Room{Name: "bench", Type: Public}
	if err := st.CreateRoom(r, nil, u.ID); err != nil {
		tb.Fatal(err)
	}
	for done := 0; done < msgs; {
		n := min(50000, msgs-done)
		batch := make([]*Message, n)
		for i := range batch {
			batch[i] = &Message{Text: "message " + strconv.Itoa(done+i) + ": the quick brown fox jumps over the lazy dog", User: u.Ref()}
		}
		if err := st.AppendMessages(r.ID, batch); err != nil {
			tb.Fatal(err)
		}
		done += n
	}
	tok := TokenHash(sha256.Sum256([]byte("token")))
	if err := st.AddToken(u, tok, time.Now().Add(time.Hour)); err != nil {
		tb.Fatal(err)
	}
	return &benchDB{st: st, room: r.ID, user: u, token: tok}
}

func newBenchDB(b *testing.B, msgs int) *benchDB {
	db := openBenchDB(b, b.TempDir(), msgs)
	b.Cleanup(func() { db.st.Close() })
	return db
}

// The big room: built once per process in its own temp dir, removed by TestMain.
var (
	bigOnce sync.Once
	bigDB   *benchDB
	bigDir  string
)

func bigRoom(b *testing.B) *benchDB {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rocketlite-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigDir = dir
		start := time.Now()
		bigDB = openBenchDB(b, dir, 1_000_000)
		b.Logf("built the 1,000,000-message room in %s", time.Since(start).Round(time.Millisecond))
	})
	if bigDB == nil {
		b.Fatal("big room setup failed")
	}
	return bigDB
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDB != nil {
		bigDB.st.Close()
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func reportBatching(b *testing.B, st *Bolt, c0, w0 int64) {
	c, w := st.WriterStats()
	if c > c0 {
		b.ReportMetric(float64(w-w0)/float64(c-c0), "writes/commit")
	}
}

// BenchmarkPostMessage: one sender, each post waits for its own fsync'd commit.
func BenchmarkPostMessage(b *testing.B) {
	db := newBenchDB(b, 0)
	c0, w0 := db.st.WriterStats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.st.PostMessage(db.room, db.user, &Message{Text: "hello"}); err != nil {
			b.Fatal(err)
		}
	}
	reportBatching(b, db.st, c0, w0)
}

// BenchmarkPostMessageParallel: 64 senders share commits (group commit).
func BenchmarkPostMessageParallel(b *testing.B) {
	db := newBenchDB(b, 0)
	c0, w0 := db.st.WriterStats()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.st.PostMessage(db.room, db.user, &Message{Text: "hello"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	reportBatching(b, db.st, c0, w0)
}

func benchmarkHistory(b *testing.B, db *benchDB) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := db.st.History(db.room, db.user, HistoryQuery{Count: 50})
		if err != nil || len(msgs) != 50 {
			b.Fatal(len(msgs), err)
		}
	}
}

// BenchmarkHistory1k and BenchmarkHistory1M read the newest 50 messages: the cost must
// not depend on the size of the room.
func BenchmarkHistory1k(b *testing.B) { benchmarkHistory(b, newBenchDB(b, 1000)) }
func BenchmarkHistory1M(b *testing.B) { benchmarkHistory(b, bigRoom(b)) }

// BenchmarkHistory1MDeep reads 50 messages before one in the middle of the big room.
func BenchmarkHistory1MDeep(b *testing.B) {
	db := bigRoom(b)
	var mid *Message
	err := db.st.view(func(tx *bolt.Tx) (err error) { mid, err = messageAt(tx, msgKey(db.room, 500000)); return err })
	if err != nil {
		b.Fatal(err)
	}
	q := HistoryQuery{Count: 50, BeforeID: mid.ID}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if msgs, err := db.st.History(db.room, db.user, q); err != nil || len(msgs) != 50 {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is the token check of every authenticated request.
func BenchmarkAuthenticate(b *testing.B) {
	db := newBenchDB(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.st.Authenticate(db.user.ID, db.token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHasPermission: a permission held through a room role (the longest path).
func BenchmarkHasPermission(b *testing.B) {
	db := newBenchDB(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ok, err := db.st.HasPermission(db.user, "delete-message", db.room); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkPostMessageWithFailingWrites: half the goroutines post, the other half make
// writes that fail: joins of a room that does not exist (a refusal a read can know), or
// writes that fail inside the batch. The posts' writes per commit must stay those of a crowd.
func BenchmarkPostMessageWithFailingWrites(b *testing.B) {
	for _, kind := range []string{"JoinMissingRoom", "FailInBatch"} {
		b.Run(kind, func(b *testing.B) {
			db := newBenchDB(b, 0)
			c0, w0 := db.st.WriterStats()
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				fail := n.Add(1)%2 == 0
				for pb.Next() {
					if !fail {
						if err := db.st.PostMessage(db.room, db.user, &Message{Text: "hello"}); err != nil {
							b.Fatal(err)
						}
						continue
					}
					var err error
					if kind == "JoinMissingRoom" {
						_, err = db.st.Join("no-such-room", db.user.ID)
					} else {
						err = db.st.batch(func(tx *bolt.Tx) error {
							if err := tx.Bucket(bMeta).Put([]byte("junk"), []byte("x")); err != nil {
								return err
							}
							return Errorf(Invalid, "refused", "refused")
						})
					}
					if err == nil {
						b.Fatal("a failing write succeeded")
					}
				}
			})
			reportBatching(b, db.st, c0, w0)
		})
	}
}
