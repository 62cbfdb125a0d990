package handlers

// API v1 channels.* (API-v1.md §2). A private room (t "p") is served to its members only,
// through the same store checks as API 0.1.

import (
	"cmp"
	"slices"
	"time"
	"unicode/utf8"

	"rocketlite/pagecache"
	"rocketlite/rbac"
	"rocketlite/store"
)

// roomAfter1 is the reply of a route that changed the room's members: the room as it now
// is, read by id without the caller's reach (they may have just left or removed someone).
func (a *API) roomAfter1(key, rid string) (any, error) {
	r, err := a.st.RoomMembers(rid)
	if err != nil {
		return nil, err
	}
	return J(key, roomOf(r), "success", true), nil
}

// roomSort is what room lists sort by (README "List conventions").
var roomSort = sorter[*store.Room]{
	"name":       func(a, b *store.Room) int { return cmpString(a.Name, b.Name) },
	"fname":      func(a, b *store.Room) int { return cmpString(a.Name, b.Name) },
	"t":          func(a, b *store.Room) int { return cmpString(a.Type, b.Type) },
	"msgs":       func(a, b *store.Room) int { return cmp.Compare(a.Msgs, b.Msgs) },
	"ts":         func(a, b *store.Room) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"_updatedAt": func(a, b *store.Room) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
	"lm":         func(a, b *store.Room) int { return a.LastMessage.Compare(b.LastMessage) },
	"default":    func(a, b *store.Room) int { return cmpBool(a.Default, b.Default) },
	"ro":         func(a, b *store.Room) int { return cmpBool(a.ReadOnly, b.ReadOnly) },
}

// channelsList1 is the twin of publicRooms: every public room.
func (a *API) channelsList1(c *call) (any, error) {
	if err := a.st.MayViewPublicRooms(c.user); err != nil {
		return nil, err
	}
	q, err := readList(c.in, defaultPage1, roomSort)
	if err != nil {
		return nil, err
	}
	var rooms []store.RoomWithMembers
	var total int
	if q.cmp == nil {
		// The default order (publicRooms'): a page reads only its rooms, from the rank index.
		rooms, total, err = a.st.PublicRooms(q.Offset, q.Count)
	} else {
		// A sort asked for reads every public room; the cap on rooms per creator bounds them.
		rooms, total, err = a.st.RoomsBy(func(r *store.Room) bool { return r.Type == store.Public }, q.cmp, q.Offset, q.Count)
	}
	if err != nil {
		return nil, err
	}
	return listOf(q, "channels", roomsOf(rooms), total)
}

// channelsListJoined1 lists the public rooms the caller is in, by name.
func (a *API) channelsListJoined1(c *call) (any, error) {
	q, err := readList(c.in, defaultPage1, roomSort)
	if err != nil {
		return nil, err
	}
	rooms, total, err := a.st.UserRoomsBy(c.user.ID, func(r *store.Room) bool { return r.Type == store.Public }, q.cmp, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	return listOf(q, "channels", roomsOf(rooms), total)
}

func (a *API) channelsInfo1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	return a.reply1(c, channelKind, rid)
}

// roomNameParam1 reads and checks a new room name.
func roomNameParam1(in body) (string, error) {
	name, err := in.str("name")
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", required1("name")
	}
	if !store.ValidName(name) {
		return "", badRequest("error-invalid-room-name", "%q is not a valid room name (letters, digits, - _ . ; at most 100)", name)
	}
	return name, nil
}

// channelsCreate1 creates a public room (permission create-c, as for API 0.1's createRoom);
// the caller becomes its owner.
func (a *API) channelsCreate1(c *call) (any, error) {
	if err := a.need1(c, rbac.CreateC, ""); err != nil {
		return nil, err
	}
	r, err := a.createRoom1(c, store.Public)
	if err != nil {
		return nil, err
	}
	return a.reply1(c, channelKind, r.ID)
}

