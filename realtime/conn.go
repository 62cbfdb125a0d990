package realtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/rs/zerolog"

	"rocketlite/store"
)

// Config is what the realtime server needs from the program that serves it.
type Config struct {
	Store store.Store
	Hub   *Hub
	Core  Core
	Log   zerolog.Logger
	// MaxMessage caps one incoming DDP message in bytes (the REST body cap); a bigger one
	// closes the socket. 0 means 1 MiB.
	MaxMessage int64
	// Origins are the browser origins (scheme://host[:port]) that may open a socket besides
	// the server's own host (the REST API's --cors-origins).
	Origins []string
	// MaxSockets caps open sockets in all, MaxSocketsPerUser one user's logged-in sockets;
	// 0 means no cap.
	MaxSockets, MaxSocketsPerUser int
	// Queue is how many outgoing messages a socket may have waiting; one that falls further
	// behind is closed. 0 means 256.
	Queue int
	// Ping is how long a socket may stay silent before the server pings it; it is closed
	// when another Ping passes without a word. 0 means 25 s.
	Ping time.Duration
}

// Core is what DDP shares with the REST API, so that both apply one set of rules: the one
// login (throttles, deactivated users, the token store), the one send (checks, caps, the send
// limit), the client's address as the REST API sees it.
type Core interface {
	Login(addr, name string, byEmail bool, digest string) (*store.User, string, error)
	SendMessage(u *store.User, rid, id, text, tmid string) (*store.Message, error)
	DirectMessage(u *store.User, username string) (rid string, err error)
	// AllowWrite takes one write from u's write limit (the REST API's: join, leave, read
	// marks, …), or returns the 429 error.
	AllowWrite(u *store.User) error
	ClientAddr(r *http.Request) string
}

// Server serves the DDP endpoints. Register it for /websocket and /sockjs/.
type Server struct {
	cfg      Config
	st       store.Store
	hub      *Hub
	log      zerolog.Logger
	patterns []string

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

// New makes the server.
func New(cfg Config) *Server {
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = 1 << 20
	}
	if cfg.Queue == 0 {
		cfg.Queue = 256
	}
	if cfg.Ping == 0 {
		cfg.Ping = 25 * time.Second
	}
	s := &Server{cfg: cfg, st: cfg.Store, hub: cfg.Hub, log: cfg.Log, conns: map[*conn]struct{}{}}
	for _, o := range cfg.Origins {
		if i := strings.Index(o, "://"); i >= 0 {
			s.patterns = append(s.patterns, o[i+3:])
		}
	}
	return s
}

