package main

// The realtime workloads (issue 11): N websocket subscribers of one room.
//
//	realtime  messages are posted over REST at -rate per second (-rate 0: as fast as -c
//	          senders go); every subscriber should get every one. Reports sends, deliveries
//	          per second, missing deliveries, closed sockets and the send→receive latency (the
//	          message text carries its send time).
//	fanout    REST send throughput with and without subscribers, in one run: -c senders post
//	          as fast as they can for -d with no subscriber, then -subscribers sockets
//	          subscribe and the same senders post for -d again; reports both rates, their
//	          ratio and the deliveries of the second phase.
//	idle      the subscribers only stay connected for -d (measure the server's memory and CPU
//	          meanwhile, e.g. with ps).
//	gotify    the realtime workload against Gotify's websocket /stream (-addr is Gotify's,
//	          -user/-password its admin): an application and a client are created, the
//	          subscribers open /stream with the client's token, messages are posted to
//	          POST /message with the application's token.
//
// The subscribers run on the same cores as the server, so they are made cheap: each socket
// is read through a 32 KiB buffer, frames are counted from their headers, a frame's payload
// is only searched for the send stamp (never decoded), the frames of one read(2) share one
// clock reading, and the latencies go into a fixed histogram (about 1.5 % resolution)
// instead of a list.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

var wsHTTP = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}

// stampMark precedes the send time (unix nanoseconds) in a realtime message's text.
const stampMark = "rt@"

// latHist is a latency histogram: microseconds, exact below 128 µs, then 64 buckets per
// power of two.
type latHist [64 * 28]uint32

func histIndex(d time.Duration) int {
	v := uint64(max(d/time.Microsecond, 0))
	if v < 128 {
		return int(v)
	}
	s := bits.Len64(v) - 7
	i := s*64 + int(v>>s)
	if i >= len(latHist{}) {
		i = len(latHist{}) - 1
	}
	return i
}

func histValue(i int) time.Duration {
	if i < 128 {
		return time.Duration(i) * time.Microsecond
	}
	s := i/64 - 1
	return time.Duration(uint64(i-s*64)<<s) * time.Microsecond
}

func (h *latHist) add(d time.Duration) { h[histIndex(d)]++ }

func (h *latHist) merge(o *latHist) {
	for i, n := range o {
		h[i] += n
	}
}

// pct is the p-th percentile (the upper end of its bucket).
func (h *latHist) pct(p float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += uint64(n)
	}
	want := uint64(float64(total)*p/100 + 0.5)
	var cum uint64
	for i, n := range h {
		cum += uint64(n)
		if cum >= want && cum > 0 {
			if i+1 < len(h) {
				return histValue(i + 1)
			}
			return histValue(i)
		}
	}
	return 0
}

// wsSub is one subscriber socket.
type wsSub struct {
	conn net.Conn
	br   *bufio.Reader
	got  atomic.Int64 // stamped frames sent at or after the measurement start
	hist latHist
	errs string
}

// dialWS opens a websocket with a 32 KiB read buffer.
func dialWS(ctx context.Context, url string) (*wsSub, error) {
	d := ws.Dialer{ReadBufferSize: 32 << 10, Timeout: 30 * time.Second}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(conn, 32<<10)
	}
	return &wsSub{conn: conn, br: br}, nil
}

// readText returns the next text message (handshake use only: it allocates).
func (s *wsSub) readText() ([]byte, error) {
	for {
		h, err := ws.ReadHeader(s.br)
		if err != nil {
			return nil, err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(s.br, p); err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpText:
			return p, nil
		case ws.OpClose:
			return nil, fmt.Errorf("closed by the server: %q", p)
		case ws.OpPing:
			wsutil.WriteClientMessage(s.conn, ws.OpPong, p)
		}
	}
}

