package pgstore

// Rooms and memberships (store/rooms.go, moderation.go, roomindex.go, v1.go of the bbolt
// store). The record helpers here (getRoom, lockRoom, putRoom, getMember, putMember,
// addMember, removeMember) are shared with the other domains: a room's columns and its
// members' read marks stay in step with the docs only if every write goes through them.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rocketlite/store"
)

// --- room records ---

// storable reports whether every key can be a text parameter (textOK): a lookup by a key
// no record can have (an id taken from a URL) finds nothing, as on bbolt, instead of failing.
func storable(keys ...string) bool {
	for _, k := range keys {
		if !textOK(k) {
			return false
		}
	}
	return true
}

// storableOnly drops the keys that cannot be stored (see storable).
func storableOnly(keys []string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !storable(k) })
}

func decodeRoom(doc []byte) (*store.Room, error) {
	r := new(store.Room)
	if err := json.Unmarshal(doc, r); err != nil {
		return nil, err
	}
	return r, nil
}

// getRoom returns room id, or store.ErrRoomNotFound.
func getRoom(ctx context.Context, db q, id string) (*store.Room, error) {
	if !storable(id) {
		return nil, store.ErrRoomNotFound
	}
	r := new(store.Room)
	ok, err := getJSON(ctx, db, r, `SELECT doc FROM rooms WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrRoomNotFound
	}
	return r, nil
}

// lockRoom is getRoom for a read-modify-write of the room (a message appended, a setting
// changed): the row stays locked until the transaction ends, so the room's writes (and its
// message sequence) follow one another.
func lockRoom(t *Tx, id string) (*store.Room, error) {
	if !storable(id) {
		return nil, store.ErrRoomNotFound
	}
	r := new(store.Room)
	ok, err := getJSON(t.Ctx, t, r, `SELECT doc FROM rooms WHERE id = $1 FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrRoomNotFound
	}
	return r, nil
}

// nameKey is the value of rooms.name_key: names are unique, ignoring case, among the rooms
// that have one (a direct-message room has none).
func nameKey(r *store.Room) *string {
	if r.Type == store.Direct || r.Name == "" {
		return nil
	}
	k := store.RoomNameKey(r.Name)
	return &k
}

func creatorID(r *store.Room) string {
	if r.Creator == nil {
		return ""
	}
	return r.Creator.ID
}

// putRoom saves room r, which exists, with the columns that follow from it. (creator_id is
// written once, at creation, as the bbolt store's creator index is.)
func putRoom(t *Tx, r *store.Room) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = t.Exec(t.Ctx, `UPDATE rooms SET name = $2, name_key = $3, type = $4, msgs = $5, seq = $6, doc = $7 WHERE id = $1`,
		r.ID, r.Name, nameKey(r), r.Type, r.Msgs, int64(r.Seq), doc)
	return roomWriteErr(err, r)
}

// insertRoom queues the creation of room r on b.
func insertRoom(b *pgx.Batch, r *store.Room) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO rooms (id, name, name_key, type, creator_id, msgs, seq, created_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.Name, nameKey(r), r.Type, creatorID(r), r.Msgs, int64(r.Seq), r.CreatedAt, doc)
	return nil
}

// roomWriteErr turns a unique violation of a concurrent writer into the error the checks
// before the write give.
func roomWriteErr(err error, r *store.Room) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		switch pe.ConstraintName {
		case "rooms_name_key":
			return store.ErrRoomNameTaken
		case "rooms_pkey":
			return store.ErrRoomIDTaken(r.ID)
		}
	}
	return err
}

