package handlers

import "net/http"

// routes is the whole API at a glance.
func (a *API) routes() {
	const get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete

	// API 0.1 (Rocket.Chat REST API beta, November 2015): API.md §2.
	a.handle(get, "/api/version", v0, open, a.version)
	a.handle(post, "/api/login", v0, open, a.login0)
	a.handle(get, "/api/logout", v0, authed, a.logout0)
	a.handle(post, "/api/logout", v0, authed, a.logout0)
	a.handle(get, "/api/publicRooms", v0, authed, a.publicRooms)
	a.handle(post, "/api/rooms/:id/join", v0, authed, a.join0)
	a.handle(post, "/api/rooms/:id/leave", v0, authed, a.leave0)
	a.handle(get, "/api/rooms/:id/messages", v0, authed, a.messages0)
	a.handle(post, "/api/rooms/:id/read", v0, authed, a.read0)
	a.handle(post, "/api/rooms/:id/send", v0, authed, a.send0)
	a.handle(post, "/api/bulk/register", v0, authed, a.bulkRegister)     // bulk-register-user
	a.handle(post, "/api/bulk/createRoom", v0, authed, a.bulkCreateRoom) // bulk-create-c + create-c

	// Roles and permissions (API.md §3)
	// The wiki's MongoDB-shell steps as routes; every one needs access-permissions.
	a.handle(get, "/api/roles", v0, authed, a.listRoles)
	a.handle(post, "/api/roles", v0, authed, a.addRole)
	a.handle(del, "/api/roles/:name", v0, authed, a.deleteRole)
	a.handle(post, "/api/users/:id/roles", v0, authed, a.addUserRole)
	a.handle(del, "/api/users/:id/roles/:role", v0, authed, a.removeUserRole)
	a.handle(get, "/api/permissions", v0, authed, a.listPermissions)
	a.handle(post, "/api/permissions/:id/roles", v0, authed, a.grantPermission)
	a.handle(del, "/api/permissions/:id/roles/:role", v0, authed, a.revokePermission)
}
