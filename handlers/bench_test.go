package handlers

// HTTP-level benchmarks of the hot routes: the whole handler (routing, access log, token
// check, body parsing, store, JSON) without the network. Run with
//
//	go test ./handlers -run '^$' -bench . -benchmem
//
// and add -cpuprofile to see where a request's time goes.

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/store"
)

type benchEnv struct {
	api          *API
	roomID       string
	userID, tok  string
	sendBody     string
	historyQuery string
}

// newBenchEnv builds a seeded store with a public room of msgs messages and a logged-in admin.
func newBenchEnv(b *testing.B, msgs int) *benchEnv {
	b.Helper()
	st, h := seededStore(b, filepath.Join(b.TempDir(), "bench.db"), bcrypt.MinCost, nil)
	admin, err := st.UserByUsername("admin")
	if err != nil {
		b.Fatal(err)
	}
	room := &store.Room{Name: "bench", Type: store.Public}
	if err := st.CreateRoom(room, nil, admin.ID); err != nil {
		b.Fatal(err)
	}
	for done := 0; done < msgs; {
		n := min(50000, msgs-done)
		batch := make([]*store.Message, n)
		for i := range batch {
			batch[i] = &store.Message{Text: "message " + strconv.Itoa(done+i) + ": the quick brown fox jumps over the lazy dog", User: admin.Ref()}
		}
		if err := st.AppendMessages(room.ID, batch); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	tok := auth.NewToken()
	if err := st.AddToken(admin, auth.HashToken(tok), time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	// As the performance issue measures: no per-user send limit (--send-rate 0).
	api := New(Config{Store: st, Hasher: h, Log: zerolog.New(io.Discard), Version: "bench", Limits: Limits{SendRate: -1}})
	return &benchEnv{api: api, roomID: room.ID, userID: admin.ID, tok: tok}
}

func (e *benchEnv) serve(b *testing.B, method, path, body string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("X-User-Id", e.userID)
	req.Header.Set("X-Auth-Token", e.tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: HTTP %d: %s", method, path, w.Code, w.Body.String())
	}
}

// BenchmarkHTTPSend posts messages from many goroutines: they share group commits, and
// every answer still waits for its fsync.
func BenchmarkHTTPSend(b *testing.B) {
	e := newBenchEnv(b, 0)
	path := "/api/rooms/" + e.roomID + "/send"
	b.ReportAllocs()
	b.SetParallelism(32) // 32 × GOMAXPROCS senders, like the 64-connection load run
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.serve(b, http.MethodPost, path, `{"msg":"hello from the benchmark"}`)
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so that a benchmark's allocations
// are the server's own (httptest.ResponseRecorder allocates a buffer and a result per request).
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchmarkHTTPHistory(b *testing.B, msgs int) {
	e := newBenchEnv(b, msgs)
	path := "/api/rooms/" + e.roomID + "/messages?count=50"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.serve(b, http.MethodGet, path, "")
		}
	})
}

// BenchmarkHTTPHistory reads the newest 50 messages of a room of 1,000.
func BenchmarkHTTPHistory(b *testing.B) { benchmarkHTTPHistory(b, 1000) }

// BenchmarkReadAllocs counts the allocations of one read of the newest 50 messages, server
// side only (the request is built once): rendered each time (no page cache), from the page
// cache, and a 304 for a matching If-None-Match.
func BenchmarkReadAllocs(b *testing.B) {
	e := newBenchEnv(b, 1000)
	path := "/api/rooms/" + e.roomID + "/messages?count=50"
	for _, bc := range []struct {
		name     string
		cache    int64
		inm      bool
		wantCode int
	}{{"rendered", -1, false, 200}, {"cached", 0, false, 200}, {"not-modified", 0, true, 304}} {
		b.Run(bc.name, func(b *testing.B) {
			api := New(Config{Store: e.api.st, Hasher: e.api.cfg.Hasher, Log: zerolog.New(io.Discard), Limits: Limits{SendRate: -1}, PageCacheBytes: bc.cache})
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("X-User-Id", e.userID)
			req.Header.Set("X-Auth-Token", e.tok)
			w := &discardWriter{h: http.Header{}}
			api.ServeHTTP(w, req)
			if bc.inm {
				req.Header.Set("If-None-Match", w.h.Get("ETag"))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.code = 0
				clear(w.h)
				api.ServeHTTP(w, req)
				if w.code != bc.wantCode {
					b.Fatalf("HTTP %d", w.code)
				}
			}
		})
	}
}

