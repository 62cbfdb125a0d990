package handlers

// Incoming webhooks, as Rocket.Chat serves them at /hooks/:id/:token (and the legacy
// /hooks/:id/:userId/:token): monitors, scripts and tools such as Apprise post alerts with the
// hook's URL as their only credential. The message goes through the same checks, caps and
// send limit as chat.postMessage, posted as the hook's user with bot: {i: <hook id>}.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"rocketlite/store"
)

// hookFail answers as Rocket.Chat's hook route does: {"success": false, "error": text}.
func hookFail(status int, text string) rawReply {
	return func(w http.ResponseWriter) {
		writeJSON(w, status, J("success", false, "error", text))
	}
}

// An unknown id and a wrong token get the same answer, so that ids cannot be probed.
var hookNotFound = hookFail(http.StatusNotFound, "Invalid integration id or token provided.")

func (a *API) incomingHook(c *call) (any, error) {
	return a.runHook(c, c.ps.ByName("id"), "", c.ps.ByName("token"))
}

// incomingHookLegacy serves /hooks/:id/:userId/:token. httprouter names a path's wildcards
// once for all routes, so the route is registered as /hooks/:id/:token/:userId and the
// second and third segments are read here by position.
func (a *API) incomingHookLegacy(c *call) (any, error) {
	return a.runHook(c, c.ps.ByName("id"), c.ps.ByName("token"), c.ps.ByName("userId"))
}

func (a *API) runHook(c *call, id, userID, token string) (any, error) {
	h, err := a.st.Integration(id)
	if errors.Is(err, store.ErrIntegrationNotFound) {
		return hookNotFound, nil
	}
	if err != nil {
		return nil, err
	}
	if h.Type != store.IncomingWebhook || !h.TokenMatches(token) || (userID != "" && userID != h.UserID) {
		return hookNotFound, nil
	}
	if !h.Enabled {
		return hookFail(http.StatusServiceUnavailable, "This integration is disabled."), nil
	}
	in, err := hookPayload(c.r, c.raw)
	if err != nil {
		return hookFail(http.StatusBadRequest, publicText(err)), nil
	}
	in = withHookAliases(in)
	u, err := a.st.User(h.UserID)
	if err != nil || !u.Active {
		return hookFail(http.StatusBadRequest, "The integration's user is missing or deactivated."), nil
	}
	targets, err := hookTargets(in, h)
	if err != nil {
		return hookFail(http.StatusBadRequest, publicText(err)), nil
	}
	// Every target is checked before anything is posted, so a bad second target does not
	// leave the first one posted and the caller retrying a half-done alert.
	rids := make([]string, 0, len(targets))
	for _, t := range targets {
		rid, err := a.resolveTarget(u, t)
		if err != nil {
			return hookFail(http.StatusBadRequest, publicText(err)), nil
		}
		rids = append(rids, rid)
	}
	for _, rid := range rids {
		m, err := parseMessageParams(in, "text")
		if err != nil {
			return hookFail(http.StatusBadRequest, publicText(err)), nil
		}
		asHook(m, h)
		if err := a.post(u, rid, m); err != nil {
			if store.KindOf(err) == store.TooMany {
				return nil, err // 429 with Retry-After, as chat.postMessage
			}
			if _, ok := asPublic(err); ok {
				return hookFail(http.StatusBadRequest, publicText(err)), nil
			}
			return nil, err
		}
	}
	return J("success", true), nil
}

// publicText is an error's message for the client (the store's public message, or a
// generic one).
func publicText(err error) string {
	if e, ok := asPublic(err); ok {
		return e.Message
	}
	return "Bad request"
}

// hookPayload reads a hook's parameters: a JSON object; or a form whose field payload holds
// the JSON (Slack style), which Ansible sends unencoded; or, with GET, the query string.
func hookPayload(r *http.Request, raw []byte) (body, error) {
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		if p := q.Get("payload"); p != "" {
			return jsonObject([]byte(p))
		}
		return body{form: q}, nil
	}
	trimmed := bytes.TrimSpace(raw)
	if rest, ok := bytes.CutPrefix(trimmed, []byte("payload=")); ok {
		if json.Valid(rest) { // sent unencoded, as Ansible does
			return jsonObject(rest)
		}
		v, err := url.QueryUnescape(string(rest))
		if err != nil {
			return body{}, badRequest("invalid-payload", "The payload field is neither JSON nor URL-encoded JSON")
		}
		return jsonObject([]byte(v))
	}
	b, err := decodeBody(r.Header.Get("Content-Type"), trimmed)
	if err != nil {
		return body{}, err
	}
	if b.form != nil && b.form.Has("payload") {
		return jsonObject([]byte(b.form.Get("payload")))
	}
	return b, nil
}

