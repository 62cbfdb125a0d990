package handlers

// API v1 users.* (API-v1.md §4). Creating users is API 0.1's bulk/register one at a time:
// the same store function, roles and default rooms; passwords go through the same Hasher.

import (
	"encoding/json"
	"slices"
	"unicode/utf8"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/store"
)

// newUserParams are the fields of users.create and users.register.
type newUserParams struct {
	username, email, name, password string
}

func readNewUser(in body, passwordField string) (newUserParams, error) {
	var p newUserParams
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"username", &p.username}, {"email", &p.email}, {"name", &p.name}, {passwordField, &p.password}} {
		if *f.dst, err = in.str(f.name); err != nil {
			return p, err
		}
		if *f.dst == "" {
			return p, required1(f.name)
		}
	}
	if err := checkUserFields(p.username, p.email, p.name); err != nil {
		return p, err
	}
	return p, nil
}

// checkUserFields checks those of username, e-mail and name that are not "".
func checkUserFields(username, email, name string) error {
	switch {
	case username != "" && !store.ValidName(username):
		return badRequest("error-invalid-username", "%q is not a valid username (letters, digits, - _ . ; at most 100)", username)
	case email != "" && !store.ValidEmail(email):
		return badRequest("error-invalid-email", "%q is not a valid e-mail address", email)
	case name != "" && (utf8.RuneCountInString(name) > 100 || hasControl(name, false)):
		return badRequest("error-invalid-name", "name must be at most 100 characters without control characters")
	}
	return nil
}

// onlyUserRole reports whether roles grant nothing beyond the default role "user".
func onlyUserRole(roles []string) bool {
	return !slices.ContainsFunc(roles, func(r string) bool { return r != "user" })
}

// userReply is {"user": …, "success": true}; e-mail addresses only to the user themself and
// to holders of view-full-other-user-info.
func (a *API) userReply(c *call, u *store.User) (any, error) {
	v := userOf(u)
	if c.user == nil || u.ID != c.user.ID {
		ok, err := a.st.HasPermission(c.user, rbac.ViewFullOtherUserInfo, "")
		if err != nil {
			return nil, err
		}
		if !ok {
			v.Emails = nil
		}
	}
	status, err := a.presence(u)
	if err != nil {
		return nil, err
	}
	v.Status = status
	return J("user", v, "success", true), nil
}

// usersCreate1 needs create-user; giving roles beyond "user" also needs access-permissions,
// the permission of API 0.1's role management, so that create-user cannot mint admins.
func (a *API) usersCreate1(c *call) (any, error) {
	if err := a.need1(c, rbac.CreateUser, ""); err != nil {
		return nil, err
	}
	p, err := readNewUser(c.in, "password")
	if err != nil {
		return nil, err
	}
	roles, err := c.in.strings("roles")
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	if !onlyUserRole(roles) {
		if err := a.mayManage(c); err != nil {
			return nil, err
		}
	}
	if err := rbac.CheckGlobalRoles(a.st, roles); err != nil {
		return nil, err
	}
	active, err := c.in.boolean("active", true)
	if err != nil {
		return nil, err
	}
	joinDefault, err := c.in.boolean("joinDefaultChannels", true)
	if err != nil {
		return nil, err
	}
	verified, err := c.in.boolean("verified", false)
	if err != nil {
		return nil, err
	}
	hash, err := a.cfg.Hasher.Hash(p.password) // bcrypt before the write transaction
	if err != nil {
		return nil, err
	}
	u := &store.User{Username: p.username, Name: p.name, Email: p.email, Verified: verified,
		Hash: hash, Roles: slices.Compact(roles), Active: active}
	if err := a.st.CreateUser(u, joinDefault); err != nil {
		return nil, err
	}
	return a.userReply(c, u)
}

// usersRegister1 lets anyone create a plain user account, if the server allows it
// (Config.OpenRegistration); off by default.
func (a *API) registration() access {
	if a.cfg.OpenRegistration {
		return open
	}
	return authed
}

func (a *API) usersRegister1(c *call) (any, error) {
	if !a.cfg.OpenRegistration {
		return nil, badRequest("error-user-registration-disabled", "User registration is disabled")
	}
	// Every attempt counts, refused ones too, and before any work: a bcrypt hash is the
	// costly part, and a script must not get it for free by sending names already taken.
	addr := a.clientAddr(c.r)
	now := a.st.Now()
	if d := a.signups.locked(addr, now); d > 0 {
		return nil, tooMany("Too many registrations from this address; try again later", d)
	}
	a.signups.add(addr, now)
	p, err := readNewUser(c.in, "pass")
	if err != nil {
		return nil, err
	}
	if err := a.st.CheckNewUser(p.username, p.email); err != nil {
		return nil, err
	}
	hash, err := a.cfg.Hasher.Hash(p.password)
	if err != nil {
		return nil, err
	}
	u := &store.User{Username: p.username, Name: p.name, Email: p.email, Hash: hash,
		Roles: []string{"user"}, Active: true}
	if err := a.st.CreateUser(u, true); err != nil {
		return nil, err
	}
	c.user = u
	return a.userReply(c, u)
}

func (a *API) usersInfo1(c *call) (any, error) {
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	return a.userReply(c, u)
}

func (a *API) usersList1(c *call) (any, error) {
	q, err := readList(c.in, defaultPage1, userSort)
	if err != nil {
		return nil, err
	}
	users, total, err := a.st.UsersBy(q.cmp, q.Offset, q.Count)
	if err != nil {
		return nil, err
	}
	full, err := a.st.HasPermission(c.user, rbac.ViewFullOtherUserInfo, "")
	if err != nil {
		return nil, err
	}
	out := make([]userView, len(users))
	for i, u := range users {
		out[i] = userOf(u)
		if !full && u.ID != c.user.ID {
			out[i].Emails = nil
		}
		if out[i].Status, err = a.presence(u); err != nil {
			return nil, err
		}
	}
	return listOf(q, "users", out, total)
}

