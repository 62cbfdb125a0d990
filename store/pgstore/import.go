package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rocketlite/store"
)

// Import copies a bbolt file's records (store.Bolt.Export) into this database, which must be
// empty, for rocketlite migrate. Everything is written in one transaction with COPY, the rows
// exactly as the domain operations write them (doc and the columns kept beside it), so a
// failed or interrupted import leaves the database as empty as it found it. Before the
// commit it counts the rows of every kind and refuses to commit if they differ from the
// records it was given (or from Want).

// ImportOptions tune Import.
type ImportOptions struct {
	// Want is what the source counted kind by kind (store.Bolt.ExportCounts); nil: no check
	// beyond the records Import received.
	Want map[store.RecordKind]int
	// Progress is told, now and then, how many records of the current kind have been written.
	Progress func(kind store.RecordKind, n int)
	// Stage, if set, is told when a long step after the copy begins (a file of millions of
	// messages spends a while there with no record to count).
	Stage func(what string)
	// Batch is the number of rows sent per COPY (0: 10,000), BatchBytes the bytes of row data
	// held before they are sent (0: 16 MiB): the memory a copy takes is about the smaller,
	// whatever the size of the file (avatars and long messages are big rows).
	Batch      int
	BatchBytes int
}

// DefaultImportBatchBytes is ImportOptions.BatchBytes' default.
const DefaultImportBatchBytes = 16 << 20

// NotEmptyError refuses an import into a database that already holds records: Tables
// names the tables that have rows.
type NotEmptyError struct{ Tables []string }

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("the PostgreSQL database is not empty (rows in %s): migrate copies into an empty database only; "+
		"point --to at a new database or schema (or drop this one's tables) and try again", strings.Join(e.Tables, ", "))
}

// CountMismatchError reports kinds whose row counts differ from the source's after the
// copy; nothing was committed.
type CountMismatchError struct{ Lines []string }

func (e *CountMismatchError) Error() string {
	return "the copy does not hold what the source does, nothing was committed: " + strings.Join(e.Lines, "; ")
}

// kindTables maps each kind to the table whose rows count it.
var kindTables = map[store.RecordKind]string{
	store.KindMeta: "meta", store.KindRole: "roles", store.KindPermission: "permissions", store.KindUser: "users",
	store.KindToken: "tokens", store.KindPersonalToken: "personal_tokens", store.KindAvatar: "avatars",
	store.KindPreferences: "preferences", store.KindRoom: "rooms", store.KindMember: "members", store.KindRead: "reads",
	store.KindMessage: "messages", store.KindTombstone: "message_tombstones", store.KindIntegration: "integrations",
}

// Import runs export (store.Bolt.Export on the source) and writes what it streams, then
// verifies and commits. It returns the rows of every kind in the committed copy.
func (s *Store) Import(ctx context.Context, export func(ctx context.Context, fn func(store.Record) error) error, opts ImportOptions) (map[store.RecordKind]int, error) {
	if opts.Batch <= 0 {
		opts.Batch = 10000
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultImportBatchBytes
	}
	if opts.Stage == nil {
		opts.Stage = func(string) {}
	}
	var counted map[store.RecordKind]int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockEmpty(ctx, tx); err != nil {
			return err
		}
		rebuild, err := dropIndexes(ctx, tx)
		if err != nil {
			return err
		}
		im := &importer{ctx: ctx, tx: tx, opts: opts, got: map[store.RecordKind]int{}, rows: map[string]*copyRows{}}
		if err := export(ctx, im.add); err != nil {
			return err
		}
		if err := im.flush(); err != nil {
			return err
		}
		opts.Stage("building the indexes")
		for _, def := range rebuild {
			if _, err := tx.Exec(ctx, def); err != nil {
				return fmt.Errorf("rebuild index: %w", err)
			}
		}
		opts.Stage("counting the rows")
		if counted, err = verifyCounts(ctx, tx, im.got, opts.Want); err != nil {
			return err
		}
		// The planner's statistics of freshly filled tables, so that the first requests
		// already use the indexes (autovacuum would get there, later).
		opts.Stage("gathering the planner's statistics, committing")
		tables := make([]string, 0, len(importColumns))
		for t := range importColumns {
			tables = append(tables, pgx.Identifier{t}.Sanitize())
		}
		slices.Sort(tables)
		_, err = tx.Exec(ctx, `ANALYZE `+strings.Join(tables, ", "))
		return err
	})
	if err != nil {
		return nil, err
	}
	return counted, nil
}

