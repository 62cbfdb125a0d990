package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Export streams every record of the file, decoded with the store's own codecs and with what
// its keys hold (a message's sequence number, a membership's room and user), for a copy into
// another backend (rocketlite migrate). The indexes that follow from the records
// (users_by_name, rooms_by_name, message_ids, message_ts, tokens_by_*, user_rooms, the
// message marks but the deletion tombstones, rooms_by_creator, public_rooms_by_msgs) are not
// exported: the target builds its own.

// RecordKind names a kind of exported record.
type RecordKind string

// The kinds, in the order Export streams them: every record comes after those it refers to
// (a token after its user, a membership after its room), so that a target with foreign keys
// can take them as they come.
const (
	KindMeta          RecordKind = "meta"
	KindRole          RecordKind = "roles"
	KindPermission    RecordKind = "permissions"
	KindUser          RecordKind = "users"
	KindToken         RecordKind = "tokens"
	KindPersonalToken RecordKind = "personal_tokens"
	KindAvatar        RecordKind = "avatars"
	KindPreferences   RecordKind = "preferences"
	KindRoom          RecordKind = "rooms"
	KindMember        RecordKind = "members"
	KindRead          RecordKind = "reads"
	KindMessage       RecordKind = "messages"
	KindTombstone     RecordKind = "tombstones"
	KindIntegration   RecordKind = "integrations"
)

// RecordKinds lists every kind in Export's order.
var RecordKinds = []RecordKind{KindMeta, KindRole, KindPermission, KindUser, KindToken, KindPersonalToken,
	KindAvatar, KindPreferences, KindRoom, KindMember, KindRead, KindMessage, KindTombstone, KindIntegration}

// Record is one exported record: one of the *Record types below.
type Record interface{ Kind() RecordKind }

// MetaRecord is a key of the meta bucket (seed ledger, settings). The file's layout version
// ("schema") is not exported: it describes the bbolt file, not the data.
type MetaRecord struct{ Key, Value string }

// UserRecord is an account, with its password hash.
type UserRecord struct{ User *User }

// TokenRecord is a login token (session or personal access token: Expires is NoExpiry), of
// which only the hash is stored.
type TokenRecord struct {
	Hash            TokenHash
	UserID          string
	Issued, Expires time.Time
}

// PersonalTokenRecord names a personal access token of UserID. It may outlive its token (a
// password change revokes every token): it is live only while Token.Hash is a token.
type PersonalTokenRecord struct {
	UserID string
	Token  *PersonalToken
}

// AvatarRecord is a user's uploaded picture.
type AvatarRecord struct {
	UserID string
	Avatar *Avatar
}

// PreferencesRecord is a user's preferences, the JSON object as stored.
type PreferencesRecord struct {
	UserID string
	Doc    json.RawMessage
}

// RoomRecord is a room, with its counters (Msgs, Seq, Counted).
type RoomRecord struct{ Room *Room }

// MemberRecord is a membership (RoomID and UserID set) with its read mark: the room's Counted
// when the member last read, so that their unread count is Room.Counted - Mark. A membership
// of a file written before read marks existed has nothing unread, as the bbolt store reads
// it: its Mark is the room's Counted.
type MemberRecord struct {
	Member *Member
	Mark   uint64
}

// ReadRecord is the sequence number of the last message UserID read in RoomID (history's
// unread filter); the reader need not be a member of a public room.
type ReadRecord struct {
	RoomID, UserID string
	Seq            uint64
}

// MessageRecord is a message, Seq set: messages come room by room, in sequence order.
type MessageRecord struct{ Message *Message }

// TombstoneRecord is a deleted message of RoomID, for syncMessages.
type TombstoneRecord struct {
	RoomID  string
	Deleted Deleted
}

// RoleRecord is a role; PermissionRecord a permission with its roles; IntegrationRecord a
// webhook.
type (
	RoleRecord        struct{ Role *Role }
	PermissionRecord  struct{ Permission *Permission }
	IntegrationRecord struct{ Integration *Integration }
)

func (MetaRecord) Kind() RecordKind          { return KindMeta }
func (UserRecord) Kind() RecordKind          { return KindUser }
func (TokenRecord) Kind() RecordKind         { return KindToken }
func (PersonalTokenRecord) Kind() RecordKind { return KindPersonalToken }
func (AvatarRecord) Kind() RecordKind        { return KindAvatar }
func (PreferencesRecord) Kind() RecordKind   { return KindPreferences }
func (RoomRecord) Kind() RecordKind          { return KindRoom }
func (MemberRecord) Kind() RecordKind        { return KindMember }
func (ReadRecord) Kind() RecordKind          { return KindRead }
func (MessageRecord) Kind() RecordKind       { return KindMessage }
func (TombstoneRecord) Kind() RecordKind     { return KindTombstone }
func (RoleRecord) Kind() RecordKind          { return KindRole }
func (PermissionRecord) Kind() RecordKind    { return KindPermission }
func (IntegrationRecord) Kind() RecordKind   { return KindIntegration }

