package realtime

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/store"
)

// Hub fans committed events out to the subscribed connections. It is the store's Publisher:
// Publish only queues a commit's events, and one goroutine dispatches them in commit order,
// so a sender never waits for a reader, and each connection's own bounded queue (conn.go)
// keeps a slow reader from holding up the others.
//
// Each subscription to a room's events is checked against the store's room-access rule when
// it is made, and again whenever a committed event can change the answer (a member removed
// or added, a room's type, the user's roles or active flag, any permission): the event that
// changes it is dispatched before any later event, so a member kicked out of a private room
// gets nothing of it after their kick.
type Hub struct {
	st  store.Store
	log zerolog.Logger

	// The inbox: commits waiting for dispatch. Publish never waits (the store's writer calls
	// it); when the hub falls maxBacklog commits behind, the sockets are the slow part, so
	// they are all closed (clients reconnect and reload) and the backlog is dropped.
	inMu       sync.Mutex
	inbox      []hubItem
	inSig      chan struct{}
	inClosed   bool
	overloaded bool
	window     atomic.Int64 // batch window (SetBatchWindow), nanoseconds

	mu     sync.Mutex // guards everything below; held while a batch of events is dispatched
	conns  map[*conn]struct{}
	users  map[string]*userState // logged-in users with at least one connection
	subs   map[string]map[*sub]struct{}
	nsubs  int
	closed bool
	done   chan struct{}
	// touched lists the sockets with frames in their pending list (see emit and unlock).
	touched []*conn
	// peers, with several nodes on one database, shares presence and typing (peers.go);
	// remote is what the other nodes said of their users' presence, shown the presence last
	// announced of every user connected anywhere.
	peers  *peers
	remote map[string]*remotePresence
	shown  map[string]int
	// topicNoted holds the rooms whose topic change in the commit being dispatched came
	// with a stored room_changed_topic message (no need to make one up).
	topicNoted map[string]bool
}

type hubItem struct {
	events []store.Event
	flush  chan struct{} // closed once every earlier item was dispatched
}

// userState is what the hub keeps of a user who has live connections.
type userState struct {
	user     *store.User // current record (roles, status), for access checks and presence
	conns    map[*conn]struct{}
	rooms    map[string]bool // rooms the user is a member of
	presence int             // presence from this node's sockets (statusOffline …)
}

// sub is one DDP subscription of a connection.
type sub struct {
	c       *conn
	id, key string
	rid     string // the room whose access rule decides delivery ("" if none)
	my      bool   // __my_messages__: every room the user is a member of
	allowed bool
}

// NewHub makes a hub that reads the store for access checks and subscription documents, and
// starts its dispatching goroutine. Close stops it.
func NewHub(st store.Store, log zerolog.Logger) *Hub {
	h := &Hub{st: st, log: log, inSig: make(chan struct{}, 1), conns: map[*conn]struct{}{},
		users: map[string]*userState{}, subs: map[string]map[*sub]struct{}{}, done: make(chan struct{}),
		topicNoted: map[string]bool{}, remote: map[string]*remotePresence{}, shown: map[string]int{}}
	go h.run()
	return h
}

// maxBacklog is how many commits the hub may be behind before it closes every socket.
var maxBacklog = 4096

// Publish queues the events of one commit (store.Publisher). It never waits.
func (h *Hub) Publish(events []store.Event) { h.put(hubItem{events: events}) }

func (h *Hub) put(it hubItem) {
	h.inMu.Lock()
	if h.inClosed {
		h.inMu.Unlock()
		if it.flush != nil {
			close(it.flush)
		}
		return
	}
	if it.flush == nil && len(h.inbox) >= maxBacklog {
		// Keep the flush markers: someone waits for them.
		kept := h.inbox[:0]
		for _, x := range h.inbox {
			if x.flush != nil {
				kept = append(kept, x)
			}
		}
		h.inbox = kept
		h.overloaded = true
	} else {
		h.inbox = append(h.inbox, it)
	}
	h.inMu.Unlock()
	select {
	case h.inSig <- struct{}{}:
	default:
	}
}

// Close stops the hub's goroutine; the store must publish no more (SetPublisher(nil)).
func (h *Hub) Close() {
	h.mu.Lock()
	p := h.peers
	h.mu.Unlock()
	if p != nil {
		p.sig.SetSignalHandler(nil)
		p.close()
	}
	h.inMu.Lock()
	h.inClosed = true
	h.inMu.Unlock()
	select {
	case h.inSig <- struct{}{}:
	default:
	}
	<-h.done
}

// Flush returns once every event published before it was dispatched.
func (h *Hub) Flush() {
	done := make(chan struct{})
	h.put(hubItem{flush: done})
	<-done
}