// BenchmarkNetHistory goes through a real loopback HTTP server and keep-alive clients: the
// profile's net/http.(*conn).serve subtree is the server's whole cost of a request.
func BenchmarkNetHistory(b *testing.B) {
	e := newBenchEnv(b, 1000)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	url := srv.URL + "/api/rooms/" + e.roomID + "/messages?count=50"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-User-Id", e.userID)
			req.Header.Set("X-Auth-Token", e.tok)
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status)
			}
		}
	})
}

// BenchmarkLogin compares a whole login (lookup, bcrypt at the server's default cost 10, new
// token committed to disk) with the bcrypt comparison alone: the login must cost one bcrypt
// and little more.
func BenchmarkLogin(b *testing.B) {
	e := newBenchEnv(b, 0)
	h, err := auth.NewHasher(10)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := h.Hash("benchpass")
	if err != nil {
		b.Fatal(err)
	}
	u := &store.User{Username: "bencher", Name: "bencher", Hash: hash, Active: true}
	if err := e.api.st.CreateUser(u, false); err != nil {
		b.Fatal(err)
	}
	b.Run("bcrypt-compare", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if !h.Check(hash, "benchpass") {
				b.Fatal("no match")
			}
		}
	})
	b.Run("login", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest(http.MethodPost, "/api/login", strings.NewReader(`{"user":"bencher","password":"benchpass"}`))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			e.api.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
			}
		}
	})
}

// BenchmarkPageCache1000Rooms reads the newest page (both APIs' default forms) of 1,000 rooms
// of 50 messages each, round after round, and reports the page cache's size against its bound
// (the default, 8 MiB, and 32 MiB, which holds them all) and the heap in use afterwards.
func BenchmarkPageCache1000Rooms(b *testing.B) {
	e := newBenchEnv(b, 0)
	admin, err := e.api.st.User(e.userID)
	if err != nil {
		b.Fatal(err)
	}
	rooms := make([]string, 1000)
	for i := range rooms {
		r := &store.Room{Name: "active" + strconv.Itoa(i), Type: store.Public}
		if err := e.api.st.CreateRoom(r, nil, admin.ID); err != nil {
			b.Fatal(err)
		}
		batch := make([]*store.Message, 50)
		for j := range batch {
			batch[j] = &store.Message{Text: "message " + strconv.Itoa(j) + ": the quick brown fox jumps over the lazy dog", User: admin.Ref()}
		}
		if err := e.api.st.AppendMessages(r.ID, batch); err != nil {
			b.Fatal(err)
		}
		rooms[i] = r.ID
	}
	for _, bound := range []int64{DefaultPageCacheBytes, 32 << 20} {
		b.Run(strconv.Itoa(int(bound>>20))+"MiB", func(b *testing.B) {
			api := New(Config{Store: e.api.st, Hasher: e.api.cfg.Hasher, Log: zerolog.New(io.Discard), Limits: Limits{SendRate: -1}, PageCacheBytes: bound})
			env := *e
			env.api = api
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rid := rooms[i%len(rooms)]
				env.serve(b, http.MethodGet, "/api/rooms/"+rid+"/messages", "")
				env.serve(b, http.MethodGet, "/api/v1/channels.history?roomId="+rid, "")
			}
			b.StopTimer()
			s := api.PageCacheStats()
			if s.Bytes > s.Max {
				b.Fatalf("cache over its bound: %+v", s)
			}
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(api) // the cache is live while the heap is measured
			b.ReportMetric(float64(s.Bytes)/(1<<20), "cache-MiB")
			b.ReportMetric(float64(s.Entries), "pages")
			b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-growth-MiB")
			b.ReportMetric(float64(s.Hits)/float64(max(1, s.Hits+s.Misses)), "hit-ratio")
		})
	}
}
