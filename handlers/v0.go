package handlers

import (
	"strings"
	"time"

	"rocketlite/auth"
	"rocketlite/pagecache"
	"rocketlite/store"
)

// Handlers of API 0.1 (API.md §2).

func (a *API) version(c *call) (any, error) {
	return J("status", "success", "versions", J("api", "0.1", "rocketchat", "0.5")), nil
}

// loginName reads who is logging in: "user" (an e-mail if it has an @), else "username",
// else "email".
func loginName(in body) (name string, byEmail bool, err error) {
	for _, f := range []string{"user", "username", "email"} {
		v, err := in.str(f)
		if err != nil {
			return "", false, err
		}
		if v != "" {
			return v, f == "email" || (f == "user" && strings.Contains(v, "@")), nil
		}
	}
	return "", false, nil
}

// digestOf is the digest (auth.Digest) of a password given in clear, or "" (refused like a
// wrong password, after the same work) when it is empty or longer than any password can be.
func digestOf(password string) string {
	if password == "" || len(password) > auth.MaxPasswordBytes {
		return ""
	}
	return auth.Digest(password)
}

// login checks the password's digest (API v1 clients may send the digest itself) and issues
// a new token: the one login of both APIs. Every refusal is the same error after the same
// bcrypt work, so neither the answer nor its timing tells whether a user exists. Failures
// count against the account and the client address (addr); a lock-out refuses even the right
// password.
func (a *API) login(addr, name string, byEmail bool, digest string) (_ *store.User, _ string, loginErr error) {
	defer func() { a.countLogin(loginErr) }()
	if d := a.loginAddress.locked(addr, a.st.Now()); d > 0 {
		return nil, "", tooMany(loginThrottledMsg, d)
	}
	var u *store.User
	var err error
	// A name longer than any username or e-mail address matches nobody: no lookup.
	if name != "" && len(name) <= maxLoginName {
		if byEmail {
			u, err = a.st.UserByEmail(name)
		} else {
			u, err = a.st.UserByUsername(name)
		}
		if err != nil && store.KindOf(err) != store.NotFound {
			return nil, "", err
		}
	}
	// Throttle by the account if it exists, else by (the hash of) the name tried, so that a
	// 429 never tells whether a user exists. A lock-out refuses even the right password.
	account, hash := accountKey(name), ""
	if u != nil {
		account, hash = u.ID, u.Hash
	}
	if name != "" {
		if err := a.checkLoginAccount(account); err != nil {
			return nil, "", err
		}
	}
	if !a.cfg.Hasher.CheckDigest(hash, digest) || digest == "" || u == nil || !u.Active {
		if name != "" {
			a.loginAccount.add(account, a.st.Now())
		}
		a.loginAddress.add(addr, a.st.Now())
		return nil, "", store.ErrLoginRefused
	}
	a.loginAccount.reset(account)
	tok := auth.NewToken()
	if err := a.st.AddToken(u, auth.HashToken(tok), a.st.Now().Add(a.cfg.TokenTTL)); err != nil {
		return nil, "", err
	}
	return u, tok, nil
}

func (a *API) login0(c *call) (any, error) {
	name, byEmail, err := loginName(c.in)
	if err != nil {
		return nil, err
	}
	password, err := c.in.str("password")
	if err != nil {
		return nil, err
	}
	u, tok, err := a.login(a.clientAddr(c.r), name, byEmail, digestOf(password))
	if err != nil {
		return nil, err
	}
	return J("status", "success", "data", J("authToken", tok, "userId", u.ID)), nil
}

func (a *API) logout0(c *call) (any, error) {
	if err := a.st.RevokeToken(c.token); err != nil {
		return nil, err
	}
	return J("status", "success", "data", J("message", "You've been logged out!")), nil
}

// publicRooms pages by default, as the v1 lists do (API.md §5): a default page of 50, count up
// to 1000, offset to go on; count, offset and total say where the page is.
func (a *API) publicRooms(c *call) (any, error) {
	if err := a.st.MayViewPublicRooms(c.user); err != nil {
		return nil, err
	}
	count, offset, err := pageParams1(c.in, defaultPage1)
	if err != nil {
		return nil, err
	}
	rooms, total, err := a.st.PublicRooms(offset, count)
	if err != nil {
		return nil, err
	}
	return J("status", "success", "rooms", roomsOf(rooms), "count", len(rooms), "offset", offset, "total", total), nil
}

func (a *API) join0(c *call) (any, error) {
	if _, err := a.st.Join(c.ps.ByName("id"), c.user.ID); err != nil {
		return nil, err
	}
	return J("status", "success"), nil
}

func (a *API) leave0(c *call) (any, error) {
	if _, err := a.st.Leave(c.ps.ByName("id"), c.user.ID); err != nil {
		return nil, err
	}
	return J("status", "success"), nil
}

func (a *API) messages0(c *call) (any, error) {
	q := store.HistoryQuery{}
	var err error
	if q.Count, err = c.in.integer("count", 50, 1, 1000); err != nil {
		return nil, err
	}
	if q.Unread, err = c.in.boolean("unread", false); err != nil {
		return nil, err
	}
	before, err := c.in.str("before")
	if err != nil {
		return nil, err
	}
	if before != "" {
		if t, err := time.Parse(time.RFC3339Nano, before); err == nil {
			q.Before = t
		} else if t, err := time.Parse(time.DateOnly, before); err == nil {
			q.Before = t // an ISO date without a time: midnight UTC
		} else {
			q.BeforeID = before
		}
	}
	rid := c.ps.ByName("id")
	fill := func() (any, error) {
		msgs, err := a.history(c, rid, q)
		if err != nil {
			return nil, err
		}
		return J("status", "success", "messages", messagesOf(msgs)), nil
	}
	if q.BeforeID == "" && q.Before.IsZero() && !q.Unread {
		// The newest page: the same for every reader until the room's next write.
		return a.cachedPage(c, pagecache.Key{Form: formRooms0, Room: rid, Count: q.Count}, fill)
	}
	return fill()
}

func (a *API) read0(c *call) (any, error) {
	if err := a.st.MarkRead(c.ps.ByName("id"), c.user); err != nil {
		return nil, err
	}
	return J("status", "success"), nil
}

func (a *API) send0(c *call) (any, error) {
	text, err := c.in.str("msg")
	if err != nil {
		return nil, err
	}
	if err := checkMessageText("msg", text, c.in.has("msg")); err != nil {
		return nil, err
	}
	m := &store.Message{Text: text}
	if err := a.post(c.user, c.ps.ByName("id"), m); err != nil {
		return nil, err
	}
	return J("status", "success", "message", messageOf(m)), nil
}

// post is the one way a message is written, for both APIs: the sender's rate limit, then the
// store (room access, read-only rooms, the durable commit).
func (a *API) post(u *store.User, rid string, m *store.Message) error {
	if err := a.allowSend(u); err != nil {
		return err
	}
	if err := a.st.PostMessage(rid, u, m); err != nil {
		return err
	}
	if a.cfg.Outgoing != nil {
		a.cfg.Outgoing.MessagePosted(m)
	}
	return nil
}
