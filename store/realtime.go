package store

// Store functions that the realtime API (REALTIME.md) needs beyond the REST APIs. They apply
// the same room access rule (readableRoom) as the rest of the store.

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// UserByToken returns the active user that owns the login token h and when the token expires
// (DDP's login {resume}). Every refusal is ErrUnauthorized, whatever its reason.
func (s *Bolt) UserByToken(h TokenHash) (u *User, expires time.Time, err error) {
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
func (s *Bolt) MayRead(rid string, reader *User) error {
	return s.view(func(tx *bolt.Tx) error { _, err := readableRoom(tx, rid, reader); return err })
}

// UserRoomIDs returns the ids of the rooms uid is a member of.
func (s *Bolt) UserRoomIDs(uid string) (ids []string, err error) {
	err = s.view(func(tx *bolt.Tx) error { ids, err = userRoomIDs(tx, uid); return err })
	return ids, err
}
