package handlers

import (
	"slices"

	"rocketlite/rbac"
	"rocketlite/store"
)

// Roles and permissions (API.md §3): what the wiki did in the MongoDB shell. Every route
// needs access-permissions; the rules (last admin, role in use, unknown names) are the
// store's, shared with the command line.

type roleView struct {
	ID          string `json:"_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Scope       string `json:"scope"`
	Protected   bool   `json:"protected"`
}

func roleOf(r *store.Role) roleView {
	scope := r.Scope
	if scope == "" {
		scope = rbac.ScopeGlobal
	}
	return roleView{ID: r.Name, Name: r.Name, Description: r.Description, Scope: scope, Protected: r.Protected}
}

type permissionView struct {
	ID        string   `json:"_id"`
	Roles     []string `json:"roles"`
	UpdatedAt jsTime   `json:"_updatedAt"`
}

func permissionOf(p *store.Permission) permissionView {
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	return permissionView{ID: p.ID, Roles: roles, UpdatedAt: jsTime(p.UpdatedAt)}
}

func permissionsOf(ps []*store.Permission) []permissionView {
	out := make([]permissionView, len(ps))
	for i, p := range ps {
		out[i] = permissionOf(p)
	}
	return out
}

func (a *API) mayManage(c *call) error { return rbac.Require(a.st, c.user, rbac.AccessPermissions) }

// requiredStr reads a string parameter that must be present and not empty.
func requiredStr(in body, name string) (string, error) {
	v, err := in.str(name)
	if err == nil && v == "" {
		err = badRequest("invalid-param", "%s is missing", name)
	}
	return v, err
}

// managedRoles is every role, for a caller holding access-permissions (both APIs' lists).
func (a *API) managedRoles(c *call) ([]roleView, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	roles, err := a.st.Roles()
	if err != nil {
		return nil, err
	}
	out := make([]roleView, len(roles))
	for i, r := range roles {
		out[i] = roleOf(r)
	}
	return out, nil
}

// GET /api/roles
func (a *API) listRoles(c *call) (any, error) {
	roles, err := a.managedRoles(c)
	if err != nil {
		return nil, err
	}
	return J("status", "success", "roles", roles), nil
}

// POST /api/roles {"name","description"?,"scope"?}
func (a *API) addRole(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	name, err := requiredStr(c.in, "name")
	if err != nil {
		return nil, err
	}
	desc, err := c.in.str("description")
	if err != nil {
		return nil, err
	}
	scope, err := c.in.str("scope")
	if err != nil {
		return nil, err
	}
	r, err := rbac.NewRole(name, desc, scope)
	if err != nil {
		return nil, err
	}
	if err := a.st.AddRole(r); err != nil {
		return nil, err
	}
	return J("status", "success", "role", roleOf(r)), nil
}

// DELETE /api/roles/:name
func (a *API) deleteRole(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	if err := a.st.DeleteRole(c.ps.ByName("name")); err != nil {
		return nil, err
	}
	return J("status", "success"), nil
}

// userByIDOrName finds the user of a path: by id, else by username (the wiki's Mongo
// commands named users by username).
func (a *API) userByIDOrName(key string) (*store.User, error) {
	u, err := a.st.User(key)
	if store.KindOf(err) == store.NotFound {
		u, err = a.st.UserByUsername(key)
	}
	return u, err
}

// POST /api/users/:id/roles {"role"}
func (a *API) addUserRole(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	role, err := requiredStr(c.in, "role")
	if err != nil {
		return nil, err
	}
	u, err := a.userByIDOrName(c.ps.ByName("id"))
	if err != nil {
		return nil, err
	}
	if u, err = a.st.AddUserRole(u.ID, role); err != nil {
		return nil, err
	}
	return J("status", "success", "user", userOf(u)), nil
}

// DELETE /api/users/:id/roles/:role
func (a *API) removeUserRole(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	u, err := a.userByIDOrName(c.ps.ByName("id"))
	if err != nil {
		return nil, err
	}
	if u, err = a.st.RemoveUserRole(u.ID, c.ps.ByName("role")); err != nil {
		return nil, err
	}
	return J("status", "success", "user", userOf(u)), nil
}

// GET /api/permissions
func (a *API) listPermissions(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	perms, err := a.st.Permissions()
	if err != nil {
		return nil, err
	}
	return J("status", "success", "permissions", permissionsOf(perms)), nil
}

// POST /api/permissions/:id/roles {"role"}
func (a *API) grantPermission(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	role, err := requiredStr(c.in, "role")
	if err != nil {
		return nil, err
	}
	p, err := a.st.SetPermissionRoles(c.ps.ByName("id"), func(roles []string) []string { return append(roles, role) })
	if err != nil {
		return nil, err
	}
	return J("status", "success", "permission", permissionOf(p)), nil
}

// DELETE /api/permissions/:id/roles/:role
func (a *API) revokePermission(c *call) (any, error) {
	if err := a.mayManage(c); err != nil {
		return nil, err
	}
	role := c.ps.ByName("role")
	if err := rbac.CheckRoles(a.st, []string{role}); err != nil {
		return nil, err
	}
	p, err := a.st.SetPermissionRoles(c.ps.ByName("id"), func(roles []string) []string {
		return slices.DeleteFunc(roles, func(r string) bool { return r == role })
	})
	if err != nil {
		return nil, err
	}
	return J("status", "success", "permission", permissionOf(p)), nil
}
