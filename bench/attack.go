package main

// The attack scenario (-attack): one bounded probe for each availability item of issue 9
// (1–10), run against a server on this machine. It prints what each probe saw (status codes,
// sizes, latencies, rates, the server's memory when -server-pid is given) and asserts nothing
// about speed: it fails only if the server answers 500 or stops answering. Needs the users
// bench1…bench4 (-fill-db -users 4) and the room -room; users.register is probed when the
// server runs with --open-registration.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// attacker runs the probes and remembers what must fail the run.
type attacker struct {
	cl      *client
	out     io.Writer
	pid     int
	room    string
	admin   *session
	users   []*session // bench1…bench4
	mu      sync.Mutex
	e500    []string // "probe: METHOD path" of every 500
	started time.Time
}

// tally counts answers by status ("err" for a transport error).
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(code int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[string]int{}
	}
	k := strconv.Itoa(code)
	if err != nil {
		k = "err"
	}
	t.n[k]++
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.n))
	for k := range t.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s×%d", k, t.n[k])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// from is a client whose connections come from the loopback address ip: probes that lock
// out their address (failed logins, registrations) must not lock out the others.
func (a *attacker) from(ip string) *client {
	tr := &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}
	if u, err := url.Parse(a.cl.base); err != nil || !strings.HasPrefix(u.Hostname(), "127.") {
		return a.cl // not IPv4 loopback: one address for all
	}
	return &client{base: a.cl.base, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// do sends one request and records a 500 against probe.
func (a *attacker) do(ctx context.Context, probe, method, path string, s *session, body []byte) (int, []byte, time.Duration, error) {
	return a.doOn(ctx, a.cl, probe, method, path, s, body)
}

func (a *attacker) doOn(ctx context.Context, cl *client, probe, method, path string, s *session, body []byte) (int, []byte, time.Duration, error) {
	t0 := time.Now()
	code, data, err := cl.do(ctx, method, path, s, body)
	d := time.Since(t0)
	if code >= 500 && code != http.StatusInsufficientStorage {
		a.mu.Lock()
		a.e500 = append(a.e500, fmt.Sprintf("%s: %s %s → %d %.200s", probe, method, path, code, data))
		a.mu.Unlock()
	}
	return code, data, d, err
}

func (a *attacker) printf(format string, args ...any) { fmt.Fprintf(a.out, format, args...) }

// rss is the server's resident memory, if -server-pid names it.
func (a *attacker) rss() string {
	if a.pid == 0 {
		return "?"
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(a.pid) + "/status")
	if err != nil {
		return "gone"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.Join(strings.Fields(l)[1:], " ")
		}
	}
	return "?"
}

// bounded runs fn in workers goroutines until d has passed or fn returns false.
func bounded(ctx context.Context, workers int, d time.Duration, fn func(ctx context.Context, w, i int) bool) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if !fn(ctx, w, i) {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	return time.Since(t0)
}

func pctOf(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return pct(ds, p)
}

func attack(ctx context.Context, c config, out io.Writer) error {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	a := &attacker{cl: &client{base: strings.TrimRight(c.addr, "/"), http: &http.Client{Transport: tr, Timeout: 10 * time.Second}},
		out: out, pid: c.serverPID, started: time.Now()}
	a.admin = &session{username: c.user, password: c.password}
	if err := a.cl.login(ctx, a.admin); err != nil {
		return err
	}
	rid, err := a.cl.findRoom(ctx, a.admin, c.room)
	if err != nil {
		return err
	}
	a.room = rid
	for i := 1; i <= 4; i++ {
		s := &session{username: "bench" + strconv.Itoa(i), password: c.userPassword}
		if err := a.cl.login(ctx, s); err != nil {
			return fmt.Errorf("%w (create the users with -fill-db -users 4)", err)
		}
		a.users = append(a.users, s)
	}
	a.printf("attack addr=%s room=%s rss=%s\n", c.addr, rid, a.rss())
	probes := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"1-attachments", a.attachments}, {"2-login-names", a.loginNames}, {"3-failing-writes", a.failingWrites},
		{"4-big-pages", a.bigPages}, {"5-repeat-writes", a.repeatWrites}, {"6-rooms", a.rooms},
		{"7-tokens", a.tokens}, {"8-registration", a.registration}, {"9-search-offset", a.searchOffset},
		{"10-connections", a.connections},
	}
	for _, p := range probes {
		t0 := time.Now()
		err := p.fn(ctx)
		a.printf("  %s took %s rss=%s\n", p.name, time.Since(t0).Round(time.Millisecond), a.rss())
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if !a.alive(ctx) {
			return fmt.Errorf("%s: the server stopped answering /healthz", p.name)
		}
	}
	a.printf("attack done in %s\n", time.Since(a.started).Round(time.Millisecond))
	if len(a.e500) > 0 {
		for _, e := range a.e500 {
			a.printf("  500: %s\n", e)
		}
		return fmt.Errorf("%d answers were 500", len(a.e500))
	}
	return nil
}

