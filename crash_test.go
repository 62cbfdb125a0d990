package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
)

// roomTexts counts every message text of a room, paging through its whole history.
func roomTexts(t *testing.T, st store.Store, rid, uid string) map[string]int {
	t.Helper()
	texts := map[string]int{}
	q := store.HistoryQuery{Count: 1000}
	reader, err := st.User(uid)
	if err != nil {
		t.Fatal(err)
	}
	for {
		page, err := st.History(rid, reader, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			texts[m.Text]++
		}
		if len(page) < q.Count {
			return texts
		}
		q.BeforeID = page[len(page)-1].ID
	}
}

// ackLog records which numbered messages got a 200.
type ackLog struct {
	mu   sync.Mutex
	acks map[string]int
}

func (a *ackLog) add(text string) {
	a.mu.Lock()
	a.acks[text]++
	a.mu.Unlock()
}

// senders runs n clients that send numbered messages until stop is closed or the server
// goes away; it returns once they all stopped.
func senders(base string, cr *apiCreds, n int, tag string, acks *ackLog, stop <-chan struct{}) (start func(), wait func()) {
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(n)
	gate := make(chan struct{})
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient()
			started.Done()
			<-gate
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				text := fmt.Sprintf("%s-c%d-n%d", tag, w, i)
				st, _, err := call(c, "POST", base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {text}})
				if err != nil {
					return // the server is gone
				}
				if st == 200 {
					acks.add(text)
				}
			}
		}()
	}
	return func() { started.Wait(); close(gate) }, wg.Wait
}

// verifyAcked opens the database and checks that every acknowledged message is there exactly
// once and that no message is there twice.
func verifyAcked(t *testing.T, db string, acks *ackLog) (present int) {
	t.Helper()
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return verifyAckedIn(t, st, acks)
}

// verifyAckedIn is verifyAcked on an open store.
func verifyAckedIn(t *testing.T, st store.Store, acks *ackLog) (present int) {
	t.Helper()
	admin, err := st.UserByUsername("admin")
	if err != nil {
		t.Fatal(err)
	}
	texts := roomTexts(t, st, "GENERAL", admin.ID)
	acks.mu.Lock()
	defer acks.mu.Unlock()
	for text, n := range acks.acks {
		if n != 1 {
			t.Errorf("%s acknowledged %d times", text, n)
		}
		if texts[text] != 1 {
			t.Errorf("acknowledged message %s is there %d times", text, texts[text])
		}
	}
	for text, n := range texts {
		if n > 1 {
			t.Errorf("message %s is there %d times", text, n)
		}
	}
	return len(texts)
}

// TestCrashDurability kills the server with SIGKILL while 8 clients send, at a random moment,
// five times: every message that got a 200 must be there exactly once, and the file sound.
func TestCrashDurability(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "crash.db")
	seedv := uint64(time.Now().UnixNano())
	if s := os.Getenv("ROCKETLITE_CRASH_SEED"); s != "" {
		fmt.Sscan(s, &seedv)
	}
	t.Logf("seed %d (set ROCKETLITE_CRASH_SEED to replay)", seedv)
	rng := rand.New(rand.NewPCG(seedv, 0))
	acks := &ackLog{acks: map[string]int{}}
	for round := 0; round < 5; round++ {
		p := startProc(t, nil, bin, "--db", db)
		cr := loginAdmin(t, newClient(), p.base)
		stop := make(chan struct{})
		start, wait := senders(p.base, cr, 8, fmt.Sprintf("r%d", round), acks, stop)
		start()
		killAfter := time.Duration(50+rng.IntN(450)) * time.Millisecond
		time.Sleep(killAfter)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second)
		close(stop)
		wait()
		runCheck(t, bin, db)
		n := verifyAcked(t, db, acks)
		acks.mu.Lock()
		t.Logf("round %d: killed after %v; %d messages acknowledged so far, %d in the room", round, killAfter, len(acks.acks), n)
		acks.mu.Unlock()
		if t.Failed() {
			t.Fatalf("round %d failed; seed %d", round, seedv)
		}
	}
	if len(acks.acks) == 0 {
		t.Fatal("no message was ever acknowledged: the test proved nothing")
	}
}

