package handlers

// API v1 integrations.*: incoming and outgoing webhooks, as Rocket.Chat manages them, behind
// its permissions: manage-incoming-integrations (every incoming hook) and
// manage-own-incoming-integrations (the caller's own), and the same pair for outgoing hooks.
// Deliberate differences from Rocket.Chat: scripts are not run (scriptEnabled: true is
// refused: rocketlite has no JavaScript engine); an incoming hook's token is stored hashed,
// so it is in the answer of integrations.create only; a caller with only the manage-own-*
// permission may post only as themself (else that permission would let a user speak as anyone).

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"rocketlite/hooks"
	"rocketlite/rbac"
	"rocketlite/store"
)

// integrationView is an integration as Rocket.Chat shows it (no token hash, ever).
type integrationView struct {
	ID           string      `json:"_id"`
	Type         string      `json:"type"`
	Name         string      `json:"name"`
	Enabled      bool        `json:"enabled"`
	Username     string      `json:"username"`
	UserID       string      `json:"userId"`
	Channel      []string    `json:"channel"`
	Alias        string      `json:"alias,omitempty"`
	Avatar       string      `json:"avatar,omitempty"`
	Emoji        string      `json:"emoji,omitempty"`
	Event        string      `json:"event,omitempty"`
	URLs         []string    `json:"urls,omitempty"`
	TriggerWords []string    `json:"triggerWords,omitempty"`
	Token        string      `json:"token,omitempty"`
	ScriptOn     bool        `json:"scriptEnabled"`
	CreatedBy    userRefView `json:"_createdBy"`
	CreatedAt    jsTime      `json:"_createdAt"`
	UpdatedAt    jsTime      `json:"_updatedAt"`
}

