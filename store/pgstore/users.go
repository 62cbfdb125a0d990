package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rocketlite/store"
)

// Users: the record is users.doc (store.User as JSON, password hash included); beside it the
// columns the lookups and checks need, which every write of the record keeps in step through
// insertUsers and putUser: username/email (as given), username_key/email_key (store.LowerKey,
// unique), active, roles, created_at.

// Advisory lock keys (transaction-scoped). createLock serializes user creations, so the
// first user of an empty database is the only admin and a name is checked and taken in one
// step; adminLock serializes what may take the admin role from the last active admin.
const (
	createLock = 0x726c5f7573657273 // "rl_users"
	adminLock  = 0x726c5f61646d696e // "rl_admin"
)

// textOK reports whether s can be a text parameter: PostgreSQL refuses invalid UTF-8 and the
// 0x00 byte in text, which bbolt's keys take. No stored name or id holds either (creation
// refuses them), so a lookup of such a string finds nothing, and must not fail.
func textOK(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// getUser reads user id in db (a transaction of the operation); ErrUserNotFound if none.
func getUser(ctx context.Context, db q, id string) (*store.User, error) {
	if !textOK(id) {
		return nil, store.ErrUserNotFound
	}
	return scanUser(db.QueryRow(ctx, `SELECT doc FROM users WHERE id = $1`, id))
}

// lockUser is getUser with the row locked for update until the transaction ends: for an
// operation that changes the user, or that must not race a change of its password or of its
// active flag (a login, a personal token).
func lockUser(ctx context.Context, db q, id string) (*store.User, error) {
	if !textOK(id) {
		return nil, store.ErrUserNotFound
	}
	return scanUser(db.QueryRow(ctx, `SELECT doc FROM users WHERE id = $1 FOR UPDATE`, id))
}

// shareUser is getUser for a write that copies the user into another record (a
// membership carries the username): the row is locked against a rename or a deletion
// (which take it FOR UPDATE) until the transaction ends, so neither can miss the record
// this transaction adds — bbolt has one writer at a time, and no such race.
func shareUser(ctx context.Context, db q, id string) (*store.User, error) {
	if !textOK(id) {
		return nil, store.ErrUserNotFound
	}
	return scanUser(db.QueryRow(ctx, `SELECT doc FROM users WHERE id = $1 FOR KEY SHARE`, id))
}

// userByName looks a user up by name as the bbolt index does (store.LowerKey).
func userByName(ctx context.Context, db q, name string) (*store.User, error) {
	if !textOK(name) {
		return nil, store.ErrUserNotFound
	}
	return scanUser(db.QueryRow(ctx, `SELECT doc FROM users WHERE username_key = $1`, store.LowerKey(name)))
}

// userByEmail looks a user up by e-mail as the bbolt index does (store.LowerKey).
func userByEmail(ctx context.Context, db q, email string) (*store.User, error) {
	if email == "" || !textOK(email) { // an empty e-mail is not indexed
		return nil, store.ErrUserNotFound
	}
	return scanUser(db.QueryRow(ctx, `SELECT doc FROM users WHERE email_key = $1`, store.LowerKey(email)))
}

func scanUser(row pgx.Row) (*store.User, error) {
	var doc []byte
	if err := row.Scan(&doc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrUserNotFound
		}
		return nil, err
	}
	return decodeUser(doc)
}

func decodeUser(doc []byte) (*store.User, error) {
	u := new(store.User)
	if err := store.DecodeUser(doc, u); err != nil {
		return nil, err
	}
	return u, nil
}

// userRow is the columns of a user's row, in the order of userColumns.
func userRow(u *store.User) ([]any, error) {
	doc, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	emailKey := ""
	if u.Email != "" {
		emailKey = store.LowerKey(u.Email)
	}
	return []any{u.ID, u.Username, store.LowerKey(u.Username), u.Email, emailKey, u.Active, roles, u.CreatedAt, doc}, nil
}

const userColumns = `id, username, username_key, email, email_key, active, roles, created_at, doc`

// insertUsers inserts new user records in one round trip. A name or e-mail taken meanwhile
// (a rename racing the creation) is the store's "taken" error.
func insertUsers(ctx context.Context, db q, users []*store.User) error {
	b := new(pgx.Batch)
	for _, u := range users {
		row, err := userRow(u)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, row...)
	}
	return takenError(sendBatch(ctx, db, b))
}

