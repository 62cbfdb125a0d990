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

// announce recomputes the user's presence and tells stream-notify-logged when it changed.
func (h *Hub) announce(us *userState) {
	p := h.presenceOf(us)
	if p == us.presence {
		return
	}
	us.presence = p
	h.emitStatus(us.user, p)
}

func (h *Hub) emitStatus(u *store.User, p int) {
	h.emit(streamNotifyLogged, "user-status", nil, func() *frame {
		return changed(streamNotifyLogged, "user-status", []any{u.ID, u.Username, p, u.StatusText})
	})
}

// Presence returns the user's presence ("online", "away", "busy" or "offline") and their
// status message, for REST's users.getPresence, users.getStatus, users.info and users.list.
func (h *Hub) Presence(uid string) (status string, connected bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[uid]
	if us == nil {
		return "offline", false
	}
	return statusNames[us.presence], true
}

// refresh recomputes a user's presence after one of their sockets changed its away flag.
func (h *Hub) refresh(uid string) {
	h.mu.Lock()
	defer h.unlock()
	if us := h.users[uid]; us != nil {
		h.announce(us)
	}
}