// ServeHTTP serves GET /websocket, GET /sockjs/info and GET /sockjs/:server/:session/websocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/websocket":
		s.accept(w, r, false)
	case path == "/sockjs/info":
		var n [4]byte
		rand.Read(n[:])
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.Header().Set("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
		entropy := int64(n[0])<<24 | int64(n[1])<<16 | int64(n[2])<<8 | int64(n[3])
		b, _ := json.Marshal(map[string]any{"websocket": true, "origins": []string{"*:*"}, "cookie_needed": false, "entropy": entropy})
		w.Write(b)
	case strings.HasPrefix(path, "/sockjs/") && strings.HasSuffix(path, "/websocket") && strings.Count(path, "/") == 4:
		s.accept(w, r, true)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"status":"error","message":"API endpoint does not exist"}` + "\n"))
	}
}

// Close codes and the waits of a closing handshake.
const (
	shutdownMessage = "server shutting down"
	// handshakeTimeout bounds the write of the upgrade's answer to a client that reads nothing.
	handshakeTimeout = 10 * time.Second
	// closeTryLater is 1013 (RFC 6455's registry; gobwas/ws names no constant for it).
	closeTryLater ws.StatusCode = 1013
	// closeWait is how long a socket that sent a close frame waits for the client's before
	// the connection is cut.
	closeWait = 2 * time.Second
)

// accept upgrades the request and serves the socket on a goroutine of its own: the
// request's goroutine returns, so net/http's per-request state (its buffers, the deep
// stack of the handler chain) is not kept for the life of every socket.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, sockjs bool) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusUpgradeRequired)
		w.Write([]byte(`{"status":"error","message":"This endpoint takes websocket connections only"}` + "\n"))
		return
	}
	if err := s.checkOrigin(r); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		b, _ := json.Marshal(map[string]string{"status": "error", "message": err.Error()})
		w.Write(append(b, '\n'))
		return
	}
	s.mu.Lock()
	full := s.closing || (s.cfg.MaxSockets > 0 && len(s.conns) >= s.cfg.MaxSockets)
	s.mu.Unlock()
	if full {
		w.Header().Set("Retry-After", "10")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"error","message":"Too many open sockets; try again later"}` + "\n"))
		return
	}
	// No extensions are negotiated: purple reads no compressed frames, and a compressed
	// frame could not be shared by every subscriber.
	nc, rw, _, err := ws.HTTPUpgrader{Timeout: handshakeTimeout}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close() // the upgrader answered the error already
		}
		return
	}
	// The hijacked bufio buffers are dropped; bytes the client sent right behind its
	// handshake are read first.
	var rd io.Reader = nc
	if n := rw.Reader.Buffered(); n > 0 {
		early, _ := rw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(early)), nc)
	}
	c := &conn{srv: s, nc: nc, rd: rd, sockjs: sockjs, max: s.cfg.Queue, done: make(chan struct{}), handled: make(chan bool),
		subs: map[string]*sub{}, addr: s.cfg.Core.ClientAddr(r)}
	c.lastRead.Store(time.Now().UnixNano())
	// Before the hub knows the socket: the hub may kill it, and kill stops the timer.
	c.pinger = time.AfterFunc(s.cfg.Ping, c.pingCheck)
	s.mu.Lock()
	if s.closing || (s.cfg.MaxSockets > 0 && len(s.conns) >= s.cfg.MaxSockets) {
		s.mu.Unlock()
		c.pinger.Stop()
		nc.Write(closeFrameOf(kindClose, closeTryLater, "too many sockets").wire)
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.hub.mu.Lock()
	s.hub.conns[c] = struct{}{}
	s.hub.mu.Unlock()

	if sockjs {
		c.enqueue(rawFrame("o"))
	}
	c.enqueue(ddpFrame([]byte(`{"server_id":"0"}`)))
	go c.run()
}

// checkOrigin lets a browser page open a socket only from the server's own host or one of
// the configured origins (patterns as path.Match); clients that send no Origin pass.
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("request Origin %q is not a valid URL with a host", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range s.patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return nil
		}
	}
	return fmt.Errorf("request Origin %q is not authorized for Host %q", origin, r.Host)
}

// run serves the socket until it ends, then forgets it.
func (c *conn) run() {
	end, code := c.reader()
	if end != endGone {
		if end == endClose {
			// Our close frame (an answer to the client's, or 1009/1002) goes after what
			// is queued.
			c.push(closeFrameOf(kindClose, code, ""), true)
		}
		// The closing handshake: what the client still sends is dropped until it closes
		// the connection, or until the writer cuts it closeWait after the close frame (a
		// connection closed with unread bytes would be reset, and the client might lose
		// the close frame). The timer bounds a writer stuck on a client that reads nothing.
		t := time.AfterFunc(2*closeWait, c.kill)
		var b [512]byte
		for {
			if _, err := c.rd.Read(b[:]); err != nil {
				break
			}
		}
		t.Stop()
	}
	c.kill()
	c.flushing.Wait()
	s := c.srv
	s.hub.mu.Lock()
	delete(s.hub.conns, c)
	s.hub.detachLocked(c)
	s.hub.unlock()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops accepting sockets, lets every method in flight finish, sends what is queued
// and closes every socket with a close frame (1001, going away). It returns when all are
// closed or ctx ends (then the rest are cut).
func (s *Server) Shutdown(ctx context.Context) {
	s.hub.Flush() // the events of every write committed so far are queued to their sockets
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		go c.shutdown()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.kill()
		}
		<-done
	}
}

