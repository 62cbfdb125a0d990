package realtime

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"rocketlite/auth"
	"rocketlite/store"
)

// methodFunc runs one DDP method for the connection; u is the logged-in user (methods that
// need one get a non-nil u).
type methodFunc func(c *conn, u *store.User, params []json.RawMessage) (any, error)

type method struct {
	fn     methodFunc
	authed bool
}

// methods is the DDP method table (REALTIME.md "Methods").
var methods map[string]method

func init() {
	methods = map[string]method{
		"login":                         {login, false},
		"logout":                        {logout, true},
		"sendMessage":                   {sendMessage, true},
		"joinRoom":                      {joinRoom, true},
		"leaveRoom":                     {leaveRoom, true},
		"rooms/get":                     {roomsGet, true},
		"subscriptions/get":             {subscriptionsGet, true},
		"browseChannels":                {browseChannels, true},
		"getUsersOfRoom":                {getUsersOfRoom, true},
		"getRoomRoles":                  {getRoomRoles, true},
		"loadHistory":                   {loadHistory, true},
		"getRoomIdByNameOrId":           {getRoomIDByNameOrID, true},
		"readMessages":                  {readMessages, true},
		"createDirectMessage":           {createDirectMessage, true},
		"UserPresence:setDefaultStatus": {setDefaultStatus, true},
		"UserPresence:online":           {presenceOnline, true},
		"UserPresence:away":             {presenceAway, true},
		"stream-notify-room":            {notifyRoom, true},
	}
}

// writeMethods change the store and count against the user's write limit, as their REST
// twins do (sendMessage counts against the send limit, inside Core.SendMessage).
var writeMethods = map[string]bool{"joinRoom": true, "leaveRoom": true, "readMessages": true,
	"UserPresence:setDefaultStatus": true}

func (c *conn) call(name string, params []json.RawMessage) (any, error) {
	m, ok := methods[name]
	if !ok {
		return nil, &methodError{404, "Method '" + name + "' not found"}
	}
	u := c.user.Load()
	if m.authed && u == nil {
		return nil, errNotLogged
	}
	if writeMethods[name] {
		if err := c.srv.cfg.Core.AllowWrite(u); err != nil {
			return nil, err
		}
	}
	return m.fn(c, u, params)
}

// param decodes params[i] into v; a missing or mistyped param is errBadParams.
func param(params []json.RawMessage, i int, v any) error {
	if i >= len(params) || json.Unmarshal(params[i], v) != nil {
		return errBadParams
	}
	return nil
}

// optParam is param for a param that may be missing or null.
func optParam(params []json.RawMessage, i int, v any) (bool, error) {
	if i >= len(params) || string(params[i]) == "null" {
		return false, nil
	}
	return true, param(params, i, v)
}

func stringParam(params []json.RawMessage, i int) (string, error) {
	var s string
	if err := param(params, i, &s); err != nil || s == "" {
		return "", errBadParams
	}
	return s, nil
}

type loginResult struct {
	ID           string `json:"id"`
	Token        string `json:"token"`
	TokenExpires date   `json:"tokenExpires"`
	Type         string `json:"type"`
}

