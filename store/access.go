package store

import "crypto/subtle"

// The access rules, written once for every backend. A backend runs them inside its own
// transaction and supplies the records they look at through Facts, so that a check sees the
// same state as the write it guards.

// Facts is what the access rules read, answered by a backend inside one transaction.
type Facts interface {
	// Grants reports whether permission perm exists and whether it lists any of roles.
	Grants(perm string, roles []string) (granted, exists bool, err error)
	// IsMember reports whether user uid is a member of room rid.
	IsMember(rid, uid string) (bool, error)
	// MemberRoles returns uid's room roles in rid (nil, false if not a member).
	MemberRoles(rid, uid string) (roles []string, member bool, err error)
}

// HasPermissionIn reports whether u holds perm through a global role or, when rid is not
// empty, through a room role of their membership there. An unknown permission is granted to
// nobody.
func HasPermissionIn(f Facts, u *User, perm, rid string) (bool, error) {
	ok, exists, err := f.Grants(perm, u.Roles)
	if ok || err != nil || !exists || rid == "" {
		return ok, err
	}
	return roomGrants(f, perm, rid, u.ID)
}

// roomGrants reports whether uid's room roles in rid hold perm.
func roomGrants(f Facts, perm, rid, uid string) (bool, error) {
	roles, member, err := f.MemberRoles(rid, uid)
	if err != nil || !member || len(roles) == 0 {
		return false, err
	}
	ok, _, err := f.Grants(perm, roles)
	return ok, err
}

// MayViewPublicIn applies view-c-room. A database without that permission at all (a bare
// store, as in the store's own tests) leaves public rooms open, as the 2015 API did; every
// served database has it, since each start adds missing default permissions.
func MayViewPublicIn(f Facts, u *User, rid string) error {
	ok, exists, err := f.Grants(ViewPublicRooms, u.Roles)
	if err != nil || ok || !exists {
		return err
	}
	if rid != "" {
		if ok, err = roomGrants(f, ViewPublicRooms, rid, u.ID); err != nil || ok {
			return err
		}
	}
	return ErrNoPermission
}

// MayReadRoom returns nil if reader may read (and post to) room r: a private or
// direct-message room is for its members only (ErrCannotAccess), a public room for every
// user who holds view-c-room (ErrNoPermission). Every read and post of both APIs goes
// through it. reader is the caller as authenticated for this request: its roles are not
// read again.
func MayReadRoom(f Facts, r *Room, reader *User) error {
	if r.Type != Public {
		member, err := f.IsMember(r.ID, reader.ID)
		if err != nil {
			return err
		}
		if !member {
			return ErrCannotAccess
		}
		return nil
	}
	return MayViewPublicIn(f, reader, r.ID)
}

// MayWriteRoom returns nil if u, who may read r, may also post there: an archived room takes
// no posts, a read-only room only those of holders of post-readonly.
func MayWriteRoom(f Facts, r *Room, u *User) error {
	if r.Archived {
		return ErrRoomArchived
	}
	if !r.ReadOnly {
		return nil
	}
	if ok, err := HasPermissionIn(f, u, postReadOnly, r.ID); err != nil || !ok {
		return firstErr(err, ErrNoPermission)
	}
	return nil
}

// MayJoin returns nil if u may join room r with code; member reports whether u is in r
// already (joining then changes nothing). A private or direct-message room refuses outsiders
// with ErrCannotAccess; a public room needs view-c-room, and its join code, when it has one,
// or join-without-join-code.
func MayJoin(f Facts, r *Room, u *User, member bool, code string) error {
	if r.Type != Public {
		if member {
			return nil
		}
		return ErrCannotAccess
	}
	if err := MayViewPublicIn(f, u, r.ID); err != nil || member {
		return err
	}
	if r.JoinCode != "" && subtle.ConstantTimeCompare([]byte(code), []byte(r.JoinCode)) != 1 {
		ok, err := HasPermissionIn(f, u, JoinWithoutJoinCode, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrJoinCode
		}
	}
	return nil
}
