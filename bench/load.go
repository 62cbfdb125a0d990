package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// checkLoopback refuses any address that is not http on this machine.
func checkLoopback(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-addr %q: want http://127.0.0.1:PORT", addr)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed", addr)
	}
	return nil
}

type session struct {
	username, password string
	userID, token      string
}

type op int

const (
	opSend op = iota
	opHistory
	opLogin
	opBadJoin // joins a room that does not exist: a cheap failing write (answered 404)
	nOps
)

var opNames = [nOps]string{"send", "history", "login", "badjoin"}

// recorder is one worker's measurements; workers never share one, so no locks.
type recorder struct {
	lat  [nOps][]time.Duration
	errs map[string]int
}

type client struct {
	base string
	// subBase, if set, is where the realtime subscribers connect (-sub-addr: another node).
	subBase string
	http    *http.Client
	roomID  string
}

func (cl *client) do(ctx context.Context, method, path string, s *session, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s != nil && s.token != "" {
		req.Header.Set("X-User-Id", s.userID)
		req.Header.Set("X-Auth-Token", s.token)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (cl *client) login(ctx context.Context, s *session) error {
	body, _ := json.Marshal(map[string]string{"user": s.username, "password": s.password})
	code, data, err := cl.do(ctx, http.MethodPost, "/api/login", nil, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("login %s: HTTP %d: %s", s.username, code, strings.TrimSpace(string(data)))
	}
	var out struct {
		Data struct{ AuthToken, UserID string } `json:"data"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Data.AuthToken == "" {
		return fmt.Errorf("login %s: unexpected answer", s.username)
	}
	s.token, s.userID = out.Data.AuthToken, out.Data.UserID
	return nil
}

// findRoom resolves -room (a name or an id) among the public rooms.
func (cl *client) findRoom(ctx context.Context, s *session, room string) (string, error) {
	code, data, err := cl.do(ctx, http.MethodGet, "/api/publicRooms", s, nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("publicRooms: HTTP %d", code)
	}
	var out struct {
		Rooms []struct {
			ID   string `json:"_id"`
			Name string `json:"name"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("publicRooms: %w", err)
	}
	for _, r := range out.Rooms {
		if r.ID == room || strings.EqualFold(r.Name, room) {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("no public room named %q (run -fill-db first, or pass -room GENERAL)", room)
}

func load(ctx context.Context, c config, out io.Writer) error {
	tr := &http.Transport{
		MaxIdleConns:        c.conns,
		MaxIdleConnsPerHost: c.conns,
		MaxConnsPerHost:     c.conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	cl := &client{base: strings.TrimRight(c.addr, "/"), subBase: strings.TrimRight(c.subAddr, "/"), http: &http.Client{Transport: tr, Timeout: c.timeout}}

	admin := &session{username: c.user, password: c.password}
	if err := cl.login(ctx, admin); err != nil {
		return err
	}
	roomID, err := cl.findRoom(ctx, admin, c.room)
	if err != nil {
		return err
	}
	cl.roomID = roomID
	if c.wrkEnv {
		fmt.Fprintf(out, "export RL_UID=%s RL_TOKEN=%s RL_ROOM=%s\n", admin.userID, admin.token, roomID)
		return nil
	}

	sessions := []*session{admin}
	if c.users > 0 {
		sessions = make([]*session, c.users)
		var wg sync.WaitGroup
		errc := make(chan error, c.users)
		for i := range sessions {
			sessions[i] = &session{username: "bench" + strconv.Itoa(i+1), password: c.userPassword}
			wg.Add(1)
			go func(s *session) {
				defer wg.Done()
				if c.workload != "login" {
					errc <- cl.login(ctx, s)
				}
			}(sessions[i])
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				return fmt.Errorf("%w (create the users with -fill-db -users N)", err)
			}
		}
	}
	if c.workload == "realtime" || c.workload == "idle" || c.workload == "fanout" {
		if c.workload == "fanout" {
			c.rate = 0 // both phases post as fast as -c senders go
		}
		return realtimeLoad(ctx, c, cl, sessions, roomID, out)
	}
	pick, err := workload(c)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "workload=%s c=%d d=%s warmup=%s room=%s users=%d count=%d addr=%s\n",
		c.workload, c.conns, c.duration, c.warmup, roomID, len(sessions), c.count, c.addr)

	ctx, cancel := context.WithTimeout(ctx, c.warmup+c.duration+c.timeout)
	defer cancel()
	measureFrom := time.Now().Add(c.warmup)
	stopAt := measureFrom.Add(c.duration)
	var issued atomic.Int64
	recs := make([]*recorder, c.conns)
	var wg sync.WaitGroup
	for w := range recs {
		rec := &recorder{errs: map[string]int{}}
		recs[w] = rec
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := sessions[w%len(sessions)]
			for i := 0; ; i++ {
				if c.n > 0 && issued.Add(1) > int64(c.n) {
					return
				}
				t0 := time.Now()
				if !t0.Before(stopAt) {
					return
				}
				o := pick(w, i)
				errKey := cl.one(ctx, o, s, w, i, c.count)
				if t0.Before(measureFrom) {
					continue
				}
				if errKey != "" {
					rec.errs[opNames[o]+": "+errKey]++
					continue
				}
				rec.lat[o] = append(rec.lat[o], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	if elapsed > c.duration {
		elapsed = c.duration // workers stop at stopAt; the tail is their last request
	}
	if elapsed <= 0 {
		return errors.New("run ended before the measurement started (raise -n or lower -warmup)")
	}
	report(out, recs, elapsed)
	return nil
}

// workload returns which operation worker w does at its i-th request.
func workload(c config) (func(w, i int) op, error) {
	switch c.workload {
	case "send":
		return func(int, int) op { return opSend }, nil
	case "history":
		return func(int, int) op { return opHistory }, nil
	case "login":
		return func(int, int) op { return opLogin }, nil
	case "mixed":
		return func(w, i int) op {
			if (w+i)%c.sendEvery == 0 {
				return opSend
			}
			return opHistory
		}, nil
	case "badjoin":
		// Half the workers send, the other half join a room that does not exist (issue 9
		// item 3: failing writes must not break up the senders' group commit).
		return func(w, i int) op {
			if w%2 == 1 {
				return opBadJoin
			}
			return opSend
		}, nil
	}
	return nil, fmt.Errorf("-workload %q: want send, history, login, mixed or badjoin", c.workload)
}

// one runs one request and returns "" on success or a short error class.
func (cl *client) one(ctx context.Context, o op, s *session, w, i, count int) string {
	var code int
	var data []byte
	var err error
	switch o {
	case opSend:
		body := []byte(`{"msg":"bench message ` + strconv.Itoa(w) + `-` + strconv.Itoa(i) + `"}`)
		code, data, err = cl.do(ctx, http.MethodPost, "/api/rooms/"+cl.roomID+"/send", s, body)
	case opHistory:
		code, data, err = cl.do(ctx, http.MethodGet, "/api/rooms/"+cl.roomID+"/messages?count="+strconv.Itoa(count), s, nil)
	case opLogin:
		body, _ := json.Marshal(map[string]string{"user": s.username, "password": s.password})
		code, data, err = cl.do(ctx, http.MethodPost, "/api/login", nil, body)
	case opBadJoin:
		code, data, err = cl.do(ctx, http.MethodPost, "/api/rooms/no-such-room-"+strconv.Itoa(w)+"/join", s, []byte("{}"))
		if err == nil && code == http.StatusNotFound {
			return "" // the expected refusal
		}
	}
	switch {
	case err != nil:
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
			return "timeout"
		}
		return "transport error"
	case code != http.StatusOK:
		return "HTTP " + strconv.Itoa(code)
	case !bytes.Contains(data, []byte(`"success"`)):
		return "no success in body"
	}
	return ""
}

func report(out io.Writer, recs []*recorder, elapsed time.Duration) {
	errs := map[string]int{}
	nerr := 0
	for _, r := range recs {
		for k, v := range r.errs {
			errs[k] += v
			nerr += v
		}
	}
	total := 0
	for o := op(0); o < nOps; o++ {
		var all []time.Duration
		for _, r := range recs {
			all = append(all, r.lat[o]...)
		}
		if len(all) == 0 {
			continue
		}
		total += len(all)
		slices.Sort(all)
		fmt.Fprintf(out, "%-8s ok=%-8d req/s=%-9.0f p50=%-9s p90=%-9s p99=%-9s max=%s\n",
			opNames[o], len(all), float64(len(all))/elapsed.Seconds(),
			pct(all, 50), pct(all, 90), pct(all, 99), all[len(all)-1].Round(time.Microsecond))
	}
	fmt.Fprintf(out, "total    ok=%-8d req/s=%-9.0f errors=%d elapsed=%s\n",
		total, float64(total)/elapsed.Seconds(), nerr, elapsed.Round(time.Millisecond))
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "  error %s: %d\n", k, errs[k])
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	if i > 0 {
		i--
	}
	return sorted[i].Round(time.Microsecond)
}