// login: {resume: token} or {user: {username}|{email}, password: "plain"|{digest, algorithm}}.
// A password goes through the REST API's one login (Core.Login): same throttles, refusals
// and token store.
func login(c *conn, _ *store.User, params []json.RawMessage) (any, error) {
	var in struct {
		Resume   *string         `json:"resume"`
		User     json.RawMessage `json:"user"`
		Password json.RawMessage `json:"password"`
	}
	if err := param(params, 0, &in); err != nil {
		return nil, err
	}
	var (
		u    *store.User
		tok  string
		kind string
	)
	if in.Resume != nil {
		if *in.Resume == "" {
			return nil, errResumeFail
		}
		h := auth.HashToken(*in.Resume)
		usr, _, err := c.srv.st.UserByToken(h)
		if err != nil {
			return nil, errResumeFail
		}
		u, tok, kind = usr, *in.Resume, "resume"
	} else {
		var who struct {
			Username string `json:"username"`
			Email    string `json:"email"`
		}
		if len(in.User) == 0 || json.Unmarshal(in.User, &who) != nil || len(in.Password) == 0 {
			return nil, errBadParams
		}
		name, byEmail := who.Username, false
		if name == "" {
			name, byEmail = who.Email, true
		}
		digest, err := passwordDigest(in.Password)
		if err != nil {
			return nil, err
		}
		usr, t, err := c.srv.cfg.Core.Login(c.addr, name, byEmail, digest)
		if err != nil {
			if store.KindOf(err) == store.Unauthorized {
				return nil, errLoginFail
			}
			return nil, err
		}
		u, tok, kind = usr, t, "password"
	}
	h := auth.HashToken(tok)
	_, expires, err := c.srv.st.UserByToken(h)
	if err != nil {
		return nil, errResumeFail
	}
	if old := c.user.Load(); old != nil {
		c.srv.hub.detach(c)
		c.user.Store(nil)
	}
	c.user.Store(u)
	ok, err := c.srv.hub.attach(c, u, c.srv.cfg.MaxSocketsPerUser)
	if err != nil || !ok {
		c.user.Store(nil)
		if err != nil {
			return nil, err
		}
		return nil, &methodError{"error-too-many-sockets", "This user has too many open sockets"}
	}
	c.token.Store(&h)
	status, _ := c.srv.hub.Presence(u.ID)
	c.after = append(c.after, func() {
		c.send(map[string]any{"msg": "added", "collection": "users", "id": u.ID, "fields": map[string]any{
			"username": u.Username, "name": u.Name, "status": status, "statusText": u.StatusText,
			"utcOffset": 0, "active": u.Active, "roles": u.Roles, "type": u.Type,
		}})
	})
	return loginResult{ID: u.ID, Token: tok, TokenExpires: date(expires), Type: kind}, nil
}

// passwordDigest reads a DDP password: plain text, or {digest, algorithm: "sha-256"}.
func passwordDigest(raw json.RawMessage) (string, error) {
	if raw[0] == '{' {
		var p struct {
			Digest    string `json:"digest"`
			Algorithm string `json:"algorithm"`
		}
		if json.Unmarshal(raw, &p) != nil || p.Algorithm != "sha-256" || !auth.ValidDigest(p.Digest) {
			return "", errBadParams
		}
		return strings.ToLower(p.Digest), nil
	}
	var pw string
	if json.Unmarshal(raw, &pw) != nil {
		return "", errBadParams
	}
	if pw == "" || len(pw) > auth.MaxPasswordBytes {
		return "", nil // refused by Login after the same work as a wrong password
	}
	return auth.Digest(pw), nil
}

