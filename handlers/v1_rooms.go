package handlers

// API v1 routes that channels.* and groups.* share (Rocket.Chat's twins of each other):
// moderation, lifecycle and member lists. A roomKind says how a family finds its room and
// names it in answers. A group (and a direct-message room) is invisible to a non-member:
// every refusal is the answer for a missing room, so no answer tells that it exists.

import (
	"slices"

	"rocketlite/rbac"
	"rocketlite/store"
)

// roomKind is one family of room routes.
type roomKind struct {
	key     string // the reply's key for one room: "channel", "group", "room"
	noun    string // in error messages
	long    string // in Rocket.Chat's "The private group, x, is already closed" (noun if "")
	private bool   // groups: type "p" and members only, the rest answer "not found"
	direct  bool   // im: type "d" and members only
}

var (
	channelKind = &roomKind{key: "channel", noun: "channel"}
	groupKind   = &roomKind{key: "group", noun: "group", long: "private group", private: true}
	imKind      = &roomKind{key: "room", noun: "direct message room", direct: true}
)

func (k *roomKind) notFound() error {
	return &store.Error{Kind: store.Invalid, Code: "error-room-not-found",
		Message: `The required "roomId" or "roomName" param provided does not match any ` + k.noun}
}

// find returns the room the call names (roomId or roomName) as the caller may see it.
func (a *API) find(c *call, k *roomKind) (store.RoomWithMembers, error) {
	var none store.RoomWithMembers
	rid, err := c.room, error(nil)
	if rid == "" {
		rid, err = a.roomParam(c)
	}
	if err == nil {
		var r store.RoomWithMembers
		r, err = a.st.ReadableRoom(rid, c.user)
		if err == nil {
			switch {
			case k.private && r.Type != store.Private,
				k.direct && r.Type != store.Direct,
				!k.private && !k.direct && r.Type == store.Direct:
				return none, k.notFound()
			}
			return r, nil
		}
	}
	if k.private || k.direct {
		switch store.KindOf(err) {
		case store.NotFound, store.Forbidden:
			return none, k.notFound()
		}
	}
	return none, err
}

// kindRoute adapts a handler of a kind to a route.
func (a *API) kindRoute(k *roomKind, fn func(c *call, k *roomKind) (any, error)) handlerFunc {
	return func(c *call) (any, error) { return fn(c, k) }
}

// reply1 is the answer of routes that return the room as it now is.
func (a *API) reply1(c *call, k *roomKind, rid string) (any, error) {
	r, err := a.st.ReadableRoom(rid, c.user)
	if err != nil {
		return nil, err
	}
	return J(k.key, roomOf(r), "success", true), nil
}

// mayIn refuses the call unless the caller holds perm, globally or by a room role in r.
func (a *API) mayIn(c *call, r store.RoomWithMembers, perm string) error {
	return a.need1(c, perm, r.ID)
}

func (a *API) roomInfo1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	return J(k.key, roomOf(r), "success", true), nil
}

func (a *API) roomHistory1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	q, lq, err := historyQuery1(c)
	if err != nil {
		return nil, err
	}
	msgs, err := a.st.History(r.ID, c.user, q)
	if err != nil {
		return nil, err
	}
	things, err := project(lq.fields, messagesOf(msgs))
	if err != nil {
		return nil, err
	}
	return J("messages", things, "success", true), nil
}

