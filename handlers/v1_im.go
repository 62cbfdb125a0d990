package handlers

// API v1 im.* (with the dm.* aliases) and subscriptions.*. A direct-message room (type "d")
// is readable by its members only; to anyone else it answers as a missing room.

import (
	"encoding/json"
	"slices"
	"strings"

	"rocketlite/rbac"
	"rocketlite/store"
)

// imRoom1 is a direct-message room as im.create answers it.
func imRoom1(r store.RoomWithMembers) Obj {
	names := r.Usernames
	if names == nil {
		names = []string{}
	}
	o := J("_id", r.ID, "rid", r.ID, "t", r.Type, "usernames", names, "msgs", r.Msgs, "ts", jsTime(r.CreatedAt))
	if !r.LastMessage.IsZero() {
		o = o.With("lm", jsTime(r.LastMessage))
	}
	return o.With("_updatedAt", jsTime(r.UpdatedAt))
}

// usernamesParam1 reads im.create's username, or usernames: a comma-separated string, as
// Rocket.Chat takes it, or a list.
func usernamesParam1(in body) ([]string, error) {
	one, err := in.str("username")
	if err != nil {
		return nil, err
	}
	if one != "" {
		return []string{one}, nil
	}
	var names []string
	if raw, ok := in.obj["usernames"]; ok && len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, badRequest("error-invalid-params", "usernames must be a comma-separated string or a list of strings")
		}
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	} else if names, err = in.strings("usernames"); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, badRequest("error-invalid-params", `The parameter "username" or "usernames" is required`)
	}
	return names, nil
}

// openDirect returns the direct-message room of the caller and the named users, creating it
// (permission create-d) if it does not exist.
func (a *API) openDirect(c *call, usernames []string) (store.RoomWithMembers, error) {
	var none store.RoomWithMembers
	ids := []string{c.user.ID}
	for _, n := range usernames {
		u, err := a.st.UserByUsername(strings.TrimPrefix(n, "@"))
		if store.KindOf(err) == store.NotFound {
			return none, badRequest("error-invalid-user", "User %q does not exist", n)
		}
		if err != nil {
			return none, err
		}
		if !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) > store.MaxDirectMembers {
		return none, badRequest("error-invalid-params", "A direct message room has at most %d members", store.MaxDirectMembers)
	}
	rid := store.DirectRoomID(ids)
	if r, err := a.st.ReadableRoom(rid, c.user); err == nil && r.Type == store.Direct && len(r.Usernames) == len(ids) {
		return r, nil
	}
	if err := a.need1(c, rbac.CreateD, ""); err != nil {
		return none, err
	}
	r, _, err := a.st.OpenDirect(c.user, ids[1:])
	return r, err
}

func (a *API) imCreate1(c *call) (any, error) {
	names, err := usernamesParam1(c.in)
	if err != nil {
		return nil, err
	}
	r, err := a.openDirect(c, names)
	if err != nil {
		return nil, err
	}
	return J("room", imRoom1(r), "success", true), nil
}

// imFind is find for im.*: roomId, or the other user's username.
func (a *API) imFind(c *call) (store.RoomWithMembers, error) {
	if !c.in.has("roomId") && c.in.has("username") {
		name, err := c.in.str("username")
		if err != nil {
			return store.RoomWithMembers{}, err
		}
		u, err := a.st.UserByUsername(name)
		if err != nil {
			return store.RoomWithMembers{}, imKind.notFound()
		}
		c.room = store.DirectRoomID([]string{c.user.ID, u.ID})
	}
	return a.find(c, imKind)
}

// imRoute runs a shared room handler with im.*'s ways of naming the room.
func (a *API) imRoute(fn func(c *call, k *roomKind) (any, error)) handlerFunc {
	return func(c *call) (any, error) {
		r, err := a.imFind(c)
		if err != nil {
			return nil, err
		}
		c.room = r.ID
		return fn(c, imKind)
	}
}

func (a *API) imList1(c *call) (any, error) {
	q, err := readList(c.in, defaultPage1, roomSort)
	if err != nil {
		return nil, err
	}
	rooms, total, err := a.st.UserRoomsBy(c.user.ID, func(r *store.Room) bool { return r.Type == store.Direct }, q.cmp, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	out := make([]Obj, len(rooms))
	for i, r := range rooms {
		out[i] = imRoom1(r)
	}
	return listOf(q, "ims", out, total)
}

// imMessages1 is im.messages: roomMessages1 with im's ways of naming the room.
func (a *API) imMessages1(c *call) (any, error) { return a.imRoute(a.roomMessages1)(c) }

// roomMessages1 is a page of the room's messages, newest first, with the room's total
// (im.messages, groups.messages, channels.messages).
func (a *API) roomMessages1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	q, err := readList(c.in, defaultPage1, historySort)
	if err != nil {
		return nil, err
	}
	msgs, err := a.st.History(r.ID, c.user, store.HistoryQuery{Count: q.Count, Offset: q.Offset})
	if err != nil {
		return nil, err
	}
	return listOf(q, "messages", messagesOf(msgs), int(r.Msgs))
}

// --- subscriptions.* ---