// conn is one socket. An idle socket holds one goroutine (its reader, blocked on the
// two-byte read of the next frame header) and no buffer.
type conn struct {
	srv     *Server
	nc      net.Conn
	rd      io.Reader // nc, behind any bytes read with the handshake
	sockjs  bool
	addr    string
	done    chan struct{} // closed by kill
	once    sync.Once
	pinger  *time.Timer
	hdr     [ws.MaxHeaderSize - 2]byte // the reader's frame header
	handled chan bool                  // a message's handler is done (false: shutting down)

	// The outgoing queue. No goroutine waits on an idle socket: push starts a flush
	// goroutine when there is something to send, and it ends when the queue is empty.
	qmu      sync.Mutex
	queue    []*frame
	spare    []*frame
	max      int
	writing  bool
	dead     bool
	closed   bool // a close frame is queued or sent: nothing more is
	flushing sync.WaitGroup

	pending []*frame // the hub's frames for this socket in the batch it dispatches; hub.mu

	lastRead atomic.Int64 // unix nanoseconds of the last frame from the client
	user     atomic.Pointer[store.User]
	token    atomic.Pointer[store.TokenHash] // the login's token (logout revokes it)
	away     atomic.Bool
	subs     map[string]*sub // by DDP id; guarded by the hub's mu

	after     []func()   // sent after the current method's result (login's added); reader only
	methodMu  sync.Mutex // held while one client message is handled
	connected bool       // DDP connect done; reader goroutine only
	stopping  bool       // guarded by methodMu
}

func (c *conn) uid() string {
	if u := c.user.Load(); u != nil {
		return u.ID
	}
	return ""
}

// enqueue queues f for the socket without waiting: a socket whose queue is full is too slow
// and is closed, so that no sender and no other reader ever waits for it.
func (c *conn) enqueue(f *frame) { c.push(f, false) }

func (c *conn) push(f *frame, force bool) {
	c.qmu.Lock()
	if c.dead || c.closed {
		c.qmu.Unlock()
		return
	}
	if !force && len(c.queue) >= c.max {
		c.qmu.Unlock()
		c.kill()
		return
	}
	if f.kind == kindClose || f.kind == kindShutdown {
		c.closed = true
	}
	c.queue = append(c.queue, f)
	c.startFlush()
	c.qmu.Unlock()
}

// pushAll queues the hub's frames of one batch under one lock. Like push, it closes a socket
// whose backlog is already at the cap: a batch larger than the cap (another node's users
// going offline at once) is not a slow reader.
func (c *conn) pushAll(fs []*frame) {
	c.qmu.Lock()
	if c.dead || c.closed {
		c.qmu.Unlock()
		return
	}
	if len(c.queue) >= c.max {
		c.qmu.Unlock()
		c.kill()
		return
	}
	c.queue = append(c.queue, fs...)
	c.startFlush()
	c.qmu.Unlock()
}

// startFlush starts the flush goroutine if none runs; c.qmu is held.
func (c *conn) startFlush() {
	if !c.writing {
		c.writing = true
		c.flushing.Add(1)
		go c.flush()
	}
}

// flush writes what is queued until the queue is empty: everything queued meanwhile goes
// out in one write(2) (up to writeChunk bytes a call), however many frames it holds.
func (c *conn) flush() {
	defer c.flushing.Done()
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 || c.dead {
			c.writing = false
			if cap(c.spare) > 64 {
				c.spare = nil // an idle socket keeps no big slice of a burst
			}
			c.qmu.Unlock()
			return
		}
		c.queue, c.spare = c.spare[:0], nil
		c.qmu.Unlock()
		last, err := c.write(batch)
		if err != nil {
			c.kill()
			return
		}
		if last == kindClose || last == kindShutdown {
			// The close frame is out: the client answers with its own and closes the
			// connection (run waits for that), or it is cut after closeWait.
			time.AfterFunc(closeWait, c.kill)
			return
		}
		clear(batch)
		c.qmu.Lock()
		c.spare = batch[:0]
		c.qmu.Unlock()
	}
}