type memberView struct {
	ID       string `json:"_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Active   bool   `json:"active"`
}

// roomMembers1 lists the members: {members: [{_id, username, name, status}], count, offset,
// total}.
func (a *API) roomMembers1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	// Members come by username; no other order is offered.
	q, err := readList(c.in, defaultPage1, memberSort)
	if err != nil {
		return nil, err
	}
	ms, total, err := a.st.RoomMemberPage(r.ID, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	out := make([]memberView, len(ms))
	for i, m := range ms {
		status, err := a.presence(&store.User{ID: m.ID}) // as users.getPresence tells it
		if err != nil {
			return nil, err
		}
		out[i] = memberView{ID: m.ID, Username: m.Username, Name: m.Name, Status: status, Active: m.Active}
	}
	return listOf(q, "members", out, total)
}

var memberSort sorter[struct{}] // nil: members come by username only

// roomRoles1 lists the members holding room roles: {roles: [{rid, u, roles}]}.
func (a *API) roomRoles1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	ms, err := a.st.RoomRoles(r.ID, "")
	if err != nil {
		return nil, err
	}
	out := make([]Obj, len(ms))
	for i, m := range ms {
		out[i] = J("_id", r.ID+"-"+m.UserID, "rid", r.ID, "u", J("_id", m.UserID, "username", m.Username), "roles", m.Roles)
	}
	return J("roles", out, "success", true), nil
}

// channelsModerators1 lists the room's moderators: {moderators: [{_id, username}]}.
func (a *API) channelsModerators1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	ms, err := a.st.RoomRoles(r.ID, store.RoleModerator)
	if err != nil {
		return nil, err
	}
	out := make([]Obj, len(ms))
	for i, m := range ms {
		out[i] = J("_id", m.UserID, "username", m.Username)
	}
	return J("moderators", out, "success", true), nil
}

// roomCounters1 is Rocket.Chat's counters: the caller's unread messages and mentions there.
func (a *API) roomCounters1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	sub, err := a.st.SubscriptionOf(r.ID, c.user.ID)
	if err != nil && err != store.ErrNotInRoom {
		return nil, err
	}
	var latest any
	if !r.LastMessage.IsZero() {
		latest = jsTime(r.LastMessage)
	}
	if sub == nil {
		return J("joined", false, "members", len(r.Usernames), "unreads", nil, "unreadsFrom", nil,
			"msgs", r.Msgs, "latest", latest, "userMentions", nil, "success", true), nil
	}
	from := sub.Member.LS
	if from.IsZero() {
		from = sub.Member.Joined
	}
	return J("joined", true, "members", len(r.Usernames), "unreads", sub.Unread, "unreadsFrom", jsTime(from),
		"msgs", r.Msgs, "latest", latest, "userMentions", sub.Member.Mentions, "success", true), nil
}

// roomMembership1 is invite: a member with add-user-to-joined-room (owners and moderators by
// default), or anyone with add-user-to-any-c-room (-p-room for a group). The added user gets
// Rocket.Chat's "au" message.
func (a *API) roomInvite1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.mayInvite(c, r); err != nil {
		return nil, err
	}
	by := c.user.Ref()
	if err := a.st.AddMemberBy(r.ID, u.ID, &by); err != nil {
		return nil, err
	}
	return a.reply1(c, k, r.ID)
}

func (a *API) mayInvite(c *call, r store.RoomWithMembers) error {
	if r.Type == store.Direct {
		return store.ErrNoPermission // a direct-message room's members are fixed
	}
	for _, n := range r.Usernames {
		if n == c.user.Username {
			if ok, err := a.st.HasPermission(c.user, rbac.AddUserToJoinedRoom, r.ID); err != nil || ok {
				return err
			}
		}
	}
	perm := rbac.AddUserToAnyCRoom
	if r.Type == store.Private {
		perm = rbac.AddUserToAnyPRoom
	}
	return a.need1(c, perm, "")
}

func (a *API) roomKick1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.mayIn(c, r, rbac.RemoveUser); err != nil {
		return nil, err
	}
	if err := a.st.RemoveMember(r.ID, u.ID, c.user.Ref()); err != nil {
		return nil, err
	}
	return a.roomAfter1(k.key, r.ID)
}

// roomLeave1 leaves the room; the last owner must name another owner first, as in
// Rocket.Chat.
func (a *API) roomLeave1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	if err := a.leave1(c, r); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

func (a *API) leave1(c *call, r store.RoomWithMembers) error {
	if r.Type != store.Direct {
		owners, err := a.st.RoomRoles(r.ID, store.RoleOwner)
		if err != nil {
			return err
		}
		if len(owners) == 1 && owners[0].UserID == c.user.ID && len(r.Usernames) > 1 {
			return badRequest("error-you-are-last-owner", "You are the last owner. Please set new owner before leaving the room.")
		}
	}
	left, err := a.st.Leave(r.ID, c.user.ID)
	if err != nil {
		return err
	}
	if !left {
		return store.ErrNotInRoom
	}
	return nil
}

func (a *API) roomOpen1(c *call, k *roomKind) (any, error)  { return a.roomSetOpen1(c, k, true) }
func (a *API) roomClose1(c *call, k *roomKind) (any, error) { return a.roomSetOpen1(c, k, false) }

func (a *API) roomSetOpen1(c *call, k *roomKind, open bool) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	changed, err := a.st.SetRoomOpen(r.ID, c.user.ID, open)
	if err != nil {
		return nil, err
	}
	if !changed {
		state := "open"
		if !open {
			state = "closed"
		}
		name := r.Name
		if name == "" {
			name = r.ID
		}
		noun := k.noun
		if k.long != "" {
			noun = k.long
		}
		return nil, badRequest("error-invalid-room-state", "The %s, %s, is already %s to the sender", noun, name, state)
	}
	return J("success", true), nil
}

// editable finds the room and checks edit-room there (globally, or as owner or moderator).
func (a *API) editable(c *call, k *roomKind) (store.RoomWithMembers, error) {
	r, err := a.find(c, k)
	if err != nil {
		return r, err
	}
	if r.Type == store.Direct {
		return r, store.ErrNoPermission
	}
	return r, a.mayIn(c, r, rbac.EditRoom)
}

func (a *API) roomRename1(c *call, k *roomKind) (any, error) {
	name, err := roomNameParam1(c.in)
	if err != nil {
		return nil, err
	}
	r, err := a.editable(c, k)
	if err != nil {
		return nil, err
	}
	if _, err := a.st.EditRoom(r.ID, c.user, func(room *store.Room) ([]*store.Message, error) {
		if room.Name == name {
			return nil, nil
		}
		room.Name = name
		return []*store.Message{{Type: "r", Text: name}}, nil
	}); err != nil {
		return nil, err
	}
	return a.reply1(c, k, r.ID)
}

// roomTextSetter is one of setTopic, setDescription, setPurpose, setAnnouncement: the field
// of the request, how it changes the room, and the system message it writes ("" none).
type roomTextSetter struct {
	field, note string
	set         func(r *store.Room, s string) (old string)
}

var (
	setTopic        = roomTextSetter{"topic", "room_changed_topic", func(r *store.Room, s string) string { o := r.Topic; r.Topic = s; return o }}
	setDescription  = roomTextSetter{"description", "room_changed_description", func(r *store.Room, s string) string { o := r.Description; r.Description = s; return o }}
	setPurpose      = roomTextSetter{"purpose", "", func(r *store.Room, s string) string { o := r.Purpose; r.Purpose = s; return o }}
	setAnnouncement = roomTextSetter{"announcement", "room_changed_announcement", func(r *store.Room, s string) string { o := r.Announcement; r.Announcement = s; return o }}
)

func (a *API) roomSetText1(set roomTextSetter) func(c *call, k *roomKind) (any, error) {
	return func(c *call, k *roomKind) (any, error) {
		s, err := roomText(c.in, set.field)
		if err != nil {
			return nil, err
		}
		r, err := a.editable(c, k)
		if err != nil {
			return nil, err
		}
		if err := a.setText(c, r.ID, set, s); err != nil {
			return nil, err
		}
		return J(set.field, s, "success", true), nil
	}
}

func (a *API) setText(c *call, rid string, set roomTextSetter, s string) error {
	_, err := a.st.EditRoom(rid, c.user, func(room *store.Room) ([]*store.Message, error) {
		if old := set.set(room, s); old == s || set.note == "" {
			return nil, nil
		}
		return []*store.Message{{Type: set.note, Text: s}}, nil
	})
	return err
}

func (a *API) roomSetReadOnly1(c *call, k *roomKind) (any, error) {
	if !c.in.has("readOnly") {
		return nil, required1("readOnly")
	}
	ro, err := c.in.boolean("readOnly", false)
	if err != nil {
		return nil, err
	}
	r, err := a.editable(c, k)
	if err != nil {
		return nil, err
	}
	if r.ReadOnly == ro {
		return nil, badRequest("error-room-param-invalid", "The %s read only setting is the same as what it would be changed to.", k.noun)
	}
	if err := a.setReadOnly(c, r.ID, ro); err != nil {
		return nil, err
	}
	return a.reply1(c, k, r.ID)
}

func (a *API) setReadOnly(c *call, rid string, ro bool) error {
	_, err := a.st.EditRoom(rid, c.user, func(room *store.Room) ([]*store.Message, error) {
		if room.ReadOnly == ro {
			return nil, nil
		}
		room.ReadOnly = ro
		typ := "room-set-read-only"
		if !ro {
			typ = "room-removed-read-only"
		}
		return []*store.Message{{Type: typ, Text: c.user.Username}}, nil
	})
	return err
}

// roomSetType1 turns a channel into a group or back: edit-room, and create-c or create-p
// for the new type, as Rocket.Chat's saveRoomSettings checks.
func (a *API) roomSetType1(c *call, k *roomKind) (any, error) {
	t, err := c.in.str("type")
	if err != nil {
		return nil, err
	}
	if t == "" {
		return nil, required1("type")
	}
	r, err := a.editable(c, k)
	if err != nil {
		return nil, err
	}
	if r.Type == t {
		return nil, badRequest("error-room-type-same", "The %s type is the same as what it would be changed to.", k.noun)
	}
	if err := a.setType(c, r.ID, t); err != nil {
		return nil, err
	}
	return J(k.key, mustRoom(a, c, r.ID), "success", true), nil
}

// mustRoom is the room as it now is, for answers after a change that may have moved it out
// of the family (setType): read by id, the caller being a member or an editor.
func mustRoom(a *API, c *call, rid string) roomView {
	r, err := a.st.RoomMembers(rid)
	if err != nil {
		return roomView{ID: rid}
	}
	return roomOf(r)
}

func (a *API) setType(c *call, rid, t string) error {
	var perm string
	switch t {
	case store.Public:
		perm = rbac.CreateC
	case store.Private:
		perm = rbac.CreateP
	default:
		return badRequest("error-invalid-room-type", `The type must be "c" (public) or "p" (private)`)
	}
	if err := a.need1(c, perm, ""); err != nil {
		return err
	}
	_, err := a.st.EditRoom(rid, c.user, func(room *store.Room) ([]*store.Message, error) {
		if room.Type == store.Direct {
			return nil, store.ErrNoPermission
		}
		if room.Type == t {
			return nil, nil
		}
		room.Type = t
		name := "public"
		if t == store.Private {
			name = "private"
		}
		return []*store.Message{{Type: "room_changed_privacy", Text: name}}, nil
	})
	return err
}

func (a *API) roomArchive1(c *call, k *roomKind) (any, error) { return a.roomSetArchived1(c, k, true) }
func (a *API) roomUnarchive1(c *call, k *roomKind) (any, error) {
	return a.roomSetArchived1(c, k, false)
}

func (a *API) roomSetArchived1(c *call, k *roomKind, archived bool) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	perm := rbac.ArchiveRoom
	if !archived {
		perm = rbac.UnarchiveRoom
	}
	if err := a.mayIn(c, r, perm); err != nil {
		return nil, err
	}
	if err := a.st.SetArchived(r.ID, archived, c.user); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// roomSetRole1 gives or takes a room role: set-owner, set-moderator or set-leader.
func (a *API) roomSetRole1(role string, add bool) func(c *call, k *roomKind) (any, error) {
	perm := map[string]string{store.RoleOwner: rbac.SetOwner, store.RoleModerator: rbac.SetModerator, store.RoleLeader: rbac.SetLeader}[role]
	return func(c *call, k *roomKind) (any, error) {
		r, err := a.find(c, k)
		if err != nil {
			return nil, err
		}
		u, err := a.userParam1(c.in)
		if err != nil {
			return nil, err
		}
		if err := a.mayIn(c, r, perm); err != nil {
			return nil, err
		}
		if err := a.st.SetRoomRole(r.ID, u.ID, role, add, c.user); err != nil {
			return nil, err
		}
		return J("success", true), nil
	}
}

// roomDelete1 deletes the room with its history: delete-c or delete-p, globally or as owner.
func (a *API) roomDelete1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	perm := rbac.DeleteC
	if r.Type != store.Public {
		perm = rbac.DeleteP
	}
	if err := a.mayIn(c, r, perm); err != nil {
		return nil, err
	}
	if err := a.st.DeleteRoom(r.ID); err != nil {
		return nil, err
	}
	return J(k.key, roomOf(r), "success", true), nil
}

// channelsCleanHistory1 removes the messages between oldest and latest (both required, as in
// Rocket.Chat): clean-channel-history.
func (a *API) channelsCleanHistory1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	latest, err := timeParam1(c.in, "latest")
	if err != nil {
		return nil, err
	}
	oldest, err := timeParam1(c.in, "oldest")
	if err != nil {
		return nil, err
	}
	if latest.IsZero() {
		return nil, required1("latest")
	}
	if oldest.IsZero() {
		return nil, required1("oldest")
	}
	inclusive, err := c.in.boolean("inclusive", false)
	if err != nil {
		return nil, err
	}
	if err := a.mayIn(c, r, rbac.CleanChannelHistory); err != nil {
		return nil, err
	}
	if _, err := a.st.CleanHistory(r.ID, oldest, latest, inclusive); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// channelsSetJoinCode1 sets the code that channels.join then needs (edit-room; "" removes it).
func (a *API) channelsSetJoinCode1(c *call, k *roomKind) (any, error) {
	if !c.in.has("joinCode") {
		return nil, required1("joinCode")
	}
	code, err := c.in.str("joinCode")
	if err != nil {
		return nil, err
	}
	if len(code) > 200 || hasControl(code, false) {
		return nil, badRequest("error-invalid-params", "joinCode must be at most 200 characters without control characters")
	}
	r, err := a.editable(c, k)
	if err != nil {
		return nil, err
	}
	if _, err := a.st.UpdateRoom(r.ID, func(room *store.Room) error { room.JoinCode = code; return nil }); err != nil {
		return nil, err
	}
	return a.reply1(c, k, r.ID)
}

// channelsAddAll1 makes every active user a member: add-user-to-any-c-room (-p-room).
func (a *API) channelsAddAll1(c *call, k *roomKind) (any, error) {
	r, err := a.find(c, k)
	if err != nil {
		return nil, err
	}
	perm := rbac.AddUserToAnyCRoom
	if r.Type == store.Private {
		perm = rbac.AddUserToAnyPRoom
	}
	if err := a.need1(c, perm, ""); err != nil {
		return nil, err
	}
	if _, err := a.st.AddAllUsers(r.ID); err != nil {
		return nil, err
	}
	return a.reply1(c, k, r.ID)
}

// --- groups.* beyond the shared routes ---

// groupsCreate1 creates a private room (create-p); the caller becomes its owner.
func (a *API) groupsCreate1(c *call) (any, error) {
	if err := a.need1(c, rbac.CreateP, ""); err != nil {
		return nil, err
	}
	r, err := a.createRoom1(c, store.Private)
	if err != nil {
		return nil, err
	}
	return a.reply1(c, groupKind, r.ID)
}

// groupsList1 lists the caller's groups.
func (a *API) groupsList1(c *call) (any, error) {
	return a.listMine1(c, "groups", store.Private)
}

func (a *API) listMine1(c *call, key, t string) (any, error) {
	q, err := readList(c.in, defaultPage1, roomSort)
	if err != nil {
		return nil, err
	}
	rooms, total, err := a.st.UserRoomsBy(c.user.ID, func(r *store.Room) bool { return r.Type == t }, q.cmp, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	return listOf(q, key, roomsOf(rooms), total)
}

// groupsListAll1 lists every group: view-room-administration (admins).
func (a *API) groupsListAll1(c *call) (any, error) {
	if err := a.need1(c, rbac.ViewRoomAdministration, ""); err != nil {
		return nil, err
	}
	q, err := readList(c.in, defaultPage1, roomSort)
	if err != nil {
		return nil, err
	}
	rooms, total, err := a.st.RoomsBy(func(r *store.Room) bool { return r.Type == store.Private }, q.cmp, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	return listOf(q, "groups", roomsOf(rooms), total)
}

// createRoom1 reads name, members and readOnly and creates the room with the caller as owner.
func (a *API) createRoom1(c *call, t string) (*store.Room, error) {
	name, err := roomNameParam1(c.in)
	if err != nil {
		return nil, err
	}
	members, err := c.in.strings("members")
	if err != nil {
		return nil, err
	}
	ro, err := c.in.boolean("readOnly", false)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range members {
		u, err := a.st.UserByUsername(m)
		if store.KindOf(err) == store.NotFound {
			return nil, badRequest("error-invalid-user", "Member %q does not exist", m)
		}
		if err != nil {
			return nil, err
		}
		if u.ID != c.user.ID && !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	creator := c.user.Ref()
	r := &store.Room{Name: name, Type: t, ReadOnly: ro, Creator: &creator}
	if err := a.st.CreateRoom(r, ids, c.user.ID); err != nil {
		return nil, err
	}
	return r, nil
}

// --- rooms.* ---

// roomsParam finds the room of a rooms.* call: roomId (or rid), or roomName; any type the
// caller may read. A group or direct-message room out of reach answers as a missing one.
func (a *API) roomsParam(c *call) (store.RoomWithMembers, error) {
	var none store.RoomWithMembers
	in := c.in
	if !in.has("roomId") && in.has("rid") {
		rid, err := in.str("rid")
		if err != nil {
			return none, err
		}
		in = body{form: map[string][]string{"roomId": {rid}}}
	}
	named := *c
	named.in = in
	rid, err := a.roomParam(&named)
	if err != nil {
		return none, err
	}
	r, err := a.st.ReadableRoom(rid, c.user)
	if store.KindOf(err) == store.Forbidden {
		return none, errRoomNotFound1
	}
	return r, err
}

func (a *API) roomsInfo1(c *call) (any, error) {
	r, err := a.roomsParam(c)
	if err != nil {
		return nil, err
	}
	return J("room", roomOf(r), "success", true), nil
}

func (a *API) roomsLeave1(c *call) (any, error) {
	r, err := a.roomsParam(c)
	if err != nil {
		return nil, err
	}
	if err := a.leave1(c, r); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// roomsGet1 lists the caller's rooms changed after updatedSince: {update, remove}. Rooms
// removed or left are not remembered, so remove is always empty.
func (a *API) roomsGet1(c *call) (any, error) {
	since, err := timeParam1(c.in, "updatedSince")
	if err != nil {
		return nil, err
	}
	rooms, _, err := a.st.UserRooms(c.user.ID, func(r *store.Room) bool {
		return since.IsZero() || r.UpdatedAt.After(since) || r.LastMessage.After(since)
	}, 0, 0)
	if err != nil {
		return nil, err
	}
	return J("update", roomsOf(rooms), "remove", []any{}, "success", true), nil
}

// roomsSaveRoomSettings1 changes several settings at once (rid; roomName, roomTopic,
// roomDescription, roomAnnouncement, readOnly, roomType): edit-room, each setting as its own
// route checks it, all checked before any is applied.
func (a *API) roomsSaveRoomSettings1(c *call) (any, error) {
	rid, err := c.in.str("rid")
	if err != nil {
		return nil, err
	}
	if rid == "" {
		return nil, required1("rid")
	}
	r, err := a.st.ReadableRoom(rid, c.user)
	if store.KindOf(err) == store.Forbidden {
		return nil, errRoomNotFound1
	}
	if err != nil {
		return nil, err
	}
	if r.Type == store.Direct {
		return nil, store.ErrNoPermission
	}
	if err := a.mayIn(c, r, rbac.EditRoom); err != nil {
		return nil, err
	}
	texts := []struct {
		param string
		set   roomTextSetter
	}{{"roomTopic", setTopic}, {"roomDescription", setDescription}, {"roomAnnouncement", setAnnouncement}}
	vals := map[string]string{}
	for _, t := range texts {
		if c.in.has(t.param) {
			s, err := roomText(c.in, t.param)
			if err != nil {
				return nil, err
			}
			vals[t.param] = s
		}
	}
	var name string
	if c.in.has("roomName") {
		if name, err = c.in.str("roomName"); err != nil {
			return nil, err
		}
		if !store.ValidName(name) {
			return nil, badRequest("error-invalid-room-name", "%q is not a valid room name (letters, digits, - _ . ; at most 100)", name)
		}
	}
	var ro *bool
	if c.in.has("readOnly") {
		v, err := c.in.boolean("readOnly", false)
		if err != nil {
			return nil, err
		}
		ro = &v
	}
	t, err := c.in.str("roomType")
	if err != nil {
		return nil, err
	}
	if t != "" && t != store.Public && t != store.Private {
		return nil, badRequest("error-invalid-room-type", `roomType must be "c" or "p"`)
	}
	if t != "" && t != r.Type {
		perm := rbac.CreateC
		if t == store.Private {
			perm = rbac.CreateP
		}
		if err := a.need1(c, perm, ""); err != nil {
			return nil, err
		}
	}
	if name != "" && name != r.Name {
		if _, err := a.st.EditRoom(rid, c.user, func(room *store.Room) ([]*store.Message, error) {
			room.Name = name
			return []*store.Message{{Type: "r", Text: name}}, nil
		}); err != nil {
			return nil, err
		}
	}
	for _, tx := range texts {
		if s, ok := vals[tx.param]; ok {
			if err := a.setText(c, rid, tx.set, s); err != nil {
				return nil, err
			}
		}
	}
	if ro != nil {
		if err := a.setReadOnly(c, rid, *ro); err != nil {
			return nil, err
		}
	}
	if t != "" && t != r.Type {
		if err := a.setType(c, rid, t); err != nil {
			return nil, err
		}
	}
	return J("rid", rid, "success", true), nil
}

// limited puts a room write under the per-user write limit that every message post takes
// (--send-rate, --send-burst): each of these writes a record, most a system message too.
// Opening, closing and reading a room are not limited, as API 0.1's read is not.
func (a *API) limited(fn handlerFunc) handlerFunc {
	return func(c *call) (any, error) {
		if err := a.allowSend(c.user); err != nil {
			return nil, err
		}
		return fn(c)
	}
}