// metaSchemaKey is the meta key of the file's layout version, which Export leaves out.
const metaSchemaKey = "schema"

// Export calls fn with every record of the store, kind by kind in RecordKinds' order, all
// from one read transaction (one consistent snapshot). fn may keep the records: they hold no
// memory of the file. An error of fn, a record that does not decode, or the end of ctx stops
// it with that error.
func (s *Bolt) Export(ctx context.Context, fn func(rec Record) error) error {
	return s.view(func(tx *bolt.Tx) error {
		e := exporter{ctx: ctx, tx: tx, fn: fn}
		for _, step := range []func() error{e.meta, e.roles, e.permissions, e.users, e.tokens,
			e.personalTokens, e.avatars, e.preferences, e.rooms, e.members, e.reads, e.messages,
			e.tombstones, e.integrations} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
}

// ExportCounts counts the records Export streams, kind by kind, from the buckets' own key
// counts (tombstones by walking their marks): what a copy must hold.
func (s *Bolt) ExportCounts() (map[RecordKind]int, error) {
	out := make(map[RecordKind]int, len(RecordKinds))
	err := s.view(func(tx *bolt.Tx) error {
		n := func(b []byte) int {
			if bk := tx.Bucket(b); bk != nil {
				return keyN(bk)
			}
			return 0
		}
		out[KindMeta] = n(bMeta)
		if tx.Bucket(bMeta).Get([]byte(metaSchemaKey)) != nil {
			out[KindMeta]--
		}
		for kind, b := range map[RecordKind][]byte{KindRole: bRoles, KindPermission: bPermissions, KindUser: bUsers,
			KindToken: bTokens, KindPersonalToken: bPersonalTokens, KindAvatar: bAvatars, KindPreferences: bPrefs,
			KindRoom: bRooms, KindMember: bMembers, KindRead: bReads, KindMessage: bMessages, KindIntegration: bIntegrations} {
			out[kind] = n(b)
		}
		return tx.Bucket(bRooms).ForEach(func(k, _ []byte) error {
			return eachTombstone(tx, string(k), func(Deleted) error { out[KindTombstone]++; return nil })
		})
	})
	return out, err
}

type exporter struct {
	ctx context.Context
	tx  *bolt.Tx
	fn  func(Record) error
	n   int
}

// emit hands rec to fn, looking at ctx every 1,024 records (a big file takes a while).
func (e *exporter) emit(rec Record) error {
	if e.n++; e.n%1024 == 0 {
		if err := e.ctx.Err(); err != nil {
			return context.Cause(e.ctx)
		}
	}
	return e.fn(rec)
}

// each walks bucket b (absent: nothing), naming the bucket and key of a record that fails.
func (e *exporter) each(b []byte, fn func(k, v []byte) (Record, error)) error {
	bk := e.tx.Bucket(b)
	if bk == nil {
		return nil
	}
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec, err := fn(k, v)
		if err != nil {
			return fmt.Errorf("%s record %q: %w", b, k, err)
		}
		if rec == nil {
			continue
		}
		if err := e.emit(rec); err != nil {
			return err
		}
	}
	if err := e.ctx.Err(); err != nil {
		return context.Cause(e.ctx)
	}
	return nil
}

// splitKey splits a composite key a ∥ 0x00 ∥ b.
func splitKey(k []byte) (a, b string, err error) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", fmt.Errorf("not a composite key")
	}
	return string(k[:i]), string(k[i+1:]), nil
}

func decodeJSON[T any](v []byte) (*T, error) {
	x := new(T)
	return x, json.Unmarshal(v, x)
}

func (e *exporter) meta() error {
	return e.each(bMeta, func(k, v []byte) (Record, error) {
		if string(k) == metaSchemaKey {
			return nil, nil
		}
		return MetaRecord{Key: string(k), Value: string(v)}, nil
	})
}

func (e *exporter) roles() error {
	return e.each(bRoles, func(_, v []byte) (Record, error) {
		r, err := decodeJSON[Role](v)
		return RoleRecord{r}, err
	})
}

func (e *exporter) permissions() error {
	return e.each(bPermissions, func(_, v []byte) (Record, error) {
		p, err := decodeJSON[Permission](v)
		return PermissionRecord{p}, err
	})
}

func (e *exporter) users() error {
	return e.each(bUsers, func(_, v []byte) (Record, error) {
		u := new(User)
		return UserRecord{u}, decodeUser(v, u)
	})
}

