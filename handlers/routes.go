package handlers

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"rocketlite/store"
)

// routes is the whole API at a glance.
func (a *API) routes() {
	const get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete
	// authed: every POST and DELETE counts against the caller's write limit (limits.go);
	// poster: routes that post messages count against the send limit instead.

	// API 0.1 (Rocket.Chat REST API beta, November 2015): API.md §2.
	a.handle(get, "/api/version", v0, open, a.version)
	a.handle(post, "/api/login", v0, open, a.login0)
	a.handle(get, "/api/logout", v0, authed, a.logout0)
	a.handle(post, "/api/logout", v0, authed, a.logout0)
	a.handle(get, "/api/publicRooms", v0, authed, a.tagged(a.publicRooms))
	a.handle(post, "/api/rooms/:id/join", v0, authed, a.join0)
	a.handle(post, "/api/rooms/:id/leave", v0, authed, a.leave0)
	a.handle(get, "/api/rooms/:id/messages", v0, authed, a.tagged(a.messages0)) // pages.go: cache, ETag
	a.handle(post, "/api/rooms/:id/read", v0, authed, a.read0)
	a.handle(post, "/api/rooms/:id/send", v0, poster, a.send0)
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

	// REST API v1 (API-v1.md): the subset that published clients call. Errors in v1 style.
	a.handle(get, "/api/info", v1, open, a.apiInfo)
	a.handle(get, "/api/v1/info", v1, open, a.info1)
	a.handle(post, "/api/v1/login", v1, open, a.login1)
	a.handle(get, "/api/v1/logout", v1, authed, a.logout0)
	a.handle(post, "/api/v1/logout", v1, authed, a.logout0)
	a.handle(get, "/api/v1/me", v1, authed, a.me1)
	// Channels (a private room is served to its members only).
	a.handle(get, "/api/v1/channels.list", v1, authed, a.tagged(a.channelsList1))
	a.handle(get, "/api/v1/channels.list.joined", v1, authed, a.tagged(a.channelsListJoined1))
	a.handle(get, "/api/v1/channels.info", v1, authed, a.channelsInfo1)
	a.handle(post, "/api/v1/channels.create", v1, authed, a.channelsCreate1)
	a.handle(post, "/api/v1/channels.join", v1, authed, a.channelsJoin1)
	a.handle(post, "/api/v1/channels.leave", v1, authed, a.channelsLeave1)
	a.handle(get, "/api/v1/channels.history", v1, authed, a.tagged(a.channelsHistory1))
	a.handle(post, "/api/v1/channels.open", v1, authed, a.channelsOpen1)
	a.handle(post, "/api/v1/channels.close", v1, authed, a.channelsClose1)
	a.handle(post, "/api/v1/channels.rename", v1, authed, a.channelsRename1)
	a.handle(post, "/api/v1/channels.setTopic", v1, authed, a.channelsSetTopic1)
	a.handle(post, "/api/v1/channels.setDescription", v1, authed, a.channelsSetDescription1)
	a.handle(post, "/api/v1/channels.setPurpose", v1, authed, a.channelsSetPurpose1)
	a.handle(post, "/api/v1/channels.invite", v1, authed, a.channelsInvite1)
	a.handle(post, "/api/v1/channels.kick", v1, authed, a.channelsKick1)
	// Channel moderation and lifecycle (v1_rooms.go, shared with groups.*): Rocket.Chat's
	// permissions (set-owner, set-moderator, set-leader, archive-room, unarchive-room,
	// clean-channel-history, delete-c, edit-room, …), granted globally or by a room role.
	ch := func(fn func(c *call, k *roomKind) (any, error)) handlerFunc { return a.kindRoute(channelKind, fn) }
	a.handle(get, "/api/v1/channels.messages", v1, authed, ch(a.roomMessages1))
	a.handle(get, "/api/v1/channels.members", v1, authed, ch(a.roomMembers1))
	a.handle(get, "/api/v1/channels.roles", v1, authed, ch(a.roomRoles1))
	a.handle(get, "/api/v1/channels.moderators", v1, authed, ch(a.channelsModerators1))
	a.handle(get, "/api/v1/channels.counters", v1, authed, ch(a.roomCounters1))
	a.handle(post, "/api/v1/channels.addModerator", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleModerator, true))))
	a.handle(post, "/api/v1/channels.removeModerator", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleModerator, false))))
	a.handle(post, "/api/v1/channels.addOwner", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleOwner, true))))
	a.handle(post, "/api/v1/channels.removeOwner", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleOwner, false))))
	a.handle(post, "/api/v1/channels.addLeader", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleLeader, true))))
	a.handle(post, "/api/v1/channels.removeLeader", v1, authed, a.limited(ch(a.roomSetRole1(store.RoleLeader, false))))
	a.handle(post, "/api/v1/channels.archive", v1, authed, a.limited(ch(a.roomArchive1)))
	a.handle(post, "/api/v1/channels.unarchive", v1, authed, a.limited(ch(a.roomUnarchive1)))
	a.handle(post, "/api/v1/channels.cleanHistory", v1, authed, a.limited(ch(a.channelsCleanHistory1)))
	a.handle(post, "/api/v1/channels.setType", v1, authed, a.limited(ch(a.roomSetType1)))
	a.handle(post, "/api/v1/channels.setJoinCode", v1, authed, a.limited(ch(a.channelsSetJoinCode1)))
	a.handle(post, "/api/v1/channels.setReadOnly", v1, authed, a.limited(ch(a.roomSetReadOnly1)))
	a.handle(post, "/api/v1/channels.setAnnouncement", v1, authed, a.limited(ch(a.roomSetText1(setAnnouncement))))
	a.handle(post, "/api/v1/channels.addAll", v1, authed, a.limited(ch(a.channelsAddAll1)))
	a.handle(post, "/api/v1/channels.delete", v1, authed, a.limited(ch(a.roomDelete1)))
	// Private groups: the twins of channels.*, for members only (anyone else is told the
	// group does not exist).
	gr := func(fn func(c *call, k *roomKind) (any, error)) handlerFunc { return a.kindRoute(groupKind, fn) }
	a.handle(post, "/api/v1/groups.create", v1, authed, a.limited(a.groupsCreate1))
	a.handle(get, "/api/v1/groups.list", v1, authed, a.tagged(a.groupsList1))
	a.handle(get, "/api/v1/groups.listAll", v1, authed, a.tagged(a.groupsListAll1)) // view-room-administration
	a.handle(get, "/api/v1/groups.info", v1, authed, gr(a.roomInfo1))
	a.handle(get, "/api/v1/groups.history", v1, authed, a.tagged(gr(a.roomHistory1)))
	a.handle(get, "/api/v1/groups.messages", v1, authed, gr(a.roomMessages1))
	a.handle(get, "/api/v1/groups.members", v1, authed, gr(a.roomMembers1))
	a.handle(get, "/api/v1/groups.roles", v1, authed, gr(a.roomRoles1))
	a.handle(get, "/api/v1/groups.counters", v1, authed, gr(a.roomCounters1))
	a.handle(post, "/api/v1/groups.invite", v1, authed, a.limited(gr(a.roomInvite1)))
	a.handle(post, "/api/v1/groups.kick", v1, authed, a.limited(gr(a.roomKick1)))
	a.handle(post, "/api/v1/groups.leave", v1, authed, gr(a.roomLeave1))
	a.handle(post, "/api/v1/groups.open", v1, authed, gr(a.roomOpen1))
	a.handle(post, "/api/v1/groups.close", v1, authed, gr(a.roomClose1))
	a.handle(post, "/api/v1/groups.rename", v1, authed, a.limited(gr(a.roomRename1)))
	a.handle(post, "/api/v1/groups.setTopic", v1, authed, a.limited(gr(a.roomSetText1(setTopic))))
	a.handle(post, "/api/v1/groups.setDescription", v1, authed, a.limited(gr(a.roomSetText1(setDescription))))
	a.handle(post, "/api/v1/groups.setPurpose", v1, authed, a.limited(gr(a.roomSetText1(setPurpose))))
	a.handle(post, "/api/v1/groups.setAnnouncement", v1, authed, a.limited(gr(a.roomSetText1(setAnnouncement))))
	a.handle(post, "/api/v1/groups.setReadOnly", v1, authed, a.limited(gr(a.roomSetReadOnly1)))
	a.handle(post, "/api/v1/groups.setType", v1, authed, a.limited(gr(a.roomSetType1)))
	a.handle(post, "/api/v1/groups.archive", v1, authed, a.limited(gr(a.roomArchive1)))
	a.handle(post, "/api/v1/groups.unarchive", v1, authed, a.limited(gr(a.roomUnarchive1)))
	a.handle(post, "/api/v1/groups.addModerator", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleModerator, true))))
	a.handle(post, "/api/v1/groups.removeModerator", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleModerator, false))))
	a.handle(post, "/api/v1/groups.addOwner", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleOwner, true))))
	a.handle(post, "/api/v1/groups.removeOwner", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleOwner, false))))
	a.handle(post, "/api/v1/groups.addLeader", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleLeader, true))))
	a.handle(post, "/api/v1/groups.removeLeader", v1, authed, a.limited(gr(a.roomSetRole1(store.RoleLeader, false))))
	a.handle(post, "/api/v1/groups.addAll", v1, authed, a.limited(gr(a.channelsAddAll1)))
	a.handle(post, "/api/v1/groups.delete", v1, authed, a.limited(gr(a.roomDelete1)))
	// Direct messages (type "d"), under both of Rocket.Chat's prefixes: members only.
	for _, p := range []string{"/api/v1/im.", "/api/v1/dm."} {
		a.handle(post, p+"create", v1, authed, a.limited(a.imCreate1)) // create-d
		a.handle(get, p+"list", v1, authed, a.tagged(a.imList1))
		a.handle(get, p+"history", v1, authed, a.tagged(a.imRoute(a.roomHistory1)))
		a.handle(get, p+"messages", v1, authed, a.imMessages1)
		a.handle(get, p+"members", v1, authed, a.imRoute(a.roomMembers1))
		a.handle(get, p+"counters", v1, authed, a.imRoute(a.roomCounters1))
		a.handle(post, p+"open", v1, authed, a.imRoute(a.roomOpen1))
		a.handle(post, p+"close", v1, authed, a.imRoute(a.roomClose1))
	}
	// Rooms and subscriptions (any type the caller may read; unread and mention counts are
	// kept as messages arrive).
	a.handle(get, "/api/v1/rooms.get", v1, authed, a.tagged(a.roomsGet1))
	a.handle(get, "/api/v1/rooms.info", v1, authed, a.roomsInfo1)
	a.handle(post, "/api/v1/rooms.leave", v1, authed, a.roomsLeave1)
	a.handle(post, "/api/v1/rooms.saveRoomSettings", v1, authed, a.limited(a.roomsSaveRoomSettings1))
	a.handle(get, "/api/v1/subscriptions.get", v1, authed, a.tagged(a.subscriptionsGet1))
	a.handle(get, "/api/v1/subscriptions.getOne", v1, authed, a.subscriptionsGetOne1)
	a.handle(post, "/api/v1/subscriptions.read", v1, authed, a.subscriptionsRead1)
	a.handle(post, "/api/v1/subscriptions.unread", v1, authed, a.subscriptionsUnread1)
	// Chat.
	a.handle(post, "/api/v1/chat.postMessage", v1, poster, a.chatPostMessage1)
	a.handle(post, "/api/v1/chat.sendMessage", v1, poster, a.chatSendMessage1)
	a.handle(get, "/api/v1/chat.getMessage", v1, authed, a.chatGetMessage1)
	a.handle(post, "/api/v1/chat.update", v1, authed, a.chatUpdate1)
	a.handle(post, "/api/v1/chat.delete", v1, authed, a.chatDelete1)
	a.handle(get, "/api/v1/chat.search", v1, authed, a.chatSearch1)
	a.handle(post, "/api/v1/chat.react", v1, authed, a.chatReact1)
	a.handle(post, "/api/v1/chat.pinMessage", v1, authed, a.chatPinMessage1) // pin-message
	a.handle(post, "/api/v1/chat.unPinMessage", v1, authed, a.chatUnPinMessage1)
	a.handle(post, "/api/v1/chat.starMessage", v1, authed, a.chatStarMessage1)
	a.handle(post, "/api/v1/chat.unStarMessage", v1, authed, a.chatUnStarMessage1)
	a.handle(get, "/api/v1/chat.getPinnedMessages", v1, authed, a.chatGetPinnedMessages1)
	a.handle(get, "/api/v1/chat.getStarredMessages", v1, authed, a.chatGetStarredMessages1)
	a.handle(get, "/api/v1/chat.getMentionedMessages", v1, authed, a.chatGetMentionedMessages1)
	a.handle(get, "/api/v1/chat.getThreadsList", v1, authed, a.chatGetThreadsList1)
	a.handle(get, "/api/v1/chat.getThreadMessages", v1, authed, a.chatGetThreadMessages1)
	a.handle(get, "/api/v1/chat.syncMessages", v1, authed, a.chatSyncMessages1)
	// Users.
	a.handle(post, "/api/v1/users.create", v1, authed, a.usersCreate1)
	a.handle(get, "/api/v1/users.info", v1, authed, a.usersInfo1)
	a.handle(get, "/api/v1/users.list", v1, authed, a.usersList1)
	a.handle(post, "/api/v1/users.update", v1, authed, a.usersUpdate1)
	a.handle(post, "/api/v1/users.delete", v1, authed, a.usersDelete1)
	a.handle(get, "/api/v1/users.getPresence", v1, authed, a.usersGetPresence1)
	a.handle(get, "/api/v1/users.presence", v1, authed, a.usersPresence1)
	a.handle(get, "/api/v1/users.getStatus", v1, authed, a.usersGetStatus1)
	a.handle(post, "/api/v1/users.setStatus", v1, authed, a.usersSetStatus1)
	a.handle(post, "/api/v1/users.setAvatar", v1, authed, a.usersSetAvatar1)     // others: edit-other-user-avatar
	a.handle(post, "/api/v1/users.resetAvatar", v1, authed, a.usersResetAvatar1) // others: edit-other-user-avatar
	a.handle(post, "/api/v1/users.createToken", v1, authed, a.usersCreateToken1) // user-generate-access-token
	a.handle(post, "/api/v1/users.setPreferences", v1, authed, a.usersSetPreferences1)
	a.handle(get, "/api/v1/users.getPreferences", v1, authed, a.usersGetPreferences1)
	// Avatars are public, as in Rocket.Chat: an uploaded picture or generated initials.
	a.handle(get, "/avatar/:username", v0, open, a.avatar)
	// Anyone may register only with --open-registration; otherwise the route is closed like
	// every other (401 without credentials, and a refusal with them).
	a.handle(post, "/api/v1/users.register", v1, a.registration(), a.usersRegister1)
	// Roles and permissions (access-permissions, as API 0.1's management routes).
	a.handle(get, "/api/v1/roles.list", v1, authed, a.rolesList1)
	a.handle(get, "/api/v1/permissions.listAll", v1, authed, a.permissionsListAll1)
	a.handle(post, "/api/v1/permissions.update", v1, authed, a.permissionsUpdate1)

	// Personal access tokens (v1_pats.go).
	a.handle(post, "/api/v1/users.generatePersonalAccessToken", v1, authed, a.usersGeneratePersonalAccessToken1)
	a.handle(post, "/api/v1/users.regeneratePersonalAccessToken", v1, authed, a.usersRegeneratePersonalAccessToken1)
	a.handle(get, "/api/v1/users.getPersonalAccessTokens", v1, authed, a.usersGetPersonalAccessTokens1)
	a.handle(post, "/api/v1/users.removePersonalAccessToken", v1, authed, a.usersRemovePersonalAccessToken1)
	// Integrations (v1_integrations.go): incoming and outgoing webhooks.
	a.handle(post, "/api/v1/integrations.create", v1, authed, a.integrationsCreate1)
	a.handle(get, "/api/v1/integrations.get", v1, authed, a.integrationsGet1)
	a.handle(get, "/api/v1/integrations.list", v1, authed, a.integrationsList1)
	a.handle(http.MethodPut, "/api/v1/integrations.update", v1, authed, a.integrationsUpdate1)
	a.handle(post, "/api/v1/integrations.update", v1, authed, a.integrationsUpdate1)
	a.handle(post, "/api/v1/integrations.remove", v1, authed, a.integrationsRemove1)
	a.handle(get, "/api/v1/channels.getIntegrations", v1, authed, a.channelsGetIntegrations1)
	// Incoming webhooks (hooks.go): the URL's id and token are the credential.
	a.handle(post, "/hooks/:id/:token", v1, rawBody, a.incomingHook)
	a.handle(get, "/hooks/:id/:token", v1, rawBody, a.incomingHook)
	a.handle(post, "/hooks/:id/:token/:userId", v1, rawBody, a.incomingHookLegacy)
	a.handle(get, "/hooks/:id/:token/:userId", v1, rawBody, a.incomingHookLegacy)

	// Operations (health.go, backup.go): probes for supervisors and load balancers, and an
	// online backup (permission "backup").
	a.handle(get, "/healthz", v0, open, a.healthz)
	a.handle(get, "/readyz", v0, open, a.readyz)
	a.handle(get, "/api/backup", v0, authed, a.backup)

	// Realtime (REALTIME.md): Meteor DDP over websocket and SockJS's websocket transport; its
	// methods and streams are listed in realtime/methods.go and realtime/streams.go.
	if rt := a.cfg.Realtime; rt != nil {
		h := func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { rt.ServeHTTP(w, r) }
		a.router.GET("/websocket", h)
		a.router.GET("/sockjs/*rest", h)
	}

	// The web client (package web): its page at / and its hashed assets. Static files that
	// need no credentials; everything they show comes through the routes above.
	if w := a.cfg.Web; w != nil {
		page := func(rw http.ResponseWriter, r *http.Request, _ httprouter.Params) { w.Page(rw, r) }
		asset := func(rw http.ResponseWriter, r *http.Request, ps httprouter.Params) { w.Asset(rw, r, ps.ByName("name")) }
		a.router.GET("/", page)
		a.router.HEAD("/", page)
		a.router.GET("/assets/:name", asset)
		a.router.HEAD("/assets/:name", asset)
	}
}
