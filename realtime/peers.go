package realtime

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"rocketlite/store"
)

// Several nodes on one PostgreSQL database: what the hubs know and nobody stores — who has a
// socket open on which node, who is typing — goes between them as signals (store.Signaler).
// Each node tells the others its own sockets' presence of each user (online, away, busy, or
// offline once the last socket closed), and the typing its clients report. A user's presence is
// the best of what every node says. A node that starts, or whose listener reconnected, asks the
// others to say again; a node silent for longer than its timeout (killed, cut off) is dropped,
// and its users show offline unless another node has them. Each node beats at a third of its
// own --node-timeout and tells the others that timeout, so nodes set differently still agree.

// peerMsg is one thing a node tells the others; a signal carries a JSON array of them.
type peerMsg struct {
	K string `json:"k"`           // hello (say everything again), p (presence), t (typing), beat, bye
	U string `json:"u,omitempty"` // p: user id
	N string `json:"n,omitempty"` // p, t: username
	X string `json:"x,omitempty"` // p: status text
	S int    `json:"s,omitempty"` // p: presence on the sender (statusOffline …)
	E string `json:"e,omitempty"` // t: the stream-notify-room event, "<rid>/typing"
	T bool   `json:"t,omitempty"` // t: typing or stopped
	D int64  `json:"d,omitempty"` // hello, beat: the sender's --node-timeout in ms, after which to drop it
}

// remotePresence is what the other nodes said of one user.
type remotePresence struct {
	user  store.User     // id, username, status text: for the user-status event
	nodes map[string]int // node → presence there (never statusOffline)
}

// peerIn is what the store's listener handed on.
type peerIn struct {
	node string
	msgs []peerMsg // nil with node "": the listener (re)connected
}

type peers struct {
	h        *Hub
	sig      store.Signaler
	timeout  time.Duration
	out      chan peerMsg
	in       chan peerIn
	stop     chan struct{}
	done     chan struct{}
	seen     map[string]*peerNode // the goroutine's
	nodes    atomic.Int32         // len(seen), for /readyz
	lastDrop atomic.Int64         // when dropped last logged (Unix ns)
	failing  bool                 // the last signal failed (log once per failure streak)
}

// peerNode is what a node knows of another.
type peerNode struct {
	heard   time.Time
	timeout time.Duration // its own setting: it beats at a third of it
}

// JoinPeers shares presence and typing with the other nodes on sig's database. A node silent
// for timeout is taken for gone. Close leaves.
func (h *Hub) JoinPeers(sig store.Signaler, timeout time.Duration) {
	p := &peers{h: h, sig: sig, timeout: timeout, out: make(chan peerMsg, 8192), in: make(chan peerIn, 1024),
		stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]*peerNode{}}
	h.mu.Lock()
	h.peers = p
	h.mu.Unlock()
	sig.SetSignalHandler(p.receive)
	p.in <- peerIn{} // hello, as after a reconnect
	go p.run()
}

// OtherNodes is how many other nodes this one hears from (for /readyz); ok is false when it
// shares no database with others (JoinPeers was not called).
func (h *Hub) OtherNodes() (n int, ok bool) {
	h.mu.Lock()
	p := h.peers
	h.mu.Unlock()
	if p == nil {
		return 0, false
	}
	return int(p.nodes.Load()), true
}

// receive is the store's signal handler (the listener's goroutine): it must not block.
func (p *peers) receive(node string, payload []byte) {
	in := peerIn{node: node}
	if node != "" {
		if err := json.Unmarshal(payload, &in.msgs); err != nil || len(in.msgs) == 0 {
			p.h.log.Warn().Str("node", node).Msg("realtime: a signal from another node that does not decode; skipped")
			return
		}
	}
	select {
	case p.in <- in:
	default:
		p.dropped("realtime: signals from other nodes arrive faster than handled; some dropped")
	}
}

// send queues m for the other nodes (h.mu may be held): it never waits.
func (p *peers) send(m peerMsg) {
	select {
	case p.out <- m:
	default:
		p.dropped("realtime: signals to other nodes queue faster than sent; some dropped")
	}
}

// dropped logs what was dropped, at most once a second: an overload must not flood the log.
func (p *peers) dropped(msg string) {
	now := time.Now().UnixNano()
	if last := p.lastDrop.Load(); now-last >= int64(time.Second) && p.lastDrop.CompareAndSwap(last, now) {
		p.h.log.Warn().Msg(msg)
	}
}

func (p *peers) close() {
	close(p.stop)
	<-p.done
}

func (p *peers) run() {
	defer close(p.done)
	tick := time.NewTicker(p.timeout / 3)
	defer tick.Stop()
	// Others may have shorter timeouts than this node's: look for the silent ones often.
	check := time.NewTicker(min(p.timeout/3, time.Second))
	defer check.Stop()
	for {
		select {
		case <-p.stop:
			// Tell the others at once rather than letting them time this node out.
			p.flush([]peerMsg{{K: "bye"}})
			return
		case in := <-p.in:
			p.apply(in)
		case m := <-p.out:
			batch := []peerMsg{m}
		more:
			for len(batch) < 1000 {
				select {
				case m := <-p.out:
					batch = append(batch, m)
				default:
					break more
				}
			}
			p.flush(batch)
		case <-tick.C:
			p.flush([]peerMsg{p.beat("beat")})
		case now := <-check.C:
			p.expire(now)
		}
	}
}

