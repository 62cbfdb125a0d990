package realtime

import "rocketlite/store"

// Presence, as Rocket.Chat's user-status event numbers it.
const (
	statusOffline = 0
	statusOnline  = 1
	statusAway    = 2
	statusBusy    = 3
)

var statusNames = [...]string{"offline", "online", "away", "busy"}

// presenceOf is the user's presence: offline without a live socket (or when they chose to
// appear offline), else the status they chose, else away when every socket said it is away,
// else online.
func (h *Hub) presenceOf(us *userState) int {
	if len(us.conns) == 0 {
		return statusOffline
	}
	switch us.user.Status {
	case "offline":
		return statusOffline
	case "away":
		return statusAway
	case "busy":
		return statusBusy
	}
	for c := range us.conns {
		if !c.away.Load() {
			return statusOnline
		}
	}
	return statusAway
}

// announce recomputes the user's presence on this node, tells the other nodes when it changed,
// and shows the result.
func (h *Hub) announce(us *userState) {
	p := h.presenceOf(us)
	if p != us.presence {
		us.presence = p
		if h.peers != nil {
			h.peers.send(presenceMsg(us.user, p))
		}
	}
	h.show(us.user.ID, us)
}

// presenceRank orders presences for combining what the nodes say of a user: a status the user
// chose is the same on every node, so only online against away is a real choice.
var presenceRank = [...]int{statusOffline: 0, statusAway: 1, statusBusy: 2, statusOnline: 3}

// show tells stream-notify-logged when a user's presence over every node changed; us is the
// user's state on this node (nil: no socket here). h.mu is held.
func (h *Hub) show(uid string, us *userState) {
	p, u := statusOffline, (*store.User)(nil)
	if us != nil {
		p, u = us.presence, us.user
	}
	if r := h.remote[uid]; r != nil {
		for _, q := range r.nodes {
			if presenceRank[q] > presenceRank[p] {
				p = q
			}
		}
		if u == nil {
			u = &r.user
		}
	}
	if p == h.shown[uid] {
		return
	}
	if p == statusOffline {
		delete(h.shown, uid)
	} else {
		h.shown[uid] = p
	}
	if u != nil {
		h.emitStatus(u, p)
	}
}

func (h *Hub) emitStatus(u *store.User, p int) {
	h.emit(streamNotifyLogged, "user-status", nil, func() *frame {
		return changed(streamNotifyLogged, "user-status", []any{u.ID, u.Username, p, u.StatusText})
	})
}

// Presence returns the user's presence over every node ("online", "away", "busy" or
// "offline") and whether they are connected anywhere, for REST's users.getPresence,
// users.getStatus, users.info and users.list.
func (h *Hub) Presence(uid string) (status string, connected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.shown[uid]
	return statusNames[p], ok
}

// refresh recomputes a user's presence after one of their sockets changed its away flag.
func (h *Hub) refresh(uid string) {
	h.mu.Lock()
	defer h.unlock()
	if us := h.users[uid]; us != nil {
		h.announce(us)
	}
}
