package handlers

// API v1 chat extras (issue 10 family 5): reactions, pins, stars, threads, mentions and sync.
// Every route reaches the message through the store, which checks that the caller may read
// its room: a private room's reactions, pins, stars and threads stay with its members. The
// writes (react, pin, star) take a token of the caller's send limit, as posting does.

import (
	"time"

	"rocketlite/rbac"
	"rocketlite/store"
)

// messageIDParam reads the message a call names (messageId, or msgId as older clients send).
func messageIDParam(in body) (string, error) {
	for _, name := range []string{"messageId", "msgId"} {
		id, err := in.str(name)
		if err != nil || id != "" {
			return id, err
		}
	}
	return "", required1("messageId")
}

// chatReact1 toggles the caller's reaction; shouldReact true or false sets it instead.
func (a *API) chatReact1(c *call) (any, error) {
	id, err := messageIDParam(c.in)
	if err != nil {
		return nil, err
	}
	emoji, err := c.in.str("emoji")
	if err != nil {
		return nil, err
	}
	if emoji == "" {
		// Rocket.Chat's clients of the 0.6x era send "reaction".
		if emoji, err = c.in.str("reaction"); err != nil {
			return nil, err
		}
	}
	if emoji == "" {
		return nil, required1("emoji")
	}
	var should *bool
	if c.in.has("shouldReact") {
		v, err := c.in.boolean("shouldReact", false)
		if err != nil {
			return nil, err
		}
		should = &v
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	if _, err := a.st.React(id, c.user, emoji, should); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

func (a *API) chatPinMessage1(c *call) (any, error)   { return a.pin(c, true) }
func (a *API) chatUnPinMessage1(c *call) (any, error) { return a.pin(c, false) }

// pin needs pin-message in the message's room (admins, owners and moderators by default).
// Pinning answers with the message_pinned system message, as Rocket.Chat does.
func (a *API) pin(c *call, on bool) (any, error) {
	id, err := messageIDParam(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	m, err := a.st.Pin(id, c.user, on, func(rid string) error { return a.need1(c, rbac.PinMessage, rid) })
	if err != nil {
		return nil, err
	}
	if !on {
		return J("success", true), nil
	}
	return J("message", messageOf(m), "success", true), nil
}

func (a *API) chatStarMessage1(c *call) (any, error)   { return a.star(c, true) }
func (a *API) chatUnStarMessage1(c *call) (any, error) { return a.star(c, false) }

func (a *API) star(c *call, on bool) (any, error) {
	id, err := messageIDParam(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	if _, err := a.st.Star(id, c.user, on); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// threadsSort: threads come by their last reply, newest first, and take only that sort.
var threadsSort = sorter[struct{}]{"tlm": nil}

// marked serves the lists of a room's marked messages: {<name>: […], count, offset, total}.
func (a *API) marked(c *call, kind, name string, rid, tmid string) (any, error) {
	by := historySort // newest first: {"ts": -1} alone is accepted
	switch kind {
	case "thread":
		by = nil // oldest first, and nothing else
	case "threads":
		by = threadsSort
	}
	q, err := readList(c.in, defaultPage1, by)
	if err != nil {
		return nil, err
	}
	msgs, total, err := a.st.Marked(rid, store.MarkedQuery{Kind: kind, Reader: c.user, TMID: tmid, Offset: q.Offset, Count: q.Count})
	if err != nil {
		return nil, err
	}
	return listOf(q, name, messagesOf(msgs), total)
}

func (a *API) chatGetPinnedMessages1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	return a.marked(c, "pinned", "messages", rid, "")
}

func (a *API) chatGetStarredMessages1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	return a.marked(c, "starred", "messages", rid, "")
}

func (a *API) chatGetMentionedMessages1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	return a.marked(c, "mentioned", "messages", rid, "")
}

// chatGetThreadsList1 lists a room's threads (rid), the most recently answered first.
func (a *API) chatGetThreadsList1(c *call) (any, error) {
	rid, err := c.in.str("rid")
	if err != nil {
		return nil, err
	}
	if rid == "" {
		if rid, err = a.roomParam(c); err != nil {
			return nil, required1("rid")
		}
	}
	return a.marked(c, "threads", "threads", rid, "")
}

// chatGetThreadMessages1 lists the replies of thread tmid, oldest first.
func (a *API) chatGetThreadMessages1(c *call) (any, error) {
	tmid, err := c.in.str("tmid")
	if err != nil {
		return nil, err
	}
	if tmid == "" {
		return nil, required1("tmid")
	}
	return a.marked(c, "thread", "messages", "", tmid)
}

type deletedView struct {
	ID        string `json:"_id"`
	DeletedAt jsTime `json:"_deletedAt"`
}

// chatSyncMessages1 answers what changed in the room after lastUpdate: {result: {updated,
// deleted}}; at most store.MaxSync of each, oldest change first.
func (a *API) chatSyncMessages1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	if !c.in.has("lastUpdate") {
		return nil, badRequest("error-invalid-params", `The required "lastUpdate" query param is missing.`)
	}
	since, err := timeParam1(c.in, "lastUpdate")
	if err != nil {
		return nil, err
	}
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	updated, deleted, err := a.st.Sync(rid, c.user, since)
	if err != nil {
		return nil, err
	}
	dv := make([]deletedView, len(deleted))
	for i, d := range deleted {
		dv[i] = deletedView{ID: d.ID, DeletedAt: jsTime(d.At)}
	}
	return J("result", J("updated", messagesOf(updated), "deleted", dv), "success", true), nil
}
