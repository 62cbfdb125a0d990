package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

func unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

func hasPrefix(k, p []byte) bool { return bytes.HasPrefix(k, p) }

// TokenHash is the SHA-256 of a login token; only this is ever stored.
type TokenHash [32]byte

// A token record is user id ∥ be64(issued ns) ∥ be64(expires ns).
func tokenRecord(uid string, issued, expires time.Time) []byte {
	v := make([]byte, 0, len(uid)+16)
	v = append(v, uid...)
	v = append(v, be64(uint64(issued.UnixNano()))...)
	return append(v, be64(uint64(expires.UnixNano()))...)
}

func parseTokenRecord(v []byte) (uid string, expires time.Time, ok bool) {
	if len(v) < 17 {
		return "", time.Time{}, false
	}
	n := len(v) - 16
	return string(v[:n]), time.Unix(0, int64(binary.BigEndian.Uint64(v[n+8:]))), true
}

func expiryKey(expires time.Time, h TokenHash) []byte {
	return append(be64(uint64(expires.UnixNano())), h[:]...)
}

// AddToken records a login token for u, valid until expires. u is the user as the caller
// found it when it checked the password: if the user has been deactivated or has changed
// password since, the token is refused (ErrLoginRefused), else a login racing the change
// would keep a session that the change revokes, or one that comes back on re-enabling.
func (s *Bolt) AddToken(u *User, h TokenHash, expires time.Time) error {
	issued := s.now()
	uid := u.ID
	return s.batch(func(tx *bolt.Tx) error {
		cur, err := getUser(tx, uid)
		if err != nil {
			return err
		}
		if !cur.Active || cur.Hash != u.Hash {
			return ErrLoginRefused
		}
		if err := capTokens(tx, uid, s.maxTokens, issued); err != nil {
			return err
		}
		if err := tx.Bucket(bTokens).Put(h[:], tokenRecord(uid, issued, expires)); err != nil {
			return err
		}
		if err := tx.Bucket(bTokensByExp).Put(expiryKey(expires, h), nil); err != nil {
			return err
		}
		return tx.Bucket(bTokensByUser).Put(join2(uid, h[:]), nil)
	})
}

// capTokens makes room for one more token of uid under the cap max (0: none): it deletes the
// user's expired tokens and then, if still at the cap, the oldest issued. The cost is one walk
// of the user's tokens, at most max of them.
//
// Personal access tokens (no expiry, pats.go) are left out: a login never evicts them.
func capTokens(tx *bolt.Tx, uid string, max int, now time.Time) error {
	if max <= 0 {
		return nil
	}
	p := prefix(uid)
	tb := tx.Bucket(bTokens)
	type held struct {
		h      TokenHash
		issued time.Time
	}
	var live []held
	var expired []TokenHash
	c := tx.Bucket(bTokensByUser).Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		var h TokenHash
		copy(h[:], k[len(p):])
		v := tb.Get(h[:])
		_, exp, ok := parseTokenRecord(v)
		if ok && IsPersonalToken(exp) {
			continue // capped on their own (MaxPersonalTokens), never evicted by a login
		}
		if !ok || !now.Before(exp) {
			expired = append(expired, h)
			continue
		}
		live = append(live, held{h, time.Unix(0, int64(binary.BigEndian.Uint64(v[len(v)-16:])))})
	}
	if len(live) >= max {
		sort.Slice(live, func(i, j int) bool { return live[i].issued.Before(live[j].issued) })
		for _, t := range live[:len(live)-max+1] {
			expired = append(expired, t.h)
		}
	}
	for _, h := range expired {
		if err := deleteToken(tx, h); err != nil {
			return err
		}
		// An index entry whose token record is gone (deleteToken found nothing) goes too.
		if err := tx.Bucket(bTokensByUser).Delete(join2(uid, h[:])); err != nil {
			return err
		}
	}
	return nil
}

// UserTokenCount is the number of tokens the user holds, expired or not (tests).
func (s *Bolt) UserTokenCount(uid string) (n int, err error) {
	p := prefix(uid)
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bTokensByUser).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// Authenticate returns the active user that owns the token, if the token belongs to uid and
// has not expired. Every refusal is ErrUnauthorized, whatever its reason.
func (s *Bolt) Authenticate(uid string, h TokenHash) (u *User, err error) {
	now := s.now()
	err = s.view(func(tx *bolt.Tx) error {
		owner, expires, ok := parseTokenRecord(tx.Bucket(bTokens).Get(h[:]))
		if !ok || owner != uid || !now.Before(expires) {
			return ErrUnauthorized
		}
		u, err = getUser(tx, uid)
		if err != nil || !u.Active {
			return ErrUnauthorized
		}
		return nil
	})
	return u, err
}

// RevokeToken deletes one token (logout). Revoking an unknown token is not an error.
func (s *Bolt) RevokeToken(h TokenHash) error {
	return s.batch(func(tx *bolt.Tx) error { return deleteToken(tx, h) })
}

func deleteToken(tx *bolt.Tx, h TokenHash) error {
	tb := tx.Bucket(bTokens)
	uid, expires, ok := parseTokenRecord(tb.Get(h[:]))
	if !ok {
		return nil
	}
	if err := tb.Delete(h[:]); err != nil {
		return err
	}
	if err := tx.Bucket(bTokensByExp).Delete(expiryKey(expires, h)); err != nil {
		return err
	}
	emit(tx, Event{Kind: TokenRevoked, UserID: uid, Token: h})
	return tx.Bucket(bTokensByUser).Delete(join2(uid, h[:]))
}

func revokeUserTokens(tx *bolt.Tx, uid string) error {
	p := prefix(uid)
	var hashes []TokenHash
	c := tx.Bucket(bTokensByUser).Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		var h TokenHash
		copy(h[:], k[len(p):])
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		if err := deleteToken(tx, h); err != nil {
			return err
		}
	}
	return nil
}

// SweepTokens deletes up to limit tokens that expired at or before the store's clock, in one
// short write transaction, and returns how many it deleted. The expiry index is ordered by
// time, so it reads only expired entries.
func (s *Bolt) SweepTokens(limit int) (int, error) {
	now := uint64(s.now().UnixNano())
	var n int
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		var hashes []TokenHash
		c := tx.Bucket(bTokensByExp).Cursor()
		for k, _ := c.First(); k != nil && len(hashes) < limit; k, _ = c.Next() {
			if len(k) != 40 || binary.BigEndian.Uint64(k[:8]) > now {
				break
			}
			var h TokenHash
			copy(h[:], k[8:])
			hashes = append(hashes, h)
		}
		for _, h := range hashes {
			if err := deleteToken(tx, h); err != nil {
				return err
			}
		}
		n = len(hashes)
		return nil
	})
	return n, err
}

// TokenCount is the number of stored tokens (tests).
func (s *Bolt) TokenCount() (n int, err error) {
	err = s.view(func(tx *bolt.Tx) error { n = keyN(tx.Bucket(bTokens)); return nil })
	return n, err
}
