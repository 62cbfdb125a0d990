package netlimit

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// serve runs an HTTP server on a loopback listener wrapped by Listener.
func serve(t *testing.T, total, perAddr int, exempt func(netip.Addr) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(Listener(ln, total, perAddr, exempt))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one request on c and returns the status line, or "" if the server closed the
// connection or did not answer within wait.
func get(c net.Conn, wait time.Duration) string {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return ""
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimSpace(line)
}

const long = 10 * time.Second // a hang guard, not a speed check

func TestPerAddressCap(t *testing.T) {
	addr := serve(t, 0, 2, nil)
	a, b := dial(t, addr), dial(t, addr)
	if got := get(a, long); got != "HTTP/1.1 200 OK" {
		t.Fatalf("first connection: %q", got)
	}
	// The third connection from the same address is closed without an answer.
	if got := get(dial(t, addr), long); got != "" {
		t.Fatalf("third connection answered %q", got)
	}
	// Closing one makes room for a new one.
	b.Close()
	deadline := time.Now().Add(long)
	for get(dial(t, addr), long) != "HTTP/1.1 200 OK" {
		if time.Now().After(deadline) {
			t.Fatal("no room after a connection closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPerAddressCapExempt(t *testing.T) {
	addr := serve(t, 0, 2, func(ip netip.Addr) bool { return ip.IsLoopback() })
	for i := 0; i < 5; i++ {
		if got := get(dial(t, addr), long); got != "HTTP/1.1 200 OK" {
			t.Fatalf("connection %d of an exempt address: %q", i, got)
		}
	}
}

func TestTotalCap(t *testing.T) {
	addr := serve(t, 2, 0, nil)
	a, b := dial(t, addr), dial(t, addr)
	get(a, long)
	get(b, long)
	// A third connection waits in the backlog: no answer while both are held.
	c := dial(t, addr)
	if got := get(c, 300*time.Millisecond); got != "" {
		t.Fatalf("a connection past the total cap was served: %q", got)
	}
	// Once one closes, the waiting client is served (its request is already sent).
	a.Close()
	c.SetDeadline(time.Now().Add(long))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("the waiting client: %q %v", line, err)
	}
}