// channelsJoin1 is the twin of join0.
func (a *API) channelsJoin1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	code, err := c.in.str("joinCode")
	if err != nil {
		return nil, err
	}
	if _, err := a.st.JoinWithCode(rid, c.user.ID, code); err != nil {
		return nil, err
	}
	return a.reply1(c, channelKind, rid)
}

// channelsLeave1 is the twin of leave0.
func (a *API) channelsLeave1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	left, err := a.st.Leave(rid, c.user.ID)
	if err != nil {
		return nil, err
	}
	if !left {
		// Not a member: the room as the caller may see it (a private room: 403, never its
		// members and texts).
		return a.reply1(c, channelKind, rid)
	}
	// The caller has just left, maybe a private room: show it as it now is, without them.
	return a.roomAfter1("channel", rid)
}

// timeParam1 reads an ISO-8601 time parameter (zero if absent).
func timeParam1(in body, name string) (time.Time, error) {
	s, err := in.str(name)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("error-invalid-date", "%s must be an ISO-8601 date such as 2017-12-04T10:00:00.000Z", name)
	}
	return t, nil
}

// channelsHistory1 is the twin of messages0: newest first, latest/oldest bound by time.
func (a *API) channelsHistory1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	// History comes newest first from the time index: it offers no other sort.
	q, lq, err := historyQuery1(c)
	if err != nil {
		return nil, err
	}
	fill := func() (any, error) {
		msgs, err := a.history(c, rid, q)
		if err != nil {
			return nil, err
		}
		things, err := project(lq.fields, messagesOf(msgs))
		if err != nil {
			return nil, err
		}
		return J("messages", things, "success", true), nil
	}
	if q.Offset == 0 && q.Before.IsZero() && q.After.IsZero() && lq.fields.empty() {
		// The newest page (inclusive means nothing without a bound; the one sort accepted
		// is history's own order): the same for every reader until the room's next write.
		return a.cachedPage(c, pagecache.Key{Form: formHistory1, Room: rid, Count: q.Count}, fill)
	}
	return fill()
}

// historySort accepts only the order history has (newest first), so that clients that send
// it explicitly are served; any other sort is refused.
var historySort = sorter[struct{}]{"ts": nil}

// channelsOpen1 and channelsClose1 show or hide the room in the caller's own list.
func (a *API) channelsOpen1(c *call) (any, error)  { return a.setOpen(c, true) }
func (a *API) channelsClose1(c *call) (any, error) { return a.setOpen(c, false) }

func (a *API) setOpen(c *call, open bool) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	r, err := a.st.ReadableRoom(rid, c.user)
	if err != nil {
		return nil, err
	}
	changed, err := a.st.SetRoomOpen(rid, c.user.ID, open)
	if err != nil {
		return nil, err
	}
	if !changed {
		state := "open"
		if !open {
			state = "closed"
		}
		return nil, badRequest("error-invalid-room-state", "The channel, %s, is already %s to the sender", r.Name, state)
	}
	return J("success", true), nil
}

// editableRoom checks that the caller may change room rid's settings: edit-room, globally or
// as the room's owner or moderator.
func (a *API) editableRoom(c *call) (string, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return "", err
	}
	if _, err := a.st.ReadableRoom(rid, c.user); err != nil {
		return "", err
	}
	return rid, a.need1(c, rbac.EditRoom, rid)
}

func (a *API) channelsRename1(c *call) (any, error) {
	name, err := roomNameParam1(c.in)
	if err != nil {
		return nil, err
	}
	rid, err := a.editableRoom(c)
	if err != nil {
		return nil, err
	}
	if _, err := a.st.UpdateRoom(rid, func(r *store.Room) error { r.Name = name; return nil }); err != nil {
		return nil, err
	}
	return a.reply1(c, channelKind, rid)
}