// runBatch sends b and reads every result, stopping at the first error.
func runBatch(t *Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	br := t.SendBatch(t.Ctx, b)
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// usersByID reads the users with the ids given (those that exist), for a write that makes
// them members: their rows stay locked against a rename or deletion (see shareUser).
func usersByID(ctx context.Context, db q, ids []string) (map[string]*store.User, error) {
	out := map[string]*store.User{}
	if ids = storableOnly(ids); len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT doc FROM users WHERE id = ANY($1) FOR KEY SHARE`, ids)
	if err != nil {
		return nil, err
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		u := new(store.User)
		if err := json.Unmarshal(d, u); err != nil {
			return nil, err
		}
		out[u.ID] = u
	}
	return out, nil
}

// --- member records ---

func decodeMember(rid, uid string, doc []byte) (*store.Member, error) {
	m := new(store.Member)
	if err := json.Unmarshal(doc, m); err != nil {
		return nil, err
	}
	m.RoomID, m.UserID = rid, uid
	return m, nil
}

// getMember returns uid's membership of rid, or nil if they are not a member.
func getMember(ctx context.Context, db q, rid, uid string) (*store.Member, error) {
	return memberQuery(ctx, db, `SELECT doc FROM members WHERE room_id = $1 AND user_id = $2`, rid, uid)
}

// lockMember is getMember for a read-modify-write of the membership (a read mark, a
// mention counted, a room role).
func lockMember(t *Tx, rid, uid string) (*store.Member, error) {
	return memberQuery(t.Ctx, t, `SELECT doc FROM members WHERE room_id = $1 AND user_id = $2 FOR UPDATE`, rid, uid)
}

func memberQuery(ctx context.Context, db q, sql, rid, uid string) (*store.Member, error) {
	if !storable(rid, uid) {
		return nil, nil
	}
	var doc []byte
	err := db.QueryRow(ctx, sql, rid, uid).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeMember(rid, uid, doc)
}

// putMember saves membership m (m.RoomID, m.UserID), which exists.
func putMember(t *Tx, m *store.Member) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = t.Exec(t.Ctx, `UPDATE members SET doc = $3 WHERE room_id = $1 AND user_id = $2`, m.RoomID, m.UserID, doc)
	return err
}

// addMember adds u to r with the room roles, appending a "uj" message if announce (r is then
// saved). It reports false, and changes nothing, if u already is a member. A new member has
// read everything before their arrival: their read mark is the room's count.
func addMember(t *Tx, r *store.Room, u *store.User, roles []string, announce bool, now time.Time) (bool, error) {
	doc, err := json.Marshal(&store.Member{Username: u.Username, Roles: roles, Joined: now})
	if err != nil {
		return false, err
	}
	tag, err := t.Exec(t.Ctx, `INSERT INTO members (room_id, user_id, doc, sub_mark) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, r.ID, u.ID, doc, int64(r.Counted))
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	t.Emit(store.Event{Kind: store.MemberAdded, Room: r, UserID: u.ID})
	if announce {
		return true, appendMessage(t, r, &store.Message{Text: u.Username, Type: "uj", TS: now, User: store.UserRef{ID: u.ID, Username: u.Username}})
	}
	return true, nil
}

// removeMember deletes uid's membership of rid with their read marks.
func removeMember(t *Tx, rid, uid string) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM members WHERE room_id = $1 AND user_id = $2`, rid, uid)
	b.Queue(`DELETE FROM reads WHERE room_id = $1 AND user_id = $2`, rid, uid)
	return runBatch(t, b)
}

// roomUsernames returns the usernames of room rid's members, sorted.
func roomUsernames(ctx context.Context, db q, rid string) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT doc->>'u' FROM members WHERE room_id = $1 ORDER BY doc->>'u' COLLATE "C"`, rid)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if names == nil {
		names = []string{}
	}
	return names, err
}

// withMembers pairs each room with its members' usernames (sorted), in one query.
func withMembers(ctx context.Context, db q, rooms []*store.Room) ([]store.RoomWithMembers, error) {
	out := make([]store.RoomWithMembers, len(rooms))
	if len(rooms) == 0 {
		return out, nil
	}
	ids := make([]string, len(rooms))
	for i, r := range rooms {
		ids[i] = r.ID
	}
	rows, err := db.Query(ctx, `SELECT room_id, doc->>'u' FROM members WHERE room_id = ANY($1) ORDER BY doc->>'u' COLLATE "C"`, ids)
	if err != nil {
		return nil, err
	}
	names := map[string][]string{}
	var rid, name string
	if _, err := pgx.ForEachRow(rows, []any{&rid, &name}, func() error {
		names[rid] = append(names[rid], name)
		return nil
	}); err != nil {
		return nil, err
	}
	for i, r := range rooms {
		n := names[r.ID]
		if n == nil {
			n = []string{}
		}
		out[i] = store.RoomWithMembers{Room: r, Usernames: n}
	}
	return out, nil
}

// --- system messages ---
// appendMessage, insertMessages, stampMessage and storeMessages are messages.go's.

// --- creating rooms ---

