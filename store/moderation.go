package store

// Room moderation and lifecycle: room roles, archiving, cleaning history, deleting a room,
// adding every user, and the member lists that moderators read.

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Room roles that Rocket.Chat's set-owner, set-moderator and set-leader give.
const (
	RoleOwner     = "owner"
	RoleModerator = "moderator"
	RoleLeader    = "leader"
)

// SetRoomRole gives (add) or takes the room role to or from uid in room rid on behalf of by,
// with Rocket.Chat's subscription-role-added or -removed message. A user who is not a member
// is ErrNotInRoom; giving a role held already, or taking one not held, is refused with
// Rocket.Chat's error-user-already-<role> or error-user-not-<role>; the last owner is kept.
func (s *Bolt) SetRoomRole(rid, uid, role string, add bool, by *User) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		m, err := getMember(tx, rid, uid)
		if err != nil || m == nil {
			return firstErr(err, ErrNotInRoom)
		}
		if !roleExists(tx, role) {
			return ErrRoleNotFound
		}
		article := "a"
		if role == RoleOwner {
			article = "an"
		}
		switch {
		case add && m.HasRole(role):
			return Errorf(Invalid, "error-user-already-"+role, "User is already %s %s of this room", article, role)
		case !add && !m.HasRole(role):
			return Errorf(Invalid, "error-user-not-"+role, "User is not %s %s of this room", article, role)
		}
		if add {
			m.Roles = append(m.Roles, role)
		} else {
			if role == RoleOwner {
				owners, err := roomRoleHolders(tx, rid, RoleOwner)
				if err != nil {
					return err
				}
				if len(owners) <= 1 {
					return Errorf(Invalid, "error-remove-last-owner", "This is the last owner. Please set a new owner before removing this one.")
				}
			}
			m.Roles = slices.DeleteFunc(m.Roles, func(x string) bool { return x == role })
		}
		m.Updated = now
		if err := putJSON(tx.Bucket(bMembers), join2(rid, []byte(uid)), m); err != nil {
			return err
		}
		emit(tx, Event{Kind: MemberChanged, Room: r, UserID: uid, Member: m})
		typ := "subscription-role-added"
		if !add {
			typ = "subscription-role-removed"
		}
		return appendMessage(tx, r, &Message{Text: m.Username, Type: typ, Role: role, TS: now, User: by.Ref()})
	})
}

func roomRoleHolders(tx *bolt.Tx, rid, role string) ([]*Member, error) {
	var out []*Member
	p := prefix(rid)
	c := tx.Bucket(bMembers).Cursor()
	for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
		var m Member
		if err := unmarshal(v, &m); err != nil {
			return nil, err
		}
		if (role == "" && len(m.Roles) > 0) || (role != "" && m.HasRole(role)) {
			m.RoomID, m.UserID = rid, string(k[len(p):])
			out = append(out, &m)
		}
	}
	return out, nil
}

// RoomRoles returns the members of room rid that hold the room role (role "": any room
// role), by username.
func (s *Bolt) RoomRoles(rid, role string) (ms []*Member, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if _, err := getRoom(tx, rid); err != nil {
			return err
		}
		ms, err = roomRoleHolders(tx, rid, role)
		sort.Slice(ms, func(i, j int) bool { return ms[i].Username < ms[j].Username })
		return err
	})
	return ms, err
}

// MemberUser is a member as room member lists show them.
type MemberUser struct {
	ID, Username, Name string
	Active             bool
}

// RoomMemberPage returns a page of room rid's members by username (offset skipped, at most
// count; 0: all the rest) and how many there are.
func (s *Bolt) RoomMemberPage(rid string, offset, count int) (out []MemberUser, total int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		out = out[:0]
		if _, err := getRoom(tx, rid); err != nil {
			return err
		}
		type entry struct{ id, name string }
		var all []entry
		p := prefix(rid)
		c := tx.Bucket(bMembers).Cursor()
		for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
			var m Member
			if err := unmarshal(v, &m); err != nil {
				return err
			}
			all = append(all, entry{string(k[len(p):]), m.Username})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
		total = len(all)
		all = all[min(offset, len(all)):]
		if count > 0 && count < len(all) {
			all = all[:count]
		}
		for _, e := range all {
			mu := MemberUser{ID: e.id, Username: e.name}
			if u, err := getUser(tx, e.id); err == nil {
				mu.Name, mu.Active = u.Name, u.Active
			}
			out = append(out, mu)
		}
		return nil
	})
	return out, total, err
}

