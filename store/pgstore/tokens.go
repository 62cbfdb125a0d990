package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// Login tokens (store/tokens.go): a row of tokens per token, by its SHA-256, with the owner
// and the issue and expiry times in Unix nanoseconds as bbolt keeps them. A personal access
// token (store/pats.go) is a token that expires at store.NoExpiry, named by a row of
// personal_tokens.

func nanos(t time.Time) int64 { return t.UnixNano() }

var noExpiry = store.NoExpiry.UnixNano()

// deleteTokens deletes the tokens (those that exist) and emits TokenRevoked for each, in
// the order given.
func deleteTokens(t *Tx, hashes []store.TokenHash) error {
	if len(hashes) == 0 {
		return nil
	}
	keys := make([][]byte, len(hashes))
	for i := range hashes {
		keys[i] = hashes[i][:]
	}
	rows, err := t.Query(t.Ctx, `DELETE FROM tokens WHERE hash = ANY ($1) RETURNING hash, user_id`, keys)
	if err != nil {
		return err
	}
	owners := map[store.TokenHash]string{}
	var h []byte
	var uid string
	if _, err := pgx.ForEachRow(rows, []any{&h, &uid}, func() error {
		owners[store.TokenHash(h)] = uid
		return nil
	}); err != nil {
		return err
	}
	for _, k := range hashes {
		if uid, ok := owners[k]; ok {
			t.Emit(store.Event{Kind: store.TokenRevoked, UserID: uid, Token: k})
			delete(owners, k)
		}
	}
	return nil
}

// revokeUserTokens deletes every token of uid (personal ones too), emitting TokenRevoked for
// each in hash order (bbolt's), and returns how many it deleted.
func revokeUserTokens(t *Tx, uid string) (int, error) {
	rows, err := t.Query(t.Ctx, `DELETE FROM tokens WHERE user_id = $1 RETURNING hash`, uid)
	if err != nil {
		return 0, err
	}
	hashes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.TokenHash, error) {
		var h []byte
		err := row.Scan(&h)
		return store.TokenHash(h), err
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(hashes, hashLess)
	for _, h := range hashes {
		t.Emit(store.Event{Kind: store.TokenRevoked, UserID: uid, Token: h})
	}
	return len(hashes), nil
}

// insertToken stores a token record; a hash stored already is overwritten, as bbolt's Put
// does.
func insertToken(t *Tx, uid string, h store.TokenHash, issued, expires int64) error {
	_, err := t.Exec(t.Ctx, `INSERT INTO tokens (hash, user_id, issued, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (hash) DO UPDATE SET user_id = excluded.user_id, issued = excluded.issued, expires = excluded.expires`,
		h[:], uid, issued, expires)
	return err
}

// AddToken records a login token for u, valid until expires (store.Bolt.AddToken): refused
// (ErrLoginRefused) if u has been deactivated or changed password since the caller read it.
// The user's row stays locked to the commit, so a password change either comes first (and
// the login is refused) or waits and then revokes the new token too.
func (s *Store) AddToken(u *store.User, h store.TokenHash, expires time.Time) error {
	issued := s.now()
	uid := u.ID
	return s.write(func(t *Tx) error {
		cur, err := lockUser(t.Ctx, t, uid)
		if err != nil {
			return err
		}
		if !cur.Active || cur.Hash != u.Hash {
			return store.ErrLoginRefused
		}
		if err := capTokens(t, uid, s.maxTokens, issued); err != nil {
			return err
		}
		return insertToken(t, uid, h, nanos(issued), nanos(expires))
	})
}

// capTokens makes room for one more token of uid under the cap max (0: none), as bbolt's
// capTokens: the user's expired tokens go, then, if still at the cap, the oldest issued.
// Personal access tokens are left out.
func capTokens(t *Tx, uid string, max int, now time.Time) error {
	if max <= 0 {
		return nil
	}
	rows, err := t.Query(t.Ctx, `SELECT hash, issued, expires FROM tokens WHERE user_id = $1 AND expires <> $2 ORDER BY hash`,
		uid, noExpiry)
	if err != nil {
		return err
	}
	type held struct {
		h      store.TokenHash
		issued int64
	}
	var live []held
	var expired []store.TokenHash
	var h []byte
	var issued, exp int64
	nowNS := nanos(now)
	if _, err := pgx.ForEachRow(rows, []any{&h, &issued, &exp}, func() error {
		if nowNS >= exp {
			expired = append(expired, store.TokenHash(h))
		} else {
			live = append(live, held{store.TokenHash(h), issued})
		}
		return nil
	}); err != nil {
		return err
	}
	if len(live) >= max {
		sort.Slice(live, func(i, j int) bool { return live[i].issued < live[j].issued })
		for _, l := range live[:len(live)-max+1] {
			expired = append(expired, l.h)
		}
	}
	return deleteTokens(t, expired)
}