// CreateRooms creates every room with its members in one transaction, or none (see
// store.Bolt.CreateRooms). What the checks read (names, ids, users, creators' counts) is read
// in a few queries for the whole batch, and the rows are written in one round trip.
func (s *Store) CreateRooms(rooms []store.NewRoom) error {
	return s.write(func(t *Tx) error {
		now := t.Now()
		var names, ids, uids, creators []string
		for _, nr := range rooms {
			r := nr.Room
			names = append(names, store.RoomNameKey(r.Name))
			if r.ID != "" {
				ids = append(ids, r.ID)
			}
			if r.Creator != nil {
				creators = append(creators, r.Creator.ID)
			}
			if nr.Owner != "" {
				uids = append(uids, nr.Owner)
			}
			uids = append(uids, nr.Members...)
		}
		takenNames, err := stringSet(t, `SELECT name_key FROM rooms WHERE name_key = ANY($1)`, names)
		if err != nil {
			return err
		}
		takenIDs, err := stringSet(t, `SELECT id FROM rooms WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		users, err := usersByID(t.Ctx, t, append(uids, creators...))
		if err != nil {
			return err
		}
		created := map[string]int{}
		if s.maxRooms > 0 && len(creators) > 0 {
			rows, err := t.Query(t.Ctx, `SELECT creator_id, count(*) FROM rooms WHERE creator_id = ANY($1) GROUP BY 1`, creators)
			if err != nil {
				return err
			}
			var id string
			var n int
			if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { created[id] = n; return nil }); err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		members := map[[2]string]bool{}
		for _, nr := range rooms {
			r := nr.Room
			if err := store.ValidRoom(r); err != nil {
				return err
			}
			key := store.RoomNameKey(r.Name)
			if r.Type != store.Direct && key != "" && takenNames[key] {
				return store.ErrDuplicateRoomName(r.Name)
			}
			if r.ID == "" {
				r.ID = store.NewID()
			} else if !store.ValidKeyPart(r.ID) || !storable(r.ID) || takenIDs[r.ID] {
				// (An id of invalid UTF-8, which a bbolt key may be, cannot be stored here.)
				return store.ErrRoomIDTaken(r.ID)
			}
			if r.Type == "" {
				r.Type = store.Public
			}
			if r.Creator != nil && (r.Type == store.Public || r.Type == store.Private) && s.maxRooms > 0 {
				if u := users[r.Creator.ID]; u != nil && !u.HasRole("admin") && created[r.Creator.ID] >= s.maxRooms {
					return store.ErrTooManyRooms(s.maxRooms)
				}
			}
			r.CreatedAt, r.UpdatedAt = now, now
			r.Msgs, r.Seq = 0, 0
			if err := insertRoom(b, r); err != nil {
				return err
			}
			takenIDs[r.ID] = true
			if r.Creator != nil && r.Creator.ID != "" {
				created[r.Creator.ID]++
			}
			if r.Type != store.Direct {
				takenNames[key] = true
			}
			list := nr.Members
			if nr.Owner != "" {
				list = append([]string{nr.Owner}, list...)
			}
			for _, uid := range list {
				u := users[uid]
				if u == nil {
					return store.Errorf(store.Invalid, "invalid-user", "Member %q does not exist", uid)
				}
				if members[[2]string{r.ID, uid}] {
					continue
				}
				members[[2]string{r.ID, uid}] = true
				var roles []string
				if uid == nr.Owner {
					roles = []string{store.RoleOwner}
				}
				doc, err := json.Marshal(&store.Member{Username: u.Username, Roles: roles, Joined: now})
				if err != nil {
					return err
				}
				b.Queue(`INSERT INTO members (room_id, user_id, doc, sub_mark) VALUES ($1, $2, $3, $4)`, r.ID, uid, doc, int64(r.Counted))
				t.Emit(store.Event{Kind: store.MemberAdded, Room: r, UserID: uid})
			}
		}
		if err := runBatch(t, b); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				switch pe.ConstraintName {
				case "rooms_name_key":
					return store.ErrRoomNameTaken
				case "rooms_pkey":
					return store.Errorf(store.Invalid, "invalid-id", "Room id is invalid or taken")
				}
			}
			return err
		}
		return nil
	})
}

// stringSet runs a query of one text column with one array argument.
func stringSet(t *Tx, sql string, arg []string) (map[string]bool, error) {
	out := map[string]bool{}
	if arg = storableOnly(arg); len(arg) == 0 {
		return out, nil
	}
	rows, err := t.Query(t.Ctx, sql, arg)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, v := range list {
		out[v] = true
	}
	return out, err
}

// CreateRoom creates one room; see CreateRooms.
func (s *Store) CreateRoom(r *store.Room, members []string, owner string) error {
	return s.CreateRooms([]store.NewRoom{{Room: r, Members: members, Owner: owner}})
}

// checkRoomCap refuses a new room by creator uid when they have created max rooms already
// (max 0: no cap); admins, and creators that are no user, are exempt (store.Bolt's rule).
func checkRoomCap(t *Tx, uid string, max int) error {
	if max <= 0 {
		return nil
	}
	u, err := getUser(t.Ctx, t, uid)
	if err != nil || u.HasRole("admin") {
		if store.KindOf(err) == store.NotFound {
			return nil
		}
		return err
	}
	var n int
	if err := t.QueryRow(t.Ctx, `SELECT count(*) FROM (SELECT 1 FROM rooms WHERE creator_id = $1 LIMIT $2) c`, uid, max).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return store.ErrTooManyRooms(max)
	}
	return nil
}

// --- reading rooms ---

// Room returns the room with the id.
func (s *Store) Room(id string) (r *store.Room, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error { r, err = getRoom(ctx, tx, id); return err })
	return r, err
}

// roomByName reads the room named name (ignoring case), or ErrRoomNotFound.
func roomByName(ctx context.Context, db q, name string) (*store.Room, error) {
	if !storable(name) {
		return nil, store.ErrRoomNotFound
	}
	r := new(store.Room)
	ok, err := getJSON(ctx, db, r, `SELECT doc FROM rooms WHERE name_key = $1`, store.RoomNameKey(name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrRoomNotFound
	}
	return r, nil
}

// RoomByName looks a room up by name, ignoring case.
func (s *Store) RoomByName(name string) (r *store.Room, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error { r, err = roomByName(ctx, tx, name); return err })
	return r, err
}

// readableRoom returns room rid if reader may read it (store.MayReadRoom).
func readableRoom(ctx context.Context, tx pgx.Tx, rid string, reader *store.User) (*store.Room, error) {
	r, err := getRoom(ctx, tx, rid)
	if err != nil {
		return nil, err
	}
	if err := store.MayReadRoom(facts{ctx, tx}, r, reader); err != nil {
		return nil, err
	}
	return r, nil
}

// VisibleRoomByName is RoomByName for reader: a room they may not read is ErrRoomNotFound,
// as a name no room has (store.Bolt.VisibleRoomByName).
func (s *Store) VisibleRoomByName(name string, reader *store.User) (r *store.Room, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		r, err = roomByName(ctx, tx, name)
		if err != nil {
			return err
		}
		err = store.MayReadRoom(facts{ctx, tx}, r, reader)
		switch store.KindOf(err) {
		case store.Forbidden, store.Denied:
			return store.ErrRoomNotFound
		}
		return err
	})
	if err != nil {
		r = nil
	}
	return r, err
}

// ReadableRoom returns room rid with its members' usernames if reader may read it.
func (s *Store) ReadableRoom(rid string, reader *store.User) (r store.RoomWithMembers, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		room, err := readableRoom(ctx, tx, rid, reader)
		if err != nil {
			return err
		}
		names, err := roomUsernames(ctx, tx, rid)
		r = store.RoomWithMembers{Room: room, Usernames: names}
		return err
	})
	return r, err
}

// MayRead returns nil if reader may read room rid now.
func (s *Store) MayRead(rid string, reader *store.User) error {
	// Asked before every cached page and every realtime emit: answered from memory while
	// nothing that could change the answer happened (cache.go).
	now := time.Now()
	if s.tx == nil && s.cache.isReadable(rid, reader.ID, now) {
		return nil
	}
	gen := s.cache.generation()
	// One statement (roomAccess reads the membership and permissions with the room), not a
	// transaction of several: this is every request's miss.
	err := s.one(func(ctx context.Context, db q) error { _, err := readable(ctx, db, rid, reader, false); return err })
	if err == nil && s.tx == nil {
		s.cache.putReadable(rid, reader.ID, now, gen)
	}
	return err
}

// MayViewPublicRooms returns nil if u may list and read public rooms (view-c-room).
func (s *Store) MayViewPublicRooms(u *store.User) error {
	return s.read(func(ctx context.Context, tx pgx.Tx) error { return store.MayViewPublicIn(facts{ctx, tx}, u, "") })
}

// RoomMembers returns the room with its members' usernames, sorted.
func (s *Store) RoomMembers(id string) (r store.RoomWithMembers, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		room, err := getRoom(ctx, tx, id)
		if err != nil {
			return err
		}
		names, err := roomUsernames(ctx, tx, id)
		r = store.RoomWithMembers{Room: room, Usernames: names}
		return err
	})
	return r, err
}

// RoomMemberPage returns a page of room rid's members by username and how many there are.
func (s *Store) RoomMemberPage(rid string, offset, count int) (out []store.MemberUser, total int, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		if _, err := getRoom(ctx, tx, rid); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM members WHERE room_id = $1`, rid).Scan(&total); err != nil {
			return err
		}
		limit := any(nil) // LIMIT NULL: all the rest
		if count > 0 {
			limit = count
		}
		rows, err := tx.Query(ctx, `SELECT m.user_id, m.doc->>'u', coalesce(u.doc->>'name', ''), coalesce(u.active, false)
			FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.room_id = $1
			ORDER BY m.doc->>'u' COLLATE "C", m.user_id COLLATE "C" OFFSET $2 LIMIT $3`, rid, max(offset, 0), limit)
		if err != nil {
			return err
		}
		var mu store.MemberUser
		_, err = pgx.ForEachRow(rows, []any{&mu.ID, &mu.Username, &mu.Name, &mu.Active}, func() error {
			out = append(out, mu)
			return nil
		})
		return err
	})
	return out, total, err
}

