package realtime_test

// The websocket transport itself (conn.go, frame.go): coalesced writes, SockJS batching,
// control frames, the closing handshake, protocol errors and the upgrade's refusals.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"rocketlite/realtime"
	"rocketlite/store"
)

// postBurst posts n messages "0".."n-1" to GENERAL as u, as fast as the store takes them.
func postBurst(t *testing.T, e *env, u *store.User, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := e.st.PostMessage("GENERAL", u, &store.Message{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCoalescedFramesParseSeparately: with a batch window, the events of many commits go to a
// socket in one write; a real client (coder/websocket) still reads every DDP message as a
// frame of its own, in commit order.
func TestCoalescedFramesParseSeparately(t *testing.T) {
	e := newEnv(t)
	e.hub.SetBatchWindow(300 * time.Millisecond)
	u := e.user("writer")
	e.user("reader")
	c := e.dial(false)
	c.login("reader")
	c.mustSub("stream-room-messages", "GENERAL", false)
	const n = 40
	postBurst(t, e, u, n)
	for i := 0; i < n; {
		args := c.event("stream-room-messages", "GENERAL", nil)
		if args[0].(map[string]any)["t"] != nil {
			continue // the users' joins, posted before and delayed by the window
		}
		if got := msgText(args); got != fmt.Sprint(i) {
			t.Fatalf("event %d: text %q", i, got)
		}
		i++
	}
}

// TestCoalescedFramesRaw: read below any client library, the frames of a batch written
// together are each whole, final, unmasked text frames holding one DDP message, in order.
func TestCoalescedFramesRaw(t *testing.T) {
	e := newEnv(t)
	e.hub.SetBatchWindow(200 * time.Millisecond)
	u := e.user("writer")
	e.user("raw")
	conn, br := rawDial(t, e, "/websocket")
	for _, m := range []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","id":"1","method":"login","params":[{"user":{"username":"raw"},"password":"rawpass"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["GENERAL",false]}`,
	} {
		if err := wsutil.WriteClientText(conn, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		data, err := wsutil.ReadServerText(rw{br, conn})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"ready"`) {
			break
		}
	}
	const n = 25
	postBurst(t, e, u, n)
	got := 0
	conn.SetReadDeadline(time.Now().Add(waitFor))
	for got < n {
		h, err := ws.ReadHeader(br)
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		if h.Masked || !h.Fin || h.OpCode != ws.OpText {
			t.Fatalf("frame header %+v", h)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Msg    string `json:"msg"`
			Fields struct {
				Args []struct {
					Msg  string `json:"msg"`
					Type string `json:"t"`
				} `json:"args"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("frame %q is not one DDP message: %v", p, err)
		}
		if m.Msg != "changed" || len(m.Fields.Args) == 0 || m.Fields.Args[0].Type != "" {
			continue // presence, the users' joins
		}
		if m.Fields.Args[0].Msg != fmt.Sprint(got) {
			t.Fatalf("event %d: %q", got, m.Fields.Args[0].Msg)
		}
		got++
	}
}

// TestSockJSBatchesMessages: on SockJS the DDP messages of one batch go as one a[…] frame
// (fewer frames than messages), every message in it, in order.
func TestSockJSBatchesMessages(t *testing.T) {
	e := newEnv(t)
	e.hub.SetBatchWindow(300 * time.Millisecond)
	u := e.user("writer")
	e.user("sj")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/sockjs/1/abc/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wc.CloseNow()
	send := func(m string) {
		b, _ := json.Marshal([]string{m})
		if err := wc.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	// read returns the DDP messages of the next frame.
	read := func() []map[string]any {
		_, data, err := wc.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) == "o" || string(data) == "h" {
			return nil
		}
		var raws []string
		if data[0] != 'a' || json.Unmarshal(data[1:], &raws) != nil {
			t.Fatalf("frame %q", data)
		}
		out := make([]map[string]any, len(raws))
		for i, r := range raws {
			if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
				t.Fatalf("message %q", r)
			}
		}
		return out
	}
	send(`{"msg":"connect","version":"1","support":["1"]}`)
	send(`{"msg":"method","id":"1","method":"login","params":[{"user":{"username":"sj"},"password":"sjpass"}]}`)
	send(`{"msg":"sub","id":"2","name":"stream-room-messages","params":["GENERAL",false]}`)
	for ready := false; !ready; {
		for _, m := range read() {
			ready = ready || m["msg"] == "ready"
		}
	}
	const n = 30
	postBurst(t, e, u, n)
	frames, got := 0, 0
	for got < n {
		ms := read()
		frames++
		for _, m := range ms {
			if m["msg"] != "changed" || m["collection"] != "stream-room-messages" {
				continue
			}
			args := m["fields"].(map[string]any)["args"].([]any)
			if args[0].(map[string]any)["t"] != nil {
				continue // the users' joins
			}
			if text := args[0].(map[string]any)["msg"]; text != fmt.Sprint(got) {
				t.Fatalf("message %d: %v", got, text)
			}
			got++
		}
	}
	if frames >= n {
		t.Fatalf("%d messages came in %d frames: not batched", n, frames)
	}
}

// TestWebsocketPingAndClose: a websocket ping gets its pong; a client's close frame is
// answered with one, and the socket is forgotten.
func TestWebsocketPingAndClose(t *testing.T) {
	e := newEnv(t)
	e.user("pinger")
	c := e.dial(false)
	c.login("pinger")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	// coder/websocket's Close waits for the server's close frame and fails without it.
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	deadline := time.Now().Add(waitFor)
	for {
		if n, _ := e.hub.Stats(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closed socket still counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rw reads through a client's buffer and writes to its connection.
type rw struct {
	io.Reader
	io.Writer
}

// rawDial opens a websocket with gobwas/ws's client, which lets a test write frames that a
// well-behaved client library never would.
func rawDial(t *testing.T, e *env, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return conn, br
}

// closeCode reads frames until a close frame and returns its code.
func closeCode(t *testing.T, conn net.Conn, br *bufio.Reader) ws.StatusCode {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitFor))
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return code
		}
	}
}

