package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
	"rocketlite/store/testopen"
)

// v1JSON sends a REST v1 request with a JSON body (nil: none) and decodes the answer.
func v1JSON(t *testing.T, method, u string, cr *apiCreds, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(must(json.Marshal(body)))
	}
	req := must(http.NewRequest(method, u, rd))
	req.Header.Set("Content-Type", "application/json")
	if cr != nil {
		req.Header.Set("X-User-Id", cr.UserID)
		req.Header.Set("X-Auth-Token", cr.Token)
	}
	res, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var obj map[string]any
	json.NewDecoder(res.Body).Decode(&obj)
	return res.StatusCode, obj
}

// historyTexts is the texts of a room's newest messages as node base serves them.
func historyTexts(t *testing.T, base string, cr *apiCreds, rid string) []string {
	t.Helper()
	st, obj := v1JSON(t, "GET", base+"/api/v1/channels.history?roomId="+url.QueryEscape(rid)+"&count=100", cr, nil)
	if st != 200 {
		t.Fatalf("channels.history on %s: %d %v", base, st, obj)
	}
	var out []string
	for _, m := range obj["messages"].([]any) {
		out = append(out, m.(map[string]any)["msg"].(string))
	}
	return out
}

// waitText waits until the DDP client saw text, or fails after within.
func (c *ddpClient) waitText(t *testing.T, text string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		c.mu.Lock()
		seen := slices.Contains(c.texts, text)
		c.mu.Unlock()
		if seen {
			return time.Since(began)
		}
		if time.Since(began) > within {
			t.Fatalf("the subscriber did not see %q within %v", text, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *ddpClient) saw(text string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.texts, text)
}

// TestMultiNode runs three rocketlite processes on one PostgreSQL database: a message posted
// on node A is read on node B and reaches a DDP subscriber on node C within a second; a kick
// on B stops delivery to the kicked member on C; killing A while clients send through it
// loses no acknowledged message.
func TestMultiNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := buildBinary(t)
	a := startProc(t, nil, bin, "--db", dsn)
	b := startProc(t, nil, bin, "--db", dsn)
	c := startProc(t, nil, bin, "--db", dsn)
	for _, p := range []*proc{a, b, c} {
		if st, _, err := call(newClient(), "GET", p.base+"/readyz", nil, nil); err != nil || st != 200 {
			t.Fatalf("readyz of %s: %d %v\n%s", p.base, st, err, p.log)
		}
	}
	// One database: a login on A is good on B and C.
	admin := loginAdmin(t, newClient(), a.base)
	sub := dialDDP(t, c.base, admin.Token, "GENERAL")

	// Posted on A, read on B, delivered on C within a second of the post.
	posted := time.Now()
	if st, obj, err := call(newClient(), "POST", a.base+"/api/rooms/GENERAL/send", admin, url.Values{"msg": {"hello from A"}}); err != nil || st != 200 {
		t.Fatalf("send on A: %d %v %v", st, obj, err)
	}
	sub.waitText(t, "hello from A", time.Until(posted.Add(time.Second)))
	t.Logf("posted on A, delivered over DDP on C within %v of the post", time.Since(posted))
	if got := historyTexts(t, b.base, admin, "GENERAL"); !slices.Contains(got, "hello from A") {
		t.Fatalf("node B's history lacks the message posted on A: %q", got)
	}

	// A kick on B stops delivery on C.
	if st, obj := v1JSON(t, "POST", a.base+"/api/v1/users.create", admin, map[string]any{
		"username": "bob", "email": "bob@example.org", "password": "bobpass-123", "name": "Bob"}); st != 200 {
		t.Fatalf("users.create: %d %v", st, obj)
	}
	st, obj := v1JSON(t, "POST", a.base+"/api/v1/groups.create", admin, map[string]any{"name": "ops", "members": []string{"bob"}})
	if st != 200 {
		t.Fatalf("groups.create: %d %v", st, obj)
	}
	gid := obj["group"].(map[string]any)["_id"].(string)
	bob := func() *apiCreds {
		st, obj := v1JSON(t, "POST", c.base+"/api/v1/login", nil, map[string]any{"user": "bob", "password": "bobpass-123"})
		if st != 200 {
			t.Fatalf("bob's login on C: %d %v", st, obj)
		}
		d := obj["data"].(map[string]any)
		return &apiCreds{UserID: d["userId"].(string), Token: d["authToken"].(string)}
	}()
	bobSub := dialDDP(t, c.base, bob.Token, gid)

	// The login throttle per account holds across nodes: ten wrong passwords for carol,
	// spread over A and B, lock her out on C too, right password or not.
	if st, obj := v1JSON(t, "POST", a.base+"/api/v1/users.create", admin, map[string]any{
		"username": "carol", "email": "carol@example.org", "password": "carolpass-123", "name": "Carol"}); st != 200 {
		t.Fatalf("users.create: %d %v", st, obj)
	}
	for i := 0; i < 10; i++ {
		node := []*proc{a, b}[i%2]
		if st, _ := v1JSON(t, "POST", node.base+"/api/v1/login", nil, map[string]any{"user": "carol", "password": "wrong"}); st != 401 {
			t.Fatalf("wrong password %d on %s: %d, want 401", i, node.base, st)
		}
	}
	if st, obj := v1JSON(t, "POST", c.base+"/api/v1/login", nil, map[string]any{"user": "carol", "password": "carolpass-123"}); st != 429 {
		t.Fatalf("carol's login on C after 10 failures on A and B: %d %v, want 429", st, obj)
	}
	post := func(node *proc, text string) {
		t.Helper()
		if st, obj := v1JSON(t, "POST", node.base+"/api/v1/chat.postMessage", admin, map[string]any{"roomId": gid, "text": text}); st != 200 {
			t.Fatalf("chat.postMessage on %s: %d %v", node.base, st, obj)
		}
	}
	post(a, "before the kick")
	bobSub.waitText(t, "before the kick", time.Second)
	if st, obj := v1JSON(t, "POST", b.base+"/api/v1/groups.kick", admin, map[string]any{"roomId": gid, "userId": bob.UserID}); st != 200 {
		t.Fatalf("groups.kick on B: %d %v", st, obj)
	}
	post(a, "after the kick")
	sub2 := dialDDP(t, c.base, admin.Token, gid) // a member's subscriber on C sees what bob must not
	post(b, "after the kick, from B")
	sub2.waitText(t, "after the kick, from B", time.Second)
	time.Sleep(200 * time.Millisecond)
	for _, text := range []string{"after the kick", "after the kick, from B"} {
		if bobSub.saw(text) {
			t.Fatalf("bob, kicked on B, still received %q on C", text)
		}
	}

	// Kill A while clients send through A and B: every acknowledged message is stored once.
	acks := &ackLog{acks: map[string]int{}}
	stop := make(chan struct{})
	startA, waitA := senders(a.base, admin, 4, "a", acks, stop)
	startB, waitB := senders(b.base, admin, 4, "b", acks, stop)
	startA()
	startB()
	time.Sleep(400 * time.Millisecond)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // B goes on alone
	close(stop)
	waitA()
	waitB()
	st2 := testopen.OpenPostgres(t, dsn, store.Options{ReadOnly: true})
	n := verifyAckedIn(t, st2, acks)
	t.Logf("%d messages acknowledged through A and B, %d in the room", len(acks.acks), n)
	throughA := 0
	for text := range acks.acks {
		if strings.HasPrefix(text, "a-") {
			throughA++
		}
	}
	if throughA == 0 {
		t.Fatal("nothing was acknowledged through A before it was killed: the test proved nothing")
	}
	// B and C still serve, and C's subscriber still hears B.
	if st, _, err := call(newClient(), "POST", b.base+"/api/rooms/GENERAL/send", admin, url.Values{"msg": {"after A died"}}); err != nil || st != 200 {
		t.Fatalf("send on B after A died: %d %v", st, err)
	}
	sub.waitText(t, "after A died", time.Second)
}

