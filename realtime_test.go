package main

// The realtime API against the whole program: SIGKILL never leaves an event out that could be
// lost (events follow commits), and SIGTERM closes sockets with a close frame.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"rocketlite/store"
)

// ddpClient is a minimal DDP client: it logs in and subscribes to a room's messages, and
// records the text of every message event.
type ddpClient struct {
	ws    *websocket.Conn
	mu    sync.Mutex
	texts []string
	ready chan struct{}
	done  chan error
}

func dialDDP(t *testing.T, base, token, rid string, hc ...*http.Client) *ddpClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var opts *websocket.DialOptions
	if len(hc) > 0 {
		opts = &websocket.DialOptions{HTTPClient: hc[0]}
	}
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/websocket", opts)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 22)
	c := &ddpClient{ws: ws, ready: make(chan struct{}), done: make(chan error, 1)}
	send := func(v any) {
		b, _ := json.Marshal(v)
		ws.Write(context.Background(), websocket.MessageText, b)
	}
	send(map[string]any{"msg": "connect", "version": "1", "support": []string{"1"}})
	send(map[string]any{"msg": "method", "id": "login", "method": "login", "params": []any{map[string]any{"resume": token}}})
	send(map[string]any{"msg": "sub", "id": "s1", "name": "stream-room-messages", "params": []any{rid, false}})
	go func() {
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				c.done <- err
				return
			}
			var m struct {
				Msg    string   `json:"msg"`
				Subs   []string `json:"subs"`
				Fields struct {
					Args []struct {
						Msg string `json:"msg"`
					} `json:"args"`
				} `json:"fields"`
			}
			json.Unmarshal(data, &m)
			switch m.Msg {
			case "ready":
				close(c.ready)
			case "ping":
				send(map[string]any{"msg": "pong"})
			case "changed":
				if len(m.Fields.Args) > 0 {
					c.mu.Lock()
					c.texts = append(c.texts, m.Fields.Args[0].Msg)
					c.mu.Unlock()
				}
			}
		}
	}()
	select {
	case <-c.ready:
	case err := <-c.done:
		t.Fatalf("socket closed before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready")
	}
	return c
}

// TestRealtimeEventsSurviveSIGKILL kills the server while clients send and a DDP subscriber
// listens: every message the subscriber was told of must be in the database afterwards.
func TestRealtimeEventsSurviveSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	db := t.TempDir() + "/rt.db"
	seen := 0
	for round := 0; round < 3; round++ {
		p := startProc(t, nil, bin, "--db", db)
		cr := loginAdmin(t, newClient(), p.base)
		sub := dialDDP(t, p.base, cr.Token, "GENERAL")
		acks := &ackLog{acks: map[string]int{}}
		stop := make(chan struct{})
		start, wait := senders(p.base, cr, 4, fmt.Sprintf("k%d", round), acks, stop)
		start()
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t, 10*time.Second)
		close(stop)
		wait()
		<-sub.done

		st, err := store.Open(db, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		admin, _ := st.UserByUsername("admin")
		texts := roomTexts(t, st, "GENERAL", admin.ID)
		st.Close()
		sub.mu.Lock()
		for _, text := range sub.texts {
			if texts[text] != 1 {
				t.Errorf("round %d: the subscriber saw %q, which the database does not hold", round, text)
			}
		}
		seen += len(sub.texts)
		sub.mu.Unlock()
	}
	if seen == 0 {
		t.Fatal("the subscriber never saw a message: the test proved nothing")
	}
}

// TestRealtimeSIGTERMClosesSockets: on shutdown every socket gets what was queued for it and
// a close frame (1001 going away), and run returns.
func TestRealtimeSIGTERMClosesSockets(t *testing.T) {
	s := start(t, "--db", t.TempDir()+"/t.db", "--admin-password", "adminpass")
	a := s.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"adminpass"}`, "application/json")
	data := a.obj["data"].(map[string]any)
	c := dialDDP(t, s.base, data["authToken"].(string), "GENERAL")
	s.curl("POST", "/api/v1/chat.postMessage", data["userId"].(string), data["authToken"].(string), `{"roomId":"GENERAL","text":"last words"}`, "application/json")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("socket still open after shutdown")
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Fatalf("socket ended with %v, want a close frame 1001", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.texts) != 1 || c.texts[0] != "last words" {
		t.Fatalf("messages before the close: %q", c.texts)
	}
	if e := s.stderr.find(t, "stopped"); e == nil {
		t.Fatal("no stopped line")
	}
}