// dialSubscriber opens /websocket, logs in with the session's token and subscribes to the room.
func (cl *client) dialSubscriber(ctx context.Context, s *session, rid string) (*wsSub, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	base := cl.base
	if cl.subBase != "" {
		base = cl.subBase // another node: cross-node delivery
	}
	sub, err := dialWS(dctx, "ws"+strings.TrimPrefix(base, "http")+"/websocket")
	if err != nil {
		return nil, err
	}
	sub.conn.SetDeadline(time.Now().Add(30 * time.Second))
	for _, m := range []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","id":"1","method":"login","params":[{"resume":"` + s.token + `"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["` + rid + `",false]}`,
	} {
		if err := wsutil.WriteClientText(sub.conn, []byte(m)); err != nil {
			sub.conn.Close()
			return nil, err
		}
	}
	for {
		data, err := sub.readText()
		if err != nil {
			sub.conn.Close()
			return nil, err
		}
		switch {
		case bytes.Contains(data, []byte(`"msg":"ready"`)):
			sub.conn.SetDeadline(time.Time{})
			return sub, nil
		case bytes.Contains(data, []byte(`"msg":"nosub"`)), bytes.Contains(data, []byte(`"error"`)):
			sub.conn.Close()
			return nil, fmt.Errorf("refused: %s", data)
		}
	}
}

var pingMsg, pongMsg = []byte(`"msg":"ping"`), []byte(`{"msg":"pong"}`)

// read counts the stamped frames until the socket closes; stopping tells an expected end.
func (s *wsSub) read(measureFrom int64, stopping *atomic.Bool) {
	var hdr [ws.MaxHeaderSize - 2]byte
	var now int64
	for {
		// The frames of one read(2) arrived together: one clock reading serves them all.
		fresh := s.br.Buffered() == 0
		h, err := ws.ReadHeaderBuffer(s.br, hdr[:])
		if fresh {
			now = time.Now().UnixNano()
		}
		if err != nil {
			if !stopping.Load() {
				s.errs = err.Error()
			}
			return
		}
		n := int(h.Length)
		var p []byte
		peeked := n <= s.br.Size()
		if peeked {
			p, err = s.br.Peek(n)
		} else {
			p = make([]byte, n)
			_, err = io.ReadFull(s.br, p)
		}
		if err != nil {
			if !stopping.Load() {
				s.errs = err.Error()
			}
			return
		}
		switch h.OpCode {
		case ws.OpClose:
			if !stopping.Load() {
				s.errs = "closed by the server"
			}
			return
		case ws.OpPing:
			wsutil.WriteClientMessage(s.conn, ws.OpPong, bytes.Clone(p))
		case ws.OpText:
			if i := bytes.Index(p, []byte(stampMark)); i >= 0 {
				var ns int64
				for _, b := range p[i+len(stampMark):] {
					if b < '0' || b > '9' {
						break
					}
					ns = ns*10 + int64(b-'0')
				}
				if ns > 0 && ns >= measureFrom {
					s.got.Add(1)
					s.hist.add(time.Duration(now - ns))
				}
			} else if n < 64 && bytes.Contains(p, pingMsg) {
				wsutil.WriteClientText(s.conn, pongMsg)
			}
		}
		if peeked {
			s.br.Discard(n)
		}
	}
}

// subscribers dials n sockets, at most 64 at once.
func subscribers(ctx context.Context, n int, dial func(i int) (*wsSub, error)) ([]*wsSub, error) {
	subs := make([]*wsSub, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := dial(i)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			subs[i] = s
		}(i)
	}
	wg.Wait()
	if k := failed.Load(); k > 0 {
		for _, s := range subs {
			if s != nil {
				s.conn.Close()
			}
		}
		return nil, fmt.Errorf("%d of %d subscribers failed to connect: %v", k, n, firstErr.Load())
	}
	return subs, nil
}

// poster sends one stamped message; it reports whether the server took it.
type poster func(ctx context.Context, worker int, text string) bool