// roomText reads a topic, description or purpose: one line or more of text, no other
// control characters, at most 1000 characters; "" clears it.
func roomText(in body, field string) (string, error) {
	s, err := in.str(field)
	if err != nil {
		return "", err
	}
	if !in.has(field) {
		return "", required1(field)
	}
	if utf8.RuneCountInString(s) > 1000 || hasControl(s, true) {
		return "", badRequest("error-invalid-params", "%s must be at most 1000 characters of text", field)
	}
	return s, nil
}

func (a *API) channelsSetTopic1(c *call) (any, error) {
	return a.setRoomText(c, "topic", func(r *store.Room, s string) { r.Topic = s })
}

func (a *API) channelsSetDescription1(c *call) (any, error) {
	return a.setRoomText(c, "description", func(r *store.Room, s string) { r.Description = s })
}

func (a *API) channelsSetPurpose1(c *call) (any, error) {
	return a.setRoomText(c, "purpose", func(r *store.Room, s string) { r.Purpose = s })
}

func (a *API) setRoomText(c *call, field string, set func(r *store.Room, s string)) (any, error) {
	s, err := roomText(c.in, field)
	if err != nil {
		return nil, err
	}
	rid, err := a.editableRoom(c)
	if err != nil {
		return nil, err
	}
	if _, err := a.st.UpdateRoom(rid, func(r *store.Room) error { set(r, s); return nil }); err != nil {
		return nil, err
	}
	return J(field, s, "success", true), nil
}

// userParam1 finds the user a call names by userId or else username.
func (a *API) userParam1(in body) (*store.User, error) {
	id, err := in.str("userId")
	if err != nil {
		return nil, err
	}
	if id != "" {
		return a.st.User(id)
	}
	name, err := in.str("username")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, badRequest("error-invalid-params", `The parameter "userId" or "username" is required`)
	}
	return a.st.UserByUsername(name)
}

// channelsInvite1 adds a user to the room: a member with add-user-to-joined-room (owners and
// moderators by default), or anyone with add-user-to-any-c-room (-p-room for a private room).
func (a *API) channelsInvite1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	r, err := a.st.ReadableRoom(rid, c.user)
	if err != nil {
		return nil, err
	}
	allowed := false
	if slices.Contains(r.Usernames, c.user.Username) {
		if allowed, err = a.st.HasPermission(c.user, rbac.AddUserToJoinedRoom, rid); err != nil {
			return nil, err
		}
	}
	if !allowed {
		perm := rbac.AddUserToAnyCRoom
		if r.Type == store.Private {
			perm = rbac.AddUserToAnyPRoom
		}
		if err := a.need1(c, perm, ""); err != nil {
			return nil, err
		}
	}
	if err := a.st.AddMember(rid, u.ID); err != nil {
		return nil, err
	}
	return a.reply1(c, channelKind, rid)
}

// channelsKick1 removes a user from the room (remove-user, globally or as owner/moderator).
func (a *API) channelsKick1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	if _, err := a.st.ReadableRoom(rid, c.user); err != nil {
		return nil, err
	}
	if err := a.need1(c, rbac.RemoveUser, rid); err != nil {
		return nil, err
	}
	if err := a.st.RemoveMember(rid, u.ID, c.user.Ref()); err != nil {
		return nil, err
	}
	return a.roomAfter1("channel", rid)
}

// historyQuery1 reads the paging of channels|groups|im.history: count and offset (newest
// first, the only sort the time index offers), latest and oldest bounds, inclusive; lq keeps
// the list's fields.
func historyQuery1(c *call) (q store.HistoryQuery, lq listQuery[struct{}], err error) {
	if lq, err = readList(c.in, 20, historySort); err != nil {
		return q, lq, err
	}
	q = store.HistoryQuery{Count: lq.Count, Offset: lq.Offset}
	if q.Before, err = timeParam1(c.in, "latest"); err != nil {
		return q, lq, err
	}
	if q.After, err = timeParam1(c.in, "oldest"); err != nil {
		return q, lq, err
	}
	q.Inclusive, err = c.in.boolean("inclusive", false)
	return q, lq, err
}