// SetArchived archives or unarchives room rid on behalf of by, with Rocket.Chat's
// room-archived or room-unarchived message. An archived room refuses posts. Archiving an
// archived room (or the reverse) is refused with error-room-archived (error-room-not-archived).
func (s *Bolt) SetArchived(rid string, archived bool, by *User) error {
	_, err := s.EditRoom(rid, by, func(r *Room) ([]*Message, error) {
		switch {
		case archived && r.Archived:
			return nil, Errorf(Invalid, "error-room-archived", "The room, %s, is already archived", r.Name)
		case !archived && !r.Archived:
			return nil, Errorf(Invalid, "error-room-not-archived", "The room, %s, is not archived", r.Name)
		}
		r.Archived = archived
		typ := "room-archived"
		if !archived {
			typ = "room-unarchived"
		}
		return []*Message{{Type: typ, Text: by.Username}}, nil
	})
	return err
}

// cleanChunk bounds the messages one transaction of CleanHistory or DeleteRoom removes, so
// that a huge room does not hold the single writer (and every send) for long; tests lower it.
var cleanChunk = 2000

// CleanHistory removes the messages of room rid with a time between after and before (zero:
// no bound; inclusive: the bounds included) and returns how many. It works in transactions
// of cleanChunk messages: a crash halfway leaves a consistent room with part of the range
// removed, and sends go on between the chunks.
func (s *Bolt) CleanHistory(rid string, after, before time.Time, inclusive bool) (removed int, err error) {
	lo, hi := uint64(0), uint64(1<<63-1)
	if !after.IsZero() {
		lo = uint64(max(after.UnixMilli(), 0))
		if !inclusive {
			lo++
		}
	}
	if !before.IsZero() {
		if before.UnixMilli() < 0 || (!inclusive && before.UnixMilli() == 0) {
			return 0, nil
		}
		hi = uint64(before.UnixMilli())
		if !inclusive {
			hi--
		}
	}
	if hi < lo {
		return 0, nil
	}
	for {
		n := 0
		err := s.update(func(tx *bolt.Tx) error {
			r, err := getRoom(tx, rid)
			if err != nil {
				return err
			}
			p := prefix(rid)
			var keys [][]byte
			c := tx.Bucket(bMessageTS).Cursor()
			for k, _ := c.Seek(join2(rid, be64(lo))); k != nil && hasPrefix(k, p) && len(keys) < cleanChunk; k, _ = c.Next() {
				if len(k) != len(p)+16 || binary.BigEndian.Uint64(k[len(p):]) > hi {
					break
				}
				keys = append(keys, msgKey(rid, binary.BigEndian.Uint64(k[len(p)+8:])))
			}
			for _, k := range keys {
				m, err := messageAt(tx, k)
				if err != nil {
					return err
				}
				m.RoomID = rid
				if err := dropMessage(tx, r, k, m, ms(s.now())); err != nil {
					return err
				}
				emit(tx, Event{Kind: MessageDeleted, Room: r, Message: m})
			}
			n = len(keys)
			if n == 0 {
				return nil
			}
			r.UpdatedAt = ms(s.now())
			return putRoom(tx, r)
		})
		removed += n
		if err != nil || n < cleanChunk {
			return removed, err
		}
	}
}

// DeleteRoom removes room rid with its messages, memberships and marks. The history goes
// first, in chunks (see CleanHistory); the room and its members then go in one transaction.
func (s *Bolt) DeleteRoom(rid string) error {
	if _, err := s.CleanHistory(rid, time.Time{}, time.Time{}, true); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		if err := dropRoomIndexes(tx, r); err != nil { // as stored, before the drops below
			return err
		}
		p := prefix(rid)
		// Messages that arrived after the clean-up.
		var keys [][]byte
		c := tx.Bucket(bMessages).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			m, err := messageAt(tx, k)
			if err != nil {
				return err
			}
			if err := dropMessage(tx, r, k, m, ms(s.now())); err != nil {
				return err
			}
		}
		// The room's pins, stars, threads and tombstones go with it.
		if err := dropRoomMarks(tx, rid); err != nil {
			return err
		}
		var uids []string
		mc := tx.Bucket(bMembers).Cursor()
		for k, _ := mc.Seek(p); k != nil && hasPrefix(k, p); k, _ = mc.Next() {
			uids = append(uids, string(k[len(p):]))
		}
		for _, uid := range uids {
			if err := removeMember(tx, rid, uid); err != nil {
				return err
			}
			emit(tx, Event{Kind: MemberRemoved, Room: r, UserID: uid})
		}
		// Read marks of former readers who were not members, and the message marks (pins,
		// stars, threads, the deleted messages' tombstones): every key under the room's prefix.
		for _, b := range [][]byte{bReads, bMarks} {
			var keys [][]byte
			c := tx.Bucket(b).Cursor()
			for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
				keys = append(keys, append([]byte(nil), k...))
			}
			for _, k := range keys {
				if err := tx.Bucket(b).Delete(k); err != nil {
					return err
				}
			}
		}
		if r.Type != Direct {
			if err := tx.Bucket(bRoomsByName).Delete(lower(r.Name)); err != nil {
				return err
			}
		}
		emit(tx, Event{Kind: RoomDeleted, Room: r})
		pageChanged(tx, rid)
		return tx.Bucket(bRooms).Delete([]byte(rid))
	})
}

