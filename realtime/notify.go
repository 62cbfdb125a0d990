package realtime

import (
	"strings"

	"rocketlite/rbac"
	"rocketlite/store"
)

// mentions returns the @usernames in text, each once, in order (without the @).
func mentions(text string) []string {
	if !strings.Contains(text, "@") {
		return nil
	}
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || (i > 0 && nameByte(text[i-1])) {
			continue
		}
		j := i + 1
		for j < len(text) && nameByte(text[j]) {
			j++
		}
		name := strings.TrimRight(text[i+1:j], ".")
		if name != "" && !contains(out, name) {
			out = append(out, name)
		}
		i = j - 1
	}
	return out
}

func nameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.'
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// notify sends <uid>/notification to the connected members that message m mentions (@name,
// or everyone for @all and the online for @here when the sender holds mention-all /
// mention-here), and to the other member of a direct message. Only connected users can get
// a notification, so the hub's own view of memberships answers without reading the store.
func (h *Hub) notify(room *store.Room, m *store.Message) {
	names := mentions(m.Text)
	direct := room.Type == "d"
	if len(names) == 0 && !direct {
		return
	}
	everyone, here := false, false
	if contains(names, "all") || contains(names, "here") {
		if sender, err := h.st.User(m.User.ID); err == nil {
			everyone = contains(names, "all") && h.may(sender, rbac.MentionAll, room.ID)
			here = contains(names, "here") && h.may(sender, rbac.MentionHere, room.ID)
		}
	}
	// The notification is the same for every recipient but for the event name.
	body := encodeOnce(func() any {
		title := "@" + m.User.Username
		if !direct {
			title = "#" + room.Name
		}
		return map[string]any{
			"title": title,
			"text":  m.Text,
			"payload": map[string]any{
				"_id": m.ID, "rid": room.ID, "type": room.Type, "name": room.Name,
				"sender":  map[string]string{"_id": m.User.ID, "username": m.User.Username},
				"message": map[string]string{"msg": m.Text},
			},
		}
	})
	for _, us := range h.users {
		u := us.user
		if u.ID == m.User.ID || !us.rooms[room.ID] {
			continue
		}
		if !(direct || everyone || (here && us.presence != statusOffline) || containsFold(names, u.Username)) {
			continue
		}
		key := u.ID + "/notification"
		h.emit(streamNotifyUser, key, nil, func() *frame { return changed(streamNotifyUser, key, body()) })
	}
}

func (h *Hub) may(u *store.User, perm, rid string) bool {
	ok, err := h.st.HasPermission(u, perm, rid)
	return err == nil && ok
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