// roomRoleHolders returns the members of rid holding room role role ("": any), by username.
func roomRoleHolders(ctx context.Context, db q, rid, role string) ([]*store.Member, error) {
	rows, err := db.Query(ctx, `SELECT user_id, doc FROM members WHERE room_id = $1 AND doc->'roles' IS NOT NULL
		ORDER BY doc->>'u' COLLATE "C", user_id COLLATE "C"`, rid)
	if err != nil {
		return nil, err
	}
	var out []*store.Member
	var uid string
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&uid, &doc}, func() error {
		m, err := decodeMember(rid, uid, doc)
		if err != nil {
			return err
		}
		if (role == "" && len(m.Roles) > 0) || (role != "" && m.HasRole(role)) {
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// RoomRoles returns the members of room rid that hold the room role (role "": any room
// role), by username.
func (s *Store) RoomRoles(rid, role string) (ms []*store.Member, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := getRoom(ctx, tx, rid); err != nil {
			return err
		}
		ms, err = roomRoleHolders(ctx, tx, rid, role)
		return err
	})
	return ms, err
}

// roomDocs reads the rooms a query returns (one doc column) and keeps those keep accepts.
func roomDocs(ctx context.Context, db q, keep func(*store.Room) bool, sql string, args ...any) ([]*store.Room, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var out []*store.Room
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&doc}, func() error {
		r, err := decodeRoom(doc)
		if err != nil {
			return err
		}
		if keep == nil || keep(r) {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// page cuts rooms to offset and count (0: all the rest).
func page(rooms []*store.Room, offset, count int) []*store.Room {
	rooms = rooms[min(max(offset, 0), len(rooms)):]
	if count > 0 && count < len(rooms) {
		rooms = rooms[:count]
	}
	return rooms
}

// Rooms returns the rooms keep accepts, most messages first (ties by name); see
// store.Bolt.Rooms. keep is Go code, so every room is read.
func (s *Store) Rooms(keep func(*store.Room) bool, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return s.RoomsBy(keep, nil, offset, count)
}

// RoomsBy is Rooms sorted by cmp before the page is cut (nil: Rooms' order; cmp's ties keep
// that order).
func (s *Store) RoomsBy(keep func(*store.Room) bool, by func(a, b *store.Room) int, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		all, err := roomDocs(ctx, tx, keep, `SELECT doc FROM rooms ORDER BY id COLLATE "C"`)
		if err != nil {
			return err
		}
		sort.SliceStable(all, func(i, j int) bool {
			if all[i].Msgs != all[j].Msgs {
				return all[i].Msgs > all[j].Msgs
			}
			return all[i].Name < all[j].Name
		})
		if by != nil {
			slices.SortStableFunc(all, by)
		}
		total = len(all)
		rooms, err = withMembers(ctx, tx, page(all, offset, count))
		return err
	})
	return rooms, total, err
}

