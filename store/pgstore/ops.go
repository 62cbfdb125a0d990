package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// maxCheckErrors bounds the report, as bbolt's check does.
const maxCheckErrors = 100

// checkStage is one stage of Check: queries whose every row is one problem, described, and
// records that are checked in Go (decoded as the operations decode them, and their key
// columns computed as the operations compute them).
type checkStage struct {
	what    string
	queries []string
	records func(ctx context.Context, tx pgx.Tx, add func(format string, args ...any) bool) error
}

// checkStages are the invariants of the store that PostgreSQL's own constraints (primary
// keys, unique indexes, members' foreign key to rooms) do not already hold: that the columns
// the queries and access checks read agree with the doc they were taken from, the counters
// rooms keep, and the references no foreign key holds (a message's room, a member's user, a
// permission's roles). As on bbolt, a message's author need not exist: deleting a user keeps
// their messages. Each query returns at most $1 rows.
var checkStages = []checkStage{
	{"users", []string{
		`SELECT format('users/%s: record has id "%s"', id, doc->>'id') FROM users
			WHERE doc->>'id' IS DISTINCT FROM id LIMIT $1`,
		`SELECT format('users/%s: username column is "%s", record says "%s"', id, username, doc->>'username') FROM users
			WHERE doc->>'username' IS DISTINCT FROM username LIMIT $1`,
		`SELECT format('users/%s: email column is "%s", record says "%s"', id, email, doc->>'email') FROM users
			WHERE coalesce(doc->>'email', '') <> email LIMIT $1`,
		`SELECT format('users/%s: active column is %s, record says %s', id, active::text, doc->>'active') FROM users
			WHERE coalesce(doc->>'active', 'false') <> active::text LIMIT $1`,
	}, checkUserRecords},
	{"rooms", []string{
		`SELECT format('rooms/%s: record has id "%s"', id, doc->>'id') FROM rooms
			WHERE doc->>'id' IS DISTINCT FROM id LIMIT $1`,
		`SELECT format('rooms/%s: type column is "%s", record says "%s"', id, type, doc->>'t') FROM rooms
			WHERE doc->>'t' IS DISTINCT FROM type LIMIT $1`,
		// a direct-message room has no name
		`SELECT format('rooms/%s: name column is "%s", record says "%s"', id, name, doc->>'name') FROM rooms
			WHERE type <> 'd' AND coalesce(doc->>'name', '') <> name LIMIT $1`,
		`SELECT format('rooms/%s: msgs column is %s, record says %s', id, msgs, doc->>'msgs') FROM rooms
			WHERE coalesce(doc->>'msgs', '0') <> msgs::text LIMIT $1`,
		`SELECT format('rooms/%s: seq column is %s, record says %s', id, seq, doc->>'seq') FROM rooms
			WHERE coalesce(doc->>'seq', '0') <> seq::text LIMIT $1`,
	}, checkRoomRecords},
	{"messages", []string{
		`SELECT format('message mark %s/%s/%s/%s: the message does not exist', u.room_id, u.seq, u.kind, u.user_id)
			FROM message_users u WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = u.room_id AND m.seq = u.seq) LIMIT $1`,
		`SELECT format('message %s: room "%s" does not exist', m.id, m.room_id) FROM messages m
			WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = m.room_id) LIMIT $1`,
		`SELECT format('message %s: sequence %s is past its room''s %s', m.id, m.seq, r.seq) FROM messages m
			JOIN rooms r ON r.id = m.room_id WHERE m.seq > r.seq LIMIT $1`,
		`SELECT format('room %s: msgs is %s, but it holds %s messages', r.id, r.msgs, coalesce(c.n, 0)) FROM rooms r
			LEFT JOIN (SELECT room_id, count(*) AS n FROM messages GROUP BY room_id) c ON c.room_id = r.id
			WHERE r.msgs <> coalesce(c.n, 0) LIMIT $1`,
	}, checkMessageRecords},
	{"memberships", []string{
		`SELECT format('membership %s/%s: user does not exist', m.room_id, m.user_id) FROM members m
			WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id) LIMIT $1`,
		`SELECT format('membership %s/%s: record names "%s", the user is "%s"', m.room_id, m.user_id, m.doc->>'u', u.username)
			FROM members m JOIN users u ON u.id = m.user_id WHERE m.doc->>'u' IS DISTINCT FROM u.username LIMIT $1`,
	}, nil},
	{"permissions", []string{
		`SELECT format('roles/%s: record has name "%s"', name, doc->>'name') FROM roles
			WHERE doc->>'name' IS DISTINCT FROM name LIMIT $1`,
		`SELECT format('permissions/%s: record has id "%s"', id, doc->>'_id') FROM permissions
			WHERE doc->>'_id' IS DISTINCT FROM id LIMIT $1`,
		// roles is what every access check reads: it must be the record's list
		`SELECT format('permissions/%s: roles column is %s, record says %s', id, roles, doc->'roles') FROM permissions
			WHERE roles <> CASE json_typeof(doc->'roles') WHEN 'array'
				THEN ARRAY(SELECT json_array_elements_text(doc->'roles')) ELSE '{}' END LIMIT $1`,
		`SELECT format('permission %s: role "%s" does not exist', p.id, r.name) FROM permissions p
			CROSS JOIN LATERAL unnest(p.roles) AS r(name)
			WHERE NOT EXISTS (SELECT 1 FROM roles WHERE roles.name = r.name) LIMIT $1`,
	}, nil},
	{"integrations", []string{
		`SELECT format('integrations/%s: record has id "%s"', id, doc->>'_id') FROM integrations
			WHERE doc->>'_id' IS DISTINCT FROM id LIMIT $1`,
	}, nil},
}