// AddAllUsers makes every active user a member of room rid, each with a "uj" message, and
// returns how many joined. It reads every user: one transaction of its own.
func (s *Bolt) AddAllUsers(rid string) (added int, err error) {
	now := ms(s.now())
	err = s.update(func(tx *bolt.Tx) error {
		added = 0
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		users, err := usersWhere(tx, func(u *User) bool { return u.Active })
		if err != nil {
			return err
		}
		for _, u := range users {
			ok, err := addMember(tx, r, u, nil, true, now)
			if err != nil {
				return err
			}
			if ok {
				added++
			}
		}
		return nil
	})
	return added, err
}

// --- direct messages ---

// DirectRoomID is the id of the direct-message room of the users: Rocket.Chat's, the sorted
// ids joined, for one or two users; for more, a digest of that (Rocket.Chat draws a random
// id, but a fixed one finds the room again without an index).
func DirectRoomID(uids []string) string {
	ids := slices.Compact(slices.Sorted(slices.Values(uids)))
	if len(ids) <= 2 {
		out := ""
		for _, id := range ids {
			out += id
		}
		return out
	}
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	out := make([]byte, 17)
	for i := range out {
		out[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return string(out)
}

// MaxDirectMembers bounds the members of one direct-message room (Rocket.Chat's default
// DirectMesssage_maxUsers is 8).
const MaxDirectMembers = 8

// OpenDirect returns the direct-message room of creator and the users (by id), creating it
// (with every one of them a member) if it does not exist, and reports whether it did. Every
// user must exist and be active.
func (s *Bolt) OpenDirect(creator *User, uids []string) (room RoomWithMembers, created bool, err error) {
	now := ms(s.now())
	all := slices.Compact(slices.Sorted(slices.Values(append([]string{creator.ID}, uids...))))
	if len(all) > MaxDirectMembers {
		return room, false, Errorf(Invalid, "error-invalid-params", "A direct message room has at most %d members", MaxDirectMembers)
	}
	rid := DirectRoomID(all)
	err = s.batch(func(tx *bolt.Tx) error {
		created = false
		r, err := getRoom(tx, rid)
		if err == nil {
			if r.Type != Direct {
				return Errorf(Invalid, "invalid-id", "Room id %q is taken", rid)
			}
			// A member who left (rooms.leave) comes back.
			for _, uid := range all {
				u, err := getUser(tx, uid)
				if err != nil {
					return err
				}
				if _, err := addMember(tx, r, u, nil, false, now); err != nil {
					return err
				}
			}
			names, err := roomUsernames(tx, rid)
			room = RoomWithMembers{Room: r, Usernames: names}
			return err
		}
		if KindOf(err) != NotFound {
			return err
		}
		// A direct-message room is a room its creator made: the same cap as any other.
		if err := checkRoomCap(tx, creator.ID, s.maxRooms); err != nil {
			return err
		}
		var users []*User
		for _, uid := range all {
			u, err := getUser(tx, uid)
			if err != nil {
				return err
			}
			if !u.Active {
				return Errorf(Invalid, "error-invalid-user", "User %q is deactivated", u.Username)
			}
			users = append(users, u)
		}
		ref := creator.Ref()
		r = &Room{ID: rid, Type: Direct, Creator: &ref, CreatedAt: now, UpdatedAt: now}
		if err := putRoom(tx, r); err != nil {
			return err
		}
		for _, u := range users {
			if _, err := addMember(tx, r, u, nil, false, now); err != nil {
				return err
			}
		}
		created = true
		names, err := roomUsernames(tx, rid)
		room = RoomWithMembers{Room: r, Usernames: names}
		return err
	})
	return room, created, err
}
