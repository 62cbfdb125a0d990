package store

import (
	"math"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A personal access token is a login token with a name and no expiry, for scripts and
// monitors (Rocket.Chat's personal access tokens). It is stored like a session token (its
// SHA-256 in tokens, with the per-user and expiry index), so the one Authenticate accepts it
// for REST and for DDP resume, and so that what revokes every token of a user (a password
// change, a deletion) revokes it too. Its expiry is the farthest time the index can hold,
// which the sweeper never reaches; the pats bucket names it.

// NoExpiry is the expiry of a personal access token.
var NoExpiry = time.Unix(0, math.MaxInt64)

// IsPersonalToken reports whether a token expiry marks a personal access token.
func IsPersonalToken(expires time.Time) bool { return expires.Equal(NoExpiry) }

// PersonalToken is what is kept of a personal access token besides its hash.
type PersonalToken struct {
	Name          string    `json:"name"`
	Hash          TokenHash `json:"hash"`
	LastTokenPart string    `json:"lastTokenPart"` // its last characters, to recognise it by
	CreatedAt     time.Time `json:"createdAt"`
}

// MaxPersonalTokens bounds the personal access tokens of one user.
const MaxPersonalTokens = 50

var (
	ErrPersonalTokenExists   = &Error{Kind: Invalid, Code: "not-authorized", Message: "A token with this name exists already"}
	ErrPersonalTokenNotFound = &Error{Kind: Invalid, Code: "not-authorized", Message: "No token with this name"}
	ErrTooManyPersonalTokens = &Error{Kind: Invalid, Code: "error-too-many-tokens", Message: "A user may hold at most 50 personal access tokens; remove one first"}
)

// livePersonal returns the user's personal token named name, if its token still exists (a
// password change revokes every token of a user, these included).
func livePersonal(tx *bolt.Tx, uid, name string) (*PersonalToken, error) {
	var p PersonalToken
	ok, err := getJSON(tx.Bucket(bPersonalTokens), join2(uid, []byte(name)), &p)
	if err != nil || !ok {
		return nil, err
	}
	if tx.Bucket(bTokens).Get(p.Hash[:]) == nil {
		return nil, nil
	}
	return &p, nil
}

// SetPersonalToken stores a personal access token for uid under name. With replace false a
// live token of that name is ErrPersonalTokenExists; with replace true there must be one, and
// it is revoked in the same transaction (regenerate).
func (s *Bolt) SetPersonalToken(uid, name string, h TokenHash, last string, replace bool) error {
	now := s.now()
	return s.batch(func(tx *bolt.Tx) error {
		u, err := getUser(tx, uid)
		if err != nil {
			return err
		}
		if !u.Active {
			return ErrLoginRefused
		}
		cur, err := livePersonal(tx, uid, name)
		if err != nil {
			return err
		}
		switch {
		case cur != nil && !replace:
			return ErrPersonalTokenExists
		case cur == nil && replace:
			return ErrPersonalTokenNotFound
		case cur != nil:
			if err := deleteToken(tx, cur.Hash); err != nil {
				return err
			}
		default:
			n := 0
			p := prefix(uid)
			c := tx.Bucket(bPersonalTokens).Cursor()
			for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
				n++
			}
			if n >= MaxPersonalTokens {
				return ErrTooManyPersonalTokens
			}
		}
		if err := tx.Bucket(bTokens).Put(h[:], tokenRecord(uid, now, NoExpiry)); err != nil {
			return err
		}
		if err := tx.Bucket(bTokensByExp).Put(expiryKey(NoExpiry, h), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bTokensByUser).Put(join2(uid, h[:]), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bPersonalTokens), join2(uid, []byte(name)),
			&PersonalToken{Name: name, Hash: h, LastTokenPart: last, CreatedAt: now})
	})
}

// PersonalTokens lists uid's live personal access tokens by name.
func (s *Bolt) PersonalTokens(uid string) (list []*PersonalToken, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		p := prefix(uid)
		c := tx.Bucket(bPersonalTokens).Cursor()
		for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
			var pt PersonalToken
			if err := unmarshal(v, &pt); err != nil {
				return err
			}
			if tx.Bucket(bTokens).Get(pt.Hash[:]) != nil {
				list = append(list, &pt)
			}
		}
		return nil
	})
	sort.Slice(list, func(a, b int) bool { return list[a].Name < list[b].Name })
	return list, err
}

// RemovePersonalToken revokes uid's personal access token named name.
func (s *Bolt) RemovePersonalToken(uid, name string) error {
	return s.batch(func(tx *bolt.Tx) error {
		cur, err := livePersonal(tx, uid, name)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrPersonalTokenNotFound
		}
		if err := deleteToken(tx, cur.Hash); err != nil {
			return err
		}
		return tx.Bucket(bPersonalTokens).Delete(join2(uid, []byte(name)))
	})
}