// TestCrashDurabilityPostgres is TestCrashDurability on PostgreSQL: SIGKILL at a random
// moment while 8 clients send, five times; every acknowledged message is there exactly once.
func TestCrashDurabilityPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := buildBinary(t)
	acks := &ackLog{acks: map[string]int{}}
	for round := 0; round < 5; round++ {
		p := startProc(t, nil, bin, "--db", dsn)
		cr := loginAdmin(t, newClient(), p.base)
		stop := make(chan struct{})
		start, wait := senders(p.base, cr, 8, fmt.Sprintf("r%d", round), acks, stop)
		start()
		time.Sleep(time.Duration(100+90*round) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second)
		close(stop)
		wait()
	}
	st := testopen.OpenPostgres(t, dsn, store.Options{ReadOnly: true})
	n := verifyAckedIn(t, st, acks)
	t.Logf("%d messages acknowledged over 5 kills, %d in the room", len(acks.acks), n)
	if len(acks.acks) == 0 {
		t.Fatal("no message was ever acknowledged: the test proved nothing")
	}
	// rocketlite check agrees.
	out, err := exec.Command(bin, "check", "--db", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
}

// TestBackupCheckPostgres: `check` reads a PostgreSQL database while a node serves it, and
// `backup` copies it with pg_dump into a file that pg_restore reads.
func TestBackupCheckPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := buildBinary(t)
	p := startProc(t, nil, bin, "--db", dsn)
	cr := loginAdmin(t, newClient(), p.base)
	if st, _, err := call(newClient(), "POST", p.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {"kept"}}); err != nil || st != 200 {
		t.Fatalf("send: %d %v", st, err)
	}
	out, err := exec.Command(bin, "check", "--db", dsn).CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("ok: ")) || bytes.Contains(out, []byte("password")) {
		t.Fatalf("check: %v\n%s", err, out)
	}
	dump := filepath.Join(t.TempDir(), "rl.dump")
	out, err = exec.Command(bin, "backup", "--db", dsn, dump).CombinedOutput()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	restore, err := exec.LookPath("pg_restore")
	if err != nil {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_restore")
		if len(m) == 0 {
			t.Fatal("pg_restore not found")
		}
		restore = m[len(m)-1]
	}
	list, err := exec.Command(restore, "--list", dump).CombinedOutput()
	if err != nil || !bytes.Contains(list, []byte("TABLE DATA")) || !bytes.Contains(list, []byte(" messages ")) {
		t.Fatalf("pg_restore --list: %v\n%s", err, list)
	}
	// Over the REST API a PostgreSQL server says to use pg_dump.
	st, obj, err := call(newClient(), "GET", p.base+"/api/backup", cr, nil)
	if err != nil || st != 400 || !strings.Contains(fmt.Sprint(obj), "pg_dump") {
		t.Fatalf("GET /api/backup on PostgreSQL: %d %v %v", st, obj, err)
	}
}

