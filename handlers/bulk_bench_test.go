package handlers

// Measurements of bulk/register at the default bcrypt cost (10), through real HTTP:
//
//	go test ./handlers -run '^$' -bench 'BulkRegister' -benchtime 1x
//
// They print figures and assert nothing about time.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/auth"
	"rocketlite/store"
)

type benchServer struct {
	b      *testing.B
	url    string
	client *http.Client
	admin  creds
	st     store.Store
}

func newBenchServer(b *testing.B, cost int) *benchServer {
	b.Helper()
	st, h := seededStore(b, filepath.Join(b.TempDir(), "bench.db"), cost, nil)
	srv := httptest.NewServer(New(Config{Store: st, Hasher: h, Log: zerolog.New(io.Discard)}))
	b.Cleanup(srv.Close)
	bs := &benchServer{b: b, url: srv.URL, st: st,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	b.Cleanup(bs.client.CloseIdleConnections)
	bs.admin = bs.login("admin", "adminpass")
	return bs
}

// post sends a JSON or form body and returns the status (the body is read and dropped).
func (bs *benchServer) post(path string, c *creds, body string) (int, error) {
	req, err := http.NewRequest("POST", bs.url+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if !strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
	}
	res, err := bs.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

func (bs *benchServer) login(name, pw string) creds {
	bs.b.Helper()
	u, err := bs.st.UserByUsername(name)
	if err != nil {
		bs.b.Fatal(err)
	}
	req, _ := http.NewRequest("POST", bs.url+"/api/login", strings.NewReader("user="+name+"&password="+pw))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := bs.client.Do(req)
	if err != nil {
		bs.b.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct{ AuthToken, UserID string } `json:"data"`
	}
	if err := decodeJSON(res.Body, &out); err != nil || res.StatusCode != 200 || out.Data.UserID != u.ID {
		bs.b.Fatalf("login %s: %d %v", name, res.StatusCode, err)
	}
	return creds{UserID: out.Data.UserID, Token: out.Data.AuthToken}
}

func bulkBody(prefix string, n int) string {
	return usersBody(userRecords(prefix, n))
}

// BenchmarkBulkRegister1000 registers 1000 users per operation at bcrypt cost 10.
func BenchmarkBulkRegister1000(b *testing.B) {
	bs := newBenchServer(b, 10)
	b.ResetTimer()
	for i := range b.N {
		body := bulkBody(fmt.Sprintf("b%dx", i), 1000)
		if code, err := bs.post("/api/bulk/register", &bs.admin, body); err != nil || code != 200 {
			b.Fatalf("bulk/register: %d %v", code, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/1000, "ms/user")
}

// BenchmarkSendP99DuringBulkRegister measures the latency of sends to GENERAL from 8
// concurrent users, each pausing 10 ms between sends: first alone, then while a 1000-user
// bulk/register at cost 10 runs, in the same process and on the same database.
func BenchmarkSendP99DuringBulkRegister(b *testing.B) {
	bs := newBenchServer(b, 10)
	const senders = 8
	h, _ := auth.NewHasher(4) // the senders' own passwords: cheap to create, checked at cost 4
	var who []creds
	for i := range senders {
		hash, _ := h.Hash("pw")
		u := &store.User{Username: fmt.Sprintf("sender%d", i), Name: "s", Hash: hash, Roles: []string{"user"}, Active: true}
		if err := bs.st.CreateUser(u, true); err != nil {
			b.Fatal(err)
		}
		who = append(who, bs.login(u.Username, "pw"))
	}

	// sendUntil runs the senders until stop is closed (or each has sent limit messages) and
	// returns every send's latency.
	sendUntil := func(stop <-chan struct{}, limit int) []time.Duration {
		var mu sync.Mutex
		var all []time.Duration
		var wg sync.WaitGroup
		for _, c := range who {
			wg.Go(func() {
				var mine []time.Duration
				for n := 0; n < limit; n++ {
					select {
					case <-stop:
						n = limit
						continue
					default:
					}
					start := time.Now()
					code, err := bs.post("/api/rooms/GENERAL/send", &c, `{"msg":"hello"}`)
					mine = append(mine, time.Since(start))
					if err != nil || code != 200 {
						b.Errorf("send: %d %v", code, err)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		return all
	}

	b.ResetTimer()
	var alone, during []time.Duration
	var bulkTime time.Duration
	for i := range b.N {
		alone = append(alone, sendUntil(nil, 100)...)

		stop := make(chan struct{})
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			defer close(stop)
			code, err := bs.post("/api/bulk/register", &bs.admin, bulkBody(fmt.Sprintf("p%dx", i), 1000))
			bulkTime += time.Since(start)
			if err == nil && code != 200 {
				err = fmt.Errorf("status %d", code)
			}
			done <- err
		}()
		during = append(during, sendUntil(stop, 1<<30)...)
		if err := <-done; err != nil {
			b.Fatalf("bulk/register: %v", err)
		}
	}
	b.StopTimer()
	b.ReportMetric(pct(alone, 50), "p50-alone-ms")
	b.ReportMetric(pct(alone, 99), "p99-alone-ms")
	b.ReportMetric(pct(during, 50), "p50-during-ms")
	b.ReportMetric(pct(during, 99), "p99-during-ms")
	b.ReportMetric(float64(len(during))/float64(b.N), "sends-during")
	b.ReportMetric(bulkTime.Seconds()/float64(b.N), "bulk-s")
}

// pct is the p-th percentile of ds, in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(0, (len(s)*p+99)/100-1)
	return float64(s[i].Microseconds()) / 1000
}

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
