package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
	"rocketlite/store/testopen"
)

// privateCluster starts a PostgreSQL cluster of the test's own (so that stopping it disturbs
// no other test) and returns its address and a function that stops (false) or starts (true)
// it again.
func privateCluster(t *testing.T) (dsn string, power func(on bool)) {
	t.Helper()
	pgtest.Need(t) // PostgreSQL tests run here (CI): its binaries are installed
	dir, err := os.MkdirTemp("", "rocketlite-pgrestart-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the server runs as "postgres" when the test runs as root
	port := fmt.Sprint(26000 + rand.IntN(2000))
	run := func(args ...string) string {
		out, err := exec.Command("bash", append([]string{".ci/pg.sh", dir, port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf(".ci/pg.sh %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	dsn = lastLine(run())
	t.Cleanup(func() {
		exec.Command("bash", ".ci/pg.sh", dir, port, "stop").Run()
		os.RemoveAll(dir)
	})
	return dsn, func(on bool) {
		if on {
			run()
		} else {
			run("stop")
		}
	}
}

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

// TestPostgresRestart stops PostgreSQL under load and starts it again: meanwhile the node
// answers 503 (never a 500, never a wrong answer), /readyz turns 503; afterwards it serves
// again without a restart, and every acknowledged message is stored exactly once.
func TestPostgresRestart(t *testing.T) {
	dsn, power := privateCluster(t)
	bin := buildBinary(t)
	p := startProc(t, nil, bin, "--db", dsn)
	cr := loginAdmin(t, newClient(), p.base)

	var mu sync.Mutex
	statuses := map[int]int{}
	acks := &ackLog{acks: map[string]int{}}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			for i := 0; !stop.Load(); i++ {
				text := fmt.Sprintf("w%d-%d", w, i)
				st, _, err := call(c, "POST", p.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {text}})
				if err != nil {
					t.Errorf("send: %v", err) // the node itself must stay up
					return
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
				if st == 200 {
					acks.add(text)
				}
				if st != 200 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	power(false)
	down := time.Now()
	// While it is down, /readyz says so.
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _, err := call(newClient(), "GET", p.base+"/readyz", nil, nil)
		if err == nil && st == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d %v with the database down", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	power(true)
	t.Logf("database down for %v", time.Since(down))
	// Back without a restart of the node: a send succeeds and /readyz is 200 again.
	deadline = time.Now().Add(30 * time.Second)
	for {
		st, _, err := call(newClient(), "POST", p.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {"back"}})
		if err == nil && st == 200 {
			acks.add("back")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no send succeeded within 30 s of the database's return: %d %v\n%s", st, err, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _, err := call(newClient(), "GET", p.base+"/readyz", nil, nil); err != nil || st != 200 {
		t.Fatalf("/readyz after the database came back: %d %v", st, err)
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	t.Logf("answers during the run: %v", statuses)
	for st, n := range statuses {
		if st != 200 && st != 503 {
			t.Errorf("%d answers %d: only 200 and 503 may come while the database restarts", n, st)
		}
	}
	if statuses[503] == 0 || statuses[200] == 0 {
		t.Errorf("want both 200s and 503s, got %v", statuses)
	}
	mu.Unlock()
	st := testopen.OpenPostgres(t, dsn, store.Options{ReadOnly: true})
	verifyAckedIn(t, st, acks)
}