func integrationOf(in *store.Integration) integrationView {
	return integrationView{
		ID: in.ID, Type: in.Type, Name: in.Name, Enabled: in.Enabled, Username: in.Username,
		UserID: in.UserID, Channel: nonNil(in.Channels), Alias: in.Alias, Avatar: in.Avatar,
		Emoji: in.Emoji, Event: in.Event, URLs: in.URLs, TriggerWords: in.TriggerWords,
		Token:     in.Token, // outgoing only: the secret sent to the receiver
		CreatedBy: userRefView{ID: in.CreatedBy.ID, Username: in.CreatedBy.Username},
		CreatedAt: jsTime(in.CreatedAt), UpdatedAt: jsTime(in.UpdatedAt),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// integrationPerms are the (all, own) permissions that manage integrations of a type.
func integrationPerms(typ string) (all, own string) {
	if typ == store.OutgoingWebhook {
		return rbac.ManageOutgoingIntegrations, rbac.ManageOwnOutgoingIntegrations
	}
	return rbac.ManageIncomingIntegrations, rbac.ManageOwnIncomingIntegrations
}

// mayManageHooks says whether the caller manages every integration of the type (all) or only
// their own; neither is a 403.
func (a *API) mayManageHooks(c *call, typ string) (all bool, err error) {
	pAll, pOwn := integrationPerms(typ)
	if rbac.Require(a.st, c.user, pAll) == nil {
		return true, nil
	}
	if err := rbac.Require(a.st, c.user, pOwn); err != nil {
		return false, err
	}
	return false, nil
}

// reachableIntegration returns the integration if the caller may manage it; one they may not
// manage is answered as one that does not exist.
func (a *API) reachableIntegration(c *call, id string) (*store.Integration, error) {
	if id == "" {
		return nil, badRequest("error-invalid-params", `The parameter "integrationId" is required`)
	}
	in, err := a.st.Integration(id)
	if err != nil {
		return nil, err
	}
	all, err := a.mayManageHooks(c, in.Type)
	if err != nil {
		if store.KindOf(err) == store.Denied {
			return nil, store.ErrIntegrationNotFound
		}
		return nil, err
	}
	if !all && in.CreatedBy.ID != c.user.ID {
		return nil, store.ErrIntegrationNotFound
	}
	return in, nil
}

func integrationType(in body) (string, error) {
	typ, err := in.str("type")
	if err != nil {
		return "", err
	}
	if typ != store.IncomingWebhook && typ != store.OutgoingWebhook {
		return "", badRequest("error-invalid-type", `type must be "webhook-incoming" or "webhook-outgoing"`)
	}
	return typ, nil
}

// maxIntegrationStrings bounds the lists of a hook (channels, URLs, trigger words).
const maxIntegrationStrings = 20

// readIntegration fills in from the request: every field a create sets and an update may
// change. For an update, absent fields keep their value.
func (a *API) readIntegration(c *call, in *store.Integration, all, create bool) error {
	if on, err := c.in.boolean("scriptEnabled", false); err != nil {
		return err
	} else if on {
		return badRequest("error-invalid-params", "Scripts are not supported by rocketlite: set scriptEnabled to false")
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &in.Name}, {"alias", &in.Alias}, {"avatar", &in.Avatar}, {"emoji", &in.Emoji}} {
		if !c.in.has(f.name) {
			continue
		}
		v, err := c.in.str(f.name)
		if err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 500 || hasControl(v, false) {
			return badRequest("error-invalid-params", "%s must be at most 500 characters without control characters", f.name)
		}
		*f.dst = v
	}
	if create || c.in.has("enabled") {
		on, err := c.in.boolean("enabled", true)
		if err != nil {
			return err
		}
		in.Enabled = on
	}
	if create || c.in.has("username") {
		name, err := c.in.str("username")
		if err != nil {
			return err
		}
		if name == "" {
			return badRequest("error-invalid-params", `The parameter "username" is required`)
		}
		u, err := a.st.UserByUsername(name)
		if err != nil {
			return badRequest("error-invalid-user", "No user named %q", name)
		}
		if !all && u.ID != c.user.ID {
			return store.Errorf(store.Denied, "error-action-not-allowed", "With only the permission to manage your own integrations, the integration must post as you")
		}
		in.UserID, in.Username = u.ID, u.Username
	}
	if create || c.in.has("channel") {
		// Rocket.Chat takes one string, comma-separated ("#general, @alice"); a list is accepted too.
		var chans []string
		if one, err := c.in.str("channel"); err == nil {
			chans = strings.Split(one, ",")
		} else if chans, err = c.in.strings("channel"); err != nil {
			return badRequest("error-invalid-channel", "channel must be a string or a list of strings")
		}
		in.Channels = in.Channels[:0]
		for _, ch := range chans {
			if ch = strings.TrimSpace(ch); ch != "" {
				in.Channels = append(in.Channels, ch)
			}
		}
		if len(in.Channels) == 0 {
			return badRequest("error-invalid-channel", `The parameter "channel" is required`)
		}
		if len(in.Channels) > maxIntegrationStrings {
			return badRequest("error-invalid-channel", "At most %d channels", maxIntegrationStrings)
		}
	}
	if in.Type == store.OutgoingWebhook {
		if err := a.readOutgoing(c, in, create); err != nil {
			return err
		}
	}
	// Every destination must exist and be one the hook's user may post to, now: a typo is
	// reported to the admin who makes it, not to the monitor that fires at night.
	u, err := a.st.User(in.UserID)
	if err != nil {
		return err
	}
	for _, ch := range in.Channels {
		if ch == "all_public_channels" && in.Type == store.OutgoingWebhook {
			continue
		}
		if strings.HasPrefix(ch, "@") {
			// The direct-message room is opened on the first post, not now.
			if _, err := a.st.UserByUsername(ch[1:]); err != nil {
				return badRequest("error-invalid-channel", "Channel %q: no such user", ch)
			}
			continue
		}
		if _, err := a.resolveTarget(u, ch); err != nil {
			return badRequest("error-invalid-channel", "Channel %q: %s", ch, publicText(err))
		}
	}
	return nil
}

func (a *API) readOutgoing(c *call, in *store.Integration, create bool) error {
	if create || c.in.has("event") {
		ev, err := c.in.str("event")
		if err != nil {
			return err
		}
		if ev == "" {
			ev = "sendMessage"
		}
		if ev != "sendMessage" {
			return badRequest("error-invalid-event", `Only the event "sendMessage" is supported`)
		}
		in.Event = ev
	}
	if create || c.in.has("urls") {
		urls, err := hookList(c, "urls", 1, "error-invalid-urls")
		if err != nil {
			return err
		}
		for _, u := range urls {
			if err := hooks.CheckURL(u, a.cfg.AllowPrivateWebhooks); err != nil {
				return badRequest("error-invalid-urls", "%v", err)
			}
		}
		in.URLs = urls
	}
	if c.in.has("triggerWords") {
		words, err := hookList(c, "triggerWords", 0, "error-invalid-params")
		if err != nil {
			return err
		}
		in.TriggerWords = words
	}
	if c.in.has("token") {
		tok, err := c.in.str("token")
		if err != nil {
			return err
		}
		if len(tok) > 200 || hasControl(tok, false) {
			return badRequest("error-invalid-params", "token must be at most 200 characters")
		}
		in.Token = tok
	}
	if in.Token == "" {
		in.Token = store.NewSecret()
	}
	return nil
}

// hookList reads the list name of min to maxIntegrationStrings strings; code is the error type
// of a list too short or too long.
func hookList(c *call, name string, min int, code string) ([]string, error) {
	list, err := c.in.strings(name)
	if err != nil {
		return nil, err
	}
	if len(list) < min || len(list) > maxIntegrationStrings {
		return nil, badRequest(code, "%s must list %d to %d entries", name, min, maxIntegrationStrings)
	}
	return list, nil
}

func (a *API) integrationsCreate1(c *call) (any, error) {
	typ, err := integrationType(c.in)
	if err != nil {
		return nil, err
	}
	all, err := a.mayManageHooks(c, typ)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	in := &store.Integration{Type: typ, CreatedBy: c.user.Ref()}
	if err := a.readIntegration(c, in, all, true); err != nil {
		return nil, err
	}
	var token string
	if typ == store.IncomingWebhook {
		token = store.NewSecret()
		in.TokenHash = store.HookTokenHash(token)
	}
	if err := a.st.CreateIntegration(in); err != nil {
		return nil, err
	}
	a.integrationsChanged()
	view := integrationOf(in)
	out := J("integration", view, "success", true)
	if token != "" {
		// Shown once: only its hash is kept.
		view.Token = token
		out = J("integration", view, "url", a.hookURL(c.r, in.ID, token), "success", true)
	}
	return out, nil
}

// hookURL is the address a hook's caller posts to, as this request reached the server.
func (a *API) hookURL(r *http.Request, id, token string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/hooks/" + id + "/" + token
}

func (a *API) integrationsGet1(c *call) (any, error) {
	id, err := c.in.str("integrationId")
	if err != nil {
		return nil, err
	}
	in, err := a.reachableIntegration(c, id)
	if err != nil {
		return nil, err
	}
	return J("integration", integrationOf(in), "success", true), nil
}

func (a *API) integrationsList1(c *call) (any, error) {
	return a.listIntegrations(c, nil)
}

// channelsGetIntegrations1 lists the integrations that post to or watch one room.
func (a *API) channelsGetIntegrations1(c *call) (any, error) {
	rid, err := a.roomParam(c)
	if err != nil {
		return nil, err
	}
	r, err := a.st.ReadableRoom(rid, c.user)
	if err != nil {
		return nil, err
	}
	return a.listIntegrations(c, func(in *store.Integration) bool {
		for _, ch := range in.Channels {
			if ch == r.ID || strings.EqualFold(strings.TrimPrefix(ch, "#"), r.Name) ||
				(ch == "all_public_channels" && r.Type == store.Public) {
				return true
			}
		}
		return false
	})
}

// listIntegrations lists what the caller may manage: every hook of a type they manage
// fully, their own of a type they manage only as owner, nothing else (no permission: 403).
func (a *API) listIntegrations(c *call, keep func(*store.Integration) bool) (any, error) {
	scope := map[string]int{} // type → 2 all, 1 own, 0 none
	for _, typ := range []string{store.IncomingWebhook, store.OutgoingWebhook} {
		all, err := a.mayManageHooks(c, typ)
		switch {
		case err == nil && all:
			scope[typ] = 2
		case err == nil:
			scope[typ] = 1
		case store.KindOf(err) != store.Denied:
			return nil, err
		}
	}
	if scope[store.IncomingWebhook] == 0 && scope[store.OutgoingWebhook] == 0 {
		return nil, store.ErrNoPermission
	}
	q, err := readList(c.in, defaultPage1, integrationSort)
	if err != nil {
		return nil, err
	}
	count, offset := q.Count, q.Offset
	list, err := a.st.Integrations(func(in *store.Integration) bool {
		switch scope[in.Type] {
		case 2:
		case 1:
			if in.CreatedBy.ID != c.user.ID {
				return false
			}
		default:
			return false
		}
		return keep == nil || keep(in)
	})
	if err != nil {
		return nil, err
	}
	if q.cmp != nil {
		slices.SortStableFunc(list, q.cmp)
	}
	total := len(list)
	list = list[min(offset, total):min(offset+count, total)]
	views := make([]integrationView, len(list))
	for i, in := range list {
		views[i] = integrationOf(in)
	}
	things, err := project(q.fields, views)
	if err != nil {
		return nil, err
	}
	return J("integrations", things, "offset", offset, "items", len(views), "count", len(views), "total", total, "success", true), nil
}

// integrationSort is what integrations.list sorts by (docs/api.md "List conventions").
var integrationSort = sorter[*store.Integration]{
	"name":       func(a, b *store.Integration) int { return cmpString(a.Name, b.Name) },
	"type":       func(a, b *store.Integration) int { return cmpString(a.Type, b.Type) },
	"enabled":    func(a, b *store.Integration) int { return cmpBool(a.Enabled, b.Enabled) },
	"_createdAt": func(a, b *store.Integration) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"_updatedAt": func(a, b *store.Integration) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
}

func (a *API) integrationsUpdate1(c *call) (any, error) {
	typ, err := integrationType(c.in)
	if err != nil {
		return nil, err
	}
	id, err := c.in.str("integrationId")
	if err != nil {
		return nil, err
	}
	cur, err := a.reachableIntegration(c, id)
	if err != nil {
		return nil, err
	}
	if cur.Type != typ {
		return nil, store.ErrIntegrationNotFound
	}
	all, err := a.mayManageHooks(c, typ)
	if err != nil {
		return nil, err
	}
	if err := a.allowSend(c.user); err != nil {
		return nil, err
	}
	next := *cur
	next.Channels = append([]string(nil), cur.Channels...)
	if err := a.readIntegration(c, &next, all, false); err != nil {
		return nil, err
	}
	updated, err := a.st.UpdateIntegration(id, func(in *store.Integration) error {
		if in.UpdatedAt != cur.UpdatedAt {
			return store.Errorf(store.Conflict, "error-integration-changed", "The integration changed meanwhile; read it again")
		}
		hash := in.TokenHash
		*in = next
		in.TokenHash = hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.integrationsChanged()
	return J("integration", integrationOf(updated), "success", true), nil
}

func (a *API) integrationsRemove1(c *call) (any, error) {
	id, err := c.in.str("integrationId")
	if err != nil {
		return nil, err
	}
	cur, err := a.reachableIntegration(c, id)
	if err != nil {
		return nil, err
	}
	removed, err := a.st.RemoveIntegration(cur.ID, nil)
	if err != nil {
		return nil, err
	}
	a.integrationsChanged()
	return J("integration", integrationOf(removed), "success", true), nil
}

// integrationsChanged tells the outgoing dispatcher to reload its hooks.
func (a *API) integrationsChanged() {
	if a.cfg.Outgoing != nil {
		a.cfg.Outgoing.Reload()
	}
}