func (h *Hub) run() {
	defer close(h.done)
	var last time.Time // when the last round of dispatching started
	var win time.Duration
	for range h.inSig {
		for {
			// At most one round per batch window: commits that arrive meanwhile go out
			// together, so a socket gets one write for all of them instead of one each.
			// While rounds keep finding several events, the window doubles (up to 4
			// times the configured one): under a stream of writes the sockets' write(2)s,
			// not the events, are the cost, and the events then wait in queues anyway.
			base := time.Duration(h.window.Load())
			win = min(max(win, base), 4*base)
			if wait := win - time.Since(last); wait > 0 {
				time.Sleep(wait)
			}
			h.inMu.Lock()
			items, over, closed := h.inbox, h.overloaded, h.inClosed
			h.inbox, h.overloaded = nil, false
			h.inMu.Unlock()
			if over {
				h.log.Warn().Msg("realtime: sockets fell behind the writes; closing them all (clients reconnect)")
				h.mu.Lock()
				for c := range h.conns {
					c.kill()
				}
				h.mu.Unlock()
			}
			if len(items) == 0 {
				if closed {
					return
				}
				break
			}
			last = time.Now()
			events := 0
			h.mu.Lock()
			for _, it := range items {
				events += len(it.events)
				if it.flush != nil {
					// Everything before the marker is queued to its sockets first.
					h.unlock()
					close(it.flush)
					h.mu.Lock()
					continue
				}
				clear(h.topicNoted)
				for i := range it.events {
					h.dispatch(&it.events[i])
				}
			}
			h.unlock()
			if events >= busyRound {
				win *= 2
			} else {
				win = 0
			}
		}
	}
}

// busyRound is how many events make a round busy: the next window is twice as long.
const busyRound = 2

// SetBatchWindow sets the hub's batch window: commits published within it are dispatched
// in one round, each socket getting one write for all their events (0: every commit at
// once). The first commit after a quiet spell goes out at once; later ones wait at most
// the window, or up to 4 times it while every round finds busyRound events or more.
func (h *Hub) SetBatchWindow(d time.Duration) { h.window.Store(int64(d)) }

// Stats reports the open connections and subscriptions (/readyz).
func (h *Hub) Stats() (sockets, subscriptions int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns), h.nsubs
}

func changed(collection, eventName string, args ...any) *frame {
	b, err := json.Marshal(struct {
		Msg        string `json:"msg"`
		Collection string `json:"collection"`
		ID         string `json:"id"`
		Fields     struct {
			EventName string `json:"eventName"`
			Args      []any  `json:"args"`
		} `json:"fields"`
	}{Msg: "changed", Collection: collection, ID: "id", Fields: struct {
		EventName string `json:"eventName"`
		Args      []any  `json:"args"`
	}{eventName, args}})
	if err != nil {
		return nil
	}
	return ddpFrame(b)
}

func subKey(stream, eventName string) string { return stream + "|" + eventName }

// encodeOnce encodes v() when first asked and returns the same bytes after: for an argument
// shared by frames that differ only in their event name (one per user).
func encodeOnce(v func() any) func() json.RawMessage {
	var b json.RawMessage
	return func() json.RawMessage {
		if b == nil {
			b, _ = json.Marshal(v())
		}
		return b
	}
}

// emit sends the event to every allowed subscriber of stream/eventName; mk builds the frame
// (once, and only if someone listens). keep, if not nil, filters the subscriptions.
//
// The frame is only noted for each socket; unlock queues each socket's frames of the batch
// at once, so a batch of commits costs a socket one lock and one wake-up, not one per event.
// h.mu is held.
func (h *Hub) emit(stream, eventName string, keep func(*sub) bool, mk func() *frame) {
	set := h.subs[subKey(stream, eventName)]
	if len(set) == 0 {
		return
	}
	var f *frame
	for s := range set {
		if !s.allowed || (keep != nil && !keep(s)) {
			continue
		}
		if f == nil {
			if f = mk(); f == nil {
				return
			}
		}
		c := s.c
		if len(c.pending) == 0 {
			h.touched = append(h.touched, c)
		}
		c.pending = append(c.pending, f)
	}
}

// unlock queues the frames emitted under h.mu to their sockets and releases h.mu. Every
// holder of h.mu that may emit releases it with unlock.
func (h *Hub) unlock() {
	for i, c := range h.touched {
		c.pushAll(c.pending)
		clear(c.pending)
		if cap(c.pending) > 64 {
			c.pending = nil // an idle socket keeps no big slice of a burst
		} else {
			c.pending = c.pending[:0]
		}
		h.touched[i] = nil
	}
	h.touched = h.touched[:0]
	h.mu.Unlock()
}