// PublicRooms returns a page of the public rooms, most messages first (ties by name), and
// how many there are; the page is read through the rooms_public_rank index.
func (s *Store) PublicRooms(offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM rooms WHERE type = 'c'`).Scan(&total); err != nil {
			return err
		}
		limit := any(nil)
		if count > 0 {
			limit = count
		}
		list, err := roomDocs(ctx, tx, nil, `SELECT doc FROM rooms WHERE type = 'c'
			ORDER BY msgs DESC, name COLLATE "C", id COLLATE "C" OFFSET $1 LIMIT $2`, max(offset, 0), limit)
		if err != nil {
			return err
		}
		rooms, err = withMembers(ctx, tx, list)
		return err
	})
	return rooms, total, err
}

// UserRooms is Rooms for the rooms the user is a member of, sorted by name.
func (s *Store) UserRooms(uid string, keep func(*store.Room) bool, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return s.UserRoomsBy(uid, keep, nil, offset, count)
}

// UserRoomsBy is UserRooms sorted by cmp before the page is cut (nil: by name).
func (s *Store) UserRoomsBy(uid string, keep func(*store.Room) bool, by func(a, b *store.Room) int, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	if !storable(uid) {
		return nil, 0, nil
	}
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		all, err := roomDocs(ctx, tx, keep, `SELECT r.doc FROM members m JOIN rooms r ON r.id = m.room_id
			WHERE m.user_id = $1 ORDER BY m.room_id COLLATE "C"`, uid)
		if err != nil {
			return err
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		if by != nil {
			slices.SortStableFunc(all, by)
		}
		total = len(all)
		rooms, err = withMembers(ctx, tx, page(all, offset, count))
		return err
	})
	return rooms, total, err
}

// UserRoomIDs returns the ids of the rooms uid is a member of.
func (s *Store) UserRoomIDs(uid string) (ids []string, err error) {
	if !storable(uid) {
		return nil, nil
	}
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id COLLATE "C"`, uid)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if len(ids) == 0 {
			ids = nil
		}
		return err
	})
	return ids, err
}

// Membership returns the user's membership of the room, or nil if they are not a member.
func (s *Store) Membership(rid, uid string) (m *store.Member, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error { m, err = getMember(ctx, tx, rid, uid); return err })
	return m, err
}

// --- joining and leaving ---

// Join adds the user to a public room with a "uj" message (store.Bolt.Join).
func (s *Store) Join(rid, uid string) (joined bool, err error) { return s.JoinWithCode(rid, uid, "") }