// TestProtocolErrors: an unmasked client frame, a continuation without a start and an
// oversized message each end the socket with the close code RFC 6455 names.
func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.MaxMessage = 1024 }})
	for _, tc := range []struct {
		name  string
		frame ws.Frame
		want  ws.StatusCode
	}{
		{"unmasked", ws.NewTextFrame([]byte(`{"msg":"connect","version":"1"}`)), ws.StatusProtocolError},
		{"stray continuation", ws.MaskFrame(ws.NewFrame(ws.OpContinuation, true, []byte("x"))), ws.StatusProtocolError},
		{"oversized", ws.MaskFrame(ws.NewTextFrame([]byte(strings.Repeat("x", 2000)))), ws.StatusMessageTooBig},
		{"control frame too long", ws.MaskFrame(ws.NewPingFrame([]byte(strings.Repeat("p", 126)))), ws.StatusProtocolError},
	} {
		conn, br := rawDial(t, e, "/websocket")
		if err := ws.WriteFrame(conn, tc.frame); err != nil {
			t.Fatal(err)
		}
		if got := closeCode(t, conn, br); got != tc.want {
			t.Errorf("%s: close code %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestFragmentedMessage: a DDP message split into a text frame and continuations (with a
// ping between them) is one message.
func TestFragmentedMessage(t *testing.T) {
	e := newEnv(t)
	conn, br := rawDial(t, e, "/websocket")
	msg := `{"msg":"connect","version":"1","support":["1"]}`
	for _, f := range []ws.Frame{
		ws.NewFrame(ws.OpText, false, []byte(msg[:10])),
		ws.NewPingFrame([]byte("hi")),
		ws.NewFrame(ws.OpContinuation, false, []byte(msg[10:20])),
		ws.NewFrame(ws.OpContinuation, true, []byte(msg[20:])),
	} {
		if err := ws.WriteFrame(conn, ws.MaskFrame(f)); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(waitFor))
	sawPong := false
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header.OpCode == ws.OpPong {
			sawPong = string(f.Payload) == "hi"
			continue
		}
		if strings.Contains(string(f.Payload), `"connected"`) {
			break
		}
	}
	if !sawPong {
		t.Fatal("no pong with the ping's payload before the answer")
	}
}

// TestEarlyBytesAfterHandshake: a client that sends its first frame in the same packet as
// its upgrade request (before the answer) is served: those bytes were read with the
// request and must not be lost.
func TestEarlyBytesAfterHandshake(t *testing.T) {
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	req.WriteString("GET /websocket HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.srv.URL, "http://") +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	frame, _ := ws.CompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte(`{"msg":"connect","version":"1","support":["1"]}`))))
	if _, err := conn.Write(append([]byte(req.String()), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	conn.SetReadDeadline(time.Now().Add(waitFor))
	for {
		data, err := wsutil.ReadServerText(rw{br, conn})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"connected"`) {
			return
		}
	}
}

// TestUpgradeRefusals: a plain GET of /websocket is told to upgrade (426), and a browser
// page of a foreign origin is refused (403) while the server's own host and the configured
// origins pass.
func TestUpgradeRefusals(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.Origins = []string{"https://chat.example.org"} }})
	res, err := http.Get(e.srv.URL + "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired || body["status"] != "error" {
		t.Fatalf("plain GET: %d %v", res.StatusCode, body)
	}
	dial := func(origin string) error {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		h := http.Header{}
		h.Set("Origin", origin)
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/websocket", &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			c.CloseNow()
		}
		return err
	}
	if err := dial("https://evil.example.com"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("foreign origin: %v", err)
	}
	for _, ok := range []string{"https://chat.example.org", e.srv.URL} {
		if err := dial(ok); err != nil {
			t.Fatalf("origin %s: %v", ok, err)
		}
	}
}

// TestPingFloodWithoutReading: a client that sends pings and never reads its pongs is dropped
// once its queue is full, like any slow reader; its pongs must not pile up in the server.
func TestPingFloodWithoutReading(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.Queue = 16 }})
	conn, _ := rawDial(t, e, "/websocket")
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // fill the path back to the server sooner
	}
	conn.SetWriteDeadline(time.Now().Add(2 * waitFor))
	ping := ws.MaskFrame(ws.NewPingFrame(bytes.Repeat([]byte("p"), 125)))
	const most = 400_000 // about 52 MB of pings: far more than the kernel's buffers hold
	for i := 0; i < most; i++ {
		if err := ws.WriteFrame(conn, ping); err != nil {
			return // the server closed the socket
		}
	}
	t.Fatalf("the server took %d pings from a client that reads nothing", most)
}

// TestBatchLargerThanQueue: one round of the hub may bring a socket more frames than its
// queue's cap (a burst of commits within the batch window, another node's users going offline
// at once); a socket that keeps up gets them all instead of being closed as slow.
func TestBatchLargerThanQueue(t *testing.T) {
	e := newEnv(t, options{rt: func(c *realtime.Config) { c.Queue = 8 }})
	e.hub.SetBatchWindow(300 * time.Millisecond)
	u := e.user("writer")
	e.user("reader")
	c := e.dial(false)
	c.login("reader")
	c.mustSub("stream-room-messages", "GENERAL", false)
	const n = 40
	postBurst(t, e, u, n)
	for i := 0; i < n; {
		args := c.event("stream-room-messages", "GENERAL", nil)
		if args[0].(map[string]any)["t"] != nil {
			continue
		}
		if got := msgText(args); got != fmt.Sprint(i) {
			t.Fatalf("event %d: text %q", i, got)
		}
		i++
	}
}