// lockEmpty locks every table of the schema against writers until the transaction ends (a
// server started meanwhile waits; a second migrate finds the first one's rows) and refuses
// unless all are empty.
func lockEmpty(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
		ORDER BY table_name`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	idents := make([]string, len(names))
	for i, n := range names {
		idents[i] = pgx.Identifier{n}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(idents, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	var full []string
	for i, n := range names {
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+idents[i]+`)`).Scan(&has); err != nil {
			return err
		}
		if has {
			full = append(full, n)
		}
	}
	if len(full) > 0 {
		return &NotEmptyError{Tables: full}
	}
	return nil
}

// dropIndexes drops the plain (not unique, not a constraint's) indexes of the schema's tables
// for the copy, in its transaction, and returns their definitions to build them again after
// it, as PostgreSQL's "Populating a Database" advises: one build over all the rows is faster
// than growing an index row by row (the trigram index of the messages above all: 100,000
// messages copied in 7.8 s instead of 9.0 s on the loaded test machine). The unique indexes
// stay, so that a duplicate is refused by name as it comes; so do the indexes of tables the
// user does not own (a database whose schema another role created), which only costs time.
func dropIndexes(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT quote_ident(i.relname), pg_get_indexdef(x.indexrelid)
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
		WHERE t.relnamespace = current_schema()::regnamespace AND NOT x.indisunique
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
			AND pg_has_role(current_user, t.relowner, 'USAGE') -- DROP INDEX needs the table's owner
		ORDER BY i.relname`)
	if err != nil {
		return nil, err
	}
	type index struct{ Name, Def string }
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return nil, err
	}
	defs := make([]string, len(list))
	for i, ix := range list {
		if _, err := tx.Exec(ctx, `DROP INDEX `+ix.Name); err != nil {
			return nil, err
		}
		defs[i] = ix.Def
	}
	return defs, nil
}

// verifyCounts counts every kind's rows and compares them with the records written and with
// want (if not nil).
func verifyCounts(ctx context.Context, tx pgx.Tx, got, want map[store.RecordKind]int) (map[store.RecordKind]int, error) {
	counted := map[store.RecordKind]int{}
	var bad []string
	for _, k := range store.RecordKinds {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{kindTables[k]}.Sanitize()).Scan(&n); err != nil {
			return nil, err
		}
		counted[k] = n
		switch {
		case n != got[k]:
			bad = append(bad, fmt.Sprintf("%s: %d records read, %d rows written", k, got[k], n))
		case want != nil && n != want[k]:
			bad = append(bad, fmt.Sprintf("%s: %d in the source, %d copied", k, want[k], n))
		}
	}
	if len(bad) > 0 {
		return nil, &CountMismatchError{Lines: bad}
	}
	return counted, nil
}

// copyRows is what is buffered for one table.
type copyRows struct {
	cols []string
	rows [][]any
}

type importer struct {
	ctx  context.Context
	tx   pgx.Tx
	opts ImportOptions
	kind store.RecordKind
	got  map[store.RecordKind]int
	// rows holds the rows not yet sent, by table; order is the tables in the order they
	// first got rows, which is the order they are sent in (a parent before its children).
	rows  map[string]*copyRows
	order []string
	// buffered and bytes are the rows held and the size of their data.
	buffered, bytes int
}