// UserTokenCount is the number of tokens the user holds, expired or not.
func (s *Store) UserTokenCount(uid string) (n int, err error) {
	if !textOK(uid) {
		return 0, nil
	}
	err = s.one(func(ctx context.Context, db q) error {
		return db.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE user_id = $1`, uid).Scan(&n)
	})
	return n, err
}

// TokenCount is the number of stored tokens.
func (s *Store) TokenCount() (n int, err error) {
	err = s.one(func(ctx context.Context, db q) error {
		return db.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	})
	return n, err
}

// tokenOwner reads the token h and its owner's record in one statement.
func tokenOwner(ctx context.Context, db q, h store.TokenHash) (owner string, expires int64, u *store.User, err error) {
	var doc []byte
	err = db.QueryRow(ctx, `SELECT t.user_id, t.expires, u.doc FROM tokens t LEFT JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1`, h[:]).Scan(&owner, &expires, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, nil, store.ErrUnauthorized
	}
	if err != nil {
		return "", 0, nil, err
	}
	if doc != nil {
		if u, err = decodeUser(doc); err != nil {
			return "", 0, nil, err
		}
	}
	return owner, expires, u, nil
}

// Authenticate returns the active user that owns the token, if the token belongs to uid and
// has not expired. Every refusal is ErrUnauthorized, whatever its reason.
func (s *Store) Authenticate(uid string, h store.TokenHash) (u *store.User, err error) {
	now := nanos(s.now())
	err = s.one(func(ctx context.Context, db q) error {
		owner, expires, owned, err := s.cachedTokenOwner(ctx, db, h)
		if err != nil {
			return err
		}
		if owner != uid || now >= expires || owned == nil || !owned.Active {
			return store.ErrUnauthorized
		}
		u = owned
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UserByToken returns the active owner of a token that has not expired, and its expiry
// (DDP resume, which knows the token only); else ErrUnauthorized.
func (s *Store) UserByToken(h store.TokenHash) (u *store.User, expires time.Time, err error) {
	now := nanos(s.now())
	err = s.one(func(ctx context.Context, db q) error {
		_, exp, owned, err := s.cachedTokenOwner(ctx, db, h)
		if err != nil {
			return err
		}
		if now >= exp || owned == nil || !owned.Active {
			return store.ErrUnauthorized
		}
		u, expires = owned, time.Unix(0, exp)
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return u, expires, nil
}

// HasLiveToken reports whether uid holds a token that has not expired.
func (s *Store) HasLiveToken(uid string) (live bool, err error) {
	if !textOK(uid) {
		return false, nil
	}
	now := nanos(s.now())
	err = s.one(func(ctx context.Context, db q) error {
		return db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE user_id = $1 AND expires > $2)`, uid, now).Scan(&live)
	})
	return live, err
}

// RevokeToken deletes one token (logout). Revoking an unknown token is not an error.
func (s *Store) RevokeToken(h store.TokenHash) error {
	return s.write(func(t *Tx) error { return deleteTokens(t, []store.TokenHash{h}) })
}

// RevokeUserTokens logs a user out everywhere and returns how many tokens it deleted.
func (s *Store) RevokeUserTokens(uid string) (n int, err error) {
	err = s.write(func(t *Tx) error {
		if _, err := getUser(t.Ctx, t, uid); err != nil {
			return err
		}
		n, err = revokeUserTokens(t, uid)
		return err
	})
	return n, err
}

// RevokeAllTokens logs every user out and returns how many tokens it deleted. Unlike bbolt's
// (run by the CLI on a file no server holds), it publishes each revoked token: on PostgreSQL
// the nodes keep serving while `rocketlite admin user revoke-tokens --all` runs, and their
// sockets and cached token owners must learn of it (a TokenRevoked per token, in hash order).
func (s *Store) RevokeAllTokens() (n int, err error) {
	err = s.write(func(t *Tx) error {
		n = 0
		rows, err := t.Query(t.Ctx, `DELETE FROM tokens RETURNING hash, user_id`)
		if err != nil {
			return err
		}
		type gone struct {
			h   store.TokenHash
			uid string
		}
		var list []gone
		var h []byte
		var uid string
		if _, err := pgx.ForEachRow(rows, []any{&h, &uid}, func() error {
			list = append(list, gone{store.TokenHash(h), uid})
			return nil
		}); err != nil {
			return err
		}
		slices.SortFunc(list, func(a, b gone) int { return hashLess(a.h, b.h) })
		for _, g := range list {
			t.Emit(store.Event{Kind: store.TokenRevoked, UserID: g.uid, Token: g.h})
		}
		n = len(list)
		return nil
	})
	return n, err
}

