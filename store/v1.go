package store

// Store functions that API v1 (API-v1.md) needed beyond what API 0.1 uses. They apply the same
// room access rule (readableRoom) as the rest of the store.

import (
	bolt "go.etcd.io/bbolt"
)

// ReadableRoom returns room rid with its members' usernames if uid may read it (any public
// room, a private room only to its members); else ErrCannotAccess.
func (s *Bolt) ReadableRoom(rid string, reader *User) (r RoomWithMembers, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		room, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		names, err := roomUsernames(tx, rid)
		r = RoomWithMembers{Room: room, Usernames: names}
		return err
	})
	return r, err
}

// ErrNotInRoom refuses a change that needs the user to be a member of the room.
var ErrNotInRoom = &Error{Kind: Invalid, Code: "error-user-not-in-room", Message: "The user is not in this room"}

// SetRoomOpen opens (shows) or closes (hides) the room in uid's own room list. It reports
// false, and changes nothing, if the room already was in that state.
func (s *Bolt) SetRoomOpen(rid, uid string, open bool) (changed bool, err error) {
	err = s.batch(func(tx *bolt.Tx) error {
		changed = false
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		m, err := getMember(tx, rid, uid)
		if err != nil {
			return err
		}
		if m == nil {
			return ErrNotInRoom
		}
		if m.Hidden == !open {
			return nil
		}
		m.Hidden = !open
		changed = true
		m.RoomID, m.UserID = rid, uid
		emit(tx, Event{Kind: MemberChanged, Room: r, UserID: uid, Member: m})
		return putJSON(tx.Bucket(bMembers), join2(rid, []byte(uid)), m)
	})
	return changed, err
}

// RemoveMember takes uid out of the room on behalf of by (a kick), with an "ru" message
// naming the removed user. Removing someone who is not a member is ErrNotInRoom.
func (s *Bolt) RemoveMember(rid, uid string, by UserRef) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		removed, err := takeOut(tx, rid, uid, "ru", &by, now)
		if err == nil && !removed {
			err = ErrNotInRoom
		}
		return err
	})
}

// SetPermissionsRoles replaces the roles of several permissions in one transaction: all of
// them change, or (an unknown permission or role) none.
func (s *Bolt) SetPermissionsRoles(perms []Permission) (updated []*Permission, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		updated = updated[:0]
		for _, in := range perms {
			p, err := getPermission(tx, in.ID)
			if err != nil {
				return err
			}
			if p, err = setPermissionRoles(tx, p, in.Roles, now); err != nil {
				return err
			}
			updated = append(updated, p)
		}
		return nil
	})
	return updated, err
}

// HasLiveToken reports whether uid holds a login token that has not expired: the user is
// logged in on some client.
func (s *Bolt) HasLiveToken(uid string) (live bool, err error) {
	now := s.now()
	err = s.view(func(tx *bolt.Tx) error {
		tokens := tx.Bucket(bTokens)
		p := prefix(uid)
		c := tx.Bucket(bTokensByUser).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			owner, expires, ok := parseTokenRecord(tokens.Get(k[len(p):]))
			if ok && owner == uid && now.Before(expires) {
				live = true
				return nil
			}
		}
		return nil
	})
	return live, err
}