// sendStats is what one sending phase did.
type sendStats struct {
	ok, failed int
	cpu        string // CPU per send in the measured window (cpuClock)
}

// postPhase posts stamped messages for the warmup and the measured duration, at rate per
// second or (rate 0) as fast as conns senders go, and counts the measured ones.
func postPhase(ctx context.Context, c config, post poster, measureFrom time.Time) sendStats {
	stopAt := measureFrom.Add(c.duration)
	clock := cpuClock{c.serverPID}
	cpu0, cpu1 := make(chan cpuTimes, 1), make(chan cpuTimes, 1)
	time.AfterFunc(time.Until(measureFrom), func() { cpu0 <- clock.now() })
	time.AfterFunc(time.Until(stopAt), func() { cpu1 <- clock.now() })
	var ok, failed atomic.Int64
	count := func(t0 time.Time, good bool) {
		if t0.Before(measureFrom) {
			return
		}
		if good {
			ok.Add(1)
		} else {
			failed.Add(1)
		}
	}
	var wg sync.WaitGroup
	if c.rate == 0 {
		for w := 0; w < c.conns; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for {
					t0 := time.Now()
					if !t0.Before(stopAt) {
						return
					}
					count(t0, post(ctx, w, stampMark+strconv.FormatInt(t0.UnixNano(), 10)))
				}
			}(w)
		}
	} else {
		interval := time.Duration(float64(time.Second) / c.rate)
		sem := make(chan struct{}, max(c.conns, 32)) // posts in flight
		next := time.Now()
		for i := 0; next.Before(stopAt); i++ {
			time.Sleep(time.Until(next))
			t0 := time.Now()
			sem <- struct{}{}
			wg.Add(1)
			go func(i int, t0 time.Time) {
				defer wg.Done()
				defer func() { <-sem }()
				count(t0, post(ctx, i, stampMark+strconv.FormatInt(t0.UnixNano(), 10)))
			}(i, t0)
			next = next.Add(interval)
		}
	}
	wg.Wait()
	st := sendStats{ok: int(ok.Load()), failed: int(failed.Load())}
	st.cpu = clock.perSend(<-cpu0, <-cpu1, st.ok)
	return st
}

// restPoster posts over rocketlite's REST API 0.1, spreading the senders over the sessions.
func (cl *client) restPoster(sessions []*session, rid string) poster {
	return func(ctx context.Context, w int, text string) bool {
		code, _, err := cl.do(ctx, http.MethodPost, "/api/rooms/"+rid+"/send", sessions[w%len(sessions)], []byte(`{"msg":"`+text+`"}`))
		return err == nil && code == http.StatusOK
	}
}