// JoinWithCode is Join for a room that may have a join code (store.MayJoin decides).
func (s *Store) JoinWithCode(rid, uid, code string) (joined bool, err error) {
	err = s.write(func(t *Tx) error {
		joined = false
		r, err := lockRoom(t, rid)
		if err != nil {
			return err
		}
		u, err := shareUser(t.Ctx, t, uid)
		if err != nil {
			return err
		}
		member, err := t.Facts().IsMember(rid, uid)
		if err != nil {
			return err
		}
		if err := store.MayJoin(t.Facts(), r, u, member, code); err != nil || member {
			return err
		}
		joined, err = addMember(t, r, u, nil, true, t.Now())
		return err
	})
	return joined, err
}

// AddMember adds uid to the room (any type) with a "uj" message; twice changes nothing.
func (s *Store) AddMember(rid, uid string) error { return s.AddMemberBy(rid, uid, nil) }

// AddMemberBy adds uid to the room on behalf of by: an "au" message written by them, or "uj"
// if by is nil or uid themself (store.Bolt.AddMemberBy).
func (s *Store) AddMemberBy(rid, uid string, by *store.UserRef) error {
	return s.write(func(t *Tx) error {
		now := t.Now()
		r, err := lockRoom(t, rid)
		if err != nil {
			return err
		}
		u, err := shareUser(t.Ctx, t, uid)
		if err != nil {
			return err
		}
		if by == nil || by.ID == uid {
			_, err = addMember(t, r, u, nil, true, now)
			return err
		}
		added, err := addMember(t, r, u, nil, false, now)
		if err != nil || !added {
			return err
		}
		return appendMessage(t, r, &store.Message{Text: u.Username, Type: "au", TS: now, User: *by})
	})
}

// AddAllUsers makes every active user a member of room rid, each with a "uj" message, and
// returns how many joined: the memberships in one statement, the messages in another.
func (s *Store) AddAllUsers(rid string) (added int, err error) {
	err = s.write(func(t *Tx) error {
		added = 0
		now := t.Now()
		r, err := lockRoom(t, rid)
		if err != nil {
			return err
		}
		rows, err := t.Query(t.Ctx, `SELECT id, username FROM users WHERE active ORDER BY id COLLATE "C" FOR KEY SHARE`)
		if err != nil {
			return err
		}
		var ids, names, docs []string
		var id, name string
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			doc, err := json.Marshal(&store.Member{Username: name, Joined: now})
			ids, names, docs = append(ids, id), append(names, name), append(docs, string(doc))
			return err
		}); err != nil {
			return err
		}
		rows, err = t.Query(t.Ctx, `INSERT INTO members (room_id, user_id, doc, sub_mark)
			SELECT $1, u, d::json, $4 FROM unnest($2::text[], $3::text[]) AS n(u, d)
			ON CONFLICT DO NOTHING RETURNING user_id`, rid, ids, docs, int64(r.Counted))
		if err != nil {
			return err
		}
		joined, err := stringsOf(rows)
		if err != nil {
			return err
		}
		var msgs []*store.Message
		for i, uid := range ids {
			if !joined[uid] {
				continue
			}
			added++
			// Each join is announced as bbolt's store does: the member, then their message,
			// each event with the room as it was then.
			t.Emit(store.Event{Kind: store.MemberAdded, Room: r, UserID: uid})
			m := &store.Message{Text: names[i], Type: "uj", TS: now, User: store.UserRef{ID: uid, Username: names[i]}}
			msgs = append(msgs, m)
			stampMessage(r, m)
			t.Emit(store.Event{Kind: store.MessageAdded, Room: r, Message: m})
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := storeMessages(t, r.ID, msgs); err != nil {
			return err
		}
		return putRoom(t, r)
	})
	return added, err
}

func stringsOf(rows pgx.Rows) (map[string]bool, error) {
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	out := make(map[string]bool, len(list))
	for _, v := range list {
		out[v] = true
	}
	return out, err
}

// Leave removes the user from the room with a "ul" message; leaving a room one is not in
// changes nothing.
func (s *Store) Leave(rid, uid string) (left bool, err error) {
	err = s.write(func(t *Tx) error {
		left, err = takeOut(t, rid, uid, "ul", nil)
		return err
	})
	return left, err
}

// RemoveMember takes uid out of the room on behalf of by (a kick), with an "ru" message.
func (s *Store) RemoveMember(rid, uid string, by store.UserRef) error {
	return s.write(func(t *Tx) error {
		removed, err := takeOut(t, rid, uid, "ru", &by)
		if err == nil && !removed {
			err = store.ErrNotInRoom
		}
		return err
	})
}

