package main

// Helpers of the whole-program tests: build the binary, start it (or run() in-process) on a
// random port, talk to it over real HTTP.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildBinary builds rocketlite into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rocketlite")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a process's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitListening reads JSON log lines until "listening" and returns the address; every line
// also goes to log. eof is closed when r ends.
func waitListening(r io.Reader, log io.Writer) (<-chan string, <-chan struct{}) {
	addr := make(chan string, 1)
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			log.Write(append(append([]byte(nil), line...), '\n'))
			var ev struct{ Message, Addr string }
			if !sent && json.Unmarshal(line, &ev) == nil && ev.Message == "listening" {
				addr <- ev.Addr
				sent = true
			}
		}
		close(addr)
	}()
	return addr, eof
}

// proc is a running rocketlite binary.
type proc struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	log    *lockedBuffer
	done   chan error
	exited chan struct{} // closed once Wait returned
}

var serverFlags = []string{"--addr", "127.0.0.1:0", "--log-format", "json", "--bcrypt-cost", "4", "--admin-password", "adminpass", "--send-rate", "0"}

// startProc starts the binary (through wrap, e.g. a shell setting a limit, if given) and waits
// until it listens.
func startProc(t *testing.T, wrap []string, bin string, args ...string) *proc {
	t.Helper()
	argv := append(append(append([]string{}, wrap...), bin, "serve"), append(append([]string{}, serverFlags...), args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: &lockedBuffer{}, done: make(chan error, 1), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc, eof := waitListening(stderr, p.log)
	go func() {
		<-eof // Wait must not run before the pipe is drained
		p.done <- cmd.Wait()
		close(p.exited)
	}()
	select {
	case addr, ok := <-addrc:
		if !ok {
			t.Fatalf("rocketlite exited before listening:\n%s", p.log)
		}
		p.base = "http://" + addr
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("rocketlite did not listen:\n%s", p.log)
	}
	t.Cleanup(func() {
		// Not cmd.ProcessState: Wait writes it in the goroutine above.
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits for the process to exit and returns its error (nil for status 0).
func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		p.cmd.Process.Kill()
		t.Fatalf("rocketlite did not exit within %v:\n%s", within, p.log)
		return nil
	}
}

// inproc is run() serving in this process.
type inproc struct {
	base   string
	log    *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startInProc runs `rocketlite serve` in-process with the common flags and more.
func startInProc(t *testing.T, args ...string) *inproc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	ip := &inproc{log: &lockedBuffer{}, cancel: cancel, done: make(chan error, 1)}
	addrc, _ := waitListening(pr, ip.log)
	argv := append(append([]string{"rocketlite", "serve"}, serverFlags...), args...)
	go func() {
		err := run(ctx, argv, func(string) string { return "" }, strings.NewReader(""), io.Discard, pw)
		pw.Close()
		ip.done <- err
	}()
	addr, ok := <-addrc
	if !ok {
		cancel()
		t.Fatalf("serve did not listen: %v\n%s", <-ip.done, ip.log)
	}
	ip.base = "http://" + addr
	t.Cleanup(func() { ip.stop(t) })
	return ip
}

func (ip *inproc) stop(t *testing.T) error {
	ip.cancel()
	select {
	case err, ok := <-ip.done:
		if ok {
			close(ip.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
		return nil
	}
}

type apiCreds struct{ UserID, Token string }

// call sends a form request and decodes a JSON answer.
func call(c *http.Client, method, u string, cr *apiCreds, form url.Values) (int, map[string]any, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cr != nil {
		req.Header.Set("X-User-Id", cr.UserID)
		req.Header.Set("X-Auth-Token", cr.Token)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	var obj map[string]any
	json.Unmarshal(raw, &obj)
	return res.StatusCode, obj, nil
}

func loginAdmin(t *testing.T, c *http.Client, base string) *apiCreds {
	t.Helper()
	st, obj, err := call(c, "POST", base+"/api/login", nil, url.Values{"user": {"admin"}, "password": {"adminpass"}})
	if err != nil || st != 200 {
		t.Fatalf("login: %d %v %v", st, obj, err)
	}
	d := obj["data"].(map[string]any)
	return &apiCreds{UserID: d["userId"].(string), Token: d["authToken"].(string)}
}

func newClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16, TLSClientConfig: &tls.Config{}}}
}

// runCheck runs `rocketlite check` on a file and fails the test unless it passes.
func runCheck(t *testing.T, bin, db string) {
	t.Helper()
	out, err := exec.Command(bin, "check", "--db", db).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok: ") {
		t.Fatalf("check %s: %v\n%s", db, err, out)
	}
}

// must returns v, or panics (failing the test) on an error that setup code does not expect.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var _ = fmt.Sprint