// deliveryRun reads subs while phase posts, waits for the deliveries to settle, and reports.
// With elsewhere set, the subscribers listen to another room than the one posted to: none
// of them should get anything, and the run measures what attached sockets cost the sends.
func deliveryRun(ctx context.Context, c config, subs []*wsSub, post poster, elsewhere bool, out io.Writer) (sendStats, error) {
	measureFrom := time.Now().Add(c.warmup)
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func(s *wsSub) { defer wg.Done(); s.read(measureFrom.UnixNano(), &stopping) }(s)
	}
	st := postPhase(ctx, c, post, measureFrom)
	want := int64(st.ok) * int64(len(subs))
	if elsewhere {
		want = 0
	}
	total := func() (n int64) {
		for _, s := range subs {
			n += s.got.Load()
		}
		return n
	}
	// Let the last deliveries arrive: until all are in, or nothing moved for 2 s.
	last, lastMove, settleStart := total(), time.Now(), time.Now()
	for last < want && time.Since(lastMove) < 2*time.Second && time.Since(settleStart) < 30*time.Second {
		time.Sleep(50 * time.Millisecond)
		if n := total(); n != last {
			last, lastMove = n, time.Now()
		}
	}
	settle := time.Since(settleStart)
	stopping.Store(true)
	for _, s := range subs {
		s.conn.Close()
	}
	wg.Wait()
	var h latHist
	got, broken := int64(0), 0
	firstErr := ""
	for _, s := range subs {
		got += s.got.Load()
		h.merge(&s.hist)
		if s.errs != "" {
			broken++
			if firstErr == "" {
				firstErr = s.errs
			}
		}
	}
	mode := "max"
	if c.rate > 0 {
		mode = strconv.FormatFloat(c.rate, 'f', -1, 64) + "/s"
	}
	fmt.Fprintf(out, "sent     ok=%-8d rate=%.1f/s (%s, c=%d) errors=%d %s\n", st.ok, float64(st.ok)/c.duration.Seconds(), mode, c.conns, st.failed, st.cpu)
	if elsewhere {
		fmt.Fprintf(out, "delivery none expected (subscribers of another room) got=%d closed-sockets=%d\n", got, broken)
		if got != 0 || broken != 0 {
			return st, fmt.Errorf("subscribers of another room got %d messages, %d sockets closed", got, broken)
		}
		return st, nil
	}
	if got == 0 {
		return st, fmt.Errorf("no delivery measured (sent %d)", st.ok)
	}
	fmt.Fprintf(out, "delivery ok=%-8d want=%-8d missing=%d deliveries/s=%.0f p50=%s p90=%s p99=%s max=%s closed-sockets=%d settled-in=%s\n",
		got, want, want-got, float64(got)/c.duration.Seconds(), h.pct(50), h.pct(90), h.pct(99), h.pct(100),
		broken, settle.Round(time.Millisecond))
	if firstErr != "" {
		fmt.Fprintf(out, "  first socket error: %s\n", firstErr)
	}
	return st, nil
}

