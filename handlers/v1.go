package handlers

// API v1 (API-v1.md): conventions shared by its handlers, authentication, info and me.
// Every v1 handler reaches the store through the same functions as its API 0.1 twin, so the
// store's room access rules, checkMessageText and a.login decide for both APIs alike.

import (
	"encoding/json"
	"strings"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/store"
)

const (
	defaultPage1 = 50   // v1 list page size when count is absent or 0
	maxPage1     = 1000 // larger counts are cut to this, as Rocket.Chat cuts to its upper limit
)

var (
	errRoomNotFound1 = &store.Error{Kind: store.Invalid, Code: "error-room-not-found",
		Message: `The required "roomId" or "roomName" param provided does not match any channel`}
	errRoomParam = &store.Error{Kind: store.Invalid, Code: "error-room-param-not-provided",
		Message: `The parameter "roomId" or "roomName" is required`}
)

// asV1 turns an error of the store into what API v1 answers: v1 reports a missing room,
// user or message as 400 with an errorType rather than 404, and its errorTypes start with
// "error-". 401, 403 and the size and rate limits keep their status.
func asV1(e *store.Error) *store.Error {
	if e.Code == store.ErrRoomNotFound.Code && e.Kind == store.NotFound {
		return errRoomNotFound1
	}
	switch e.Kind {
	case store.Unauthorized, store.Denied, store.Forbidden:
		return e // fixed bodies, no errorType
	}
	out := *e
	if out.Code != "" && !strings.HasPrefix(out.Code, "error-") {
		out.Code = "error-" + out.Code
	}
	switch out.Kind {
	case store.NotFound, store.Conflict:
		out.Kind = store.Invalid
	}
	return &out
}

// need1 refuses the call unless the caller holds perm, globally or (rid != "") through a room
// role there: the same rbac check as every API 0.1 route.
func (a *API) need1(c *call, perm, rid string) error {
	return rbac.RequireIn(a.st, c.user, rid, perm)
}

// roomParam returns the id of the room a call names by roomId or else roomName. By name, a
// room the caller may not read is not found (store.VisibleRoomByName).
func (a *API) roomParam(c *call) (string, error) {
	in := c.in
	id, err := in.str("roomId")
	if err != nil || id != "" {
		return id, err
	}
	name, err := in.str("roomName")
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errRoomParam
	}
	r, err := a.st.VisibleRoomByName(strings.TrimPrefix(name, "#"), c.user)
	if err != nil {
		return "", err
	}
	return r.ID, nil
}

// pageParams1 reads count and offset: count 0 or absent is the default page size.
func pageParams1(in body, def int) (count, offset int, err error) {
	if count, err = in.integer("count", 0, 0, 1<<30); err != nil {
		return 0, 0, err
	}
	if offset, err = in.integer("offset", 0, 0, 1<<30); err != nil {
		return 0, 0, err
	}
	if count == 0 {
		count = def
	}
	return min(count, maxPage1), offset, nil
}

// list is a v1 list reply: the things, count, offset, total.
func list1(name string, things any, n, offset, total int) Obj {
	return J(name, things, "count", n, "offset", offset, "total", total, "success", true)
}

func required1(name string) error {
	return badRequest("error-invalid-params", "The parameter %q is required", name)
}

// --- authentication and info ---

func (a *API) info1(c *call) (any, error) {
	return J("success", true, "info", J("version", a.cfg.Version)), nil
}

func (a *API) apiInfo(c *call) (any, error) {
	return J("success", true, "version", a.cfg.Version), nil
}

// loginName1 reads who logs in: the 0.1 fields, or {"user": {"username"|"email"}}.
func loginName1(in body) (name string, byEmail bool, err error) {
	if raw, ok := in.obj["user"]; ok && len(raw) > 0 && raw[0] == '{' {
		var u struct {
			Username string `json:"username"`
			Email    string `json:"email"`
		}
		if json.Unmarshal(raw, &u) != nil {
			return "", false, badRequest("invalid-param", "user must hold a username or an email string")
		}
		if u.Username != "" {
			return u.Username, false, nil
		}
		return u.Email, true, nil
	}
	return loginName(in)
}

// passwordDigest reads the password, a string or {"digest", "algorithm": "sha-256"}, and
// returns its digest (auth.Digest), "" if none was given.
func passwordDigest(in body) (string, error) {
	if raw, ok := in.obj["password"]; ok && len(raw) > 0 && raw[0] == '{' {
		var p struct {
			Digest    string `json:"digest"`
			Algorithm string `json:"algorithm"`
		}
		if json.Unmarshal(raw, &p) != nil {
			return "", badRequest("invalid-param", "password must be a string or {digest, algorithm}")
		}
		if p.Algorithm != "sha-256" {
			return "", badRequest("invalid-algorithm", `password.algorithm must be "sha-256"`)
		}
		if !auth.ValidDigest(p.Digest) {
			return "", badRequest("invalid-digest", "password.digest must be 64 hex digits (SHA-256)")
		}
		return p.Digest, nil
	}
	pw, err := in.str("password")
	return digestOf(pw), err
}

func (a *API) login1(c *call) (any, error) {
	name, byEmail, err := loginName1(c.in)
	if err != nil {
		return nil, err
	}
	digest, err := passwordDigest(c.in)
	if err != nil {
		return nil, err
	}
	u, tok, err := a.login(a.clientAddr(c.r), name, byEmail, digest)
	if err != nil {
		return nil, err
	}
	me := userOf(u)
	me.Status = "online"
	return J("status", "success", "data", J("userId", u.ID, "authToken", tok, "me", me)), nil
}

func (a *API) me1(c *call) (any, error) {
	me := userOf(c.user)
	me.Status = "online"
	if me.Emails == nil {
		me.Emails = []emailView{}
	}
	prefs, err := a.st.Preferences(c.user.ID)
	if err != nil {
		return nil, err
	}
	return J("_id", me.ID, "username", me.Username, "name", me.Name, "emails", me.Emails,
		"active", me.Active, "roles", me.Roles, "status", me.Status, "type", me.Type,
		"createdAt", me.CreatedAt, "_updatedAt", me.UpdatedAt,
		"settings", J("preferences", prefs), "success", true), nil
}

// --- roles and permissions: the twins of API 0.1's management routes, which need
// access-permissions (API.md §3) ---

func (a *API) rolesList1(c *call) (any, error) {
	roles, err := a.managedRoles(c)
	if err != nil {
		return nil, err
	}
	return J("roles", roles, "success", true), nil
}

func (a *API) permissionsListAll1(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	perms, err := a.st.Permissions()
	if err != nil {
		return nil, err
	}
	return J("update", permissionsOf(perms), "remove", []any{}, "success", true), nil
}

func (a *API) permissionsUpdate1(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	var in []struct {
		ID    string    `json:"_id"`
		Roles *[]string `json:"roles"`
	}
	ok, err := c.in.decode("permissions", &in)
	if err != nil {
		return nil, err
	}
	if !ok || len(in) == 0 {
		return nil, badRequest("error-invalid-params", "permissions must be a non-empty list of {_id, roles}")
	}
	perms := make([]store.Permission, len(in))
	for i, p := range in {
		if p.ID == "" || p.Roles == nil {
			return nil, badRequest("error-invalid-params", "permissions[%d] needs _id and roles", i)
		}
		perms[i] = store.Permission{ID: p.ID, Roles: *p.Roles}
	}
	if _, err := a.st.SetPermissionsRoles(perms); err != nil {
		return nil, err
	}
	all, err := a.st.Permissions()
	if err != nil {
		return nil, err
	}
	return J("permissions", permissionsOf(all), "success", true), nil
}