func logout(c *conn, u *store.User, _ []json.RawMessage) (any, error) {
	// Forget the token first: its revocation ends the sockets still using it, not this one.
	h := c.token.Swap(nil)
	c.srv.hub.detach(c)
	c.user.Store(nil)
	if h != nil {
		if err := c.srv.st.RevokeToken(*h); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func sendMessage(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	var in struct {
		ID   string `json:"_id"`
		RID  string `json:"rid"`
		Msg  string `json:"msg"`
		TMID string `json:"tmid"`
	}
	if err := param(params, 0, &in); err != nil || in.RID == "" {
		return nil, errBadParams
	}
	m, err := c.srv.cfg.Core.SendMessage(u, in.RID, in.ID, in.Msg, in.TMID)
	if err != nil {
		return nil, err
	}
	return messageOf(m), nil
}

func joinRoom(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	if _, err := c.srv.st.Join(rid, u.ID); err != nil {
		return nil, err
	}
	return true, nil
}

func leaveRoom(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	if _, err := c.srv.st.Leave(rid, u.ID); err != nil {
		return nil, err
	}
	return true, nil
}

// since reads the optional {$date} "changed since" param.
func since(params []json.RawMessage) (time.Time, bool, error) {
	var d date
	ok, err := optParam(params, 0, &d)
	return time.Time(d), ok, err
}

type removed struct {
	ID        string `json:"_id"`
	DeletedAt date   `json:"_deletedAt"`
}

func roomsGet(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	t, withDate, err := since(params)
	if err != nil {
		return nil, err
	}
	subs, err := c.srv.st.Subscriptions(u.ID, "")
	if err != nil {
		return nil, err
	}
	rooms := []roomDoc{}
	for _, s := range subs {
		if !withDate || s.Room.UpdatedAt.After(t) || s.Room.LastMessage.After(t) || s.Member.Joined.After(t) {
			rooms = append(rooms, roomOf(s.Room))
		}
	}
	if !withDate {
		return rooms, nil
	}
	return map[string]any{"update": rooms, "remove": []removed{}}, nil
}

func subscriptionsGet(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	_, withDate, err := since(params)
	if err != nil {
		return nil, err
	}
	subs, err := c.srv.st.Subscriptions(u.ID, "")
	if err != nil {
		return nil, err
	}
	out := make([]subscriptionDoc, len(subs))
	for i, s := range subs {
		out[i] = subscriptionOf(s.Room, s.Member, u.ID, s.Unread, s.ReadAt)
	}
	if !withDate {
		return out, nil
	}
	// Read marks and unread counts change without changing the room: always send them all.
	return map[string]any{"update": out, "remove": []removed{}}, nil
}

func browseChannels(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	var in struct {
		Text          string `json:"text"`
		Type          string `json:"type"`
		SortBy        string `json:"sortBy"`
		SortDirection string `json:"sortDirection"`
		Limit         int    `json:"limit"`
		Page          int    `json:"page"`
		Offset        int    `json:"offset"`
	}
	if _, err := optParam(params, 0, &in); err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != "channels" {
		return map[string]any{"results": []any{}, "total": 0}, nil
	}
	if err := c.srv.st.MayViewPublicRooms(u); err != nil {
		return nil, err
	}
	if in.Limit <= 0 || in.Limit > 100 {
		in.Limit = 100
	}
	offset := max(in.Offset, 0)
	if in.Page > 0 {
		offset = in.Page * in.Limit
	}
	text := strings.ToLower(in.Text)
	var rooms []store.RoomWithMembers
	var total int
	var err error
	if text == "" {
		rooms, total, err = c.srv.st.PublicRooms(offset, in.Limit) // reads the page only
	} else {
		rooms, total, err = c.srv.st.Rooms(func(r *store.Room) bool {
			return r.Type == store.Public && strings.Contains(strings.ToLower(r.Name), text)
		}, offset, in.Limit)
	}
	if err != nil {
		return nil, err
	}
	type result struct {
		ID         string `json:"_id"`
		Name       string `json:"name"`
		FName      string `json:"fname"`
		T          string `json:"t"`
		Topic      string `json:"topic,omitempty"`
		TS         date   `json:"ts"`
		UsersCount int    `json:"usersCount"`
	}
	out := make([]result, len(rooms))
	for i, r := range rooms {
		out[i] = result{r.ID, r.Name, r.Name, r.Type, r.Topic, date(r.CreatedAt), len(r.Usernames)}
	}
	if in.SortBy == "name" {
		sort.SliceStable(out, func(i, j int) bool { return (out[i].Name < out[j].Name) != (in.SortDirection == "desc") })
	}
	return map[string]any{"results": out, "total": total}, nil
}

type memberDoc struct {
	ID       string `json:"_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Status   string `json:"status"`
}

func getUsersOfRoom(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	var showAll bool
	if _, err := optParam(params, 1, &showAll); err != nil {
		return nil, err
	}
	r, err := c.srv.st.ReadableRoom(rid, u)
	if err != nil {
		return nil, err
	}
	records := []memberDoc{}
	for _, name := range r.Usernames {
		m, err := c.srv.st.UserByUsername(name)
		if err != nil {
			continue // deleted meanwhile
		}
		status, _ := c.srv.hub.Presence(m.ID)
		if !showAll && status == "offline" {
			continue
		}
		records = append(records, memberDoc{m.ID, m.Username, m.Name, status})
	}
	return map[string]any{"total": len(records), "records": records}, nil
}

func getRoomRoles(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	r, err := c.srv.st.ReadableRoom(rid, u)
	if err != nil {
		return nil, err
	}
	type roleDoc struct {
		ID    string     `json:"_id"`
		RID   string     `json:"rid"`
		U     userRefDoc `json:"u"`
		Roles []string   `json:"roles"`
	}
	out := []roleDoc{}
	for _, name := range r.Usernames {
		m, err := c.srv.st.UserByUsername(name)
		if err != nil {
			continue
		}
		mem, err := c.srv.st.Membership(rid, m.ID)
		if err != nil {
			return nil, err
		}
		if mem != nil && len(mem.Roles) > 0 {
			out = append(out, roleDoc{rid + m.ID, rid, userRefDoc{ID: m.ID, Username: m.Username}, mem.Roles})
		}
	}
	return out, nil
}

func loadHistory(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	var end date
	hasEnd, err := optParam(params, 1, &end)
	if err != nil {
		return nil, err
	}
	limit := 20
	if _, err := optParam(params, 2, &limit); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), 1000)
	q := store.HistoryQuery{Count: limit}
	if hasEnd {
		q.Before = time.Time(end)
	}
	msgs, err := c.srv.st.History(rid, u, q)
	if err != nil {
		return nil, err
	}
	out := make([]messageDoc, len(msgs))
	for i, m := range msgs {
		out[i] = messageOf(m)
	}
	return map[string]any{"messages": out, "unreadNotLoaded": 0}, nil
}

func getRoomIDByNameOrID(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	key, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	r, err := c.srv.st.Room(key)
	if err != nil {
		if r, err = c.srv.st.RoomByName(strings.TrimPrefix(key, "#")); err != nil {
			return nil, err
		}
	}
	if err := c.srv.st.MayRead(r.ID, u); err != nil {
		return nil, err
	}
	return r.ID, nil
}

func readMessages(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	rid, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	return nil, c.srv.st.MarkRead(rid, u)
}

func createDirectMessage(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	name, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	rid, err := c.srv.cfg.Core.DirectMessage(u, name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"rid": rid, "t": "d"}, nil
}

func setDefaultStatus(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	s, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	switch s {
	case "online", "away", "busy", "offline":
	default:
		return nil, errBadParams
	}
	if _, err := c.srv.st.UpdateUser(u.ID, func(x *store.User) error { x.Status = s; return nil }); err != nil {
		return nil, err
	}
	return true, nil
}

func presenceOnline(c *conn, u *store.User, _ []json.RawMessage) (any, error) {
	c.away.Store(false)
	c.srv.hub.refresh(u.ID)
	return true, nil
}

func presenceAway(c *conn, u *store.User, _ []json.RawMessage) (any, error) {
	c.away.Store(true)
	c.srv.hub.refresh(u.ID)
	return true, nil
}

// notifyRoom re-broadcasts "<rid>/typing" to the room's subscribers.
func notifyRoom(c *conn, u *store.User, params []json.RawMessage) (any, error) {
	ev, err := stringParam(params, 0)
	if err != nil {
		return nil, err
	}
	rid, what, ok := strings.Cut(ev, "/")
	if !ok || what != "typing" {
		return nil, errNotAllowed
	}
	var typing bool
	if _, err := optParam(params, 2, &typing); err != nil {
		return nil, err
	}
	if err := c.srv.st.MayRead(rid, u); err != nil {
		return nil, err
	}
	h := c.srv.hub
	h.mu.Lock()
	h.emit(streamNotifyRoom, ev, func(s *sub) bool { return s.c != c }, func() *frame {
		return changed(streamNotifyRoom, ev, u.Username, typing)
	})
	if h.peers != nil {
		h.peers.send(peerMsg{K: "t", E: ev, N: u.Username, T: typing})
	}
	h.unlock()
	return true, nil
}
