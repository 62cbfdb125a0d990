package handlers

// Presence and the REST twins of DDP: what the realtime server (package realtime) calls so
// that both APIs share one login, one send and one presence.

import (
	"net/http"

	"rocketlite/rbac"
	"rocketlite/store"
)

// Presence tells a user's presence: "online", "away", "busy" or "offline" (the realtime hub
// implements it from live sockets and the status the user chose).
type Presence interface {
	Presence(uid string) (status string, connected bool)
}

// Login is the REST API's one login (throttles, deactivated users, the token store) for DDP.
func (a *API) Login(addr, name string, byEmail bool, digest string) (*store.User, string, error) {
	return a.login(addr, name, byEmail, digest)
}

// SendMessage posts text as u into room rid with the REST API's checks, caps and send limit,
// keeping a caller-chosen id if free, as a reply in thread tmid if not "" (DDP sendMessage).
func (a *API) SendMessage(u *store.User, rid, id, text, tmid string) (*store.Message, error) {
	if id != "" && !messageIDRE.MatchString(id) {
		return nil, badRequest("error-invalid-params", "message._id must be 1 to 64 letters, digits, - or _")
	}
	if tmid != "" && !messageIDRE.MatchString(tmid) {
		return nil, badRequest("error-invalid-params", "tmid must be the _id of a message")
	}
	if err := checkMessageText("msg", text, true); err != nil {
		return nil, err
	}
	m := &store.Message{ID: id, Text: text, TMID: tmid}
	if err := a.post(u, rid, m); err != nil {
		return nil, err
	}
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.Posted("realtime")
	}
	return m, nil
}

// DirectMessage opens (or finds) the direct-message room of u and the user named username,
// with im.create's checks (DDP createDirectMessage), and returns its id.
func (a *API) DirectMessage(u *store.User, username string) (string, error) {
	r, err := a.openDirect(&call{user: u}, []string{username})
	if err != nil {
		return "", err
	}
	return r.ID, nil
}

// ClientAddr is the client's address as the login throttle counts it (trusted proxies apply).
func (a *API) ClientAddr(r *http.Request) string { return a.clientAddr(r) }

// presence is u's presence: the realtime hub's when there is one, else "online" while the
// user holds a live login token (a server without realtime).
func (a *API) presence(u *store.User) (string, error) {
	if a.cfg.Presence != nil {
		s, _ := a.cfg.Presence.Presence(u.ID)
		return s, nil
	}
	live, err := a.st.HasLiveToken(u.ID)
	if err != nil || !live {
		return "offline", err
	}
	return "online", nil
}

// userOrCaller1 is the user named by userId or username, or the caller when neither is given.
func (a *API) userOrCaller1(c *call) (*store.User, error) {
	if c.in.has("userId") || c.in.has("username") {
		return a.userParam1(c.in)
	}
	return c.user, nil
}

// usersSetStatus1 sets the caller's chosen status and status message (users.setStatus):
// {status?: online|away|busy|offline, message?}. Another user's needs edit-other-user-info.
func (a *API) usersSetStatus1(c *call) (any, error) {
	status, err := c.in.str("status")
	if err != nil {
		return nil, err
	}
	switch status {
	case "", "online", "away", "busy", "offline":
	default:
		return nil, badRequest("error-invalid-status", "status must be online, away, busy or offline")
	}
	msg, err := c.in.str("message")
	if err != nil {
		return nil, err
	}
	if len(msg) > store.MaxStatusTextBytes || hasControl(msg, false) {
		return nil, badRequest("error-invalid-status-message", "message must be at most %d bytes without control characters", store.MaxStatusTextBytes)
	}
	if status == "" && !c.in.has("message") {
		return nil, badRequest("error-invalid-params", `The parameter "status" or "message" is required`)
	}
	u, err := a.userOrCaller1(c)
	if err != nil {
		return nil, err
	}
	if u.ID != c.user.ID {
		if err := a.need1(c, rbac.EditOtherUserInfo, ""); err != nil {
			return nil, err
		}
	}
	_, err = a.st.UpdateUser(u.ID, func(x *store.User) error {
		if status != "" {
			x.Status = status
		}
		if c.in.has("message") {
			x.StatusText = msg
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// usersGetStatus1 is {_id, status, message, connectionStatus}.
func (a *API) usersGetStatus1(c *call) (any, error) {
	u, err := a.userOrCaller1(c)
	if err != nil {
		return nil, err
	}
	status, err := a.presence(u)
	if err != nil {
		return nil, err
	}
	conn := "offline"
	if status != "offline" {
		conn = "online"
	}
	return J("_id", u.ID, "status", status, "message", u.StatusText, "connectionStatus", conn, "success", true), nil
}

// usersPresence1 lists every user with their presence (users.presence); "from" is accepted
// and ignored: the answer is always the full list.
func (a *API) usersPresence1(c *call) (any, error) {
	type entry struct {
		ID         string `json:"_id"`
		Username   string `json:"username"`
		Name       string `json:"name"`
		Status     string `json:"status"`
		StatusText string `json:"statusText,omitempty"`
		UTCOffset  int    `json:"utcOffset"`
	}
	out := []entry{}
	for offset := 0; ; {
		users, total, err := a.st.Users(offset, maxPage1)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if !u.Active {
				continue
			}
			s, err := a.presence(u)
			if err != nil {
				return nil, err
			}
			out = append(out, entry{u.ID, u.Username, u.Name, s, u.StatusText, 0})
		}
		offset += len(users)
		if len(users) == 0 || offset >= total {
			break
		}
	}
	return J("users", out, "full", true, "success", true), nil
}