func (a *attacker) alive(ctx context.Context) bool {
	for i := 0; i < 3; i++ {
		if code, _, _, err := a.do(ctx, "healthz", "GET", "/healthz", nil, nil); err == nil && code == 200 {
			return true
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

// Item 1: a deeply nested attachment, a big one, and the cost of reading a page afterwards.
func (a *attacker) attachments(ctx context.Context) error {
	nested := `{"roomId":"` + a.room + `","text":"nested","attachments":[` + strings.Repeat(`{"a":[`, 1400) + "1" + strings.Repeat("]}", 1400) + "]}"
	code, _, d, err := a.do(ctx, "1", "POST", "/api/v1/chat.postMessage", a.admin, []byte(nested))
	a.printf("1 nested attachment (%d bytes, depth 2800): HTTP %d in %s %v\n", len(nested), code, d.Round(time.Microsecond), errText(err))
	big := `{"roomId":"` + a.room + `","text":"big","attachments":[{"text":"` + strings.Repeat("x", 900<<10) + `"}]}`
	code, _, d, err = a.do(ctx, "1", "POST", "/api/v1/chat.postMessage", a.admin, []byte(big))
	a.printf("1 900 KiB attachment: HTTP %d in %s %v\n", code, d.Round(time.Microsecond), errText(err))
	ok := 0
	for i := 0; i < 10; i++ {
		mid := `{"roomId":"` + a.room + `","text":"mid","attachments":[{"text":"` + strings.Repeat("y", 60<<10) + `"}]}`
		if code, _, _, _ := a.do(ctx, "1", "POST", "/api/v1/chat.postMessage", a.admin, []byte(mid)); code == 200 {
			ok++
		}
	}
	a.printf("1 60 KiB attachments accepted: %d of 10\n", ok)
	code, data, d, err := a.do(ctx, "1", "GET", "/api/rooms/"+a.room+"/messages?count=1000", a.admin, nil)
	a.printf("1 page count=1000 after them: HTTP %d, %d bytes in %s %v\n", code, len(data), d.Round(time.Microsecond), errText(err))
	return nil
}

// Item 2: failed logins with 100 KiB names.
func (a *attacker) loginNames(ctx context.Context) error {
	var t tally
	before := a.rss()
	name := strings.Repeat("n", 100<<10)
	cl := a.from("127.0.0.4")
	bounded(ctx, 1, 5*time.Second, func(ctx context.Context, _, i int) bool {
		body, _ := json.Marshal(map[string]string{"user": name + strconv.Itoa(i), "password": "x"})
		code, _, _, err := a.doOn(ctx, cl, "2", "POST", "/api/login", nil, body)
		t.add(code, err)
		return i < 40
	})
	a.printf("2 41 failed logins with 100 KiB names: %s; rss %s → %s\n", &t, before, a.rss())
	return nil
}

// Item 3: sends alone, then sends beside joins of a room that does not exist.
func (a *attacker) failingWrites(ctx context.Context) error {
	sends := func(withJoins bool) (float64, *tally) {
		var n atomic.Int64
		var joins tally
		d := bounded(ctx, 8, 1500*time.Millisecond, func(ctx context.Context, w, i int) bool {
			s := a.users[w%4]
			if withJoins && w%2 == 1 {
				code, _, _, err := a.do(ctx, "3", "POST", "/api/rooms/no-such-room/join", s, []byte("{}"))
				joins.add(code, err)
				return true
			}
			code, _, _, _ := a.do(ctx, "3", "POST", "/api/rooms/"+a.room+"/send", s, []byte(`{"msg":"attack `+strconv.Itoa(i)+`"}`))
			if code == 200 {
				n.Add(1)
			}
			return true
		})
		return float64(n.Load()) / d.Seconds(), &joins
	}
	alone, _ := sends(false)
	beside, joins := sends(true)
	a.printf("3 sends/s: %.0f alone (8 clients), %.0f beside failing joins (4+4 clients; joins %s)\n", alone, beside, joins)
	return nil
}

// Item 4: 8 clients read count=1000 pages; one client times small requests meanwhile.
func (a *attacker) bigPages(ctx context.Context) error {
	var pages atomic.Int64
	var small []time.Duration
	var mu sync.Mutex
	d := bounded(ctx, 9, 2*time.Second, func(ctx context.Context, w, _ int) bool {
		if w == 8 {
			_, _, d, err := a.do(ctx, "4", "GET", "/api/info", nil, nil)
			if err == nil {
				mu.Lock()
				small = append(small, d)
				mu.Unlock()
			}
			return true
		}
		if code, _, _, _ := a.do(ctx, "4", "GET", "/api/rooms/"+a.room+"/messages?count=1000", a.users[w%4], nil); code == 200 {
			pages.Add(1)
		}
		return true
	})
	a.printf("4 count=1000 pages/s %.0f (8 clients); small requests %d (%.0f/s) p50=%s p99=%s\n",
		float64(pages.Load())/d.Seconds(), len(small), float64(len(small))/d.Seconds(), pctOf(small, 50), pctOf(small, 99))
	return nil
}

// Item 5: join/leave and edits as fast as one client goes.
func (a *attacker) repeatWrites(ctx context.Context) error {
	s := a.users[0]
	var jl tally
	bounded(ctx, 1, 3*time.Second, func(ctx context.Context, _, i int) bool {
		op := "join"
		if i%2 == 0 {
			op = "leave"
		}
		code, _, _, err := a.do(ctx, "5", "POST", "/api/rooms/GENERAL/"+op, s, []byte("{}"))
		jl.add(code, err)
		return i < 599
	})
	a.do(ctx, "5", "POST", "/api/rooms/GENERAL/join", a.users[1], []byte("{}"))
	code, data, _, _ := a.do(ctx, "5", "POST", "/api/v1/chat.postMessage", a.users[1], []byte(`{"roomId":"GENERAL","text":"to edit"}`))
	var posted struct {
		Message struct {
			ID string `json:"_id"`
		} `json:"message"`
	}
	json.Unmarshal(data, &posted)
	var ed tally
	if code == 200 {
		bounded(ctx, 1, 2*time.Second, func(ctx context.Context, _, i int) bool {
			body := `{"roomId":"GENERAL","msgId":"` + posted.Message.ID + `","text":"edit ` + strconv.Itoa(i) + `"}`
			code, _, _, err := a.do(ctx, "5", "POST", "/api/v1/chat.update", a.users[1], []byte(body))
			ed.add(code, err)
			return i < 299
		})
	}
	a.printf("5 600 join/leave: %s; 300 chat.update: %s\n", &jl, &ed)
	return nil
}

// Item 6: one user creates rooms; then the default publicRooms answer.
func (a *attacker) rooms(ctx context.Context) error {
	var t tally
	stamp := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	d := bounded(ctx, 2, 4*time.Second, func(ctx context.Context, w, i int) bool {
		body := `{"name":"atk-` + stamp + `-` + strconv.Itoa(w) + `-` + strconv.Itoa(i) + `"}`
		code, _, _, err := a.do(ctx, "6", "POST", "/api/v1/channels.create", a.users[2], []byte(body))
		t.add(code, err)
		return code == 200 || code == 429
	})
	code, data, dl, err := a.do(ctx, "6", "GET", "/api/publicRooms", a.admin, nil)
	var pr struct {
		Rooms []json.RawMessage `json:"rooms"`
		Total *int              `json:"total"`
	}
	json.Unmarshal(data, &pr)
	total := "absent"
	if pr.Total != nil {
		total = strconv.Itoa(*pr.Total)
	}
	a.printf("6 channels.create for %s: %s; publicRooms: HTTP %d, %d rooms (total %s), %d bytes in %s %v\n",
		d.Round(time.Millisecond), &t, code, len(pr.Rooms), total, len(data), dl.Round(time.Microsecond), errText(err))
	return nil
}

// Item 7: 60 logins of one user; is the first token still good?
func (a *attacker) tokens(ctx context.Context) error {
	s := a.users[3]
	// A user of the server's own bcrypt cost if registration is open (the filled users have
	// cost 10, too slow for 60 logins in a few seconds on a busy machine).
	name := "atk" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	body := `{"username":"` + name + `","email":"` + name + `@example.org","pass":"attack-pass","name":"x"}`
	if code, _, _, _ := a.doOn(ctx, a.from("127.0.0.6"), "7", "POST", "/api/v1/users.register", nil, []byte(body)); code == 200 {
		s = &session{username: name, password: "attack-pass"}
	}
	first := &session{username: s.username, password: s.password}
	if err := a.cl.login(ctx, first); err != nil {
		return err
	}
	n := 0
	bounded(ctx, 1, 6*time.Second, func(ctx context.Context, _, i int) bool {
		x := &session{username: s.username, password: s.password}
		if a.cl.login(ctx, x) == nil {
			n++
		}
		return i < 59
	})
	code, _, _, err := a.do(ctx, "7", "GET", "/api/v1/me", first, nil)
	a.printf("7 %d more logins of one user: the first token now answers HTTP %d %v\n", n, code, errText(err))
	return nil
}

// Item 8: users.register with a name already taken, as fast as one address goes.
func (a *attacker) registration(ctx context.Context) error {
	var t tally
	var lat []time.Duration
	cl := a.from("127.0.0.5")
	bounded(ctx, 1, 5*time.Second, func(ctx context.Context, _, i int) bool {
		body := `{"username":"bench1","email":"atk` + strconv.Itoa(i) + `@example.org","pass":"attack-pass","name":"x"}`
		code, _, d, err := a.doOn(ctx, cl, "8", "POST", "/api/v1/users.register", nil, []byte(body))
		t.add(code, err)
		lat = append(lat, d)
		return i < 29 && code != 401 // 401: registration is closed on this server
	})
	a.printf("8 30 users.register of a taken name: %s; p50=%s max=%s\n", &t, pctOf(lat, 50), pctOf(lat, 100))
	return nil
}

// Item 9: searches and deep offsets; small requests meanwhile.
func (a *attacker) searchOffset(ctx context.Context) error {
	var search, deep tally
	var heavy, small []time.Duration
	var mu sync.Mutex
	bounded(ctx, 5, 3*time.Second, func(ctx context.Context, w, i int) bool {
		var code int
		var d time.Duration
		var err error
		switch {
		case w == 4:
			_, _, d, err = a.do(ctx, "9", "GET", "/api/info", nil, nil)
			if err == nil {
				mu.Lock()
				small = append(small, d)
				mu.Unlock()
			}
			return true
		case w%2 == 0:
			code, _, d, err = a.do(ctx, "9", "GET", "/api/v1/chat.search?roomId="+a.room+"&searchText=zzz-not-there", a.users[w], nil)
			search.add(code, err)
		default:
			code, _, d, err = a.do(ctx, "9", "GET", "/api/v1/channels.history?roomId="+a.room+"&offset=90000&count=50", a.users[w], nil)
			deep.add(code, err)
		}
		if code == 200 {
			mu.Lock()
			heavy = append(heavy, d)
			mu.Unlock()
		}
		return true
	})
	a.printf("9 chat.search: %s; offset=90000: %s; answered ones p50=%s max=%s; small requests p50=%s p99=%s\n",
		&search, &deep, pctOf(heavy, 50), pctOf(heavy, 100), pctOf(small, 50), pctOf(small, 99))
	return nil
}

// Item 10: slow-header connections, from one address and from many; a normal request meanwhile
// (from another loopback address, so that the per-address cap does not hide it).
func (a *attacker) connections(ctx context.Context) error {
	u, _ := url.Parse(a.cl.base)
	port := u.Port()
	dial := func(from string, n int) (conns []net.Conn, failed int) {
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		for i := 0; i < n; i++ {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
			if err != nil {
				failed++
				continue
			}
			io.WriteString(c, "GET /api/info HTTP/1.1\r\nHost: x\r\n") // never finished
			conns = append(conns, c)
		}
		return conns, failed
	}
	// held counts the connections the server has not closed (a refused one reads EOF).
	held := func(conns []net.Conn) (open, closed int) {
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				closed++
			} else {
				open++
			}
		}
		return open, closed
	}
	normal := func() (string, time.Duration) {
		d := net.Dialer{Timeout: 8 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		t0 := time.Now()
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		if err != nil {
			return "dial: " + err.Error(), time.Since(t0)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(8 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "read: " + err.Error(), time.Since(t0)
		}
		return strings.TrimSpace(line), time.Since(t0)
	}
	if !strings.HasPrefix(u.Hostname(), "127.") {
		a.printf("10 skipped: needs a 127.x address to vary the client address\n")
		return nil
	}
	one, failed := dial("127.0.0.3", 200)
	time.Sleep(200 * time.Millisecond)
	st, d := normal()
	open, closed := held(one)
	a.printf("10 200 slow-header connections from one address: %d held, %d closed, %d not dialled; a normal request: %q in %s; rss=%s\n",
		open, closed+failed, failed, st, d.Round(time.Millisecond), a.rss())
	for _, c := range one {
		c.Close()
	}
	var many []net.Conn
	for i := 0; i < 10; i++ {
		cs, f := dial("127.0.1."+strconv.Itoa(10+i), 60)
		many = append(many, cs...)
		failed += f
	}
	time.Sleep(200 * time.Millisecond)
	st, d = normal()
	open, closed = held(many)
	a.printf("10 600 slow-header connections from 10 addresses: %d not closed, %d closed; a normal request: %q in %s; rss=%s\n",
		open, closed, st, d.Round(time.Millisecond), a.rss())
	for _, c := range many {
		c.Close()
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}