// TestMultiNodeOutgoingHook: an outgoing webhook made through node B (and one made by the
// `hook` command beside the nodes) is delivered by node A, which holds its hooks in memory:
// the change reaches A as an event.
func TestMultiNodeOutgoingHook(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin := buildBinary(t)
	got := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		got <- body.Text
	}))
	defer recv.Close()
	a := startProc(t, nil, bin, "--db", dsn, "--allow-private-webhooks")
	b := startProc(t, nil, bin, "--db", dsn, "--allow-private-webhooks")
	admin := loginAdmin(t, newClient(), b.base)
	if st, obj := v1JSON(t, "POST", b.base+"/api/v1/integrations.create", admin, map[string]any{
		"type": "webhook-outgoing", "name": "relay", "enabled": true, "username": "admin", "channel": "#general",
		"event": "sendMessage", "urls": []string{recv.URL + "/hook"}}); st != 200 {
		t.Fatalf("integrations.create on B: %d %v", st, obj)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		// The hook reaches A within the event's delay; until then A's post is not relayed.
		text := fmt.Sprintf("relay me %d", i)
		if st, _, err := call(newClient(), "POST", a.base+"/api/rooms/GENERAL/send", admin, url.Values{"msg": {text}}); err != nil || st != 200 {
			t.Fatalf("send on A: %d %v", st, err)
		}
		select {
		case m := <-got:
			if !strings.HasPrefix(m, "relay me") {
				t.Fatalf("the hook got %q", m)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node A never relayed a post to the hook made on node B\n%s", a.log)
		}
	}
}
