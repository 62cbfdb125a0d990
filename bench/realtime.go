package main

// The realtime workloads: N DDP subscribers on one room over /websocket.
//
//	realtime  messages are posted over REST at -rate per second; every subscriber should get
//	          every one. Reports sends, deliveries per second, missing deliveries and the
//	          send→receive latency (the message text carries its send time).
//	idle      the subscribers only stay connected for -d (measure the server's memory and CPU
//	          meanwhile, e.g. with ps); a send workload run beside it measures REST sends with
//	          subscribers attached.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

var wsHTTP = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// stampMark precedes the send time (unix nanoseconds) in a realtime message's text.
const stampMark = "rt@"

type subscriber struct {
	ws   *websocket.Conn
	lat  []time.Duration
	got  int
	errs string
}

// dialSubscriber opens a socket, logs in with the session's token and subscribes to the room.
func (cl *client) dialSubscriber(ctx context.Context, s *session, rid string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(cl.base, "http") + "/websocket"
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Not cl.http: its transport caps connections per host at -c, and every socket holds one.
	ws, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: wsHTTP})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	for _, m := range []string{
		`{"msg":"connect","version":"1","support":["1"]}`,
		`{"msg":"method","id":"1","method":"login","params":[{"resume":"` + s.token + `"}]}`,
		`{"msg":"sub","id":"2","name":"stream-room-messages","params":["` + rid + `",false]}`,
	} {
		if err := ws.Write(dctx, websocket.MessageText, []byte(m)); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	for {
		_, data, err := ws.Read(dctx)
		if err != nil {
			ws.CloseNow()
			return nil, err
		}
		switch {
		case bytes.Contains(data, []byte(`"msg":"ready"`)):
			return ws, nil
		case bytes.Contains(data, []byte(`"msg":"nosub"`)), bytes.Contains(data, []byte(`"error"`)):
			ws.CloseNow()
			return nil, fmt.Errorf("refused: %s", data)
		}
	}
}

// read counts the room's messages that carry a send stamp until the socket closes.
func (sub *subscriber) read(ctx context.Context, measureFrom time.Time) {
	for {
		_, data, err := sub.ws.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				sub.errs = err.Error()
			}
			return
		}
		if bytes.Contains(data, []byte(`"msg":"ping"`)) {
			sub.ws.Write(ctx, websocket.MessageText, []byte(`{"msg":"pong"}`))
			continue
		}
		i := bytes.Index(data, []byte(stampMark))
		if i < 0 {
			continue
		}
		j := i + len(stampMark)
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		ns, err := strconv.ParseInt(string(data[j:k]), 10, 64)
		if err != nil {
			continue
		}
		sent := time.Unix(0, ns)
		if sent.Before(measureFrom) {
			continue
		}
		sub.got++
		sub.lat = append(sub.lat, time.Since(sent))
	}
}

func realtimeLoad(ctx context.Context, c config, cl *client, sessions []*session, roomID string, out io.Writer) error {
	fmt.Fprintf(out, "workload=%s subscribers=%d rate=%g/s d=%s warmup=%s room=%s users=%d addr=%s\n",
		c.workload, c.subscribers, c.rate, c.duration, c.warmup, roomID, len(sessions), c.addr)
	subs := make([]*subscriber, c.subscribers)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64) // dial at most 64 at once
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := cl.dialSubscriber(ctx, sessions[i%len(sessions)], roomID)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			subs[i] = &subscriber{ws: ws}
		}(i)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		for _, s := range subs {
			if s != nil {
				s.ws.CloseNow()
			}
		}
		return fmt.Errorf("%d of %d subscribers failed to connect: %v", n, c.subscribers, firstErr.Load())
	}
	fmt.Fprintf(out, "subscribed %d sockets in %s\n", c.subscribers, time.Since(start).Round(time.Millisecond))

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	measureFrom := time.Now().Add(c.warmup)
	for _, s := range subs {
		wg.Add(1)
		go func(s *subscriber) { defer wg.Done(); s.read(rctx, measureFrom) }(s)
	}

	var sent, sendErrs int
	if c.workload == "realtime" {
		sent, sendErrs = cl.postAtRate(ctx, c, sessions[0], roomID, measureFrom)
		time.Sleep(2 * time.Second) // let the last deliveries arrive
	} else {
		time.Sleep(c.warmup + c.duration)
	}
	cancel()
	for _, s := range subs {
		s.ws.CloseNow()
	}
	wg.Wait()

	if c.workload != "realtime" {
		fmt.Fprintf(out, "idle     sockets=%d held=%s\n", c.subscribers, c.duration)
		return nil
	}
	var all []time.Duration
	got, broken := 0, 0
	for _, s := range subs {
		got += s.got
		all = append(all, s.lat...)
		if s.errs != "" {
			broken++
		}
	}
	want := sent * c.subscribers
	fmt.Fprintf(out, "sent     ok=%-8d rate=%.1f/s errors=%d\n", sent, float64(sent)/c.duration.Seconds(), sendErrs)
	if len(all) == 0 {
		return fmt.Errorf("no delivery measured (sent %d)", sent)
	}
	slices.Sort(all)
	fmt.Fprintf(out, "delivery ok=%-8d want=%-8d missing=%d deliveries/s=%.0f p50=%s p90=%s p99=%s max=%s closed-sockets=%d\n",
		got, want, want-got, float64(got)/c.duration.Seconds(), pct(all, 50), pct(all, 90), pct(all, 99),
		all[len(all)-1].Round(time.Microsecond), broken)
	return nil
}

// postAtRate posts stamped messages over REST at c.rate per second for the warmup and the
// measured duration, and returns how many measured ones succeeded and failed.
func (cl *client) postAtRate(ctx context.Context, c config, s *session, rid string, measureFrom time.Time) (ok, failed int) {
	stopAt := measureFrom.Add(c.duration)
	interval := time.Duration(float64(time.Second) / c.rate)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32) // posts in flight
	next := time.Now()
	for next.Before(stopAt) {
		time.Sleep(time.Until(next))
		t0 := time.Now()
		sem <- struct{}{}
		wg.Add(1)
		go func(t0 time.Time) {
			defer wg.Done()
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]string{"msg": stampMark + strconv.FormatInt(t0.UnixNano(), 10)})
			code, _, err := cl.do(ctx, http.MethodPost, "/api/rooms/"+rid+"/send", s, body)
			if t0.Before(measureFrom) {
				return
			}
			mu.Lock()
			if err == nil && code == http.StatusOK {
				ok++
			} else {
				failed++
			}
			mu.Unlock()
		}(t0)
		next = next.Add(interval)
	}
	wg.Wait()
	return ok, failed
}