func jsonObject(data []byte) (body, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return body{}, badRequest("invalid-payload", "The payload must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return body{}, badRequest("invalid-payload", "The payload has data after the JSON object")
	}
	return body{obj: obj}, nil
}

// hookAliases are Slack's names (and msg) for Rocket.Chat's fields; Rocket.Chat's own win
// when both are given.
var hookAliases = [][2]string{{"username", "alias"}, {"icon_emoji", "emoji"}, {"icon_url", "avatar"}, {"msg", "text"}}

func withHookAliases(b body) body {
	for _, p := range hookAliases {
		from, to := p[0], p[1]
		switch {
		case b.obj != nil:
			if v, ok := b.obj[from]; ok {
				if _, has := b.obj[to]; !has {
					b.obj[to] = v
				}
			}
		case b.form != nil:
			if b.form.Has(from) && !b.form.Has(to) {
				b.form[to] = b.form[from]
			}
		}
	}
	return b
}

// maxHookTargets bounds the rooms one call may post to.
const maxHookTargets = 20

// hookTargets are the rooms named by channel (a string or an array), else roomId, else the
// hook's own channels.
func hookTargets(in body, h *store.Integration) ([]string, error) {
	var targets []string
	if raw, ok := in.obj["channel"]; ok && !isNull(raw) {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			targets = []string{one}
		} else if json.Unmarshal(raw, &targets) != nil {
			return nil, badRequest("invalid-channel", "channel must be a string or a list of strings")
		}
	} else if in.form != nil && in.form.Has("channel") {
		targets = in.form["channel"]
	} else {
		rid, err := in.str("roomId")
		if err != nil {
			return nil, err
		}
		if rid != "" {
			targets = []string{rid}
		}
	}
	if len(targets) == 0 {
		targets = h.Channels
	}
	out := targets[:0:0]
	for _, t := range targets {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	switch {
	case len(out) == 0:
		return nil, badRequest("invalid-channel", "No channel given, and the integration has none")
	case len(out) > maxHookTargets:
		return nil, badRequest("invalid-channel", "At most %d channels per call", maxHookTargets)
	}
	return out, nil
}

// resolveTarget turns "#name", "@username" or a room id into a room id the user may post to.
// A room the user may not see answers as one that does not exist.
func (a *API) resolveTarget(u *store.User, t string) (string, error) {
	switch {
	case strings.HasPrefix(t, "#"):
		r, err := a.st.VisibleRoomByName(t[1:], u)
		if err != nil {
			return "", err
		}
		return r.ID, nil
	case strings.HasPrefix(t, "@"):
		// A direct message, opened on first use as chat.postMessage does (create-d).
		r, err := a.openDirect(&call{user: u}, []string{t[1:]})
		if err != nil {
			return "", err
		}
		return r.ID, nil
	default:
		r, err := a.st.ReadableRoom(t, u)
		switch store.KindOf(err) {
		case 0:
			return r.ID, nil
		case store.Forbidden, store.Denied:
			return "", store.ErrRoomNotFound
		case store.NotFound:
			if r, err := a.st.VisibleRoomByName(t, u); err == nil {
				return r.ID, nil
			}
		}
		return "", err
	}
}

// PostHookReply posts an outgoing webhook's answer ({"text": …, "attachments": …, …}) into
// room rid as the hook's user (hooks.Poster).
func (a *API) PostHookReply(h *store.Integration, rid string, reply []byte) error {
	in, err := jsonObject(reply)
	if err != nil {
		return err
	}
	in = withHookAliases(in)
	u, err := a.st.User(h.UserID)
	if err != nil {
		return err
	}
	if !u.Active {
		return store.Errorf(store.Denied, "error-user-inactive", "The integration's user is deactivated")
	}
	m, err := parseMessageParams(in, "text")
	if err != nil {
		return err
	}
	asHook(m, h)
	return a.post(u, rid, m)
}

// asHook marks m as posted by hook h, with the hook's alias, emoji and avatar where the call
// gave none.
func asHook(m *store.Message, h *store.Integration) {
	if m.Alias == "" {
		m.Alias = h.Alias
	}
	if m.Emoji == "" {
		m.Emoji = h.Emoji
	}
	if m.Avatar == "" {
		m.Avatar = h.Avatar
	}
	m.Bot = &store.BotRef{I: h.ID}
}