func (e *exporter) tokens() error {
	return e.each(bTokens, func(k, v []byte) (Record, error) {
		if len(k) != len(TokenHash{}) || len(v) < 17 {
			return nil, fmt.Errorf("not a token record")
		}
		var h TokenHash
		copy(h[:], k)
		n := len(v) - 16
		return TokenRecord{Hash: h, UserID: string(v[:n]),
			Issued:  time.Unix(0, int64(binary.BigEndian.Uint64(v[n:n+8]))),
			Expires: time.Unix(0, int64(binary.BigEndian.Uint64(v[n+8:])))}, nil
	})
}

func (e *exporter) personalTokens() error {
	return e.each(bPersonalTokens, func(k, v []byte) (Record, error) {
		uid, _, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		p, err := decodeJSON[PersonalToken](v)
		return PersonalTokenRecord{UserID: uid, Token: p}, err
	})
}

func (e *exporter) avatars() error {
	return e.each(bAvatars, func(k, v []byte) (Record, error) {
		a, err := decodeJSON[Avatar](v)
		return AvatarRecord{UserID: string(k), Avatar: a}, err
	})
}

func (e *exporter) preferences() error {
	return e.each(bPrefs, func(k, v []byte) (Record, error) {
		if !json.Valid(v) {
			return nil, fmt.Errorf("not JSON")
		}
		return PreferencesRecord{UserID: string(k), Doc: bytes.Clone(v)}, nil
	})
}

func (e *exporter) rooms() error {
	return e.each(bRooms, func(_, v []byte) (Record, error) {
		r := new(Room)
		return RoomRecord{r}, decodeRoom(v, r)
	})
}

func (e *exporter) members() error {
	marks := e.tx.Bucket(bSubMarks) // nil in a file of an older build
	var room *Room
	return e.each(bMembers, func(k, v []byte) (Record, error) {
		rid, uid, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		if room == nil || room.ID != rid {
			// Members come room by room: one room read per room.
			if room, err = getRoom(e.tx, rid); err != nil {
				return nil, fmt.Errorf("room %s: %w", rid, err)
			}
		}
		m, err := decodeJSON[Member](v)
		if err != nil {
			return nil, err
		}
		m.RoomID, m.UserID = rid, uid
		rec := MemberRecord{Member: m, Mark: room.Counted}
		if marks != nil {
			if mk := marks.Get(k); len(mk) == 8 {
				rec.Mark = binary.BigEndian.Uint64(mk)
			}
		}
		return rec, nil
	})
}

func (e *exporter) reads() error {
	return e.each(bReads, func(k, v []byte) (Record, error) {
		rid, uid, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		if len(v) != 8 {
			return nil, fmt.Errorf("not a sequence number")
		}
		return ReadRecord{RoomID: rid, UserID: uid, Seq: binary.BigEndian.Uint64(v)}, nil
	})
}

func (e *exporter) messages() error {
	return e.each(bMessages, func(k, v []byte) (Record, error) {
		rid, _, err := splitKey(k)
		if err != nil || len(k) != len(rid)+9 {
			return nil, fmt.Errorf("not a message key")
		}
		m, err := messageFrom(k, v)
		if err != nil {
			return nil, err
		}
		m.RoomID = rid
		return MessageRecord{m}, nil
	})
}

func (e *exporter) tombstones() error {
	return e.tx.Bucket(bRooms).ForEach(func(k, _ []byte) error {
		rid := string(k)
		return eachTombstone(e.tx, rid, func(d Deleted) error {
			return e.emit(TombstoneRecord{RoomID: rid, Deleted: d})
		})
	})
}

// eachTombstone calls fn with every deleted message of room rid, oldest first (the 'd'
// marks, which unlike the other marks do not follow from a stored message).
func eachTombstone(tx *bolt.Tx, rid string, fn func(Deleted) error) error {
	dp := markPrefix(rid, markDeleted)
	c := tx.Bucket(bMarks).Cursor()
	for k, _ := c.Seek(dp); k != nil && bytes.HasPrefix(k, dp); k, _ = c.Next() {
		if len(k) <= len(dp)+8 {
			continue
		}
		at := time.UnixMilli(int64(binary.BigEndian.Uint64(k[len(dp) : len(dp)+8]))).UTC()
		if err := fn(Deleted{ID: string(k[len(dp)+8:]), At: at}); err != nil {
			return err
		}
	}
	return nil
}

func (e *exporter) integrations() error {
	return e.each(bIntegrations, func(_, v []byte) (Record, error) {
		in, err := decodeJSON[Integration](v)
		return IntegrationRecord{in}, err
	})
}