// row buffers one row of table.
func (im *importer) row(table string, cols []string, vals ...any) {
	r := im.rows[table]
	if r == nil {
		r = &copyRows{cols: cols}
		im.rows[table] = r
		im.order = append(im.order, table)
	}
	r.rows = append(r.rows, vals)
	im.buffered++
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			im.bytes += len(v)
		case []byte:
			im.bytes += len(v)
		default:
			im.bytes += 8
		}
	}
}

// flush sends every buffered row with COPY, table by table.
func (im *importer) flush() error {
	for _, t := range im.order {
		r := im.rows[t]
		if len(r.rows) == 0 {
			continue
		}
		n, err := im.tx.CopyFrom(im.ctx, pgx.Identifier{t}, r.cols, pgx.CopyFromRows(r.rows))
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "23503" || pe.Code == "23505") {
				// A dangling reference or a duplicate: the file breaks an invariant.
				return fmt.Errorf("copy into %s: %w (rocketlite check --db FILE lists what is wrong with the file)", t, err)
			}
			return fmt.Errorf("copy into %s: %w", t, err)
		}
		if int(n) != len(r.rows) {
			return fmt.Errorf("copy into %s: %d of %d rows written", t, n, len(r.rows))
		}
		r.rows = r.rows[:0]
	}
	im.buffered, im.bytes = 0, 0
	if im.opts.Progress != nil && im.kind != "" {
		im.opts.Progress(im.kind, im.got[im.kind])
	}
	return nil
}

var (
	metaCols        = []string{"key", "value"}
	roleCols        = []string{"name", "doc"}
	permissionCols  = []string{"id", "roles", "doc"}
	userCols        = strings.Split(userColumns, ", ") // userRow's order
	tokenCols       = []string{"hash", "user_id", "issued", "expires"}
	personalCols    = []string{"user_id", "name", "hash", "doc"}
	avatarCols      = []string{"user_id", "content_type", "data", "etag"}
	preferencesCols = []string{"user_id", "doc"}
	roomCols        = []string{"id", "name", "name_key", "type", "creator_id", "msgs", "seq", "created_at", "doc"}
	memberCols      = []string{"room_id", "user_id", "doc", "sub_mark"}
	readCols        = []string{"room_id", "user_id", "seq"}
	messageCols     = []string{"room_id", "seq", "id", "ts", "updated_at", "author_id", "text", "doc",
		"type", "editor_id", "tmid", "tcount", "tlm", "pinned"}
	messageUserCols = []string{"room_id", "kind", "user_id", "seq"}
	tombstoneCols   = []string{"room_id", "at", "id"}
	integrationCols = []string{"id", "created_ns", "doc"}
)

// importColumns is every table Import fills, with the columns it writes: all of the table's
// (TestImportCoversSchema fails when a migration adds a table or a column the importer does
// not know of, so that a domain's new column is copied too). importSkipped are the tables it
// leaves empty on purpose.
var (
	importColumns = map[string][]string{"meta": metaCols, "roles": roleCols, "permissions": permissionCols,
		"users": userCols, "tokens": tokenCols, "personal_tokens": personalCols, "avatars": avatarCols,
		"preferences": preferencesCols, "rooms": roomCols, "members": memberCols, "reads": readCols,
		"messages": messageCols, "message_users": messageUserCols, "message_tombstones": tombstoneCols,
		"integrations": integrationCols}
	importSkipped = map[string]string{
		"events":            "realtime events: the nodes start following an empty table",
		"login_failures":    "failed logins are counted afresh",
		"schema_migrations": "written by Open",
	}
)

