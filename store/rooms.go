package store

import (
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

func getRoom(tx *bolt.Tx, id string) (*Room, error) {
	data := tx.Bucket(bRooms).Get([]byte(id))
	if data == nil {
		return nil, ErrRoomNotFound
	}
	r := new(Room)
	if err := decodeRoom(data, r); err != nil {
		return nil, err
	}
	return r, nil
}

// roomsWhere reads every room and returns those that keep accepts.
func roomsWhere(tx *bolt.Tx, keep func(*Room) bool) ([]*Room, error) {
	var out []*Room
	err := tx.Bucket(bRooms).ForEach(func(k, v []byte) error {
		r := new(Room)
		if err := decodeRoom(v, r); err != nil {
			return err
		}
		if keep(r) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// usersWhere reads every user and returns those that keep accepts.
func usersWhere(tx *bolt.Tx, keep func(*User) bool) ([]*User, error) {
	var out []*User
	err := tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
		u := new(User)
		if err := decodeUser(v, u); err != nil {
			return err
		}
		if keep(u) {
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

func defaultRooms(tx *bolt.Tx) ([]*Room, error) {
	return roomsWhere(tx, func(r *Room) bool { return r.Default })
}

// NewRoom describes a room to create: the room itself, the ids of its members, and the id of
// its owner (who becomes a member with room role "owner"; may be empty).
type NewRoom struct {
	Room    *Room
	Members []string
	Owner   string
}

// CreateRooms creates every room with its members in one transaction, or none. Names are
// unique, case-insensitively, across the store and inside the batch. Members join silently
// (no "uj" message), as Rocket.Chat's createRoom does.
func (s *Bolt) CreateRooms(rooms []NewRoom) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		byName := tx.Bucket(bRoomsByName)
		for _, nr := range rooms {
			r := nr.Room
			if err := validRoom(r); err != nil {
				return err
			}
			if r.Type != Direct && byName.Get(lower(r.Name)) != nil {
				return Errorf(Invalid, "duplicate-name", "A room named %q already exists", r.Name)
			}
			if r.ID == "" {
				r.ID = NewID()
			} else if !validKeyPart(r.ID) || tx.Bucket(bRooms).Get([]byte(r.ID)) != nil {
				return Errorf(Invalid, "invalid-id", "Room id %q is invalid or taken", r.ID)
			}
			if r.Type == "" {
				r.Type = Public
			}
			if r.Creator != nil && (r.Type == Public || r.Type == Private) {
				if err := checkRoomCap(tx, r.Creator.ID, s.maxRooms); err != nil {
					return err
				}
			}
			r.CreatedAt, r.UpdatedAt = now, now
			r.Msgs, r.Seq = 0, 0
			if err := putRoom(tx, r); err != nil {
				return err
			}
			if r.Type != Direct {
				if err := byName.Put(lower(r.Name), []byte(r.ID)); err != nil {
					return err
				}
			}
			ids := nr.Members
			if nr.Owner != "" {
				ids = append([]string{nr.Owner}, ids...)
			}
			for _, uid := range ids {
				u, err := getUser(tx, uid)
				if err != nil {
					return Errorf(Invalid, "invalid-user", "Member %q does not exist", uid)
				}
				var roles []string
				if uid == nr.Owner {
					roles = []string{"owner"}
				}
				if _, err := addMember(tx, r, u, roles, false, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// CreateRoom creates one room; see CreateRooms.
func (s *Bolt) CreateRoom(r *Room, members []string, owner string) error {
	return s.CreateRooms([]NewRoom{{Room: r, Members: members, Owner: owner}})
}

// Room returns the room with the id.
func (s *Bolt) Room(id string) (r *Room, err error) {
	err = s.view(func(tx *bolt.Tx) error { r, err = getRoom(tx, id); return err })
	return r, err
}

// RoomByName looks a room up by name, ignoring case.
func (s *Bolt) RoomByName(name string) (r *Room, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bRoomsByName).Get(lower(name))
		if id == nil {
			return ErrRoomNotFound
		}
		r, err = getRoom(tx, string(id))
		return err
	})
	return r, err
}

// VisibleRoomByName looks a room up by name, ignoring case, for reader: a room that reader may
// not read (a private room of others; any public room without view-c-room) is ErrRoomNotFound,
// exactly like a name that no room has. Room names are chosen by people and easy to guess, so
// any other answer would confirm that a private room of that name exists. (Lookups by the
// random room id keep API 0.1's 403 for a room that exists.)
func (s *Bolt) VisibleRoomByName(name string, reader *User) (r *Room, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bRoomsByName).Get(lower(name))
		if id == nil {
			return ErrRoomNotFound
		}
		r, err = readableRoom(tx, string(id), reader)
		switch KindOf(err) {
		case Forbidden, Denied:
			return ErrRoomNotFound
		}
		return err
	})
	return r, err
}

// RoomWithMembers is a room and the usernames of its members, sorted.
type RoomWithMembers struct {
	*Room
	Usernames []string
}

func roomUsernames(tx *bolt.Tx, rid string) ([]string, error) {
	names := []string{}
	p := prefix(rid)
	c := tx.Bucket(bMembers).Cursor()
	for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
		var m Member
		if err := unmarshal(v, &m); err != nil {
			return nil, err
		}
		names = append(names, m.Username)
	}
	sort.Strings(names)
	return names, nil
}

// RoomMembers returns the room with its members' usernames, sorted.
func (s *Bolt) RoomMembers(id string) (r RoomWithMembers, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		room, err := getRoom(tx, id)
		if err != nil {
			return err
		}
		names, err := roomUsernames(tx, id)
		r = RoomWithMembers{Room: room, Usernames: names}
		return err
	})
	return r, err
}