// Check verifies the store's invariants in one snapshot (see checkStages). It returns nil for
// a sound database.
func (s *Store) Check() []error { return s.CheckProgress(context.Background(), nil) }

// CheckProgress is Check that tells stage (if not nil) what it starts on, and stops once ctx
// ends (the result then holds ctx's error). It is bounded by ctx only, not by the store's
// per-operation timeout: a large database takes longer than one request.
func (s *Store) CheckProgress(ctx context.Context, stage func(what string)) []error {
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
	run := func(tx pgx.Tx) error {
		for _, st := range checkStages {
			if err := context.Cause(ctx); err != nil {
				return err
			}
			stage("checking " + st.what)
			if st.records != nil {
				if err := st.records(ctx, tx, add); err != nil || len(errs) >= maxCheckErrors {
					return err
				}
			}
			for _, sql := range st.queries {
				rows, err := tx.Query(ctx, sql, maxCheckErrors-len(errs))
				if err != nil {
					return err
				}
				found, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				for _, f := range found {
					add("%s", f)
				}
				if len(errs) >= maxCheckErrors {
					return nil
				}
			}
		}
		return nil
	}
	var err error
	if s.tx != nil {
		err = run(s.tx)
	} else {
		err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, run)
	}
	if err != nil {
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		errs = append(errs, s.result(err))
	}
	return errs
}