// kill ends the connection now, without waiting for queued messages: its reader stops and
// the socket is cut (a reader too slow for its queue would not read a close frame).
func (c *conn) kill() {
	c.once.Do(func() {
		c.qmu.Lock()
		c.dead = true
		c.queue = nil
		c.qmu.Unlock()
		if c.pinger != nil {
			c.pinger.Stop()
		}
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) isDead() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// shutdown waits for the message being handled, then queues a close frame behind what is
// queued: the client gets every message sent so far, then 1001 going away.
func (c *conn) shutdown() {
	c.methodMu.Lock()
	c.stopping = true
	c.methodMu.Unlock()
	c.push(closeFrameOf(kindShutdown, ws.StatusGoingAway, shutdownMessage), true)
}

// pingCheck runs every Ping: a socket silent that long gets a ping (and SockJS a heartbeat),
// one silent twice as long is closed.
func (c *conn) pingCheck() {
	if c.isDead() {
		return // killed: no more checks
	}
	interval := c.srv.cfg.Ping
	idle := time.Since(time.Unix(0, c.lastRead.Load()))
	switch {
	case idle >= 2*interval:
		c.kill()
		return
	case idle >= interval:
		c.enqueue(ddpPing)
		if c.sockjs {
			c.enqueue(sockjsHeartbeat)
		}
		c.pinger.Reset(interval)
	default:
		c.pinger.Reset(interval - idle)
	}
}

// Frames every socket may get, encoded once.
var (
	ddpPing         = ddpFrame([]byte(`{"msg":"ping"}`))
	sockjsHeartbeat = rawFrame("h")
)

// How a socket's reader ended.
type readEnd int

const (
	endGone     readEnd = iota // the connection failed or was cut, or our close frame was answered: close it now
	endClose                   // send a close frame of the code given, then close
	endStopping                // shutdown: its close frame is queued
)

// reader reads the client's frames and handles each complete text message; control frames
// are answered here (ping → pong, close → close). Client frames must be masked; a message
// over the size cap ends the socket with 1009.
func (c *conn) reader() (readEnd, ws.StatusCode) {
	var msg []byte
	var inMessage, text bool
	limit := c.srv.cfg.MaxMessage
	for {
		h, err := ws.ReadHeaderBuffer(c.rd, c.hdr[:])
		if err != nil {
			return endGone, 0
		}
		c.lastRead.Store(time.Now().UnixNano())
		if !h.Masked || h.Rsv != 0 || h.OpCode.IsReserved() {
			return endClose, ws.StatusProtocolError
		}
		if h.OpCode.IsControl() {
			if h.Length > ws.MaxControlFramePayloadSize || !h.Fin {
				return endClose, ws.StatusProtocolError
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c.rd, p); err != nil {
				return endGone, 0
			}
			ws.Cipher(p, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				// Queued like any frame: a client that pings and never reads is too slow,
				// not a reason to grow the queue without end.
				c.enqueue(wireFrame(kindControl, ws.OpPong, p))
			case ws.OpClose:
				c.qmu.Lock()
				answered := c.closed
				c.qmu.Unlock()
				if answered {
					return endGone, 0 // the answer to our close frame
				}
				code, _ := ws.ParseCloseFrameData(p)
				if code.Empty() {
					code = ws.StatusNormalClosure
				}
				return endClose, code
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && !inMessage, h.OpCode != ws.OpContinuation && inMessage:
			return endClose, ws.StatusProtocolError
		case h.OpCode != ws.OpContinuation:
			inMessage, text, msg = true, h.OpCode == ws.OpText, nil
		}
		if h.Length > limit-int64(len(msg)) {
			return endClose, ws.StatusMessageTooBig
		}
		n := len(msg)
		msg = slices.Grow(msg, int(h.Length))[:n+int(h.Length)]
		if _, err := io.ReadFull(c.rd, msg[n:]); err != nil {
			return endGone, 0
		}
		ws.Cipher(msg[n:], h.Mask, 0)
		if !h.Fin {
			continue
		}
		inMessage = false
		if !text {
			continue
		}
		// The message is handled on a goroutine of its own while the reader waits: handling
		// (a login, a method) grows a stack to many KiB, which would stay with the reader of
		// an idle socket; this way the reader's stack stays at its minimal size.
		go func(msg []byte) { c.handled <- c.message(msg) }(msg)
		if !<-c.handled {
			return endStopping, 0
		}
		msg = nil
	}
}

// message handles one text message; false when the server is shutting down.
func (c *conn) message(data []byte) bool {
	msgs, ok := c.unframe(data)
	c.methodMu.Lock()
	defer c.methodMu.Unlock()
	if c.stopping {
		return false
	}
	if !ok {
		c.send(errorMsg("Bad request", data))
	}
	for _, m := range msgs {
		c.handle(m)
	}
	return true
}

// unframe returns the DDP messages of one frame: the frame itself on /websocket; on SockJS
// a JSON array of JSON strings, or one JSON string.
func (c *conn) unframe(data []byte) ([][]byte, bool) {
	if !c.sockjs {
		return [][]byte{data}, true
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		var one string
		if json.Unmarshal(data, &one) != nil {
			return nil, false
		}
		list = []string{one}
	}
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out, true
}

// send queues one DDP message (any value, encoded here).
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.srv.log.Error().Err(err).Msg("realtime: cannot encode a message")
		return
	}
	c.enqueue(ddpFrame(b))
}

// writeChunk is the most one write(2) carries; a longer batch takes several.
const writeChunk = 64 << 10

// writeBufs are the flush goroutines' write buffers: an idle socket holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeChunk+4096); return &b }}

// write sends a batch of frames in as few write(2) calls as its size allows: on /websocket
// one frame per DDP message; on SockJS the DDP messages in a row go as one a[…] frame. It
// returns the kind of the batch's last frame written (kindClose or kindShutdown end it).
func (c *conn) write(batch []*frame) (frameKind, error) {
	bp := writeBufs.Get().(*[]byte)
	b := (*bp)[:0]
	defer func() { *bp = b[:0]; writeBufs.Put(bp) }()
	var arr []byte // SockJS: the a[…] payload being gathered
	var sj *[]byte
	if c.sockjs {
		sj = writeBufs.Get().(*[]byte)
		arr = (*sj)[:0]
		defer func() { *sj = arr[:0]; writeBufs.Put(sj) }()
	}
	endArray := func() {
		if len(arr) > 0 {
			arr = append(arr, ']')
			b = appendHeader(b, ws.OpText, len(arr))
			b = append(b, arr...)
			arr = arr[:0]
		}
	}
	for _, f := range batch {
		if len(b) >= writeChunk {
			if _, err := c.nc.Write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
		switch {
		case f.kind == kindDDP && c.sockjs:
			if len(arr) == 0 {
				arr = append(arr, "a["...)
			} else {
				arr = append(arr, ',')
			}
			arr = append(arr, f.sockjsString()...)
			if len(arr) >= writeChunk {
				endArray()
			}
			continue
		case f.kind == kindShutdown:
			endArray()
			if c.sockjs {
				b = appendHeader(b, ws.OpText, len(sockjsGoingAway))
				b = append(b, sockjsGoingAway...)
			}
			b = append(b, f.wire...)
			_, err := c.nc.Write(b)
			return kindShutdown, err
		}
		endArray()
		b = append(b, f.wire...)
		if f.kind == kindClose {
			_, err := c.nc.Write(b)
			return kindClose, err
		}
	}
	endArray()
	if len(b) > 0 {
		if _, err := c.nc.Write(b); err != nil {
			return 0, err
		}
	}
	return batch[len(batch)-1].kind, nil
}

// sockjsGoingAway is SockJS's close message, sent before the websocket close frame.
const sockjsGoingAway = `c[1001,"` + shutdownMessage + `"]`