// userSort is what users.list sorts by (README "List conventions").
var userSort = sorter[*store.User]{
	"username":   func(a, b *store.User) int { return cmpString(a.Username, b.Username) },
	"name":       func(a, b *store.User) int { return cmpString(a.Name, b.Name) },
	"active":     func(a, b *store.User) int { return cmpBool(a.Active, b.Active) },
	"type":       func(a, b *store.User) int { return cmpString(a.Type, b.Type) },
	"createdAt":  func(a, b *store.User) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"_updatedAt": func(a, b *store.User) int { return a.UpdatedAt.Compare(b.UpdatedAt) },
}

// usersUpdate1 changes {userId, data}. Changing another user needs edit-other-user-info, their
// password edit-other-user-password, anyone's active flag edit-other-user-active-status, and
// roles access-permissions (as API 0.1's role routes). The store keeps the last admin.
func (a *API) usersUpdate1(c *call) (any, error) {
	id, err := c.in.str("userId")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, required1("userId")
	}
	var inner map[string]json.RawMessage
	ok, err := c.in.decode("data", &inner)
	if err != nil {
		return nil, err
	}
	if !ok || len(inner) == 0 {
		return nil, badRequest("error-invalid-params", `The parameter "data" is required and must be a non-empty object`)
	}
	d := body{obj: inner}
	username, err := d.str("username")
	if err != nil {
		return nil, err
	}
	email, err := d.str("email")
	if err != nil {
		return nil, err
	}
	name, err := d.str("name")
	if err != nil {
		return nil, err
	}
	password, err := d.str("password")
	if err != nil {
		return nil, err
	}
	if err := checkUserFields(username, email, name); err != nil {
		return nil, err
	}
	roles, err := d.strings("roles")
	if err != nil {
		return nil, err
	}
	self := id == c.user.ID
	if !self {
		if err := a.need1(c, rbac.EditOtherUserInfo, ""); err != nil {
			return nil, err
		}
		if password != "" {
			if err := a.need1(c, rbac.EditOtherUserPassword, ""); err != nil {
				return nil, err
			}
		}
	} else if password != "" {
		// A token alone must not be enough to take over the account: prove the old password.
		if err := a.checkCurrentPassword(c.user, d); err != nil {
			return nil, err
		}
	}
	if d.has("verified") && self {
		// Vouching for an address is the administrator's call, never the user's own.
		if err := a.need1(c, rbac.EditOtherUserInfo, ""); err != nil {
			return nil, err
		}
	}
	if d.has("active") {
		if err := a.need1(c, rbac.EditOtherUserActiveStatus, ""); err != nil {
			return nil, err
		}
	}
	active, err := d.boolean("active", true)
	if err != nil {
		return nil, err
	}
	verified, err := d.boolean("verified", false)
	if err != nil {
		return nil, err
	}
	if d.has("roles") {
		if err := a.mayManage(c); err != nil {
			return nil, err
		}
		if err := rbac.CheckGlobalRoles(a.st, roles); err != nil {
			return nil, err
		}
	}
	hash := ""
	if password != "" {
		if hash, err = a.cfg.Hasher.Hash(password); err != nil {
			return nil, err
		}
	}
	u, err := a.st.UpdateUser(id, func(u *store.User) error {
		if username != "" {
			u.Username = username
		}
		if email != "" {
			if u.Email != email {
				u.Verified = false
			}
			u.Email = email
		}
		if name != "" {
			u.Name = name
		}
		if hash != "" {
			u.Hash = hash
		}
		if d.has("active") {
			u.Active = active
		}
		if d.has("verified") {
			u.Verified = verified
		}
		if d.has("roles") {
			u.Roles = slices.Compact(slices.Clone(roles))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.userReply(c, u)
}

func (a *API) usersDelete1(c *call) (any, error) {
	if err := a.need1(c, rbac.DeleteUser, ""); err != nil {
		return nil, err
	}
	u, err := a.userParam1(c.in)
	if err != nil {
		return nil, err
	}
	if err := a.st.DeleteUser(u.ID); err != nil {
		return nil, err
	}
	return J("success", true), nil
}

// usersGetPresence1 is the user's presence (presence.go).
func (a *API) usersGetPresence1(c *call) (any, error) {
	u, err := a.userOrCaller1(c)
	if err != nil {
		return nil, err
	}
	presence, err := a.presence(u)
	if err != nil {
		return nil, err
	}
	return J("presence", presence, "success", true), nil
}

// errCurrentPassword refuses a password change whose currentPassword is missing or wrong.
var errCurrentPassword = &store.Error{Kind: store.Invalid, Code: "error-invalid-password",
	Message: "The current password (data.currentPassword) is missing or wrong"}

// checkCurrentPassword checks data.currentPassword of an own password change: the password,
// or its SHA-256 hex digest as Rocket.Chat's clients send it. A wrong one counts as a failed
// login of the account, and a locked account is refused: else a stolen token could guess the
// password here, unthrottled, and then change it.
func (a *API) checkCurrentPassword(u *store.User, d body) error {
	cur, err := d.str("currentPassword")
	if err != nil {
		return err
	}
	if cur == "" {
		return errCurrentPassword
	}
	if err := a.checkLoginAccount(u.ID); err != nil {
		return err
	}
	if a.cfg.Hasher.Check(u.Hash, cur) || (auth.ValidDigest(cur) && a.cfg.Hasher.CheckDigest(u.Hash, cur)) {
		return nil
	}
	a.loginAccount.add(u.ID, a.st.Now())
	return errCurrentPassword
}
