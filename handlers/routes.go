package handlers

import "net/http"

// routes is the whole API at a glance.
func (a *API) routes() {
	const get, post = http.MethodGet, http.MethodPost

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

	// Operations (health.go, backup.go): probes for supervisors and load balancers, and an
	// online backup (permission "backup").
	a.handle(get, "/healthz", v0, open, a.healthz)
	a.handle(get, "/readyz", v0, open, a.readyz)
	a.handle(get, "/api/backup", v0, authed, a.backup)
}
