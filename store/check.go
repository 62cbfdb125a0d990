package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds the report: a badly broken file would otherwise list every key.
const maxCheckErrors = 100

// Check verifies the file: bbolt's own consistency check (pages, freelist), then the store's
// invariants in one read transaction:
//   - every record decodes and sits under the key its id gives;
//   - users_by_name, users_by_email and rooms_by_name map each record's name to its id, and
//     hold nothing else;
//   - every message's room exists, its author reference is complete, and message_ids and
//     message_ts point at it and at nothing else; a room's msgs is its number of messages;
//   - every token has its tokens_by_expiry and tokens_by_user entries and a user, and the
//     two indexes hold nothing else;
//   - members and user_rooms mirror each other, and name an existing room and user;
//   - every permission names existing roles.
//
// A message's author need not exist: deleting a user keeps their messages, as Rocket.Chat
// does. It returns nil for a sound file.
func (s *Bolt) Check() []error { return s.CheckProgress(context.Background(), nil) }

// CheckProgress is Check that tells stage (if not nil) what it starts on, and stops between
// stages once ctx ends (the result then holds ctx's error).
func (s *Bolt) CheckProgress(ctx context.Context, stage func(what string)) []error {
	if stage == nil {
		stage = func(string) {}
	}
	var errs []error
	add := func(format string, args ...any) bool {
		if len(errs) < maxCheckErrors {
			errs = append(errs, fmt.Errorf(format, args...))
		}
		return len(errs) < maxCheckErrors
	}
	err := s.view(func(tx *bolt.Tx) error {
		stage("checking pages and the free list")
		for err := range tx.Check() {
			add("bbolt: %v", err)
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil && !laterBucket(b) && !slices.ContainsFunc(derivedBuckets, func(d []byte) bool { return bytes.Equal(d, b) }) {
				add("bucket %s is missing", b)
			}
		}
		if len(errs) > 0 {
			return nil // the invariants below assume sound pages and every bucket
		}
		c := checker{tx: tx, add: add}
		for _, st := range []struct {
			what string
			run  func()
		}{{"users", c.users}, {"rooms", c.rooms}, {"messages", c.messages}, {"tokens", c.tokens},
			{"memberships", c.members}, {"permissions", c.permissions}} {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			stage("checking " + st.what)
			st.run()
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}

type checker struct {
	tx  *bolt.Tx
	add func(format string, args ...any) bool
}

func (c *checker) b(name []byte) *bolt.Bucket { return c.tx.Bucket(name) }

// split2 undoes join2: the first part never holds a 0x00.
func split2(k []byte) (string, []byte, bool) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 {
		return "", nil, false
	}
	return string(k[:i]), k[i+1:], true
}

func (c *checker) users() {
	c.b(bUsers).ForEach(func(k, v []byte) error {
		var u User
		if err := unmarshal(v, &u); err != nil {
			c.add("users/%s: %v", k, err)
			return nil
		}
		if u.ID != string(k) {
			c.add("users/%s: record has id %q", k, u.ID)
		}
		if got := c.b(bUsersByName).Get(lower(u.Username)); string(got) != u.ID {
			c.add("users/%s: users_by_name[%q] is %q", k, u.Username, got)
		}
		if u.Email != "" {
			if got := c.b(bUsersByEmail).Get(lower(u.Email)); string(got) != u.ID {
				c.add("users/%s: users_by_email[%q] is %q", k, u.Email, got)
			}
		}
		return nil
	})
	for _, idx := range []struct {
		bucket []byte
		field  func(*User) string
	}{{bUsersByName, func(u *User) string { return u.Username }}, {bUsersByEmail, func(u *User) string { return u.Email }}} {
		c.b(idx.bucket).ForEach(func(k, v []byte) error {
			u, err := getUser(c.tx, string(v))
			if err != nil {
				c.add("%s[%q] points at missing user %q", idx.bucket, k, v)
			} else if !bytes.Equal(lower(idx.field(u)), k) {
				c.add("%s[%q] points at user %q, whose value is %q", idx.bucket, k, v, idx.field(u))
			}
			return nil
		})
	}
}

func (c *checker) rooms() {
	c.b(bRooms).ForEach(func(k, v []byte) error {
		var r Room
		if err := unmarshal(v, &r); err != nil {
			c.add("rooms/%s: %v", k, err)
			return nil
		}
		if r.ID != string(k) {
			c.add("rooms/%s: record has id %q", k, r.ID)
		}
		if r.Type == Direct {
			return nil // a direct-message room has no name
		}
		if got := c.b(bRoomsByName).Get(lower(r.Name)); string(got) != r.ID {
			c.add("rooms/%s: rooms_by_name[%q] is %q", k, r.Name, got)
		}
		return nil
	})
	c.b(bRoomsByName).ForEach(func(k, v []byte) error {
		r, err := getRoom(c.tx, string(v))
		if err != nil {
			c.add("rooms_by_name[%q] points at missing room %q", k, v)
		} else if !bytes.Equal(lower(r.Name), k) {
			c.add("rooms_by_name[%q] points at room %q named %q", k, v, r.Name)
		}
		return nil
	})
}

func (c *checker) messages() {
	counts := map[string]int64{}
	rooms := map[string]*Room{}
	room := func(rid string) *Room {
		if r, ok := rooms[rid]; ok {
			return r
		}
		r, _ := getRoom(c.tx, rid)
		rooms[rid] = r
		return r
	}
	c.b(bMessages).ForEach(func(k, v []byte) error {
		rid, seqb, ok := split2(k)
		if !ok || len(seqb) != 8 {
			c.add("messages: malformed key %x", k)
			return nil
		}
		seq := binary.BigEndian.Uint64(seqb)
		var m Message
		if err := unmarshal(v, &m); err != nil {
			c.add("messages/%s/%d: %v", rid, seq, err)
			return nil
		}
		counts[rid]++
		r := room(rid)
		switch {
		case r == nil:
			c.add("message %s: room %q does not exist", m.ID, rid)
		case seq > r.Seq:
			c.add("message %s: sequence %d is past its room's %d", m.ID, seq, r.Seq)
		}
		if m.RoomID != rid {
			c.add("message %s: record says room %q, key says %q", m.ID, m.RoomID, rid)
		}
		if m.User.ID == "" || m.User.Username == "" {
			c.add("message %s: author reference is incomplete", m.ID)
		}
		if got := c.b(bMessageIDs).Get([]byte(m.ID)); !bytes.Equal(got, k) {
			c.add("message %s: message_ids entry is %x, want %x", m.ID, got, k)
		}
		if c.b(bMessageTS).Get(tsKey(rid, m.TS.UnixMilli(), seq)) == nil {
			c.add("message %s: message_ts entry is missing", m.ID)
		}
		return nil
	})
	c.b(bRooms).ForEach(func(k, v []byte) error {
		if r := room(string(k)); r != nil && r.Msgs != counts[r.ID] {
			c.add("room %s: msgs is %d, but it holds %d messages", r.ID, r.Msgs, counts[r.ID])
		}
		return nil
	})
	c.b(bMessageIDs).ForEach(func(k, v []byte) error {
		m, err := messageAt(c.tx, v)
		if err != nil {
			c.add("message_ids[%s] points at missing message %x", k, v)
		} else if m.ID != string(k) {
			c.add("message_ids[%s] points at message %s", k, m.ID)
		}
		return nil
	})
	c.b(bMessageTS).ForEach(func(k, v []byte) error {
		rid, rest, ok := split2(k)
		if !ok || len(rest) != 16 {
			c.add("message_ts: malformed key %x", k)
			return nil
		}
		tsMs, seq := int64(binary.BigEndian.Uint64(rest[:8])), binary.BigEndian.Uint64(rest[8:])
		m, err := messageAt(c.tx, msgKey(rid, seq))
		if err != nil {
			c.add("message_ts entry %x points at missing message %s/%d", k, rid, seq)
		} else if m.TS.UnixMilli() != tsMs {
			c.add("message_ts entry %x has time %d, message %s has %d", k, tsMs, m.ID, m.TS.UnixMilli())
		}
		return nil
	})
}

func (c *checker) tokens() {
	c.b(bTokens).ForEach(func(k, v []byte) error {
		uid, expires, ok := parseTokenRecord(v)
		if !ok || len(k) != 32 {
			c.add("tokens: malformed entry %x", k)
			return nil
		}
		var h TokenHash
		copy(h[:], k)
		if _, err := getUser(c.tx, uid); err != nil {
			c.add("token %x…: user %q does not exist", k[:4], uid)
		}
		if c.b(bTokensByExp).Get(expiryKey(expires, h)) == nil {
			c.add("token %x…: tokens_by_expiry entry is missing", k[:4])
		}
		if c.b(bTokensByUser).Get(join2(uid, h[:])) == nil {
			c.add("token %x…: tokens_by_user entry is missing", k[:4])
		}
		return nil
	})
	c.b(bTokensByExp).ForEach(func(k, v []byte) error {
		if len(k) != 40 {
			c.add("tokens_by_expiry: malformed key %x", k)
			return nil
		}
		_, expires, ok := parseTokenRecord(c.b(bTokens).Get(k[8:]))
		if !ok || uint64(expires.UnixNano()) != binary.BigEndian.Uint64(k[:8]) {
			c.add("tokens_by_expiry entry %x… points at no token of that expiry", k[8:12])
		}
		return nil
	})
	c.b(bTokensByUser).ForEach(func(k, v []byte) error {
		uid, h, ok := split2(k)
		if !ok || len(h) != 32 {
			c.add("tokens_by_user: malformed key %x", k)
			return nil
		}
		owner, _, ok := parseTokenRecord(c.b(bTokens).Get(h))
		if !ok || owner != uid {
			c.add("tokens_by_user entry %q/%x… points at no token of that user", uid, h[:4])
		}
		return nil
	})
}

func (c *checker) members() {
	c.b(bMembers).ForEach(func(k, v []byte) error {
		rid, uidb, ok := split2(k)
		if !ok || len(uidb) == 0 {
			c.add("members: malformed key %x", k)
			return nil
		}
		uid := string(uidb)
		var m Member
		if err := unmarshal(v, &m); err != nil {
			c.add("members/%s/%s: %v", rid, uid, err)
		}
		if _, err := getRoom(c.tx, rid); err != nil {
			c.add("membership %s/%s: room does not exist", rid, uid)
		}
		if _, err := getUser(c.tx, uid); err != nil {
			c.add("membership %s/%s: user does not exist", rid, uid)
		}
		if c.b(bUserRooms).Get(join2(uid, []byte(rid))) == nil {
			c.add("membership %s/%s: user_rooms entry is missing", rid, uid)
		}
		return nil
	})
	c.b(bUserRooms).ForEach(func(k, v []byte) error {
		uid, rid, ok := split2(k)
		if !ok || len(rid) == 0 {
			c.add("user_rooms: malformed key %x", k)
			return nil
		}
		if c.b(bMembers).Get(join2(string(rid), []byte(uid))) == nil {
			c.add("user_rooms entry %s/%s: membership is missing", uid, rid)
		}
		return nil
	})
}

func (c *checker) permissions() {
	c.b(bPermissions).ForEach(func(k, v []byte) error {
		var p Permission
		if err := unmarshal(v, &p); err != nil {
			c.add("permissions/%s: %v", k, err)
			return nil
		}
		for _, r := range p.Roles {
			if !roleExists(c.tx, r) {
				c.add("permission %s: role %q does not exist", k, r)
			}
		}
		return nil
	})
}