// add takes one record of the export. Records come kind by kind, parents first; the rows of
// a kind are all sent before the first row of the next, so that foreign keys hold.
func (im *importer) add(rec store.Record) error {
	if k := rec.Kind(); k != im.kind {
		if err := im.flush(); err != nil {
			return err
		}
		im.kind = k
	}
	im.got[rec.Kind()]++
	var err error
	switch r := rec.(type) {
	case store.MetaRecord:
		im.row("meta", metaCols, r.Key, r.Value)
	case store.RoleRecord:
		err = im.doc("roles", roleCols, r.Role, r.Role.Name)
	case store.PermissionRecord:
		roles := r.Permission.Roles
		if roles == nil {
			roles = []string{} // as putPermission: a permission stored with "roles": null grants nothing
		}
		err = im.doc("permissions", permissionCols, r.Permission, r.Permission.ID, roles)
	case store.UserRecord:
		var row []any
		if row, err = userRow(r.User); err == nil {
			im.row("users", userCols, row...)
		}
	case store.TokenRecord:
		im.row("tokens", tokenCols, r.Hash[:], r.UserID, r.Issued.UnixNano(), r.Expires.UnixNano())
	case store.PersonalTokenRecord:
		err = im.doc("personal_tokens", personalCols, r.Token, r.UserID, r.Token.Name, r.Token.Hash[:])
	case store.AvatarRecord:
		im.row("avatars", avatarCols, r.UserID, r.Avatar.ContentType, r.Avatar.Data, r.Avatar.ETag)
	case store.PreferencesRecord:
		im.row("preferences", preferencesCols, r.UserID, []byte(r.Doc))
	case store.RoomRecord:
		err = im.doc("rooms", roomCols, r.Room, r.Room.ID, r.Room.Name, nameKey(r.Room), r.Room.Type, creatorID(r.Room),
			r.Room.Msgs, int64(r.Room.Seq), r.Room.CreatedAt)
	case store.MemberRecord:
		err = im.doc("members", memberCols, r.Member, r.Member.RoomID, r.Member.UserID, int64(r.Mark))
	case store.ReadRecord:
		im.row("reads", readCols, r.RoomID, r.UserID, int64(r.Seq))
	case store.MessageRecord:
		err = im.message(r.Message)
	case store.TombstoneRecord:
		im.row("message_tombstones", tombstoneCols, r.RoomID, r.Deleted.At, r.Deleted.ID)
	case store.IntegrationRecord:
		err = im.doc("integrations", integrationCols, r.Integration, r.Integration.ID, r.Integration.CreatedAt.UnixNano())
	default:
		err = fmt.Errorf("no table for records of kind %s", rec.Kind())
	}
	if err != nil {
		return err
	}
	if im.buffered >= im.opts.Batch || im.bytes >= im.opts.BatchBytes {
		return im.flush()
	}
	return nil
}

// doc buffers a row of table whose column doc is v as JSON (the record as the store writes
// it) and whose other columns are vals, in cols' order.
func (im *importer) doc(table string, cols []string, v any, vals ...any) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	i := slices.Index(cols, "doc")
	row := make([]any, 0, len(cols))
	row = append(row, vals[:i]...)
	row = append(row, doc)
	row = append(row, vals[i:]...)
	im.row(table, cols, row...)
	return nil
}

// message buffers a message's row with its per-user marks (stars, mentions), as putMessage
// writes them.
func (im *importer) message(m *store.Message) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return err
	}
	im.row("messages", messageCols, m.RoomID, int64(m.Seq), m.ID, m.TS, m.UpdatedAt, m.User.ID, searchText(m), doc,
		m.Type, editorID(m), m.TMID, m.TCount, nullTime(m.TLM), m.Pinned)
	kinds, users := userMarks(m)
	seen := map[[2]string]bool{}
	for i := range kinds {
		// A user starred or mentioned twice is one mark (putMessage's insert skips the second).
		if k := [2]string{kinds[i], users[i]}; !seen[k] {
			seen[k] = true
			im.row("message_users", messageUserCols, m.RoomID, kinds[i], users[i], int64(m.Seq))
		}
	}
	return nil
}
