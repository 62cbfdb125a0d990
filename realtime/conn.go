package realtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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

// Close codes.
const (
	closeGoingAway  = websocket.StatusGoingAway
	closeTryLater   = websocket.StatusTryAgainLater
	shutdownMessage = "server shutting down"
)

var errTooMany = errors.New("too many sockets")

func (s *Server) accept(w http.ResponseWriter, r *http.Request, sockjs bool) {
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
	// The listener's read and write timeouts are meant for requests; left on the hijacked
	// connection they would cut every socket after a minute.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.patterns,
		CompressionMode: websocket.CompressionDisabled, // purple reads no compressed frames
	})
	if err != nil {
		return // Accept answered already
	}
	ws.SetReadLimit(s.cfg.MaxMessage)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{srv: s, ws: ws, sockjs: sockjs, max: s.cfg.Queue, ctx: ctx, cancel: cancel,
		subs: map[string]*sub{}, addr: s.cfg.Core.ClientAddr(r)}
	c.lastRead.Store(time.Now().UnixNano())
	s.mu.Lock()
	if s.closing || (s.cfg.MaxSockets > 0 && len(s.conns) >= s.cfg.MaxSockets) {
		s.mu.Unlock()
		ws.Close(closeTryLater, "too many sockets")
		cancel()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.hub.mu.Lock()
	s.hub.conns[c] = struct{}{}
	s.hub.mu.Unlock()

	c.pinger = time.AfterFunc(s.cfg.Ping, c.pingCheck)
	if sockjs {
		c.enqueue(frame("o")) // opening frame; writer passes it through unwrapped
	}
	c.enqueue(frame(`{"server_id":"0"}`))
	c.reader()
	c.kill()
	c.ws.CloseNow()
	c.flushing.Wait()
	s.hub.mu.Lock()
	delete(s.hub.conns, c)
	s.hub.detachLocked(c)
	s.hub.mu.Unlock()
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

// conn is one socket.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	sockjs bool
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	pinger *time.Timer

	// The outgoing queue. No goroutine waits on an idle socket: enqueue starts a flush
	// goroutine when there is something to send, and it ends when the queue is empty.
	qmu      sync.Mutex
	queue    []frame
	spare    []frame
	max      int
	writing  bool
	dead     bool
	flushing sync.WaitGroup

	lastRead atomic.Int64 // unix nanoseconds of the last message from the client
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
func (c *conn) enqueue(f frame) { c.push(f, false) }

// closeFrame is the queue's marker for "send a close frame now" (shutdown).
var closeFrame = frame("\x00close")

func (c *conn) push(f frame, force bool) {
	c.qmu.Lock()
	if c.dead {
		c.qmu.Unlock()
		return
	}
	if !force && len(c.queue) >= c.max {
		c.qmu.Unlock()
		c.kill()
		return
	}
	c.queue = append(c.queue, f)
	if !c.writing {
		c.writing = true
		c.flushing.Add(1)
		go c.flush()
	}
	c.qmu.Unlock()
}

// flush writes what is queued until the queue is empty.
func (c *conn) flush() {
	defer c.flushing.Done()
	for {
		c.qmu.Lock()
		batch := c.queue
		if len(batch) == 0 || c.dead {
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.queue, c.spare = c.spare[:0], nil
		c.qmu.Unlock()
		if err := c.write(batch); err != nil {
			c.kill()
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
		c.cancel()
	})
}

// shutdown waits for the message being handled, then queues a close frame behind what is
// queued: the client gets every message sent so far, then 1001 going away.
func (c *conn) shutdown() {
	c.methodMu.Lock()
	c.stopping = true
	c.methodMu.Unlock()
	c.push(closeFrame, true)
}

// pingCheck runs every Ping: a socket silent that long gets a ping (and SockJS a heartbeat),
// one silent twice as long is closed.
func (c *conn) pingCheck() {
	if c.ctx.Err() != nil {
		return // killed: no more checks
	}
	interval := c.srv.cfg.Ping
	idle := time.Since(time.Unix(0, c.lastRead.Load()))
	switch {
	case idle >= 2*interval:
		c.kill()
		return
	case idle >= interval:
		c.enqueue(frame(`{"msg":"ping"}`))
		if c.sockjs {
			c.enqueue(frame("h"))
		}
		c.pinger.Reset(interval)
	default:
		c.pinger.Reset(interval - idle)
	}
}

func (c *conn) reader() {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			continue
		}
		msgs, ok := c.unframe(data)
		c.methodMu.Lock()
		if c.stopping {
			c.methodMu.Unlock()
			return
		}
		if !ok {
			c.send(errorMsg("Bad request", data))
		}
		for _, m := range msgs {
			c.handle(m)
		}
		c.methodMu.Unlock()
	}
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
	c.enqueue(b)
}

// writeCtx has no deadline: a context that can end costs coder/websocket a timer
// registration per write, a third of the cost of a delivery. A write stuck on a dead peer
// ends when kill cancels the reader's context, which closes the connection.
var writeCtx = context.Background()

// write sends frames: on /websocket one DDP message per frame; on SockJS one a[…] frame
// that carries them all ("o", "h" and "c[…]" go as they are).
func (c *conn) write(batch []frame) error {
	if !c.sockjs {
		for _, f := range batch {
			if &f[0] == &closeFrame[0] {
				c.ws.Close(closeGoingAway, shutdownMessage)
				c.kill()
				return nil
			}
			if err := c.ws.Write(writeCtx, websocket.MessageText, f); err != nil {
				return err
			}
		}
		return nil
	}
	var b []byte
	for _, f := range batch {
		if &f[0] == &closeFrame[0] {
			if len(b) > 0 {
				if err := c.ws.Write(writeCtx, websocket.MessageText, append(b, ']')); err != nil {
					return err
				}
				b = nil
			}
			c.ws.Write(writeCtx, websocket.MessageText, []byte(`c[1001,"`+shutdownMessage+`"]`))
			c.ws.Close(closeGoingAway, shutdownMessage)
			c.kill()
			return nil
		}
		if len(f) > 0 && (f[0] == 'o' || f[0] == 'h' || f[0] == 'c') {
			if len(b) > 0 {
				if err := c.ws.Write(writeCtx, websocket.MessageText, append(b, ']')); err != nil {
					return err
				}
				b = nil
			}
			if err := c.ws.Write(writeCtx, websocket.MessageText, f); err != nil {
				return err
			}
			continue
		}
		if len(b) == 0 {
			b = append(b, "a["...)
		} else {
			b = append(b, ',')
		}
		s, _ := json.Marshal(string(f))
		b = append(b, s...)
	}
	if len(b) > 0 {
		return c.ws.Write(writeCtx, websocket.MessageText, append(b, ']'))
	}
	return nil
}