func (h *Hub) dispatch(ev *store.Event) {
	switch ev.Kind {
	case store.MessageAdded, store.MessageEdited:
		h.message(ev)
	case store.MessageDeleted:
		rid := ev.Message.RoomID
		h.emit(streamRoomMessages, rid, nil, func() *frame {
			d := messageOf(ev.Message)
			d.T, d.Msg = "rm", ""
			return changed(streamRoomMessages, rid, d)
		})
		h.emit(streamNotifyRoom, rid+"/deleteMessage", nil, func() *frame {
			return changed(streamNotifyRoom, rid+"/deleteMessage", map[string]string{"_id": ev.Message.ID})
		})
	case store.MemberAdded, store.MemberRemoved:
		in := ev.Kind == store.MemberAdded
		if us := h.users[ev.UserID]; us != nil {
			if in {
				us.rooms[ev.Room.ID] = true
			} else {
				delete(us.rooms, ev.Room.ID)
			}
			h.recheckUser(us, ev.Room.ID)
		}
		what := "inserted"
		if !in {
			what = "removed"
		}
		h.emit(streamNotifyUser, ev.UserID+"/rooms-changed", nil, func() *frame {
			return changed(streamNotifyUser, ev.UserID+"/rooms-changed", what, roomOf(ev.Room))
		})
		h.emit(streamNotifyUser, ev.UserID+"/subscriptions-changed", nil, func() *frame {
			if !in {
				return changed(streamNotifyUser, ev.UserID+"/subscriptions-changed", what,
					map[string]string{"_id": ev.Room.ID + ev.UserID, "rid": ev.Room.ID})
			}
			return h.subscriptionFrame(ev.UserID, ev.Room.ID, what)
		})
	case store.MemberChanged, store.ReadMarked:
		h.emit(streamNotifyUser, ev.UserID+"/subscriptions-changed", nil, func() *frame {
			return h.subscriptionFrame(ev.UserID, ev.Room.ID, "updated")
		})
	case store.RoomChanged:
		rid := ev.Room.ID
		room := encodeOnce(func() any { return roomOf(ev.Room) })
		for _, us := range h.users {
			if us.rooms[rid] {
				h.emit(streamNotifyUser, us.user.ID+"/rooms-changed", nil, func() *frame {
					return changed(streamNotifyUser, us.user.ID+"/rooms-changed", "updated", room())
				})
			}
		}
		h.recheckRoom(rid) // every user's subscriptions of the room, members' included
		if ev.Before != nil && ev.Before.Topic != ev.Room.Topic && !h.topicNoted[rid] {
			h.topicChanged(ev.Room)
		}
	case store.RoomDeleted:
		rid := ev.Room.ID
		room := encodeOnce(func() any { return roomOf(ev.Room) })
		for _, us := range h.users {
			if us.rooms[rid] {
				delete(us.rooms, rid)
				h.emit(streamNotifyUser, us.user.ID+"/rooms-changed", nil, func() *frame {
					return changed(streamNotifyUser, us.user.ID+"/rooms-changed", "removed", room())
				})
			}
		}
		h.recheckRoom(rid)
	case store.UserChanged:
		if r := h.remote[ev.User.ID]; r != nil {
			r.user.Username, r.user.StatusText = ev.User.Username, ev.User.StatusText
		}
		us := h.users[ev.User.ID]
		if us == nil {
			return
		}
		if !ev.User.Active {
			for c := range us.conns {
				c.kill()
			}
			return
		}
		us.user = ev.User
		h.recheckUser(us, "")
		h.announce(us)
	case store.UserDeleted:
		if us := h.users[ev.UserID]; us != nil {
			for c := range us.conns {
				c.kill()
			}
		}
	case store.TokenRevoked:
		// Logged out (over either API), revoked or expired: the sockets logged in with that
		// token end, as the token no longer authenticates anything.
		if us := h.users[ev.UserID]; us != nil {
			for c := range us.conns {
				if t := c.token.Load(); t != nil && *t == ev.Token {
					c.kill()
				}
			}
		}
	case store.PermissionsChanged:
		for _, p := range ev.Permissions {
			h.emit(streamNotifyAll, "permissions-changed", nil, func() *frame {
				return changed(streamNotifyAll, "permissions-changed", "updated", permissionDoc{p.ID, p.Roles, date(p.UpdatedAt)})
			})
		}
		for _, us := range h.users {
			h.recheckUser(us, "")
		}
	}
}

// topicChanged announces a new topic as Rocket.Chat does, with a room_changed_topic message
// on the room's streams (chat bridges set the topic from it), for the writes that change a
// topic without storing such a message.
func (h *Hub) topicChanged(r *store.Room) {
	m := &store.Message{ID: "topic-" + store.NewID(), RoomID: r.ID, Text: r.Topic, Type: "room_changed_topic",
		TS: r.UpdatedAt, UpdatedAt: r.UpdatedAt}
	if r.Creator != nil {
		m.User = *r.Creator
	}
	h.message(&store.Event{Kind: store.MessageAdded, Room: r, Message: m})
}