func realtimeLoad(ctx context.Context, c config, cl *client, sessions []*session, roomID string, out io.Writer) error {
	fmt.Fprintf(out, "workload=%s subscribers=%d rate=%g/s c=%d d=%s warmup=%s room=%s users=%d addr=%s\n",
		c.workload, c.subscribers, c.rate, c.conns, c.duration, c.warmup, roomID, len(sessions), c.addr)
	post := cl.restPoster(sessions, roomID)
	var alone sendStats
	if c.workload == "fanout" {
		alone = postPhase(ctx, c, post, time.Now().Add(c.warmup))
		fmt.Fprintf(out, "alone    ok=%-8d req/s=%.0f errors=%d (no subscriber) %s\n", alone.ok, float64(alone.ok)/c.duration.Seconds(), alone.failed, alone.cpu)
	}
	subRoom := roomID
	if c.subRoom != "" {
		id, err := cl.findRoom(ctx, sessions[0], c.subRoom)
		if err != nil {
			return err
		}
		subRoom = id
	}
	start := time.Now()
	subs, err := subscribers(ctx, c.subscribers, func(i int) (*wsSub, error) {
		return cl.dialSubscriber(ctx, sessions[i%len(sessions)], subRoom)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subscribed %d sockets in %s\n", c.subscribers, time.Since(start).Round(time.Millisecond))
	if c.workload == "idle" {
		var stopping atomic.Bool
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Add(1)
			go func(s *wsSub) { defer wg.Done(); s.read(0, &stopping) }(s)
		}
		time.Sleep(c.warmup + c.duration)
		stopping.Store(true)
		broken := 0
		for _, s := range subs {
			s.conn.Close()
		}
		wg.Wait()
		for _, s := range subs {
			if s.errs != "" {
				broken++
			}
		}
		fmt.Fprintf(out, "idle     sockets=%d held=%s closed-by-server=%d\n", c.subscribers, c.duration, broken)
		return nil
	}
	with, err := deliveryRun(ctx, c, subs, post, subRoom != roomID, out)
	if err != nil {
		return err
	}
	if c.workload == "fanout" && alone.ok > 0 {
		fmt.Fprintf(out, "fanout   alone=%.0f req/s with-%d-subscribers=%.0f req/s ratio=%.1f%%\n",
			float64(alone.ok)/c.duration.Seconds(), c.subscribers, float64(with.ok)/c.duration.Seconds(),
			100*float64(with.ok)/float64(alone.ok))
	}
	return nil
}

// gotifyLoad runs the realtime workload against Gotify (github.com/gotify/server).
func gotifyLoad(ctx context.Context, c config, out io.Writer) error {
	base := strings.TrimRight(c.addr, "/")
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.password))
	call := func(method, path string, hdr map[string]string, body any) (int, []byte, error) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := wsHTTP.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		return res.StatusCode, data, err
	}
	token := func(path string) (string, error) {
		code, data, err := call(http.MethodPost, path, map[string]string{"Authorization": basic}, map[string]string{"name": "rocketlite-bench"})
		if err != nil {
			return "", err
		}
		var v struct{ Token string }
		if code != http.StatusOK || json.Unmarshal(data, &v) != nil || v.Token == "" {
			return "", fmt.Errorf("gotify POST %s: HTTP %d: %s", path, code, bytes.TrimSpace(data))
		}
		return v.Token, nil
	}
	appToken, err := token("/application")
	if err != nil {
		return err
	}
	clientToken, err := token("/client")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "workload=gotify subscribers=%d rate=%g/s c=%d d=%s warmup=%s addr=%s\n",
		c.subscribers, c.rate, c.conns, c.duration, c.warmup, c.addr)
	start := time.Now()
	streamURL := "ws" + strings.TrimPrefix(base, "http") + "/stream?token=" + clientToken
	subs, err := subscribers(ctx, c.subscribers, func(int) (*wsSub, error) { return dialWS(ctx, streamURL) })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subscribed %d sockets in %s\n", c.subscribers, time.Since(start).Round(time.Millisecond))
	post := func(ctx context.Context, _ int, text string) bool {
		code, _, err := call(http.MethodPost, "/message", map[string]string{"X-Gotify-Key": appToken},
			map[string]any{"title": "bench", "message": text, "priority": 1})
		return err == nil && code == http.StatusOK
	}
	_, err = deliveryRun(ctx, c, subs, post, false, out)
	return err
}

// cpuClock reads the CPU time of the server (-server-pid, from /proc) and of this process,
// so a phase can report what each spent per send: a steadier figure than rates on a shared
// machine.
type cpuClock struct{ pid int }

type cpuTimes struct{ server, self time.Duration }

func (k cpuClock) now() cpuTimes {
	var t cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if k.pid > 0 {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(k.pid) + "/stat"); err == nil {
			// Fields after the command name (which is in parentheses): utime is the 14th
			// field of the line, stime the 15th, in clock ticks (100 per second on Linux).
			if i := bytes.LastIndexByte(b, ')'); i > 0 {
				f := strings.Fields(string(b[i+1:]))
				if len(f) > 13 {
					u, _ := strconv.ParseInt(f[11], 10, 64)
					s, _ := strconv.ParseInt(f[12], 10, 64)
					t.server = time.Duration(u+s) * 10 * time.Millisecond
				}
			}
		}
	}
	return t
}

// perSend formats the CPU spent between a and b per send.
func (k cpuClock) perSend(a, b cpuTimes, sends int) string {
	if sends == 0 {
		return ""
	}
	s := fmt.Sprintf("bench-cpu=%s (%s/send)", (b.self - a.self).Round(time.Millisecond), ((b.self - a.self) / time.Duration(sends)).Round(time.Microsecond))
	if k.pid > 0 {
		s = fmt.Sprintf("server-cpu=%s (%s/send) ", (b.server-a.server).Round(10*time.Millisecond), ((b.server-a.server)/time.Duration(sends)).Round(time.Microsecond)) + s
	}
	return s
}
