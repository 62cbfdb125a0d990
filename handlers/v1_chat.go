package handlers

// API v1 chat.* (API-v1.md §3). Posting goes through store.PostMessage and checkMessageText,
// as API 0.1's send does; reading through the store's room access checks.

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode/utf8"

	"rocketlite/rbac"
	"rocketlite/store"
)

// messageIDRE is what a caller-chosen message _id may look like.
var messageIDRE = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// messageOfParams builds a message from in: text (in textField; it may be empty only when
// attachments are given), alias, emoji, avatar, attachments. An alias or avatar shows the
// message under another name or picture, so it needs message-impersonate, as in Rocket.Chat.
func (a *API) messageOfParams(c *call, in body, textField, rid string) (*store.Message, error) {
	m, err := parseMessageParams(in, textField)
	if err != nil {
		return nil, err
	}
	if m.Alias != "" || m.Avatar != "" {
		if err := a.need1(c, rbac.MessageImpersonate, rid); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// parseMessageParams checks and builds a message from in, with no permission check (an
// incoming webhook may set alias and avatar: its creator chose them).
func parseMessageParams(in body, textField string) (*store.Message, error) {
	text, err := in.str(textField)
	if err != nil {
		return nil, err
	}
	m := &store.Message{Text: text}
	if raw, ok := in.obj["attachments"]; ok && !isNull(raw) {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return nil, badRequest("invalid-param", "attachments must be a list of objects")
		}
		for _, e := range list {
			if len(e) == 0 || e[0] != '{' {
				return nil, badRequest("invalid-param", "attachments must be a list of objects")
			}
		}
		if len(list) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, badRequest("invalid-param", "attachments must be a list of objects")
			}
			m.Attachments = buf.Bytes()
		}
	}
	if text != "" || m.Attachments == nil {
		if err := checkMessageText(textField, text, in.has(textField)); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"alias", &m.Alias}, {"emoji", &m.Emoji}, {"avatar", &m.Avatar}} {
		v, err := in.str(f.name)
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(v) > 500 || hasControl(v, false) {
			return nil, badRequest("invalid-param", "%s must be at most 500 characters without control characters", f.name)
		}
		*f.dst = v
	}
	if m.TMID, err = in.str("tmid"); err != nil {
		return nil, err
	}
	if m.TMID != "" && !messageIDRE.MatchString(m.TMID) {
		return nil, badRequest("error-invalid-params", "tmid must be the _id of a message")
	}
	return m, nil
}

// chatPostMessage1 posts into the room named by roomId, or channel ("#name" or "name").
func (a *API) chatPostMessage1(c *call) (any, error) {
	rid, err := c.in.str("roomId")
	if err != nil {
		return nil, err
	}
	channel, err := c.in.str("channel")
	if err != nil {
		return nil, err
	}
	if rid == "" {
		switch {
		case channel == "":
			return nil, badRequest("error-invalid-channel", `The parameter "roomId" or "channel" is required`)
		case strings.HasPrefix(channel, "@"):
			// A direct message, as Rocket.Chat: the room is opened (create-d) on first use.
			r, err := a.openDirect(c, []string{channel[1:]})
			if err != nil {
				return nil, err
			}
			rid = r.ID
		default:
			r, err := a.st.VisibleRoomByName(strings.TrimPrefix(channel, "#"), c.user)
			if err != nil {
				return nil, err
			}
			rid = r.ID
		}
	}
	m, err := a.messageOfParams(c, c.in, "text", rid)
	if err != nil {
		return nil, err
	}
	if err := a.post(c.user, rid, m); err != nil {
		return nil, err
	}
	if channel == "" {
		channel = rid
	}
	return J("ts", m.TS.UnixMilli(), "channel", channel, "message", messageOf(m), "success", true), nil
}