// checkMessageRecords decodes every message and checks what the operations derive from it:
// its key and columns (the search text lower-cased by Go, the thread and pin columns the
// lists read) and its user marks (stars, mentions). As on bbolt, the author need not exist.
func checkMessageRecords(ctx context.Context, tx pgx.Tx, add func(format string, args ...any) bool) error {
	rows, err := tx.Query(ctx, `SELECT m.room_id, m.seq, m.id, m.ts, m.updated_at, m.author_id, m.text, m.type,
			m.editor_id, m.tmid, m.tcount, m.tlm, m.pinned, m.doc, coalesce(u.marks, '{}')
		FROM messages m LEFT JOIN (SELECT room_id, seq, array_agg(kind::text || ':' || user_id ORDER BY kind, user_id) AS marks
			FROM message_users GROUP BY room_id, seq) u USING (room_id, seq)`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var rid, id, author, text, typ, editor, tmid string
		var seq int64
		var tcount int
		var ts, updated time.Time
		var tlm *time.Time
		var pinned bool
		var doc []byte
		var marks []string
		if err := rows.Scan(&rid, &seq, &id, &ts, &updated, &author, &text, &typ, &editor, &tmid, &tcount, &tlm, &pinned, &doc, &marks); err != nil {
			return err
		}
		slices.Sort(marks) // in Go's byte order, as want below: the database's collation may differ
		var m store.Message
		if err := store.DecodeMessage(doc, &m); err != nil {
			if !add("messages/%s/%d: %v", rid, seq, err) {
				return nil
			}
			continue
		}
		kinds, users := userMarks(&m)
		want := make([]string, len(kinds))
		for i := range kinds {
			want[i] = kinds[i] + ":" + users[i]
		}
		slices.Sort(want)
		want = slices.Compact(want)
		var bad []string
		for _, c := range []struct {
			col      string
			ok       bool
			got, exp any
		}{
			{"id", id == m.ID, id, m.ID},
			{"room", rid == m.RoomID, rid, m.RoomID},
			{"ts", sameMicro(ts, m.TS), ts, m.TS},
			{"updated_at", sameMicro(updated, m.UpdatedAt), updated, m.UpdatedAt},
			{"author_id", author == m.User.ID, author, m.User.ID},
			{"text", text == searchText(&m), text, searchText(&m)},
			{"type", typ == m.Type, typ, m.Type},
			{"editor_id", editor == editorID(&m), editor, editorID(&m)},
			{"tmid", tmid == m.TMID, tmid, m.TMID},
			{"tcount", tcount == m.TCount, tcount, m.TCount},
			{"tlm", (tlm == nil && m.TLM.IsZero()) || (tlm != nil && sameMicro(*tlm, m.TLM)), tlm, m.TLM},
			{"pinned", pinned == m.Pinned, pinned, m.Pinned},
			{"marks", slices.Equal(marks, want), marks, want},
		} {
			if !c.ok {
				bad = append(bad, fmt.Sprintf("%s is %v, record says %v", c.col, c.got, c.exp))
			}
		}
		if m.User.ID == "" || m.User.Username == "" {
			bad = append(bad, "author reference is incomplete")
		}
		if len(bad) > 0 && !add("message %s (%s/%d): %s", id, rid, seq, strings.Join(bad, "; ")) {
			return nil
		}
	}
	return rows.Err()
}

// sameMicro compares a timestamptz column with the time of the record it was written from:
// the column keeps microseconds (pgx drops the rest), the record what it was given
// (AppendMessages takes times as they come).
func sameMicro(col, rec time.Time) bool {
	d := col.Sub(rec)
	return d > -time.Microsecond && d < time.Microsecond
}

// checkUserRecords decodes every user and checks the columns computed in Go: the name and
// e-mail keys (Go's case folding) and the roles (the last-admin count reads them).
func checkUserRecords(ctx context.Context, tx pgx.Tx, add func(format string, args ...any) bool) error {
	rows, err := tx.Query(ctx, `SELECT id, username_key, email_key, roles, doc FROM users ORDER BY id COLLATE "C"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, nameKey, mailKey string
		var roles []string
		var doc []byte
		if err := rows.Scan(&id, &nameKey, &mailKey, &roles, &doc); err != nil {
			return err
		}
		u, err := decodeUser(doc)
		ok := true
		switch {
		case err != nil:
			ok = add("users/%s: %v", id, err)
		case nameKey != store.LowerKey(u.Username):
			ok = add("users/%s: username_key is %q, want %q", id, nameKey, store.LowerKey(u.Username))
		case mailKey != emailKey(u.Email):
			ok = add("users/%s: email_key is %q, want %q", id, mailKey, emailKey(u.Email))
		case !slices.Equal(roles, u.Roles):
			ok = add("users/%s: roles column is %v, record says %v", id, roles, u.Roles)
		}
		if !ok {
			return nil
		}
	}
	return rows.Err()
}

// checkRoomRecords decodes every room and checks its name key, which the operations compute
// in Go (Go's case folding, not the database's locale).
func checkRoomRecords(ctx context.Context, tx pgx.Tx, add func(format string, args ...any) bool) error {
	rows, err := tx.Query(ctx, `SELECT id, name_key, doc FROM rooms ORDER BY id COLLATE "C"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var key *string
		var doc []byte
		if err := rows.Scan(&id, &key, &doc); err != nil {
			return err
		}
		r, err := decodeRoom(doc)
		if err != nil {
			if !add("rooms/%s: %v", id, err) {
				return nil
			}
			continue
		}
		if want := nameKey(r); (want == nil) != (key == nil) || (want != nil && *want != *key) {
			if !add("rooms/%s: name_key is %s, want %s", id, strPtr(key), strPtr(want)) {
				return nil
			}
		}
	}
	return rows.Err()
}

func strPtr(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *s)
}