// SweepTokens deletes up to limit tokens that expired at or before the store's clock, oldest
// expiry first, and returns how many it deleted.
func (s *Store) SweepTokens(limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	now := nanos(s.now())
	var n int
	err := s.write(func(t *Tx) error {
		n = 0
		rows, err := t.Query(t.Ctx, `DELETE FROM tokens WHERE hash IN (
			SELECT hash FROM tokens WHERE expires <= $1 ORDER BY expires, hash LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING hash, user_id, expires`, now, limit)
		if err != nil {
			return err
		}
		type gone struct {
			h       store.TokenHash
			uid     string
			expires int64
		}
		var list []gone
		var h []byte
		var g gone
		if _, err := pgx.ForEachRow(rows, []any{&h, &g.uid, &g.expires}, func() error {
			g.h = store.TokenHash(h)
			list = append(list, g)
			return nil
		}); err != nil {
			return err
		}
		slices.SortFunc(list, func(a, b gone) int {
			if a.expires != b.expires {
				if a.expires < b.expires {
					return -1
				}
				return 1
			}
			return hashLess(a.h, b.h)
		})
		for _, g := range list {
			t.Emit(store.Event{Kind: store.TokenRevoked, UserID: g.uid, Token: g.h})
		}
		n = len(list)
		return nil
	})
	return n, err
}

// livePersonal returns uid's personal token named name if its token still exists.
func livePersonal(t *Tx, uid, name string) (*store.PersonalToken, error) {
	if !textOK(uid) || !textOK(name) {
		return nil, nil
	}
	var doc []byte
	err := t.QueryRow(t.Ctx, `SELECT p.doc FROM personal_tokens p JOIN tokens k ON k.hash = p.hash
		WHERE p.user_id = $1 AND p.name = $2`, uid, name).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := new(store.PersonalToken)
	return p, json.Unmarshal(doc, p)
}

// SetPersonalToken stores a personal access token for uid under name
// (store.Bolt.SetPersonalToken): with replace false a live token of that name is
// ErrPersonalTokenExists; with replace true there must be one, and it is revoked.
func (s *Store) SetPersonalToken(uid, name string, h store.TokenHash, last string, replace bool) error {
	now := s.now()
	return s.write(func(t *Tx) error {
		u, err := lockUser(t.Ctx, t, uid)
		if err != nil {
			return err
		}
		if !u.Active {
			return store.ErrLoginRefused
		}
		if !textOK(name) || !textOK(last) {
			return store.Errorf(store.Invalid, "invalid-name", "A token name must be UTF-8 text without 0x00")
		}
		cur, err := livePersonal(t, uid, name)
		if err != nil {
			return err
		}
		switch {
		case cur != nil && !replace:
			return store.ErrPersonalTokenExists
		case cur == nil && replace:
			return store.ErrPersonalTokenNotFound
		case cur != nil:
			if err := deleteTokens(t, []store.TokenHash{cur.Hash}); err != nil {
				return err
			}
		default:
			// Counted as bbolt counts them: every name the user holds, live or not.
			var n int
			if err := t.QueryRow(t.Ctx, `SELECT count(*) FROM personal_tokens WHERE user_id = $1`, uid).Scan(&n); err != nil {
				return err
			}
			if n >= store.MaxPersonalTokens {
				return store.ErrTooManyPersonalTokens
			}
		}
		if err := insertToken(t, uid, h, nanos(now), noExpiry); err != nil {
			return err
		}
		doc, err := json.Marshal(&store.PersonalToken{Name: name, Hash: h, LastTokenPart: last, CreatedAt: now})
		if err != nil {
			return err
		}
		_, err = t.Exec(t.Ctx, `INSERT INTO personal_tokens (user_id, name, hash, doc) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, name) DO UPDATE SET hash = excluded.hash, doc = excluded.doc`, uid, name, h[:], doc)
		return err
	})
}

// PersonalTokens lists uid's live personal access tokens by name.
func (s *Store) PersonalTokens(uid string) (list []*store.PersonalToken, err error) {
	if !textOK(uid) {
		return nil, nil
	}
	err = s.one(func(ctx context.Context, db q) error {
		list = nil
		rows, err := db.Query(ctx, `SELECT p.doc FROM personal_tokens p JOIN tokens k ON k.hash = p.hash
			WHERE p.user_id = $1`, uid)
		if err != nil {
			return err
		}
		list, err = pgx.AppendRows(list, rows, func(row pgx.CollectableRow) (*store.PersonalToken, error) {
			var doc []byte
			if err := row.Scan(&doc); err != nil {
				return nil, err
			}
			p := new(store.PersonalToken)
			return p, json.Unmarshal(doc, p)
		})
		return err
	})
	sort.Slice(list, func(a, b int) bool { return list[a].Name < list[b].Name })
	return list, err
}

// RemovePersonalToken revokes uid's personal access token named name.
func (s *Store) RemovePersonalToken(uid, name string) error {
	return s.write(func(t *Tx) error {
		cur, err := livePersonal(t, uid, name)
		if err != nil {
			return err
		}
		if cur == nil {
			return store.ErrPersonalTokenNotFound
		}
		if err := deleteTokens(t, []store.TokenHash{cur.Hash}); err != nil {
			return err
		}
		_, err = t.Exec(t.Ctx, `DELETE FROM personal_tokens WHERE user_id = $1 AND name = $2`, uid, name)
		return err
	})
}