// chatSendMessage1 posts {"message": {"rid", "msg", "_id"?, …}}; a caller-chosen _id is kept
// if no message has it yet.
func (a *API) chatSendMessage1(c *call) (any, error) {
	var obj map[string]json.RawMessage
	ok, err := c.in.decode("message", &obj)
	if err != nil {
		return nil, err
	}
	if !ok || obj == nil {
		return nil, badRequest("error-invalid-params", `The parameter "message" is required and must be an object`)
	}
	in := body{obj: obj}
	rid, err := in.str("rid")
	if err != nil {
		return nil, err
	}
	if rid == "" {
		return nil, badRequest("error-invalid-params", `The parameter "message.rid" is required`)
	}
	id, err := in.str("_id")
	if err != nil {
		return nil, err
	}
	if id != "" && !messageIDRE.MatchString(id) {
		return nil, badRequest("error-invalid-params", "message._id must be 1 to 64 letters, digits, - or _")
	}
	m, err := a.messageOfParams(c, in, "msg", rid)
	if err != nil {
		return nil, err
	}
	m.ID = id
	if err := a.post(c.user, rid, m); err != nil {
		return nil, err
	}
	return J("message", messageOf(m), "success", true), nil
}

func (a *API) chatGetMessage1(c *call) (any, error) {
	id, err := c.in.str("msgId")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, required1("msgId")
	}
	m, err := a.st.Message(id, c.user)
	if err != nil {
		return nil, err
	}
	return J("message", messageOf(m), "success", true), nil
}

// messageTarget reads roomId and msgId of chat.update and chat.delete, checks that the caller
// may read the room, and reports whether they hold perm there (to act on others' messages).
func (a *API) messageTarget(c *call, perm string) (rid, id string, mayOthers bool, err error) {
	if rid, err = c.in.str("roomId"); err != nil {
		return
	}
	if id, err = c.in.str("msgId"); err != nil {
		return
	}
	if rid == "" {
		return "", "", false, required1("roomId")
	}
	if id == "" {
		return "", "", false, required1("msgId")
	}
	if _, err = a.st.ReadableRoom(rid, c.user); err != nil {
		return
	}
	mayOthers, err = a.st.HasPermission(c.user, perm, rid)
	return
}

// mayChange is the check chat.update and chat.delete pass to the store: the message is in the
// room named, is a user message, and is the caller's own or they hold the permission.
func mayChange(rid, uid string, mayOthers bool) func(m *store.Message) error {
	return func(m *store.Message) error {
		switch {
		case m.RoomID != rid:
			return badRequest("error-invalid-room", "The room id provided does not match where the message is from")
		case m.Type != "":
			return badRequest("error-action-not-allowed", "System messages cannot be changed")
		case m.User.ID != uid && !mayOthers:
			return store.ErrNoPermission
		}
		return nil
	}
}

func (a *API) chatUpdate1(c *call) (any, error) {
	text, err := c.in.str("text")
	if err != nil {
		return nil, err
	}
	if err := checkMessageText("text", text, c.in.has("text")); err != nil {
		return nil, err
	}
	rid, id, mayOthers, err := a.messageTarget(c, rbac.EditMessage)
	if err != nil {
		return nil, err
	}
	check := mayChange(rid, c.user.ID, mayOthers)
	m, err := a.st.UpdateMessage(id, c.user, func(m *store.Message) error {
		if err := check(m); err != nil {
			return err
		}
		m.Text = text
		return nil
	})
	if err != nil {
		return nil, err
	}
	return J("message", messageOf(m), "success", true), nil
}

func (a *API) chatDelete1(c *call) (any, error) {
	rid, id, mayOthers, err := a.messageTarget(c, rbac.DeleteMessage)
	if err != nil {
		return nil, err
	}
	m, err := a.st.DeleteMessage(id, c.user, mayChange(rid, c.user.ID, mayOthers))
	if err != nil {
		return nil, err
	}
	return J("_id", m.ID, "ts", a.st.Now().UnixMilli(),
		"message", J("_id", m.ID, "rid", m.RoomID, "u", refView(&m.User)), "success", true), nil
}

func (a *API) chatSearch1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	text, err := c.in.str("searchText")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(text) == "" {
		return nil, required1("searchText")
	}
	q, err := readList(c.in, 20, historySort)
	if err != nil {
		return nil, err
	}
	msgs, err := a.search(c, rid, text, q.Count)
	if err != nil {
		return nil, err
	}
	things, err := project(q.fields, messagesOf(msgs))
	if err != nil {
		return nil, err
	}
	return J("messages", things, "success", true), nil
}