// Rooms returns the rooms for which keep returns true, most messages first (ties by name):
// offset skipped, at most count of them (count 0: all the rest), with their members' names,
// and how many rooms keep accepted in all. Only the page's members are read, so a short page
// of a store with many big rooms stays cheap.
func (s *Bolt) Rooms(keep func(*Room) bool, offset, count int) (rooms []RoomWithMembers, total int, err error) {
	return s.RoomsBy(keep, nil, offset, count)
}

// RoomsBy is Rooms sorted by cmp before the page is cut (nil: Rooms' order; cmp's ties
// keep that order).
func (s *Bolt) RoomsBy(keep func(*Room) bool, cmp func(a, b *Room) int, offset, count int) (rooms []RoomWithMembers, total int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		rooms, total, err = roomsIn(tx, keep, cmp, offset, count)
		return err
	})
	return rooms, total, err
}

// roomsIn is RoomsBy inside tx.
func roomsIn(tx *bolt.Tx, keep func(*Room) bool, cmp func(a, b *Room) int, offset, count int) ([]RoomWithMembers, int, error) {
	all, err := roomsWhere(tx, keep)
	if err != nil {
		return nil, 0, err
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Msgs != all[j].Msgs {
			return all[i].Msgs > all[j].Msgs
		}
		return all[i].Name < all[j].Name
	})
	if cmp != nil {
		slices.SortStableFunc(all, cmp)
	}
	rooms, err := pageWithMembers(tx, all, offset, count)
	return rooms, len(all), err
}

// UserRooms is Rooms for the rooms the user is a member of, sorted by name.
func (s *Bolt) UserRooms(uid string, keep func(*Room) bool, offset, count int) (rooms []RoomWithMembers, total int, err error) {
	return s.UserRoomsBy(uid, keep, nil, offset, count)
}

// UserRoomsBy is UserRooms sorted by cmp before the page is cut (nil: by name).
func (s *Bolt) UserRoomsBy(uid string, keep func(*Room) bool, cmp func(a, b *Room) int, offset, count int) (rooms []RoomWithMembers, total int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ids, err := userRoomIDs(tx, uid)
		if err != nil {
			return err
		}
		var all []*Room
		for _, id := range ids {
			r, err := getRoom(tx, id)
			if err != nil {
				return err
			}
			if keep(r) {
				all = append(all, r)
			}
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		if cmp != nil {
			slices.SortStableFunc(all, cmp)
		}
		total = len(all)
		rooms, err = pageWithMembers(tx, all, offset, count)
		return err
	})
	return rooms, total, err
}

// pageWithMembers cuts rooms to offset and count (0: all the rest) and reads the members of
// the rooms left.
func pageWithMembers(tx *bolt.Tx, rooms []*Room, offset, count int) ([]RoomWithMembers, error) {
	rooms = rooms[min(offset, len(rooms)):]
	if count > 0 && count < len(rooms) {
		rooms = rooms[:count]
	}
	out := make([]RoomWithMembers, len(rooms))
	for i, r := range rooms {
		names, err := roomUsernames(tx, r.ID)
		if err != nil {
			return nil, err
		}
		out[i] = RoomWithMembers{Room: r, Usernames: names}
	}
	return out, nil
}