// takeOut removes uid from room rid with a message of type typ naming them, written by by
// (nil: the user themself); false, and no change, if uid is not a member.
func takeOut(t *Tx, rid, uid, typ string, by *store.UserRef) (bool, error) {
	now := t.Now()
	r, err := lockRoom(t, rid)
	if err != nil {
		return false, err
	}
	m, err := getMember(t.Ctx, t, rid, uid)
	if err != nil || m == nil {
		return false, err
	}
	if err := removeMember(t, rid, uid); err != nil {
		return false, err
	}
	author := store.UserRef{ID: uid, Username: m.Username}
	if by != nil {
		author = *by
	}
	if err := appendMessage(t, r, &store.Message{Text: m.Username, Type: typ, TS: now, User: author}); err != nil {
		return false, err
	}
	// After the message, so that the one who leaves still gets the message of their leaving.
	t.Emit(store.Event{Kind: store.MemberRemoved, Room: r, UserID: uid})
	return true, nil
}

// --- changing rooms ---

// UpdateRoom applies change to the stored room and saves it; a new name must be free.
func (s *Store) UpdateRoom(id string, change func(r *store.Room) error) (updated *store.Room, err error) {
	return s.EditRoom(id, nil, func(r *store.Room) ([]*store.Message, error) { return nil, change(r) })
}

// EditRoom is UpdateRoom whose change also returns the system messages that announce it,
// written by by in the same transaction (store.Bolt.EditRoom).
func (s *Store) EditRoom(id string, by *store.User, change func(r *store.Room) ([]*store.Message, error)) (updated *store.Room, err error) {
	err = s.write(func(t *Tx) error {
		updated = nil
		now := t.Now()
		r, err := lockRoom(t, id)
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
		if err := store.ValidRoom(r); err != nil {
			return err
		}
		if store.RoomNameKey(oldName) != store.RoomNameKey(r.Name) && r.Name != "" {
			var taken bool
			if err := t.QueryRow(t.Ctx, `SELECT EXISTS (SELECT 1 FROM rooms WHERE name_key = $1)`, store.RoomNameKey(r.Name)).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return store.ErrRoomNameTaken
			}
		}
		for _, m := range notes {
			m.TS, m.User = now, by.Ref()
		}
		if err := insertMessages(t, r, notes, true); err != nil {
			return err
		}
		t.Emit(store.Event{Kind: store.RoomChanged, Room: r, Before: &before})
		if err := putRoom(t, r); err != nil {
			return err
		}
		updated = r
		return nil
	})
	return updated, err
}

// SetArchived archives or unarchives room rid on behalf of by (store.Bolt.SetArchived).
func (s *Store) SetArchived(rid string, archived bool, by *store.User) error {
	_, err := s.EditRoom(rid, by, func(r *store.Room) ([]*store.Message, error) {
		switch {
		case archived && r.Archived:
			return nil, store.Errorf(store.Invalid, "error-room-archived", "The room, %s, is already archived", r.Name)
		case !archived && !r.Archived:
			return nil, store.Errorf(store.Invalid, "error-room-not-archived", "The room, %s, is not archived", r.Name)
		}
		r.Archived = archived
		typ := "room-archived"
		if !archived {
			typ = "room-unarchived"
		}
		return []*store.Message{{Type: typ, Text: by.Username}}, nil
	})
	return err
}

// SetRoomOpen opens (shows) or closes (hides) the room in uid's own room list; false, and no
// change, if it already was so.
func (s *Store) SetRoomOpen(rid, uid string, open bool) (changed bool, err error) {
	err = s.write(func(t *Tx) error {
		changed = false
		r, err := getRoom(t.Ctx, t, rid)
		if err != nil {
			return err
		}
		m, err := lockMember(t, rid, uid)
		if err != nil {
			return err
		}
		if m == nil {
			return store.ErrNotInRoom
		}
		if m.Hidden == !open {
			return nil
		}
		m.Hidden = !open
		changed = true
		t.Emit(store.Event{Kind: store.MemberChanged, Room: r, UserID: uid, Member: m})
		return putMember(t, m)
	})
	return changed, err
}