// flush sends msgs in as few signals as fit.
func (p *peers) flush(msgs []peerMsg) {
	var buf []byte
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		if len(b)+2 > store.MaxSignal {
			// Names and status texts are capped far below; should one not be, it alone is lost.
			p.h.log.Warn().Str("kind", m.K).Int("bytes", len(b)).Msg("realtime: a signal too large for the other nodes; skipped")
			continue
		}
		if len(buf) > 0 && len(buf)+len(b)+2 > store.MaxSignal {
			p.signal(append(buf, ']'))
			buf = nil
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	if len(buf) > 0 {
		p.signal(append(buf, ']'))
	}
}

func (p *peers) signal(payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.sig.Signal(ctx, payload)
	switch {
	case err != nil && !p.failing:
		p.h.log.Warn().Err(err).Msg("realtime: could not signal the other nodes (presence, typing); they catch up when it works again")
	case err == nil && p.failing:
		// What was lost meanwhile: the others learn it again.
		p.failing = false
		p.flush(p.state(p.beat("hello")))
		return
	}
	p.failing = err != nil
}

// beat is a message of kind k that says when to take this node for gone.
func (p *peers) beat(k string) peerMsg { return peerMsg{K: k, D: p.timeout.Milliseconds()} }

// state is this node's presence of every user with a socket here, after first.
func (p *peers) state(first peerMsg) []peerMsg {
	h := p.h
	h.mu.Lock()
	defer h.mu.Unlock()
	msgs := []peerMsg{first}
	for _, us := range h.users {
		if us.presence != statusOffline {
			msgs = append(msgs, presenceMsg(us.user, us.presence))
		}
	}
	return msgs
}

func presenceMsg(u *store.User, s int) peerMsg {
	return peerMsg{K: "p", U: u.ID, N: u.Username, X: u.StatusText, S: s}
}

func (p *peers) apply(in peerIn) {
	if in.node == "" {
		p.flush(p.state(p.beat("hello")))
		return
	}
	n := p.seen[in.node]
	if n == nil {
		n = &peerNode{timeout: p.timeout}
		p.seen[in.node] = n
		p.nodes.Store(int32(len(p.seen)))
	}
	n.heard = time.Now()
	h := p.h
	var reply bool
	h.mu.Lock()
	for _, m := range in.msgs {
		if m.D > 0 {
			n.timeout = time.Duration(m.D) * time.Millisecond
		}
		switch m.K {
		case "hello":
			reply = true
		case "p":
			h.setRemote(in.node, m)
		case "t":
			if m.E != "" {
				h.emit(streamNotifyRoom, m.E, nil, func() *frame { return changed(streamNotifyRoom, m.E, m.N, m.T) })
			}
		case "bye":
			h.dropNode(in.node)
			delete(p.seen, in.node)
			p.nodes.Store(int32(len(p.seen)))
		}
	}
	h.unlock()
	if reply {
		p.flush(p.state(p.beat("beat")))
	}
}

// expire drops the nodes not heard from within their timeout.
func (p *peers) expire(now time.Time) {
	h := p.h
	for node, n := range p.seen {
		if now.Sub(n.heard) > n.timeout {
			delete(p.seen, node)
			p.nodes.Store(int32(len(p.seen)))
			h.mu.Lock()
			h.dropNode(node)
			h.unlock()
			h.log.Warn().Str("node", node).Dur("silent", now.Sub(n.heard)).Msg("realtime: another node went silent; its users' presence is dropped")
		}
	}
}

// setRemote records what node says of a user and shows the result (h.mu held).
func (h *Hub) setRemote(node string, m peerMsg) {
	if m.U == "" || m.S < statusOffline || m.S > statusBusy {
		return
	}
	r := h.remote[m.U]
	if r == nil {
		if m.S == statusOffline {
			return
		}
		r = &remotePresence{nodes: map[string]int{}}
		h.remote[m.U] = r
	}
	r.user = store.User{ID: m.U, Username: m.N, StatusText: m.X}
	if m.S == statusOffline {
		h.forget(m.U, node, r)
		return
	}
	r.nodes[node] = m.S
	h.show(m.U, h.users[m.U])
}

// dropNode forgets what node said (h.mu held).
func (h *Hub) dropNode(node string) {
	for uid, r := range h.remote {
		if _, ok := r.nodes[node]; ok {
			h.forget(uid, node, r)
		}
	}
}

// forget drops what node said of user uid (r) and shows the result (h.mu held).
func (h *Hub) forget(uid, node string, r *remotePresence) {
	delete(r.nodes, node)
	h.show(uid, h.users[uid])
	if len(r.nodes) == 0 {
		delete(h.remote, uid)
	}
}