func userRoomIDs(tx *bolt.Tx, uid string) ([]string, error) {
	var ids []string
	p := prefix(uid)
	c := tx.Bucket(bUserRooms).Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		ids = append(ids, string(k[len(p):]))
	}
	return ids, nil
}

func getMember(tx *bolt.Tx, rid, uid string) (*Member, error) {
	var m Member
	ok, err := getJSON(tx.Bucket(bMembers), join2(rid, []byte(uid)), &m)
	if err != nil || !ok {
		return nil, err
	}
	m.RoomID, m.UserID = rid, uid
	return &m, nil
}

// Membership returns the user's membership of the room, or nil if they are not a member.
func (s *Bolt) Membership(rid, uid string) (m *Member, err error) {
	err = s.view(func(tx *bolt.Tx) error { m, err = getMember(tx, rid, uid); return err })
	return m, err
}

// addMember adds u to r with the room roles, writing a "uj" message if announce. It reports
// false, and changes nothing, if u already is a member.
func addMember(tx *bolt.Tx, r *Room, u *User, roles []string, announce bool, now time.Time) (bool, error) {
	mk := join2(r.ID, []byte(u.ID))
	members := tx.Bucket(bMembers)
	if members.Get(mk) != nil {
		return false, nil
	}
	if err := putJSON(members, mk, &Member{Username: u.Username, Roles: roles, Joined: now}); err != nil {
		return false, err
	}
	// A new member has read everything before their arrival.
	if err := tx.Bucket(bSubMarks).Put(mk, be64(r.Counted)); err != nil {
		return false, err
	}
	if err := tx.Bucket(bUserRooms).Put(join2(u.ID, []byte(r.ID)), nil); err != nil {
		return false, err
	}
	emit(tx, Event{Kind: MemberAdded, Room: r, UserID: u.ID})
	if announce {
		return true, appendMessage(tx, r, &Message{Text: u.Username, Type: "uj", TS: now, User: UserRef{ID: u.ID, Username: u.Username}})
	}
	return true, nil
}

func removeMember(tx *bolt.Tx, rid, uid string) error {
	if err := tx.Bucket(bMembers).Delete(join2(rid, []byte(uid))); err != nil {
		return err
	}
	if err := tx.Bucket(bReads).Delete(join2(rid, []byte(uid))); err != nil {
		return err
	}
	if err := tx.Bucket(bSubMarks).Delete(join2(rid, []byte(uid))); err != nil {
		return err
	}
	return tx.Bucket(bUserRooms).Delete(join2(uid, []byte(rid)))
}

// ViewPublicRooms is the permission to read, post to and join public rooms (Rocket.Chat's
// view-c-room; every built-in global role holds it by default).
const ViewPublicRooms = "view-c-room"

// readableRoom returns room rid if reader may read (and post to) it, else ErrRoomNotFound,
// ErrCannotAccess or ErrNoPermission: a private or direct-message room is for its members
// only, a public room for every user who holds view-c-room. Every read and post of both APIs goes through it.
// reader is the caller as authenticated for this request: its roles are not read again.
func readableRoom(tx *bolt.Tx, rid string, reader *User) (*Room, error) {
	r, err := getRoom(tx, rid)
	if err != nil {
		return nil, err
	}
	if err := MayReadRoom(boltFacts{tx}, r, reader); err != nil {
		return nil, err
	}
	return r, nil
}

// MayViewPublicRooms returns nil if u may list and read public rooms (view-c-room), else
// ErrNoPermission.
func (s *Bolt) MayViewPublicRooms(u *User) error {
	return s.view(func(tx *bolt.Tx) error { return mayViewPublic(tx, u, "") })
}

// mayViewPublic is MayViewPublicIn inside a bbolt transaction.
func mayViewPublic(tx *bolt.Tx, u *User, rid string) error {
	return MayViewPublicIn(boltFacts{tx}, u, rid)
}

// Join adds the user to a public room with a "uj" message. Joining a room one is in already
// succeeds and changes nothing. A private room refuses with ErrCannotAccess.
func (s *Bolt) Join(rid, uid string) (joined bool, err error) { return s.JoinWithCode(rid, uid, "") }

// JoinWithCode is Join for a room that may have a join code: without the right code, only a
// holder of join-without-join-code may join it (ErrJoinCode).
func (s *Bolt) JoinWithCode(rid, uid, code string) (joined bool, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		u, err := getUser(tx, uid)
		if err != nil {
			return err
		}
		member := tx.Bucket(bMembers).Get(join2(rid, []byte(uid))) != nil
		if err := MayJoin(boltFacts{tx}, r, u, member, code); err != nil || member {
			return err
		}
		joined, err = addMember(tx, r, u, nil, true, now)
		return err
	})
	return joined, err
}