// SetRoomRole gives (add) or takes room role role to or from uid in room rid on behalf of by
// (store.Bolt.SetRoomRole).
func (s *Store) SetRoomRole(rid, uid, role string, add bool, by *store.User) error {
	return s.write(func(t *Tx) error {
		now := t.Now()
		r, err := lockRoom(t, rid)
		if err != nil {
			return err
		}
		m, err := lockMember(t, rid, uid)
		if err != nil || m == nil {
			if err != nil {
				return err
			}
			return store.ErrNotInRoom
		}
		// read FOR SHARE (rbac.go): a DeleteRole under way finishes first, then finds the holder
		if held, err := shareRole(t, role); err != nil || held == nil {
			if err != nil {
				return err
			}
			return store.ErrRoleNotFound
		}
		article := "a"
		if role == store.RoleOwner {
			article = "an"
		}
		switch {
		case add && m.HasRole(role):
			return store.Errorf(store.Invalid, "error-user-already-"+role, "User is already %s %s of this room", article, role)
		case !add && !m.HasRole(role):
			return store.Errorf(store.Invalid, "error-user-not-"+role, "User is not %s %s of this room", article, role)
		}
		if add {
			m.Roles = append(m.Roles, role)
		} else {
			if role == store.RoleOwner {
				owners, err := roomRoleHolders(t.Ctx, t, rid, store.RoleOwner)
				if err != nil {
					return err
				}
				if len(owners) <= 1 {
					return store.Errorf(store.Invalid, "error-remove-last-owner", "This is the last owner. Please set a new owner before removing this one.")
				}
			}
			m.Roles = slices.DeleteFunc(m.Roles, func(x string) bool { return x == role })
		}
		m.Updated = now
		if err := putMember(t, m); err != nil {
			return err
		}
		t.Emit(store.Event{Kind: store.MemberChanged, Room: r, UserID: uid, Member: m})
		typ := "subscription-role-added"
		if !add {
			typ = "subscription-role-removed"
		}
		return appendMessage(t, r, &store.Message{Text: m.Username, Type: typ, Role: role, TS: now, User: by.Ref()})
	})
}

// --- direct messages ---

// OpenDirect returns the direct-message room of creator and the users, creating it if it
// does not exist (store.Bolt.OpenDirect).
func (s *Store) OpenDirect(creator *store.User, uids []string) (room store.RoomWithMembers, created bool, err error) {
	all := slices.Compact(slices.Sorted(slices.Values(append([]string{creator.ID}, uids...))))
	if len(all) > store.MaxDirectMembers {
		return room, false, store.Errorf(store.Invalid, "error-invalid-params", "A direct message room has at most %d members", store.MaxDirectMembers)
	}
	rid := store.DirectRoomID(all)
	err = s.write(func(t *Tx) error {
		created = false
		now := t.Now()
		users, err := usersByID(t.Ctx, t, all)
		if err != nil {
			return err
		}
		r, err := lockRoom(t, rid)
		if store.KindOf(err) == store.NotFound {
			if err := checkRoomCap(t, creator.ID, s.maxRooms); err != nil {
				return err
			}
			for _, uid := range all {
				u := users[uid]
				if u == nil {
					return store.ErrUserNotFound
				}
				if !u.Active {
					return store.Errorf(store.Invalid, "error-invalid-user", "User %q is deactivated", u.Username)
				}
			}
			ref := creator.Ref()
			r = &store.Room{ID: rid, Type: store.Direct, Creator: &ref, CreatedAt: now, UpdatedAt: now}
			doc, err := json.Marshal(r)
			if err != nil {
				return err
			}
			// Two nodes opening the same new room: the second finds the first's.
			tag, err := t.Exec(t.Ctx, `INSERT INTO rooms (id, name, type, creator_id, created_at, doc)
				VALUES ($1, '', $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, rid, store.Direct, creator.ID, now, doc)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				created = true
			} else if r, err = lockRoom(t, rid); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if !created && r.Type != store.Direct {
			return store.Errorf(store.Invalid, "invalid-id", "Room id %q is taken", rid)
		}
		// A member who left (rooms.leave) comes back.
		for _, uid := range all {
			u := users[uid]
			if u == nil {
				return store.ErrUserNotFound
			}
			if _, err := addMember(t, r, u, nil, false, now); err != nil {
				return err
			}
		}
		names, err := roomUsernames(t.Ctx, t, rid)
		room = store.RoomWithMembers{Room: r, Usernames: names}
		return err
	})
	return room, created, err
}

// --- deleting rooms ---

// DeleteRoom removes room rid with its messages, memberships and marks: the history first,
// in chunks (CleanHistory), then the room and what is left in one transaction.
func (s *Store) DeleteRoom(rid string) error {
	if _, err := s.CleanHistory(rid, time.Time{}, time.Time{}, true); err != nil {
		return err
	}
	return s.write(func(t *Tx) error {
		r, err := lockRoom(t, rid)
		if err != nil {
			return err
		}
		// Messages that arrived after the clean-up.
		if _, err := t.Exec(t.Ctx, `DELETE FROM messages WHERE room_id = $1`, rid); err != nil {
			return err
		}
		rows, err := t.Query(t.Ctx, `DELETE FROM members WHERE room_id = $1 RETURNING user_id`, rid)
		if err != nil {
			return err
		}
		uids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		slices.SortFunc(uids, func(a, b string) int { return cmp.Compare(a, b) })
		for _, uid := range uids {
			t.Emit(store.Event{Kind: store.MemberRemoved, Room: r, UserID: uid})
		}
		t.Emit(store.Event{Kind: store.RoomDeleted, Room: r})
		t.Pages(rid)
		// The reads and every other row of the room go with it (ON DELETE CASCADE).
		_, err = t.Exec(t.Ctx, `DELETE FROM rooms WHERE id = $1`, rid)
		return err
	})
}