// TestGracefulShutdownUnderLoad sends SIGTERM while clients send: the server drains and exits
// 0 within the drain timeout, every 200 is on disk, and it restarts at once.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "term.db")
	p := startProc(t, nil, bin, "--db", db, "--drain-timeout", "3s")
	cr := loginAdmin(t, newClient(), p.base)
	acks := &ackLog{acks: map[string]int{}}
	stop := make(chan struct{})
	start, wait := senders(p.base, cr, 8, "term", acks, stop)
	start()
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log)
	}
	if took := time.Since(began); took > 3*time.Second+2*time.Second {
		t.Fatalf("took %v to exit with a 3s drain timeout", took)
	}
	close(stop)
	wait()
	if !strings.Contains(p.log.String(), `"message":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", p.log)
	}
	if len(acks.acks) == 0 {
		t.Fatal("nothing was acknowledged before SIGTERM")
	}
	verifyAcked(t, db, acks)
	runCheck(t, bin, db)
	// Neither the password nor the token reached the log or the file in clear.
	file := must(os.ReadFile(db))
	for _, secret := range []string{"adminpass", cr.Token} {
		if strings.Contains(p.log.String(), secret) || bytes.Contains(file, []byte(secret)) {
			t.Fatalf("%q is in the log or the database file", secret)
		}
	}
	// An immediate restart finds the file unlocked and serves.
	p2 := startProc(t, nil, bin, "--db", db)
	if st, _, err := call(newClient(), "GET", p2.base+"/readyz", nil, nil); err != nil || st != 200 {
		t.Fatalf("readyz after restart: %d %v", st, err)
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if err := p2.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

const bulkHelperEnv = "ROCKETLITE_BULK_HELPER_DB"

// TestBulkHelperProcess is not a test: TestBulkCrashAllOrNothing runs the test binary again
// with bulkHelperEnv set, and this writes batches of users until it is killed.
func TestBulkHelperProcess(t *testing.T) {
	db := os.Getenv(bulkHelperEnv)
	if db == "" {
		return
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	h, _ := auth.NewHasher(bcrypt.MinCost)
	if _, err := seed.ApplyDefault(st, h); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for b := 0; ; b++ {
		users := make([]*store.User, bulkBatch)
		for i := range users {
			name := fmt.Sprintf("b%04d-u%04d", b, i)
			users[i] = &store.User{Username: name, Name: name, Email: name + "@example.org", Active: true}
		}
		if err := st.CreateUsers(users, true); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("committed %d\n", b)
	}
}

const bulkBatch = 500

// TestBulkCrashAllOrNothing kills a process in the middle of writing batches of 500 users
// (store.CreateUsers: what bulk registration uses): every batch is there whole or not at all.
func TestBulkCrashAllOrNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "bulk.db")
	seedv := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seedv)
	rng := rand.New(rand.NewPCG(seedv, 1))
	cmd := exec.Command(os.Args[0], "-test.run=^TestBulkHelperProcess$")
	cmd.Env = append(os.Environ(), bulkHelperEnv+"="+db)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := atomic.Int64{}
	committed.Store(-1)
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var b int64
			if _, err := fmt.Sscanf(sc.Text(), "committed %d", &b); err == nil {
				committed.Store(b)
			}
		}
	}()
	// Let at least one batch commit, then kill at a random moment.
	for deadline := time.Now().Add(20 * time.Second); committed.Load() < 0; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the helper never committed a batch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	<-lines
	cmd.Wait()
	acked := committed.Load()

	var ackedBatches []int
	for b := 0; b <= int(acked); b++ {
		ackedBatches = append(ackedBatches, b)
	}
	perBatch := verifyBatches(t, db, "b", bulkBatch, ackedBatches)
	t.Logf("killed after %d acknowledged batches; %d batches on disk", acked+1, len(perBatch))
}

// TestBulkRouteCrashAllOrNothing drives POST /api/bulk/register on the built binary, one call
// of bulkRouteBatch users after another, and SIGKILLs the server at a random moment, three
// times: every batch is in the file whole or not at all, and every batch that got a 200 is
// there.
func TestBulkRouteCrashAllOrNothing(t *testing.T) {
	const bulkRouteBatch = 100
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "bulkroute.db")
	seedv := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seedv)
	rng := rand.New(rand.NewPCG(seedv, 2))
	acked := map[int]bool{}
	var mu sync.Mutex
	batch := 0
	for round := 0; round < 3; round++ {
		p := startProc(t, nil, bin, "--db", db)
		cr := loginAdmin(t, newClient(), p.base)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				b := batch
				batch++
				mu.Unlock()
				users := make([]map[string]string, bulkRouteBatch)
				for i := range users {
					name := fmt.Sprintf("k%04d-u%04d", b, i)
					users[i] = map[string]string{"name": name, "email": name + "@example.org", "pass": "pw"}
				}
				body, _ := json.Marshal(map[string]any{"users": users})
				req, _ := http.NewRequest("POST", p.base+"/api/bulk/register", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-User-Id", cr.UserID)
				req.Header.Set("X-Auth-Token", cr.Token)
				res, err := c.Do(req)
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					mu.Lock()
					acked[b] = true
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(400+rng.IntN(1000)) * time.Millisecond) // long enough for calls to be acknowledged
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
		close(stop)
		<-done
		runCheck(t, bin, db)
	}

	perBatch := verifyBatches(t, db, "k", bulkRouteBatch, slices.Collect(maps.Keys(acked)))
	if len(acked) == 0 {
		t.Fatal("no bulk call was ever acknowledged: the test proved nothing")
	}
	t.Logf("%d calls made, %d acknowledged, %d batches stored", batch, len(acked), len(perBatch))
}

// verifyBatches reads the users named <prefix>NNNN-uNNNN from the file db and fails the test
// unless every batch NNNN is there whole (size users) or not at all, and every acknowledged
// batch is there; it also runs the store's invariant check. It returns the users found per
// batch.
func verifyBatches(t *testing.T, db, prefix string, size int, acked []int) map[int]int {
	t.Helper()
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users, _, err := st.Users(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	perBatch := map[int]int{}
	for _, u := range users {
		var b, i int
		if _, err := fmt.Sscanf(u.Username, prefix+"%04d-u%04d", &b, &i); err == nil {
			perBatch[b]++
		}
	}
	for b, n := range perBatch {
		if n != size {
			t.Errorf("batch %d has %d of %d users", b, n, size)
		}
	}
	for _, b := range acked {
		if perBatch[b] != size {
			t.Errorf("acknowledged batch %d is missing", b)
		}
	}
	if errs := st.Check(); errs != nil {
		t.Fatal(errs)
	}
	return perBatch
}