// putUser writes a changed user record and its columns.
func putUser(ctx context.Context, db q, u *store.User) error {
	row, err := userRow(u)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `UPDATE users SET username = $2, username_key = $3, email = $4, email_key = $5,
		active = $6, roles = $7, created_at = $8, doc = $9 WHERE id = $1`, row...)
	return takenError(err)
}

// batcher is what both a pool and a transaction offer for pipelined statements.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendBatch runs b's statements in one round trip and returns the first error.
func sendBatch(ctx context.Context, db q, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return db.(batcher).SendBatch(ctx, b).Close()
}

// takenError turns the unique violations of user names and e-mails into the store's errors.
func takenError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return err
	}
	switch pe.ConstraintName {
	case "users_username_key":
		return store.ErrUsernameTaken
	case "users_email_key":
		return store.ErrEmailTaken
	case "users_pkey":
		return store.Errorf(store.Invalid, "invalid-id", "User id is invalid or taken")
	}
	return err
}

// one runs fn, a read of one statement, outside a transaction (a statement is its own
// snapshot): one round trip where read's read-only transaction costs three. For what every
// request asks (the token's owner).
func (s *Store) one(fn func(ctx context.Context, db q) error) error {
	if s.tx != nil {
		return fn(context.Background(), s.tx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.result(fn(ctx, s.pool))
}

// CreateUser stores a new user; see CreateUsers.
func (s *Store) CreateUser(u *store.User, joinDefault bool) error {
	return s.CreateUsers([]*store.User{u}, joinDefault)
}

// CheckNewUser returns the error CreateUser would give for a username or e-mail already
// taken (store.Bolt.CheckNewUser).
func (s *Store) CheckNewUser(username, email string) error {
	return s.one(func(ctx context.Context, db q) error {
		var nameTaken, emailTaken bool
		nk, ek := store.LowerKey(username), emailKey(email)
		if !textOK(nk) {
			nk = "" // not stored, so not taken
		}
		if !textOK(ek) {
			ek = ""
		}
		if err := db.QueryRow(ctx, `SELECT $1 <> '' AND EXISTS (SELECT 1 FROM users WHERE username_key = $1),
			$2 <> '' AND EXISTS (SELECT 1 FROM users WHERE email_key = $2)`, nk, ek).Scan(&nameTaken, &emailTaken); err != nil {
			return err
		}
		return newUserTaken(username, email, nameTaken, emailTaken)
	})
}

func emailKey(email string) string {
	if email == "" {
		return ""
	}
	return store.LowerKey(email)
}

func newUserTaken(username, email string, nameTaken, emailTaken bool) error {
	if nameTaken {
		return store.Errorf(store.Invalid, "username-taken", "Username %q is already in use", username)
	}
	if emailTaken {
		return store.Errorf(store.Invalid, "email-taken", "E-mail %q is already in use", email)
	}
	return nil
}

// CreateUsers stores all users in one transaction, or none of them (store.Bolt.CreateUsers):
// ids, default roles ("admin" for the very first user), type, times, and with joinDefault a
// membership of every default room.
func (s *Store) CreateUsers(users []*store.User, joinDefault bool) error {
	// A fixed id may be one that messages name already (a deleted user's): taken before the
	// transaction, which may run twice and sets the ids it makes.
	var fixed []string
	// The ids and roles as given: a retried transaction must not take what the first attempt
	// set for what the caller gave.
	givenIDs, givenRoles := make([]string, len(users)), make([][]string, len(users))
	for i, u := range users {
		if u.ID != "" {
			fixed = append(fixed, u.ID)
		}
		givenIDs[i], givenRoles[i] = u.ID, u.Roles
	}
	return s.write(func(t *Tx) error {
		for i, u := range users {
			u.ID, u.Roles = givenIDs[i], givenRoles[i]
		}
		now := t.Now()
		// The lock first, in a statement of its own: a statement's snapshot is taken when it
		// starts, so one that waited for the lock would not see the creation it waited for.
		if _, err := t.Exec(t.Ctx, `SELECT pg_advisory_xact_lock($1)`, int64(createLock)); err != nil {
			return err
		}
		var firstEver bool
		if err := t.QueryRow(t.Ctx, `SELECT NOT EXISTS (SELECT 1 FROM users)`).Scan(&firstEver); err != nil {
			return err
		}
		var defaults []*store.Room
		if joinDefault {
			var err error
			if defaults, err = defaultRooms(t); err != nil {
				return err
			}
		}
		// What the batch collides with, in one query; the loop then decides in bbolt's order.
		var names, emails, ids []string
		for _, u := range users { // (what cannot be stored collides with nothing)
			if k := store.LowerKey(u.Username); textOK(k) {
				names = append(names, k)
			}
			if k := emailKey(u.Email); k != "" && textOK(k) {
				emails = append(emails, k)
			}
			if u.ID != "" && textOK(u.ID) {
				ids = append(ids, u.ID)
			}
		}
		rows, err := t.Query(t.Ctx, `SELECT username_key, email_key, id FROM users
			WHERE username_key = ANY ($1) OR (email_key <> '' AND email_key = ANY ($2)) OR id = ANY ($3)`, names, emails, ids)
		if err != nil {
			return err
		}
		takenName, takenEmail, takenID := map[string]bool{}, map[string]bool{}, map[string]bool{}
		var n, e, id string
		_, err = pgx.ForEachRow(rows, []any{&n, &e, &id}, func() error {
			takenName[n], takenID[id] = true, true
			if e != "" {
				takenEmail[e] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, u := range users {
			if err := store.ValidUser(u); err != nil {
				return err
			}
			nk, ek := store.LowerKey(u.Username), emailKey(u.Email)
			if err := newUserTaken(u.Username, u.Email, takenName[nk], ek != "" && takenEmail[ek]); err != nil {
				return err
			}
			if u.ID == "" {
				u.ID = store.NewID()
			} else if !store.ValidKeyPart(u.ID) || !textOK(u.ID) || takenID[u.ID] {
				return store.Errorf(store.Invalid, "invalid-id", "User id %q is invalid or taken", u.ID)
			}
			store.FillNewUser(u, firstEver && i == 0, now)
			takenName[nk], takenID[u.ID] = true, true
			if ek != "" {
				takenEmail[ek] = true
			}
		}
		if err := insertUsers(t.Ctx, t, users); err != nil {
			return err
		}
		if len(defaults) > 0 {
			if err := joinDefaults(t, defaults, users, now); err != nil {
				return err
			}
		}
		if len(fixed) > 0 {
			t.AllPages() // messages show authors by their current names
		}
		return nil
	})
}

// User returns the user with the id.
func (s *Store) User(id string) (u *store.User, err error) {
	err = s.one(func(ctx context.Context, db q) error { u, err = getUser(ctx, db, id); return err })
	return u, err
}

// UserByUsername looks a user up by name, ignoring case.
func (s *Store) UserByUsername(name string) (u *store.User, err error) {
	err = s.one(func(ctx context.Context, db q) error { u, err = userByName(ctx, db, name); return err })
	return u, err
}

// UserByEmail looks a user up by e-mail, ignoring case.
func (s *Store) UserByEmail(email string) (u *store.User, err error) {
	err = s.one(func(ctx context.Context, db q) error { u, err = userByEmail(ctx, db, email); return err })
	return u, err
}

// Users lists users in id order (byte-wise), skipping offset and returning at most count
// (0: all), and the total number of users.
func (s *Store) Users(offset, count int) (users []*store.User, total int, err error) {
	return s.UsersBy(nil, offset, count)
}

// UsersBy is Users sorted by cmp (stably, from id order) before the page is cut. With a cmp
// it reads every user; without, only the page.
func (s *Store) UsersBy(cmp func(a, b *store.User) int, offset, count int) (users []*store.User, total int, err error) {
	offset = max(offset, 0)
	limit := any(nil) // LIMIT NULL: all
	if count > 0 && cmp == nil {
		limit = count
	}
	skip := offset
	if cmp != nil {
		skip = 0
	}
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		users, total = nil, 0
		// The page in id order (an index scan that stops at the page's end) and the count,
		// in one round trip and one snapshot. (count(*) OVER () would read every row's doc.)
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM users`).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
		b.Queue(`SELECT doc FROM users ORDER BY id COLLATE "C" OFFSET $1 LIMIT $2`, skip, limit).Query(func(rows pgx.Rows) error {
			var doc []byte
			_, err := pgx.ForEachRow(rows, []any{&doc}, func() error {
				u, err := decodeUser(doc)
				users = append(users, u)
				return err
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, 0, err
	}
	if cmp != nil {
		slices.SortStableFunc(users, cmp)
		users = users[min(offset, len(users)):]
		if count > 0 && count < len(users) {
			users = users[:count]
		}
	}
	return users, total, nil
}

// UpdateUser applies change to the stored user and saves it (store.Bolt.UpdateUser): names
// and e-mails stay unique, a new password hash or a deactivation revokes the user's tokens,
// and the last active admin keeps the role.
func (s *Store) UpdateUser(id string, change func(u *store.User) error) (updated *store.User, err error) {
	err = s.write(func(t *Tx) error {
		var err error
		updated, err = updateUser(t, id, change)
		return err
	})
	return updated, err
}

// updateUser is UpdateUser inside t (AddUserRole and RemoveUserRole check the role first).
func updateUser(t *Tx, id string, change func(u *store.User) error) (*store.User, error) {
	var doc []byte
	if !textOK(id) {
		return nil, store.ErrUserNotFound
	}
	if err := t.QueryRow(t.Ctx, `SELECT doc FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&doc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrUserNotFound
		}
		return nil, err
	}
	old, err := decodeUser(doc)
	if err != nil {
		return nil, err
	}
	u, err := decodeUser(doc) // change may keep or alter old's slices: its own copy
	if err != nil {
		return nil, err
	}
	if err := change(u); err != nil {
		return nil, err
	}
	u.ID = old.ID
	u.UpdatedAt = t.Now()
	if err := store.ValidUser(u); err != nil {
		return nil, err
	}
	if err := checkKeysFree(t, old, u); err != nil {
		return nil, err
	}
	wasAdmin := old.Active && old.HasRole("admin")
	if wasAdmin && !(u.Active && u.HasRole("admin")) {
		if err := notLastAdmin(t); err != nil {
			return nil, err
		}
	}
	if u.Hash != old.Hash || (old.Active && !u.Active) {
		if _, err := revokeUserTokens(t, id); err != nil {
			return nil, err
		}
	}
	if u.Username != old.Username {
		if err := renameInMemberships(t, u); err != nil {
			return nil, err
		}
	}
	if u.Username != old.Username || u.Name != old.Name {
		t.AllPages() // messages show authors by their current names
	}
	t.Emit(store.Event{Kind: store.UserChanged, User: u, UserID: u.ID})
	return u, putUser(t.Ctx, t, u)
}

// checkKeysFree refuses a new name or e-mail (by its key) that another user holds, name
// first, as bbolt's reindex does.
func checkKeysFree(t *Tx, old, u *store.User) error {
	nk, ek := store.LowerKey(u.Username), emailKey(u.Email)
	if nk == store.LowerKey(old.Username) {
		nk = ""
	}
	if ek == emailKey(old.Email) {
		ek = ""
	}
	if nk == "" && ek == "" {
		return nil
	}
	var nameTaken, emailTaken bool
	if err := t.QueryRow(t.Ctx, `SELECT $1 <> '' AND EXISTS (SELECT 1 FROM users WHERE username_key = $1),
		$2 <> '' AND EXISTS (SELECT 1 FROM users WHERE email_key = $2)`, nk, ek).Scan(&nameTaken, &emailTaken); err != nil {
		return err
	}
	if nameTaken {
		return store.ErrUsernameTaken
	}
	if emailTaken {
		return store.ErrEmailTaken
	}
	return nil
}

// notLastAdmin returns ErrLastAdmin if at most one active admin exists. Called before a
// change takes the role from an active admin (demotion, deactivation, deletion): the lock
// makes such changes take turns, so two of them cannot each see the other admin and both
// go through. Under read committed, the count after the lock sees the previous one's commit.
func notLastAdmin(t *Tx) error {
	// Two statements: the count's snapshot must be taken after the lock was granted.
	if _, err := t.Exec(t.Ctx, `SELECT pg_advisory_xact_lock($1)`, int64(adminLock)); err != nil {
		return err
	}
	var n int
	if err := t.QueryRow(t.Ctx, `SELECT count(*) FROM users WHERE active AND 'admin' = ANY (roles)`).Scan(&n); err != nil {
		return err
	}
	if n <= 1 {
		return store.ErrLastAdmin
	}
	return nil
}

// renameInMemberships keeps the username the user's memberships carry in step.
func renameInMemberships(t *Tx, u *store.User) error {
	_, err := t.Exec(t.Ctx, `UPDATE members SET doc = jsonb_set(doc::jsonb, '{u}', to_jsonb($2::text))::json
		WHERE user_id = $1`, u.ID, u.Username)
	return err
}

// DeleteUser removes a user, their tokens, memberships, picture and preferences; their
// messages stay (store.Bolt.DeleteUser). The last active admin cannot be deleted.
func (s *Store) DeleteUser(id string) error {
	return s.write(func(t *Tx) error {
		u, err := lockUser(t.Ctx, t, id)
		if err != nil {
			return err
		}
		if u.Active && u.HasRole("admin") {
			if err := notLastAdmin(t); err != nil {
				return err
			}
		}
		if _, err := revokeUserTokens(t, id); err != nil {
			return err
		}
		if err := dropMemberships(t, id); err != nil {
			return err
		}
		t.AllPages() // messages show authors by their current names
		t.Emit(store.Event{Kind: store.UserDeleted, UserID: id})
		// Personal token names, the picture and the preferences go with the row (ON DELETE
		// CASCADE).
		_, err = t.Exec(t.Ctx, `DELETE FROM users WHERE id = $1`, id)
		return err
	})
}

// dropMemberships removes a deleted user's memberships with their read marks, as bbolt's
// removeMember does for each of the user's rooms: no message, no event, the rooms' counters
// unchanged. (A read mark of a public room the user was not a member of stays, as in bbolt.)
func dropMemberships(t *Tx, uid string) error {
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM reads r USING members m WHERE m.user_id = $1 AND r.room_id = m.room_id AND r.user_id = $1`, uid)
	b.Queue(`DELETE FROM members WHERE user_id = $1`, uid)
	return sendBatch(t.Ctx, t, b)
}

// defaultRooms returns the rooms every new user joins (Room.Default), in id order as
// bbolt's, locked: their message sequence moves.
func defaultRooms(t *Tx) ([]*store.Room, error) {
	rows, err := t.Query(t.Ctx, `SELECT doc FROM rooms WHERE doc->>'default' = 'true' ORDER BY id COLLATE "C" FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Room, error) {
		var doc []byte
		if err := row.Scan(&doc); err != nil {
			return nil, err
		}
		return decodeRoom(doc)
	})
}

// joinDefaults makes new users members of the default rooms, each with a "uj" message, as
// bbolt's addMember does user by user — but in three statements per room whatever the
// number of users (members, messages, the room), with the events in bbolt's order: for each
// user, for each room, MemberAdded then MessageAdded, each with the room as it was then.
func joinDefaults(t *Tx, rooms []*store.Room, users []*store.User, now time.Time) error {
	uids := make([]string, len(users))
	for i, u := range users {
		uids[i] = u.ID
	}
	type step struct{ added, message store.Event }
	steps := make([][]*step, len(users)) // [user][room]
	for i := range steps {
		steps[i] = make([]*step, len(rooms))
	}
	b := &pgx.Batch{}
	for _, r := range rooms {
		docs := make([]string, len(users))
		for i, u := range users {
			doc, err := json.Marshal(&store.Member{Username: u.Username, Joined: now})
			if err != nil {
				return err
			}
			docs[i] = string(doc)
		}
		// A new user is a member of nothing; a stray membership of a reused id is kept, and
		// that user not announced, as addMember does.
		b.Queue(`INSERT INTO members (room_id, user_id, doc, sub_mark)
			SELECT $1, u, d::json, $4 FROM unnest($2::text[], $3::text[]) AS m(u, d)
			ON CONFLICT DO NOTHING RETURNING user_id`, r.ID, uids, docs, int64(r.Counted))
	}
	br := t.SendBatch(t.Ctx, b)
	added := make([]map[string]bool, len(rooms))
	for j := range rooms {
		rows, err := br.Query()
		if err == nil {
			var ids []string
			ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
			added[j] = map[string]bool{}
			for _, id := range ids {
				added[j][id] = true
			}
		}
		if err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	for j, r := range rooms {
		var msgs []*store.Message
		for i, u := range users {
			if !added[j][u.ID] {
				continue
			}
			st := &step{added: store.Event{Kind: store.MemberAdded, Room: copyRoom(r), UserID: u.ID}}
			m := &store.Message{Text: u.Username, Type: "uj", TS: now, User: store.UserRef{ID: u.ID, Username: u.Username}}
			stampMessage(r, m)
			mc := *m
			st.message = store.Event{Kind: store.MessageAdded, Room: copyRoom(r), Message: &mc}
			steps[i][j] = st
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := storeMessages(t, r.ID, msgs); err != nil {
			return err
		}
		if err := putRoom(t, r); err != nil {
			return err
		}
	}
	for i := range users {
		for j := range rooms {
			if st := steps[i][j]; st != nil {
				t.Emit(st.added)
				t.Emit(st.message)
			}
		}
	}
	return nil
}

func copyRoom(r *store.Room) *store.Room { c := *r; return &c }

// Preferences returns the user's stored preferences (a JSON object; {} if none).
func (s *Store) Preferences(uid string) (p json.RawMessage, err error) {
	err = s.one(func(ctx context.Context, db q) error {
		if !textOK(uid) {
			return store.ErrUserNotFound
		}
		var exists bool
		var doc []byte
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1),
			(SELECT doc FROM preferences WHERE user_id = $1)`, uid).Scan(&exists, &doc); err != nil {
			return err
		}
		if !exists {
			return store.ErrUserNotFound
		}
		p = doc
		return nil
	})
	if p == nil {
		p = json.RawMessage("{}")
	}
	return p, err
}

// SetPreferences merges change into the user's preferences and returns them all.
func (s *Store) SetPreferences(uid string, change map[string]json.RawMessage) (p json.RawMessage, err error) {
	err = s.write(func(t *Tx) error {
		p = nil
		// The user's row lock orders two merges of the same user's preferences; the read is
		// a statement of its own, whose snapshot sees the merge it waited for.
		if !textOK(uid) {
			return store.ErrUserNotFound
		}
		tag, err := t.Exec(t.Ctx, `SELECT FROM users WHERE id = $1 FOR NO KEY UPDATE`, uid)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrUserNotFound
		}
		var doc []byte
		if err := t.QueryRow(t.Ctx, `SELECT doc FROM preferences WHERE user_id = $1`, uid).Scan(&doc); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		cur := map[string]json.RawMessage{}
		if doc != nil {
			if err := json.Unmarshal(doc, &cur); err != nil {
				return err
			}
		}
		for k, v := range change {
			cur[k] = v
		}
		data, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		p = data
		_, err = t.Exec(t.Ctx, `INSERT INTO preferences (user_id, doc) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET doc = excluded.doc`, uid, data)
		return err
	})
	return p, err
}

// AvatarOf returns the picture of the user called username: nil if they have none, and
// ErrUserNotFound if there is no such user.
func (s *Store) AvatarOf(username string) (a *store.Avatar, err error) {
	err = s.one(func(ctx context.Context, db q) error {
		a = nil
		if !textOK(username) {
			return store.ErrUserNotFound
		}
		var ct, etag *string
		var data []byte
		err := db.QueryRow(ctx, `SELECT a.content_type, a.data, a.etag FROM users u
			LEFT JOIN avatars a ON a.user_id = u.id WHERE u.username_key = $1`, store.LowerKey(username)).Scan(&ct, &data, &etag)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrUserNotFound
		}
		if err != nil {
			return err
		}
		if ct != nil {
			a = &store.Avatar{ContentType: *ct, Data: data, ETag: *etag}
		}
		return nil
	})
	return a, err
}

// SetAvatar stores a user's picture (the caller checked its type and size).
func (s *Store) SetAvatar(uid string, a *store.Avatar) error {
	a.ETag = store.NewID()
	return s.write(func(t *Tx) error {
		if !textOK(uid) {
			return store.ErrUserNotFound
		}
		data := a.Data
		if data == nil {
			data = []byte{}
		}
		tag, err := t.Exec(t.Ctx, `INSERT INTO avatars (user_id, content_type, data, etag)
			SELECT id, $2, $3, $4 FROM users WHERE id = $1
			ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data, etag = excluded.etag`,
			uid, a.ContentType, data, a.ETag)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrUserNotFound
		}
		return nil
	})
}

// ResetAvatar removes a user's picture: the generated one is served again.
func (s *Store) ResetAvatar(uid string) error {
	return s.write(func(t *Tx) error {
		if !textOK(uid) {
			return store.ErrUserNotFound
		}
		var exists bool
		if err := t.QueryRow(t.Ctx, `WITH d AS (DELETE FROM avatars WHERE user_id = $1)
			SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, uid).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrUserNotFound
		}
		return nil
	})
}

// hashLess orders token hashes as bbolt's keys (byte-wise).
func hashLess(a, b store.TokenHash) int { return bytes.Compare(a[:], b[:]) }