type permissionDoc struct {
	ID        string   `json:"_id"`
	Roles     []string `json:"roles"`
	UpdatedAt date     `json:"_updatedAt"`
}

func (h *Hub) subscriptionFrame(uid, rid, what string) *frame {
	subs, err := h.st.Subscriptions(uid, rid)
	if err != nil || len(subs) == 0 {
		return nil
	}
	s := subs[0]
	return changed(streamNotifyUser, uid+"/subscriptions-changed", what, subscriptionOf(s.Room, s.Member, uid, s.Unread, s.ReadAt))
}

// message fans a new or edited message out: to the room's stream, to the members' own
// stream (__my_messages__), and as notifications to those it mentions.
func (h *Hub) message(ev *store.Event) {
	m := ev.Message
	rid := m.RoomID
	if m.Type == "room_changed_topic" {
		h.topicNoted[rid] = true
	}
	// The room (an edit's event may come without it) is read only for those who need it.
	r0, looked := ev.Room, ev.Room != nil
	room := func() *store.Room {
		if !looked {
			r0, _ = h.st.Room(rid)
			looked = true
		}
		return r0
	}
	doc := encodeOnce(func() any { return messageOf(m) })
	h.emit(streamRoomMessages, rid, nil, func() *frame { return changed(streamRoomMessages, rid, doc()) })
	h.emit(streamRoomMessages, myMessages, func(s *sub) bool {
		us := h.users[s.c.uid()]
		return us != nil && us.rooms[rid]
	}, func() *frame {
		r := room()
		if r == nil {
			return nil
		}
		return changed(streamRoomMessages, myMessages, doc(),
			map[string]any{"roomParticipant": true, "roomType": r.Type, "roomName": r.Name})
	})
	if ev.Kind == store.MessageAdded && m.Type == "" {
		if r := room(); r != nil {
			h.notify(r, m)
		}
	}
}

// attach registers a logged-in connection of u. It reports false when u has as many sockets
// as allowed already.
func (h *Hub) attach(c *conn, u *store.User, perUser int) (bool, error) {
	h.mu.Lock()
	defer h.unlock()
	us := h.users[u.ID]
	if us != nil && perUser > 0 && len(us.conns) >= perUser {
		return false, nil
	}
	if us == nil {
		ids, err := h.st.UserRoomIDs(u.ID)
		if err != nil {
			return false, err
		}
		us = &userState{user: u, conns: map[*conn]struct{}{}, rooms: map[string]bool{}, presence: statusOffline}
		for _, id := range ids {
			us.rooms[id] = true
		}
		h.users[u.ID] = us
	}
	us.conns[c] = struct{}{}
	h.announce(us)
	return true, nil
}

// detach forgets c's login and its subscriptions.
func (h *Hub) detach(c *conn) {
	h.mu.Lock()
	defer h.unlock()
	h.detachLocked(c)
}

func (h *Hub) detachLocked(c *conn) {
	for _, s := range c.subs {
		h.removeSub(s)
	}
	c.subs = map[string]*sub{}
	uid := c.uid()
	us := h.users[uid]
	if us == nil {
		return
	}
	delete(us.conns, c)
	if len(us.conns) == 0 {
		delete(h.users, uid)
	}
	h.announce(us)
}

func (h *Hub) addSub(s *sub) {
	set := h.subs[s.key]
	if set == nil {
		set = map[*sub]struct{}{}
		h.subs[s.key] = set
	}
	set[s] = struct{}{}
	s.c.subs[s.id] = s
	h.nsubs++
}

func (h *Hub) removeSub(s *sub) {
	if set := h.subs[s.key]; set != nil {
		if _, ok := set[s]; ok {
			delete(set, s)
			h.nsubs--
			if len(set) == 0 {
				delete(h.subs, s.key)
			}
		}
	}
	delete(s.c.subs, s.id)
}

// recheckUser applies the room-access rule again to the user's subscriptions of room rid
// (every room if rid is "").
func (h *Hub) recheckUser(us *userState, rid string) {
	for c := range us.conns {
		for _, s := range c.subs {
			if s.rid != "" && (rid == "" || s.rid == rid) {
				s.allowed = h.st.MayRead(s.rid, us.user) == nil
			}
		}
	}
}

// recheckRoom applies the access rule again to every subscription of room rid.
func (h *Hub) recheckRoom(rid string) {
	for _, us := range h.users {
		h.recheckUser(us, rid)
	}
}