type subscriptionView struct {
	ID            string      `json:"_id"`
	RID           string      `json:"rid"`
	Name          string      `json:"name"`
	FName         string      `json:"fname"`
	T             string      `json:"t"`
	U             userRefView `json:"u"`
	TS            jsTime      `json:"ts"`
	LS            *jsTime     `json:"ls,omitempty"`
	Open          bool        `json:"open"`
	Alert         bool        `json:"alert"`
	Unread        int         `json:"unread"`
	UserMentions  int         `json:"userMentions"`
	GroupMentions int         `json:"groupMentions"`
	Roles         []string    `json:"roles,omitempty"`
	Archived      bool        `json:"archived,omitempty"`
	UpdatedAt     jsTime      `json:"_updatedAt"`
}

func subscriptionOf1(s *store.Subscription, u *store.User) subscriptionView {
	v := subscriptionView{
		ID: s.Room.ID + u.ID, RID: s.Room.ID, Name: s.Room.Name, FName: s.Room.Name, T: s.Room.Type,
		U: userRefView{ID: u.ID, Username: u.Username, Name: u.Name}, TS: jsTime(s.Member.Joined),
		LS: optTime(s.Member.LS), Open: !s.Member.Hidden, Alert: s.Alert(), Unread: s.Unread,
		UserMentions: s.Member.Mentions, Roles: s.Member.Roles, Archived: s.Room.Archived,
		UpdatedAt: jsTime(s.UpdatedAt),
	}
	if s.Room.Type == store.Direct {
		// Named after the other member (the caller themself in a room of their own).
		var names, fnames []string
		for i, n := range s.Usernames {
			if n != u.Username {
				names, fnames = append(names, n), append(fnames, s.Names[i])
			}
		}
		if len(names) == 0 {
			names, fnames = []string{u.Username}, []string{u.Name}
		}
		v.Name, v.FName = strings.Join(names, ", "), strings.Join(fnames, ", ")
	}
	return v
}

func (a *API) subscriptionsGet1(c *call) (any, error) {
	since, err := timeParam1(c.in, "updatedSince")
	if err != nil {
		return nil, err
	}
	subs, err := a.st.SubscriptionsSince(c.user.ID, since)
	if err != nil {
		return nil, err
	}
	out := make([]subscriptionView, len(subs))
	for i := range subs {
		out[i] = subscriptionOf1(&subs[i], c.user)
	}
	return J("update", out, "remove", []any{}, "success", true), nil
}

// subscriptionsGetOne1 answers null for any room the caller is not in, missing or not, so
// it tells nothing of other people's rooms.
func (a *API) subscriptionsGetOne1(c *call) (any, error) {
	rid, err := c.in.str("roomId")
	if err != nil {
		return nil, err
	}
	if rid == "" {
		return nil, required1("roomId")
	}
	s, err := a.st.SubscriptionOf(rid, c.user.ID)
	switch {
	case err == store.ErrNotInRoom || store.KindOf(err) == store.NotFound:
		return J("subscription", nil, "success", true), nil
	case err != nil:
		return nil, err
	}
	return J("subscription", subscriptionOf1(s, c.user), "success", true), nil
}

// subscriptionRoom reads the room of subscriptions.read: rid, or roomId, or both naming the
// same room (Rocket.Chat's rule and words).
func subscriptionRoom(in body) (string, error) {
	rid, err := in.str("rid")
	if err != nil {
		return "", err
	}
	other, err := in.str("roomId")
	if err != nil {
		return "", err
	}
	switch {
	case rid != "" && other != "" && rid != other:
		return "", badRequest("error-invalid-params", "Params reference to different rooms, use only one param or both params with the same room id")
	case rid == "" && other == "":
		return "", badRequest("error-invalid-params", `At least one of "rid" or "roomId" params is required`)
	case rid == "":
		rid = other
	}
	return rid, nil
}

// errRoomDoesNotExist is subscriptions.read's answer for a room that does not exist or is
// out of the caller's reach, in Rocket.Chat's words.
var errRoomDoesNotExist = &store.Error{Kind: store.Invalid, Code: "error-room-does-not-exist", Message: "This room does not exist [error-room-does-not-exist]"}

func hideOthersRoom(err error) error {
	if store.KindOf(err) == store.Forbidden {
		return errRoomNotFound1
	}
	return err
}

func (a *API) subscriptionsRead1(c *call) (any, error) {
	rid, err := subscriptionRoom(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.st.MarkRead(rid, c.user); err != nil {
		switch store.KindOf(err) {
		case store.NotFound, store.Forbidden:
			return nil, errRoomDoesNotExist
		}
		return nil, err
	}
	return J("success", true), nil
}

// subscriptionsUnread1 marks the room unread from firstUnreadMessage._id on, or (roomId) from
// its last message.
func (a *API) subscriptionsUnread1(c *call) (any, error) {
	var first struct {
		ID string `json:"_id"`
	}
	if _, err := c.in.decode("firstUnreadMessage", &first); err != nil {
		return nil, badRequest("error-invalid-params", "firstUnreadMessage must be {_id}")
	}
	rid, err := c.in.str("roomId")
	if err != nil {
		return nil, err
	}
	if first.ID != "" {
		m, err := a.st.Message(first.ID, c.user)
		if err != nil {
			return nil, hideOthersRoom(err)
		}
		rid = m.RoomID
	}
	if rid == "" {
		return nil, badRequest("error-invalid-params", `The parameter "roomId" or "firstUnreadMessage" is required`)
	}
	if err := a.st.MarkUnread(rid, c.user, first.ID); err != nil {
		return nil, hideOthersRoom(err)
	}
	return J("success", true), nil
}