// JoinWithoutJoinCode is the permission to join a room with a join code without knowing it.
const JoinWithoutJoinCode = "join-without-join-code"

// ErrJoinCode refuses a join without the room's join code.
var ErrJoinCode = &Error{Kind: Invalid, Code: "error-code-invalid", Message: "Invalid Room Password"}

// AddMember adds uid to the room (any type) with a "uj" message, as a seed file does. Adding
// a member twice changes nothing.
func (s *Bolt) AddMember(rid, uid string) error { return s.AddMemberBy(rid, uid, nil) }

// AddMemberBy adds uid to the room on behalf of by, someone allowed to invite: the message is
// Rocket.Chat's "au" (user added) written by them, or "uj" if by is nil or uid themself.
// Adding a member twice changes nothing.
func (s *Bolt) AddMemberBy(rid, uid string, by *UserRef) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		u, err := getUser(tx, uid)
		if err != nil {
			return err
		}
		if by == nil || by.ID == uid {
			_, err = addMember(tx, r, u, nil, true, now)
			return err
		}
		added, err := addMember(tx, r, u, nil, false, now)
		if err != nil || !added {
			return err
		}
		return appendMessage(tx, r, &Message{Text: u.Username, Type: "au", TS: now, User: *by})
	})
}

// Leave removes the user from the room with a "ul" message. Leaving a room one is not in
// succeeds and changes nothing.
func (s *Bolt) Leave(rid, uid string) (left bool, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		left, err = takeOut(tx, rid, uid, "ul", nil, now)
		return err
	})
	return left, err
}

// takeOut removes uid from room rid with a message of type typ ("ul" for leaving, "ru" for a
// kick) naming them, written by by (nil: the user themself). It reports false, and changes
// nothing, if uid is not a member.
func takeOut(tx *bolt.Tx, rid, uid, typ string, by *UserRef, now time.Time) (bool, error) {
	r, err := getRoom(tx, rid)
	if err != nil {
		return false, err
	}
	m, err := getMember(tx, rid, uid)
	if err != nil || m == nil {
		return false, err
	}
	if err := removeMember(tx, rid, uid); err != nil {
		return false, err
	}
	author := UserRef{ID: uid, Username: m.Username}
	if by != nil {
		author = *by
	}
	if err := appendMessage(tx, r, &Message{Text: m.Username, Type: typ, TS: now, User: author}); err != nil {
		return false, err
	}
	// After the message, so that the one who leaves still gets the message of their leaving.
	emit(tx, Event{Kind: MemberRemoved, Room: r, UserID: uid})
	return true, nil
}

// UpdateRoom applies change to the stored room and saves it; a new name must be free.
func (s *Bolt) UpdateRoom(id string, change func(r *Room) error) (updated *Room, err error) {
	return s.EditRoom(id, nil, func(r *Room) ([]*Message, error) { return nil, change(r) })
}

// EditRoom is UpdateRoom whose change also returns the system messages that announce it
// (Rocket.Chat's "r", "room_changed_topic", …), written by by in the same transaction.
func (s *Bolt) EditRoom(id string, by *User, change func(r *Room) ([]*Message, error)) (updated *Room, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, id)
		if err != nil {
			return err
		}
		oldName := r.Name
		before := *r
		notes, err := change(r)
		if err != nil {
			return err
		}
		r.ID = id
		r.UpdatedAt = now
		if err := validRoom(r); err != nil {
			return err
		}
		if !equalFold(oldName, r.Name) {
			byName := tx.Bucket(bRoomsByName)
			if byName.Get(lower(r.Name)) != nil {
				return ErrRoomNameTaken
			}
			if err := byName.Delete(lower(oldName)); err != nil {
				return err
			}
			if err := byName.Put(lower(r.Name), []byte(id)); err != nil {
				return err
			}
		} else if oldName != r.Name {
			if err := tx.Bucket(bRoomsByName).Put(lower(r.Name), []byte(id)); err != nil {
				return err
			}
		}
		for _, m := range notes {
			m.TS, m.User = now, by.Ref()
			if err := putMessage(tx, r, m); err != nil {
				return err
			}
			emit(tx, Event{Kind: MessageAdded, Room: r, Message: m})
		}
		updated = r
		emit(tx, Event{Kind: RoomChanged, Room: r, Before: &before})
		return putRoom(tx, r)
	})
	return updated, err
}
