package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"rocketlite/store"
)

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestTLSSelfSigned talks to --tls-self-signed with a real TLS client that trusts only the
// generated certificate.
func TestTLSSelfSigned(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tls.db")
	srv := startInProc(t, "--db", db, "--tls-self-signed")
	certFile, keyFile, caFile := selfSignedPaths(db)
	for _, f := range []string{db, certFile, keyFile} {
		if m := fileMode(t, f); m != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", f, m)
		}
	}
	if m := fileMode(t, caFile); m != 0o644 {
		t.Fatalf("%s has mode %v, want 0644 (it is public)", caFile, m)
	}
	pemBytes := must(os.ReadFile(certFile))
	// The client trusts the CA file only, as the README tells users to.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(must(os.ReadFile(caFile))) {
		t.Fatal("the CA certificate does not parse")
	}
	base := strings.Replace(srv.base, "http://", "https://", 1)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Get(base + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("status %d, TLS %+v", res.StatusCode, res.TLS)
	}
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Fatalf("no HSTS header: %v", res.Header)
	}
	// Login works over TLS (and only the HTTPS port is served).
	loginAdmin(t, client, base)
	// Go answers plain HTTP on a TLS port with a bare 400; what matters is no API answer.
	if r, err := http.Get(srv.base + "/api/version"); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Fatal("plain HTTP served the API on the TLS port")
		}
	}
	// TLS 1.1 and older are refused.
	old := &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.base, "http://"), old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	// A client that does not trust the certificate is refused by its own TLS stack.
	if _, err := http.Get(base + "/api/version"); err == nil {
		t.Fatal("an untrusting client connected")
	}
	if strings.Contains(srv.log.String(), "serving plain HTTP") {
		t.Fatal("the plain-HTTP warning was logged for HTTPS")
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	// A restart reuses the certificate.
	srv2 := startInProc(t, "--db", db, "--tls-self-signed")
	if !bytes.Equal(pemBytes, must(os.ReadFile(certFile))) {
		t.Fatal("the certificate was replaced on restart")
	}
	if strings.Contains(srv2.log.String(), "created a self-signed") {
		t.Fatal("a second certificate was created")
	}
	base2 := strings.Replace(srv2.base, "http://", "https://", 1)
	res, err = client.Get(base2 + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	srv2.stop(t)

	// The same files as --tls-cert/--tls-key.
	srv3 := startInProc(t, "--db", db, "--tls-cert", certFile, "--tls-key", keyFile)
	res, err = client.Get(strings.Replace(srv3.base, "http://", "https://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

func TestPlainHTTPWarns(t *testing.T) {
	srv := startInProc(t, "--db", filepath.Join(t.TempDir(), "p.db"))
	if !strings.Contains(srv.log.String(), "serving plain HTTP") {
		t.Fatalf("no warning:\n%s", srv.log)
	}
	res, err := http.Get(srv.base + "/api/version")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Fatal("HSTS over plain HTTP")
	}
}

func TestServeFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--tls-cert", "c.pem"},
		{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-self-signed"},
		{"--send-rate", "-1"},
		{"--send-burst", "0"},
		{"--max-body", "12"},
		{"--max-body", "lots"},
		{"--max-db-size", "10K"},
		{"--trusted-proxies", "10.0.0.0/99"},
		{"--cors-origins", "example.org"},
		{"--drain-timeout", "0s"},
	} {
		_, err := parseServe(args, func(string) string { return "" }, io.Discard)
		var u usageError
		if err == nil || (!errors.As(err, &u) && !strings.Contains(err.Error(), "invalid value")) {
			t.Errorf("%v: %v", args, err)
		}
	}
	env := map[string]string{"ROCKETLITE_SEND_RATE": "7", "ROCKETLITE_MAX_DB_SIZE": "64M", "ROCKETLITE_TLS_SELF_SIGNED": "true",
		"ROCKETLITE_CORS_ORIGINS": "https://a.example, http://b.example:8080", "ROCKETLITE_TRUSTED_PROXIES": "10.0.0.0/8"}
	c, err := parseServe(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.sendRate != 7 || c.maxDBSize != 64<<20 || !c.tlsSelfSigned || len(c.corsOrigins) != 2 || len(c.trustedProxies) != 1 || c.maxBody != 1<<20 {
		t.Fatalf("%+v", c)
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "512K": 512 << 10, "64MiB": 64 << 20, "2g": 2 << 30, "3MB": 3 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
}

// TestSlowClientsAreCutOff: a client that trickles its headers (slowloris) or its body is
// disconnected by the server's timeouts.
func TestSlowClientsAreCutOff(t *testing.T) {
	srv := startInProc(t, "--db", filepath.Join(t.TempDir(), "slow.db"), "--read-header-timeout", "300ms", "--read-timeout", "800ms")
	addr := strings.TrimPrefix(srv.base, "http://")
	trickle := func(t *testing.T, head string, drip string) time.Duration {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed := make(chan struct{})
		go func() {
			io.Copy(io.Discard, conn) // returns when the server closes the connection
			close(closed)
		}()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ { // 10 s of dripping, far beyond the timeouts
			select {
			case <-closed:
				return time.Since(start)
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, drip); err != nil {
				<-closed
				return time.Since(start)
			}
		}
		t.Fatal("the server kept a trickling client for 10 s")
		return 0
	}
	t.Run("SlowHeaders", func(t *testing.T) {
		took := trickle(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n")
		t.Logf("cut off after %v", took)
	})
	t.Run("SlowBody", func(t *testing.T) {
		took := trickle(t, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nuser=", "a")
		t.Logf("cut off after %v", took)
	})
	// A normal client is served.
	if st, _, err := call(newClient(), "GET", srv.base+"/healthz", nil, nil); err != nil || st != 200 {
		t.Fatalf("healthz: %d %v", st, err)
	}
}

// TestMaxDBSizeFlag fills a database capped by --max-db-size: writes get 507, reads and
// readiness go on.
func TestMaxDBSizeFlag(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cap.db")
	srv := startInProc(t, "--db", db, "--max-db-size", "1M")
	c := newClient()
	cr := loginAdmin(t, c, srv.base)
	big := strings.Repeat("z", 4900)
	full := false
	for i := 0; i < 1000 && !full; i++ {
		st, obj, err := call(c, "POST", srv.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {fmt.Sprint(i, big)}})
		if err != nil {
			t.Fatal(err)
		}
		switch st {
		case 200:
		case 507:
			full = true
			if obj["status"] != "error" || !strings.Contains(fmt.Sprint(obj["message"]), "--max-db-size") {
				t.Fatalf("507 body: %v", obj)
			}
		default:
			t.Fatalf("send %d: %d %v", i, st, obj)
		}
	}
	if !full {
		t.Fatal("never reached the cap")
	}
	if fi := must(os.Stat(db)); fi.Size() > 1<<20 {
		t.Fatalf("file grew to %d", fi.Size())
	}
	for _, path := range []string{"/api/rooms/GENERAL/messages?count=3", "/readyz", "/api/publicRooms"} {
		if st, obj, err := call(c, "GET", srv.base+path, cr, nil); err != nil || st != 200 {
			t.Fatalf("GET %s while full: %d %v %v", path, st, obj, err)
		}
	}
	srv.stop(t)
	// Restarting with a higher cap lets writes resume.
	srv2 := startInProc(t, "--db", db, "--max-db-size", "4M")
	cr = loginAdmin(t, c, srv2.base)
	if st, obj, _ := call(c, "POST", srv2.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {big}}); st != 200 {
		t.Fatalf("after raising the cap: %d %v", st, obj)
	}
}

// TestFailedCommitFlipsReadyz makes the disk refuse to grow the file (RLIMIT_FSIZE): the send
// whose commit failed is not acknowledged, /readyz answers 503, the failure is logged, and
// the message is not there after a restart.
func TestFailedCommitFlipsReadyz(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to set the file size limit:", err)
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "fault.db")
	// bash's ulimit -f counts 1024-byte blocks: the file may not grow past 128 KiB.
	p := startProc(t, []string{bash, "-c", `ulimit -f 128 && exec "$0" "$@"`}, bin, "--db", db)
	c := newClient()
	cr := loginAdmin(t, c, p.base)
	big := strings.Repeat("f", 4900)
	var failed string
	for i := 0; i < 200 && failed == ""; i++ {
		text := fmt.Sprintf("fault-%d %s", i, big)
		st, obj, err := call(c, "POST", p.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {text}})
		if err != nil {
			t.Fatal(err)
		}
		switch st {
		case 200:
		case 500:
			failed = text
			if obj["status"] != "error" || obj["requestId"] == nil {
				t.Fatalf("500 body: %v", obj)
			}
		default:
			t.Fatalf("send: %d %v", st, obj)
		}
	}
	if failed == "" {
		t.Fatal("the file size limit was never hit")
	}
	st, obj, err := call(c, "GET", p.base+"/readyz", nil, nil)
	if err != nil || st != 503 {
		t.Fatalf("readyz after a failed commit: %d %v %v", st, obj, err)
	}
	if st, _, _ := call(c, "GET", p.base+"/healthz", nil, nil); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if !strings.Contains(p.log.String(), "file too large") {
		t.Fatalf("the failure is not in the log:\n%s", p.log)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
	runCheck(t, bin, db)

	s, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	admin := must(s.UserByUsername("admin"))
	texts := roomTexts(t, s, "GENERAL", admin.ID)
	s.Close()
	if texts[failed] != 0 {
		t.Fatal("the message whose commit failed is in the file")
	}
	// Without the limit the server is ready again.
	p2 := startProc(t, nil, bin, "--db", db)
	if st, _, err := call(c, "GET", p2.base+"/readyz", nil, nil); err != nil || st != 200 {
		t.Fatalf("readyz after restart: %d %v", st, err)
	}
}

// TestBackupAndCheckCommands: backup of a stopped server, restore, check; refusal while the
// server runs; check finds a damaged file.
func TestBackupAndCheckCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	srv := startInProc(t, "--db", db)
	c := newClient()
	cr := loginAdmin(t, c, srv.base)
	for i := 0; i < 20; i++ {
		if st, _, err := call(c, "POST", srv.base+"/api/rooms/GENERAL/send", cr, url.Values{"msg": {fmt.Sprint("m", i)}}); err != nil || st != 200 {
			t.Fatalf("send: %d %v", st, err)
		}
	}
	runCmd := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(t.Context(), append([]string{"rocketlite"}, args...), func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		return out.String() + errb.String(), err
	}
	// While the server runs, the file is locked: say so, and point at the REST API.
	if out, err := runCmd("backup", "--db", db, filepath.Join(dir, "b.db")); err == nil || !strings.Contains(err.Error(), "REST API instead: GET /api/backup") {
		t.Fatalf("backup of a running server: %v %s", err, out)
	}
	srv.stop(t)

	out := filepath.Join(dir, "b.db")
	// --db may come after OUT too, as in the other commands.
	if msg, err := runCmd("backup", out, "--db", db); err != nil {
		t.Fatalf("backup: %v %s", err, msg)
	}
	if m := fileMode(t, out); m != 0o600 {
		t.Fatalf("backup mode %v", m)
	}
	if msg, err := runCmd("check", "--db", out); err != nil || !strings.Contains(msg, "ok: ") {
		t.Fatalf("check of the backup: %v %s", err, msg)
	}
	if _, err := runCmd("backup", "--db", db, db); err == nil {
		t.Fatal("backup over the database itself was accepted")
	}
	if _, err := runCmd("backup", "--db", db); exitCode(err) != 2 {
		t.Fatalf("backup without OUT: %v", err)
	}
	if msg, err := runCmd("check", "--db", filepath.Join(dir, "missing.db")); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Fatalf("check of a missing file: %v %s", err, msg)
	}

	// Restore: the copy serves, with every message.
	restored := filepath.Join(dir, "restored.db")
	if err := os.Rename(out, restored); err != nil {
		t.Fatal(err)
	}
	srv2 := startInProc(t, "--db", restored)
	cr = loginAdmin(t, c, srv2.base)
	_, obj, _ := call(c, "GET", srv2.base+"/api/rooms/GENERAL/messages?count=100", cr, nil)
	if msgs, _ := obj["messages"].([]any); len(msgs) != 21 { // 20 + admin's join
		t.Fatalf("restored copy has %d messages", len(msgs))
	}
	srv2.stop(t)

	// A file whose indexes disagree with its records fails the check (exit status 1).
	broken := filepath.Join(dir, "broken.db")
	if err := os.WriteFile(broken, must(os.ReadFile(restored)), 0o600); err != nil {
		t.Fatal(err)
	}
	bdb := must(bolt.Open(broken, 0o600, nil))
	if err := bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("users_by_name")).Delete([]byte("admin")) }); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	if msg, err := runCmd("check", "--db", broken); exitCode(err) != 1 || !strings.Contains(msg, "users_by_name") {
		t.Fatalf("check of a broken file: %v\n%s", err, msg)
	}

	// A file with scribbled pages fails the check too, without crashing it.
	data := must(os.ReadFile(restored))
	for i := 4096 * 2; i < len(data); i += 4096 {
		copy(data[i+16:i+64], bytes.Repeat([]byte{0xA5}, 48)) // scribble over every page after the metas
	}
	damaged := filepath.Join(dir, "damaged.db")
	if err := os.WriteFile(damaged, data, 0o600); err != nil {
		t.Fatal(err)
	}
	msg, err := runCmd("check", "--db", damaged)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("check of a damaged file: %v\n%s", err, msg)
	}
	t.Logf("damaged file: %s", firstLine(msg))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestSelfSignedLifecycle(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := selfSignedPaths(filepath.Join(dir, "x.db"))
	now := time.Now()
	if why, err := ensureSelfSigned(cert, key, ca, now); err != nil || why == "" {
		t.Fatalf("first: %q %v", why, err)
	}
	first := must(os.ReadFile(cert))
	if why, err := ensureSelfSigned(cert, key, ca, now.Add(24*time.Hour)); err != nil || why != "" {
		t.Fatalf("second: %q %v", why, err)
	}
	// Less than a day of validity left: a new set replaces it.
	if why, err := ensureSelfSigned(cert, key, ca, now.Add(825*24*time.Hour-time.Hour)); err != nil || why == "" {
		t.Fatalf("renewal: %q %v", why, err)
	}
	if bytes.Equal(first, must(os.ReadFile(cert))) {
		t.Fatal("the certificate was not renewed")
	}
	pair := must(tls.LoadX509KeyPair(cert, key))
	if err := pair.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := pair.Leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	// A missing CA file: users would have nothing to trust, so all three are made again.
	second := must(os.ReadFile(cert))
	if err := os.Remove(ca); err != nil {
		t.Fatal(err)
	}
	if why, err := ensureSelfSigned(cert, key, ca, now); err != nil || !strings.Contains(why, "CA file") {
		t.Fatalf("missing CA: %q %v", why, err)
	}
	if bytes.Equal(second, must(os.ReadFile(cert))) {
		t.Fatal("the leaf was kept without its CA")
	}
	// A CA file that did not sign the leaf is reported, not overwritten.
	other := filepath.Join(dir, "other.db")
	oc, ok, oca := selfSignedPaths(other)
	if _, err := ensureSelfSigned(oc, ok, oca, now); err != nil {
		t.Fatal(err)
	}
	caPEM := must(os.ReadFile(oca))
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureSelfSigned(cert, key, ca, now); err == nil || !strings.Contains(err.Error(), "not signed by") {
		t.Fatalf("a foreign CA file: %v", err)
	}
	if !bytes.Equal(caPEM, must(os.ReadFile(ca))) {
		t.Fatal("a foreign CA file was overwritten")
	}
	// A damaged pair is reported, not overwritten.
	if err := os.WriteFile(key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureSelfSigned(cert, key, ca, now); err == nil {
		t.Fatal("a damaged key was accepted")
	}
	if string(must(os.ReadFile(key))) != "garbage" {
		t.Fatal("a damaged key was overwritten")
	}
	// --tls-cert with files that do not load: serve refuses to start.
	err := run(t.Context(), []string{"rocketlite", "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "y.db"),
		"--tls-cert", cert, "--tls-key", key, "--bcrypt-cost", "4", "--admin-password", "adminpass"},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("serve with a bad key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "y.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed start left a database behind: %v", err)
	}
}
