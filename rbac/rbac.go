// Package rbac is the policy of rocketlite: may user U do P (in room R)? It answers from the
// store on every call, never from a cache, so that a grant or revoke counts from the very next
// request. The data (roles, permissions, the last-admin and role-in-use rules) lives in store;
// this package only decides.
package rbac

import (
	"fmt"

	"rocketlite/store"
)

// Permission ids (API.md §3). Code names them only through these constants, and a test holds
// every one of them to the default seed: a misspelt id would be a permission nobody holds.
const (
	AccessPermissions             = "access-permissions"
	AddUserToAnyCRoom             = "add-user-to-any-c-room"
	AddUserToAnyPRoom             = "add-user-to-any-p-room"
	AddUserToJoinedRoom           = "add-user-to-joined-room"
	ArchiveRoom                   = "archive-room"
	Backup                        = "backup"
	BulkCreateC                   = "bulk-create-c"
	BulkRegisterUser              = "bulk-register-user"
	CleanChannelHistory           = "clean-channel-history"
	CreateC                       = "create-c"
	CreateD                       = "create-d"
	CreateP                       = "create-p"
	CreatePersonalAccessTokens    = "create-personal-access-tokens"
	CreateUser                    = "create-user"
	DeleteC                       = "delete-c"
	DeleteMessage                 = "delete-message"
	DeleteP                       = "delete-p"
	DeleteUser                    = "delete-user"
	EditMessage                   = "edit-message"
	EditOtherUserActiveStatus     = "edit-other-user-active-status"
	EditOtherUserAvatar           = "edit-other-user-avatar"
	EditOtherUserInfo             = "edit-other-user-info"
	EditOtherUserPassword         = "edit-other-user-password"
	EditRoom                      = "edit-room"
	JoinWithoutJoinCode           = store.JoinWithoutJoinCode
	ManageIncomingIntegrations    = "manage-incoming-integrations"
	ManageOutgoingIntegrations    = "manage-outgoing-integrations"
	ManageOwnIncomingIntegrations = "manage-own-incoming-integrations"
	ManageOwnOutgoingIntegrations = "manage-own-outgoing-integrations"
	MentionAll                    = "mention-all"  // notify every member with @all
	MentionHere                   = "mention-here" // notify the online members with @here
	MessageImpersonate            = "message-impersonate"
	PinMessage                    = "pin-message"
	PostReadonly                  = "post-readonly"
	RemoveUser                    = "remove-user"
	SetLeader                     = "set-leader"
	SetModerator                  = "set-moderator"
	SetOwner                      = "set-owner"
	UnarchiveRoom                 = "unarchive-room"
	UserGenerateAccessToken       = "user-generate-access-token"
	ViewCRoom                     = store.ViewPublicRooms
	ViewFullOtherUserInfo         = "view-full-other-user-info"
	ViewRoomAdministration        = "view-room-administration"
)

// Known lists every permission id above.
var Known = []string{AccessPermissions, AddUserToAnyCRoom, AddUserToAnyPRoom, AddUserToJoinedRoom,
	Backup, BulkRegisterUser, BulkCreateC, CreateC, CreateP, CreatePersonalAccessTokens, CreateUser,
	DeleteMessage, DeleteUser, EditMessage, EditOtherUserActiveStatus, EditOtherUserInfo,
	EditOtherUserPassword, EditRoom, ManageIncomingIntegrations, ManageOwnIncomingIntegrations,
	ManageOutgoingIntegrations, ManageOwnOutgoingIntegrations, MentionAll, MentionHere,
	MessageImpersonate, PostReadonly, RemoveUser, ViewCRoom, ViewFullOtherUserInfo, ArchiveRoom,
	CleanChannelHistory, CreateD, DeleteC, DeleteP, JoinWithoutJoinCode, SetLeader, SetModerator,
	SetOwner, UnarchiveRoom, ViewRoomAdministration, EditOtherUserAvatar, PinMessage,
	UserGenerateAccessToken}

// Role scopes: a global role sits on a user, a room role on a membership.
const (
	ScopeGlobal = "Users"
	ScopeRoom   = store.RoomScope
)

// Require returns nil if u holds every one of perms through a global role, and
// store.ErrNoPermission otherwise.
func Require(st store.Store, u *store.User, perms ...string) error {
	return RequireIn(st, u, "", perms...)
}

// RequireIn is Require that also counts u's room roles in room rid (rid "" counts none).
func RequireIn(st store.Store, u *store.User, rid string, perms ...string) error {
	if u == nil {
		return store.ErrUnauthorized
	}
	for _, p := range perms {
		ok, err := st.HasPermission(u, p, rid)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNoPermission
		}
	}
	return nil
}

// MaxRoleName bounds a role's name; role names end up in every user record that holds them.
const MaxRoleName = 64

// NewRole checks a role to create and fills in the default scope (global).
func NewRole(name, description, scope string) (*store.Role, error) {
	switch {
	case name == "":
		return nil, store.Errorf(store.Invalid, "invalid-role-name", "The role name is missing")
	case len(name) > MaxRoleName || !store.ValidName(name):
		return nil, store.Errorf(store.Invalid, "invalid-role-name",
			"Role name %q must be 1 to %d characters of 0-9 a-z A-Z - _ .", name, MaxRoleName)
	case len(description) > 1000:
		return nil, store.Errorf(store.Invalid, "invalid-description", "The role description is longer than 1000 bytes")
	}
	switch scope {
	case "":
		scope = ScopeGlobal
	case ScopeGlobal, ScopeRoom:
	default:
		return nil, store.Errorf(store.Invalid, "invalid-scope", "Role scope must be %q or %q", ScopeGlobal, ScopeRoom)
	}
	return &store.Role{Name: name, Description: description, Scope: scope}, nil
}

// CheckRoles returns store.ErrRoleNotFound (naming the role) unless every role exists.
func CheckRoles(st store.Store, roles []string) error { return checkRoles(st, roles, false) }

// CheckGlobalRoles checks roles to be given to a user globally: each must exist and be a
// global role, not a room role such as owner (store.ErrRoomRole), which would grant its
// permissions in every room.
func CheckGlobalRoles(st store.Store, roles []string) error { return checkRoles(st, roles, true) }

func checkRoles(st store.Store, roles []string, global bool) error {
	all, err := st.Roles()
	if err != nil {
		return err
	}
	scope := make(map[string]string, len(all))
	for _, r := range all {
		scope[r.Name] = r.Scope
	}
	for _, r := range roles {
		s, ok := scope[r]
		if !ok {
			return &store.Error{Kind: store.NotFound, Code: store.ErrRoleNotFound.Code, Message: fmt.Sprintf("Role %q not found", r)}
		}
		if global && s == ScopeRoom {
			return &store.Error{Kind: store.Invalid, Code: store.ErrRoomRole.Code, Message: fmt.Sprintf("Role %q is a room role: it cannot be given to a user globally", r)}
		}
	}
	return nil
}
