package store

// Store functions that the realtime API (REALTIME.md) needs beyond the REST APIs. They apply
// the same room access rule (readableRoom) as the rest of the store.

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// UserByToken returns the active user that owns the login token h and when the token expires
// (DDP's login {resume}). Every refusal is ErrUnauthorized, whatever its reason.
func (s *Store) UserByToken(h TokenHash) (u *User, expires time.Time, err error) {
	now := s.now()
	err = s.view(func(tx *bolt.Tx) error {
		owner, exp, ok := parseTokenRecord(tx.Bucket(bTokens).Get(h[:]))
		if !ok || !now.Before(exp) {
			return ErrUnauthorized
		}
		u, err = getUser(tx, owner)
		if err != nil || !u.Active {
			return ErrUnauthorized
		}
		expires = exp
		return nil
	})
	return u, expires, err
}

// MayRead returns nil if reader may read room rid now, else the error of readableRoom.
func (s *Store) MayRead(rid string, reader *User) error {
	return s.view(func(tx *bolt.Tx) error { _, err := readableRoom(tx, rid, reader); return err })
}

// Subscription is one membership with its room, as realtime clients list them.
type Subscription struct {
	Room   *Room
	Member *Member
	Unread int       // messages after the read mark (all of them without one)
	ReadAt time.Time // not kept yet: zero
}

// Subscriptions returns uid's memberships with their rooms, or only the one of room rid if
// rid is not "" (none if uid is not a member).
func (s *Store) Subscriptions(uid, rid string) (subs []Subscription, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		subs = subs[:0]
		ids := []string{rid}
		if rid == "" {
			if ids, err = userRoomIDs(tx, uid); err != nil {
				return err
			}
		}
		for _, id := range ids {
			m, err := getMember(tx, id, uid)
			if err != nil {
				return err
			}
			if m == nil {
				continue
			}
			r, err := getRoom(tx, id)
			if err != nil {
				return err
			}
			unread := int(r.Seq)
			if v := tx.Bucket(bReads).Get(join2(id, []byte(uid))); len(v) == 8 {
				unread = int(r.Seq - min(binary.BigEndian.Uint64(v), r.Seq))
			}
			subs = append(subs, Subscription{Room: r, Member: m, Unread: unread})
		}
		return nil
	})
	return subs, err
}

// UserRoomIDs returns the ids of the rooms uid is a member of.
func (s *Store) UserRoomIDs(uid string) (ids []string, err error) {
	err = s.view(func(tx *bolt.Tx) error { ids, err = userRoomIDs(tx, uid); return err })
	return ids, err
}
