package pgstore

// Messages on PostgreSQL: the bbolt store's messages.go, statement for statement in meaning.
// A room's messages are keyed (room_id, seq); the seq is taken from the room's row, locked
// (SELECT … FOR UPDATE) in the send transaction, so a room's sequence follows the commit
// order of its sends and Room.Msgs/Seq/Counted never lose an update. A send is a handful of
// round trips: the room with everything the access rules ask about it in one query, then
// the message, its marks, the room's counters and the subscriptions' counts in one batch.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rocketlite/store"
)

// maxFiltered bounds the index entries a time-bounded history page passes over for its
// unread and before-id bounds (bbolt's maxFiltered); tests lower it.
var maxFiltered = store.MaxHistorySkip

// cleanChunk bounds the messages one transaction of CleanHistory removes (bbolt's
// cleanChunk), so that a huge room does not hold its row lock (and its sends) for long.
var cleanChunk = 2000

// badText reports whether s cannot be a stored id or text: PostgreSQL refuses NUL and
// invalid UTF-8 in text, where bbolt just finds no such key. Such an argument is answered
// as the missing record it names, never as a database error.
func badText(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }

// access is a room read together with every record the access rules (store.MayReadRoom,
// store.MayWriteRoom) ask about it for one user: their membership and the permissions those
// rules name. It answers store.Facts from them, and anything else from the transaction.
type access struct {
	facts
	room    *store.Room
	uid     string
	member  bool
	roles   []string // the user's room roles
	subMark int64    // the member's sub_mark
	readSeq int64    // the user's read mark (0: none)
	perms   map[string]*[]string
}

func (a *access) Grants(perm string, roles []string) (granted, exists bool, err error) {
	have, ok := a.perms[perm]
	if !ok {
		return a.facts.Grants(perm, roles)
	}
	if have == nil {
		return false, false, nil
	}
	for _, r := range roles {
		for _, h := range *have {
			if h == r {
				return true, true, nil
			}
		}
	}
	return false, true, nil
}

func (a *access) IsMember(rid, uid string) (bool, error) {
	if rid == a.room.ID && uid == a.uid {
		return a.member, nil
	}
	return a.facts.IsMember(rid, uid)
}

func (a *access) MemberRoles(rid, uid string) ([]string, bool, error) {
	if rid == a.room.ID && uid == a.uid {
		return a.roles, a.member, nil
	}
	return a.facts.MemberRoles(rid, uid)
}

// roomAccessSQL reads a room ($1) with user $2's membership and read mark and the roles of
// the permissions the room access rules read (view-c-room, post-readonly).
const roomAccessSQL = `SELECT r.doc, m.doc, m.sub_mark,
		(SELECT seq FROM reads WHERE room_id = r.id AND user_id = $2),
		(SELECT roles FROM permissions WHERE id = 'view-c-room'),
		(SELECT roles FROM permissions WHERE id = 'post-readonly')
	FROM rooms r LEFT JOIN members m ON m.room_id = r.id AND m.user_id = $2
	WHERE r.id = $1`

// roomAccess reads room rid for user uid; lock takes the room's row lock, as every write
// that changes the room (its seq, counters) must before reading it.
func roomAccess(ctx context.Context, db q, rid, uid string, lock bool) (*access, error) {
	if badText(rid) {
		return nil, store.ErrRoomNotFound
	}
	sql := roomAccessSQL
	if lock {
		sql += ` FOR UPDATE OF r`
	}
	return scanAccess(db.QueryRow(ctx, sql, rid, uid), facts{ctx, db}, uid)
}

func scanAccess(row pgx.Row, f facts, uid string) (*access, error) {
	var roomDoc, memberDoc []byte
	var subMark, readSeq *int64
	var view, postRO *[]string
	if err := row.Scan(&roomDoc, &memberDoc, &subMark, &readSeq, &view, &postRO); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrRoomNotFound
		}
		return nil, err
	}
	a := &access{facts: f, uid: uid, room: new(store.Room),
		perms: map[string]*[]string{store.ViewPublicRooms: view, store.PostReadOnly: postRO}}
	if err := json.Unmarshal(roomDoc, a.room); err != nil {
		return nil, err
	}
	return a, a.setMember(memberDoc, subMark, readSeq)
}

// setMember fills in the reader's membership (nil memberDoc: none) and read marks as a
// room's access query returned them.
func (a *access) setMember(memberDoc []byte, subMark, readSeq *int64) error {
	if readSeq != nil {
		a.readSeq = *readSeq
	}
	if memberDoc == nil {
		return nil
	}
	a.member = true
	var m store.Member
	if err := json.Unmarshal(memberDoc, &m); err != nil {
		return err
	}
	a.roles = m.Roles
	if subMark != nil {
		a.subMark = *subMark
	}
	return nil
}

// readable is roomAccess with the read rule applied (bbolt's readableRoom).
func readable(ctx context.Context, db q, rid string, reader *store.User, lock bool) (*access, error) {
	a, err := roomAccess(ctx, db, rid, reader.ID, lock)
	if err != nil {
		return nil, err
	}
	if err := store.MayReadRoom(a, a.room, reader); err != nil {
		return nil, err
	}
	return a, nil
}

// saveRoomCounts queues the write of r's record after messages came or went: its doc with
// the msgs and seq columns (the only indexed columns a message changes).
func saveRoomCounts(b *pgx.Batch, r *store.Room) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b.Queue(`UPDATE rooms SET doc = $2, msgs = $3, seq = $4 WHERE id = $1`, r.ID, doc, r.Msgs, int64(r.Seq))
	return nil
}

// searchText is what column text holds: the user message's text lower-cased as Go does it,
// which search compares with LIKE.
func searchText(m *store.Message) string {
	if m.Type != "" {
		return ""
	}
	return strings.ToLower(m.Text)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func editorID(m *store.Message) string {
	if m.EditedBy != nil {
		return m.EditedBy.ID
	}
	return ""
}

// userMarks are the message_users rows m should have: 's' for each user who starred it,
// 'm' for each user it mentions (bbolt's marksOf, the per-user part).
func userMarks(m *store.Message) (kinds []string, users []string) {
	for _, uid := range m.Starred {
		kinds, users = append(kinds, "s"), append(users, uid)
	}
	for _, u := range m.Mentions {
		if u.ID != store.MentionAll && u.ID != store.MentionHere {
			kinds, users = append(kinds, "m"), append(users, u.ID)
		}
	}
	return kinds, users
}

// queueMarks queues the replacement of old's user marks (nil: a new message) by m's (nil:
// deleted), the way bbolt's putMarks replaces keys: only the difference is written.
func queueMarks(b *pgx.Batch, old, m *store.Message) {
	type mark struct{ kind, uid string }
	set := func(msg *store.Message) map[mark]bool {
		out := map[mark]bool{}
		if msg != nil {
			k, u := userMarks(msg)
			for i := range k {
				out[mark{k[i], u[i]}] = true
			}
		}
		return out
	}
	was, is := set(old), set(m)
	var delK, delU, addK, addU []string
	for k := range was {
		if !is[k] {
			delK, delU = append(delK, k.kind), append(delU, k.uid)
		}
	}
	for k := range is {
		if !was[k] {
			addK, addU = append(addK, k.kind), append(addU, k.uid)
		}
	}
	ref := m
	if ref == nil {
		ref = old
	}
	if len(delK) > 0 {
		b.Queue(`DELETE FROM message_users WHERE room_id = $1 AND seq = $2
			AND (kind, user_id) IN (SELECT k::"char", u FROM unnest($3::text[], $4::text[]) AS x (k, u))`,
			ref.RoomID, int64(ref.Seq), delK, delU)
	}
	if len(addK) > 0 {
		b.Queue(`INSERT INTO message_users (room_id, kind, user_id, seq)
			SELECT $1, k::"char", u, $2 FROM unnest($3::text[], $4::text[]) AS x (k, u) ON CONFLICT DO NOTHING`,
			ref.RoomID, int64(ref.Seq), addK, addU)
	}
}

const insertMessageSQL = `INSERT INTO messages (room_id, seq, id, ts, updated_at, author_id, text, doc,
		type, editor_id, tmid, tcount, tlm, pinned)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// updateMessageSQL rewrites a stored message with every column that follows from its doc.
const updateMessageSQL = `UPDATE messages SET updated_at = $3, text = $4, doc = $5, editor_id = $6,
		tmid = $7, tcount = $8, tlm = $9, pinned = $10, type = $11
	WHERE room_id = $1 AND seq = $2`

func queueUpdate(b *pgx.Batch, m *store.Message, doc []byte) {
	b.Queue(updateMessageSQL, m.RoomID, int64(m.Seq), m.UpdatedAt, searchText(m), doc, editorID(m),
		m.TMID, m.TCount, nullTime(m.TLM), m.Pinned, m.Type)
}

// stampMessage gives m the next place at the end of room r (an id too if it has none): r's
// Seq, Msgs and LastMessage move, and the caller saves r. r must have been read with its row
// lock in this transaction (lockRoom, roomAccess(…, true)), so that the room's sequence
// follows its commits.
func stampMessage(r *store.Room, m *store.Message) {
	if m.ID == "" {
		m.ID = store.NewID()
	}
	r.Seq++
	r.Msgs++
	m.Seq, m.RoomID = r.Seq, r.ID
	m.UpdatedAt = m.TS
	r.LastMessage = m.TS
}

// queueInsert queues the insert of stamped message m, with the columns and marks that
// follow from it; data is its record already encoded (nil: encode it here).
func queueInsert(b *pgx.Batch, m *store.Message, data []byte) error {
	if badText(m.ID) {
		return store.ErrMessageIDTaken // no stored id holds a NUL or invalid UTF-8
	}
	if data == nil {
		var err error
		if data, err = json.Marshal(m); err != nil {
			return err
		}
	}
	b.Queue(insertMessageSQL, m.RoomID, int64(m.Seq), m.ID, m.TS, m.UpdatedAt, m.User.ID, searchText(m), data,
		m.Type, editorID(m), m.TMID, m.TCount, nullTime(m.TLM), m.Pinned)
	queueMarks(b, nil, m)
	return nil
}

// putMessage stamps m as room r's next message and queues its insert on b (bbolt's
// putMessage); data is m's record already encoded (nil: encode it here). The caller sends b,
// saves r (saveRoomCounts, putRoom) and emits.
func putMessage(t *Tx, b *pgx.Batch, r *store.Room, m *store.Message, data []byte) error {
	stampMessage(r, m)
	t.Pages(r.ID)
	return queueInsert(b, m, data)
}

// storeMessages inserts messages of room rid that stampMessage numbered, in one round trip.
func storeMessages(t *Tx, rid string, msgs []*store.Message) error {
	b := &pgx.Batch{}
	for _, m := range msgs {
		if err := queueInsert(b, m, nil); err != nil {
			return err
		}
	}
	t.Pages(rid)
	return execBatch(t.Ctx, t, b)
}

// insertMessages numbers msgs at the end of room r and stores them (the caller saves r);
// with emit, each is announced with the room as it was right after it.
func insertMessages(t *Tx, r *store.Room, msgs []*store.Message, emit bool) error {
	if len(msgs) == 0 {
		return nil
	}
	for _, m := range msgs {
		stampMessage(r, m)
		if emit {
			t.Emit(store.Event{Kind: store.MessageAdded, Room: r, Message: m})
		}
	}
	return storeMessages(t, r.ID, msgs)
}

// appendMessage stores m as room r's next message, emits it and saves r's counters: bbolt's
// appendMessage, for the system messages of joins, leaves, kicks, role changes and pins.
// System messages are not counted as unread. r must have been read with its row lock.
func appendMessage(t *Tx, r *store.Room, m *store.Message) error {
	b := &pgx.Batch{}
	if err := putMessage(t, b, r, m, nil); err != nil {
		return err
	}
	if err := saveRoomCounts(b, r); err != nil {
		return err
	}
	if err := execBatch(t.Ctx, t, b); err != nil {
		return err
	}
	t.Emit(store.Event{Kind: store.MessageAdded, Room: r, Message: m})
	return nil
}

// execBatch runs b and checks every statement's result; a message id that is taken is
// store.ErrMessageIDTaken.
func execBatch(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	br := db.SendBatch(ctx, b)
	for i := 0; i < b.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return dbErr(err)
		}
	}
	return dbErr(br.Close())
}

// dbErr maps the constraint a write ran into to the store's error for it.
func dbErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "messages_id" {
		return store.ErrMessageIDTaken
	}
	return err
}

// PostMessage stores m in room rid as written by author (bbolt's PostMessage): the author
// needs read access, and in a read-only room post-readonly; an archived room refuses. The
// store sets the room, time and sequence; it keeps m.ID if set and unused. Concurrent posts
// of this node share transactions (sends.go), as bbolt's share commits.
func (s *Store) PostMessage(rid string, author *store.User, m *store.Message) error {
	now := ms(s.now())
	if err := store.ValidMessage(m); err != nil {
		return err
	}
	if m.ID != "" && badText(m.ID) {
		return store.ErrMessageIDTaken // no stored id holds a NUL or invalid UTF-8
	}
	req := &sendReq{rid: rid, author: author, m: m, id: m.ID, tmid: m.TMID, now: now}
	if req.id == "" {
		req.id = store.NewID()
	}
	req.reset()
	var err error
	if req.data, err = store.CheckMessageCaps(m, s.maxMsgBytes, s.maxMsgDepth); err != nil {
		return err
	}
	if badText(rid) {
		return store.ErrRoomNotFound
	}
	if s.tx != nil || req.tmid != "" {
		return s.postOne(req)
	}
	return s.sends[laneOf(rid)].submit(s, req)
}

// postOne stores one send in a transaction of its own.
func (s *Store) postOne(req *sendReq) error {
	m, author := req.m, req.author
	return s.write(func(t *Tx) error {
		req.reset()
		// Mentions first: they need no lock, and the room's lock is held as briefly as can be.
		if err := resolveMentions(t.Ctx, t, m); err != nil {
			return err
		}
		a, err := readable(t.Ctx, t, req.rid, author, true)
		if err != nil {
			return err
		}
		r := a.room
		if err := store.MayWriteRoom(a, r, author); err != nil {
			return err
		}
		enc := req.data
		b := &pgx.Batch{}
		if m.TMID != "" {
			if err := s.joinThread(t, b, r, m); err != nil {
				return err
			}
		}
		if len(m.Mentions) > 0 || m.TMID != "" {
			if enc, err = store.CheckMessageCaps(m, s.maxMsgBytes, s.maxMsgDepth); err != nil {
				return err
			}
		}
		if err := putMessage(t, b, r, m, enc); err != nil {
			return err
		}
		bumped := countArrival(b, a, author, m, req.now, nil)
		if err := saveRoomCounts(b, r); err != nil {
			return err
		}
		members, err := runSend(t, b)
		if err != nil {
			return err
		}
		for _, mb := range members[bumped] {
			t.Emit(store.Event{Kind: store.MemberChanged, Room: r, UserID: mb.UserID, Member: mb})
		}
		t.Emit(store.Event{Kind: store.MessageAdded, Room: r, Message: m})
		return nil
	})
}

// runSend sends a send's batch and returns the memberships that its mention bumps
// (countArrival, statements returning rows) updated, by the bump's index in b.
func runSend(t *Tx, b *pgx.Batch) (map[int][]*store.Member, error) {
	br := t.SendBatch(t.Ctx, b)
	defer br.Close()
	out := map[int][]*store.Member{}
	for i, qq := range b.QueuedQueries {
		if qq.SQL == eventsSQL {
			if err := br.QueryRow().Scan(&t.seq, nil, nil); err != nil {
				return nil, dbErr(err)
			}
			continue
		}
		if qq.SQL != bumpSQL {
			if _, err := br.Exec(); err != nil {
				return nil, dbErr(err)
			}
			continue
		}
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var uid string
			var doc []byte
			if err := rows.Scan(&uid, &doc); err != nil {
				rows.Close()
				return nil, err
			}
			mb := new(store.Member)
			if err := json.Unmarshal(doc, mb); err != nil {
				rows.Close()
				return nil, err
			}
			mb.RoomID, mb.UserID = qq.Arguments[0].(string), uid
			out[i] = append(out[i], mb)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, dbErr(br.Close())
}

func queueMark(b *pgx.Batch, rid, uid string, mark int64) {
	b.Queue(`UPDATE members SET sub_mark = $3 WHERE room_id = $1 AND user_id = $2`, rid, uid, mark)
}

// bumpSQL counts one more mention for members of room $1: those named by $2 (the ids in
// that order), or when $2 is NULL every member but $4 (a direct room), at most maxMentions.
const bumpSQL = `UPDATE members SET doc = (doc::jsonb || jsonb_build_object(
		'mentions', coalesce((doc->>'mentions')::int, 0) + 1, 'updatedAt', $3::text))::json
	WHERE room_id = $1 AND user_id IN (
		SELECT user_id FROM members WHERE room_id = $1 AND user_id <> $4
			AND ($2::text[] IS NULL OR user_id = ANY ($2))
		ORDER BY user_id COLLATE "C" LIMIT 50)
	RETURNING user_id, doc`

// countArrival counts user message m, just queued in a's room by author, into the
// subscriptions (bbolt's countArrival): the room's Counted, the author's own mark, and the
// mentions of the members it names (every other member in a direct room). It returns the
// index in b of the mention bump (-1: none). With marks, the author's mark is noted there
// instead, for the caller to write once per author and room (queueMarks).
func countArrival(b *pgx.Batch, a *access, author *store.User, m *store.Message, now time.Time, marks map[[2]string]int64) int {
	if m.Type != "" {
		return -1 // system messages are not unread, as in Rocket.Chat
	}
	r := a.room
	r.Counted++
	if a.member {
		if marks != nil {
			marks[[2]string{r.ID, author.ID}] = int64(r.Counted)
		} else {
			queueMark(b, r.ID, author.ID, int64(r.Counted))
		}
	}
	at, _ := now.MarshalText()
	if r.Type == store.Direct {
		b.Queue(bumpSQL, r.ID, nil, string(at), author.ID)
		return b.Len() - 1
	}
	var ids []string
	for _, ref := range m.Mentions {
		if ref.ID != store.MentionAll && ref.ID != store.MentionHere && ref.ID != author.ID {
			ids = append(ids, ref.ID)
		}
	}
	if len(ids) == 0 {
		return -1
	}
	b.Queue(bumpSQL, r.ID, ids, string(at), author.ID)
	return b.Len() - 1
}

// AppendMessages appends msgs to room rid in one transaction (bbolt's AppendMessages): bulk
// loading, with no access check and no events. Each message keeps its User and TS (else the
// store's clock) and gets the room's next sequence numbers.
func (s *Store) AppendMessages(rid string, msgs []*store.Message) error {
	now := ms(s.now())
	return s.write(func(t *Tx) error {
		a, err := roomAccess(t.Ctx, t, rid, "", true)
		if err != nil {
			return err
		}
		r := a.room
		rows := make([][]any, 0, len(msgs))
		b := &pgx.Batch{}
		for _, m := range msgs {
			if m.TS.IsZero() {
				m.TS = now
			}
			// The rows go in by COPY; putMessage's marks go in the batch.
			mb := &pgx.Batch{}
			if err := putMessage(t, mb, r, m, nil); err != nil {
				return err
			}
			args := mb.QueuedQueries[0].Arguments
			rows = append(rows, args)
			for _, qq := range mb.QueuedQueries[1:] {
				b.Queue(qq.SQL, qq.Arguments...)
			}
		}
		if _, err := t.CopyFrom(t.Ctx, pgx.Identifier{"messages"}, []string{"room_id", "seq", "id", "ts",
			"updated_at", "author_id", "text", "doc", "type", "editor_id", "tmid", "tcount", "tlm", "pinned"},
			pgx.CopyFromRows(rows)); err != nil {
			return dbErr(err)
		}
		if err := saveRoomCounts(b, r); err != nil {
			return err
		}
		return execBatch(t.Ctx, t, b)
	})
}

// msgCols reads a message (as m) with its author's and editor's current names (the users
// ua and ue of msgJoins).
const msgCols = `m.seq, m.doc, ua.username, ua.doc->>'name', ue.username, ue.doc->>'name'`

const msgJoins = ` LEFT JOIN users ua ON ua.id = m.author_id
	LEFT JOIN users ue ON m.editor_id <> '' AND ue.id = m.editor_id`

// scanMessage reads one row of msgCols: the message shown with its author's and editor's
// current names (bbolt's showAuthors), and its stored size.
func scanMessage(row pgx.Row) (*store.Message, int, error) {
	var seq int64
	var doc []byte
	var aUser, aName, eUser, eName *string
	if err := row.Scan(&seq, &doc, &aUser, &aName, &eUser, &eName); err != nil {
		return nil, 0, err
	}
	m := new(store.Message)
	if err := store.DecodeMessage(doc, m); err != nil {
		return nil, 0, err
	}
	m.Seq = uint64(seq)
	author := names(aUser, aName)
	editor := names(eUser, eName)
	store.ShowAuthor(m, func(id string) store.AuthorName {
		if id == m.User.ID {
			return author
		}
		if m.EditedBy != nil && id == m.EditedBy.ID {
			return editor
		}
		return store.AuthorName{Gone: true}
	})
	return m, len(doc), nil
}

func names(username, name *string) store.AuthorName {
	if username == nil {
		return store.AuthorName{Gone: true}
	}
	n := ""
	if name != nil {
		n = *name
	}
	return store.AuthorName{Username: *username, Name: n}
}

// pageBuilder collects a page under its count and byte budget (bbolt's pageBuilder; the
// offset is the query's).
type pageBuilder struct {
	store.Page
	count, maxBytes int
}

func (p *pageBuilder) fits(size int) bool {
	if p.maxBytes > 0 && len(p.Messages) > 0 && p.Bytes+size > p.maxBytes {
		p.Truncated = true
		return false
	}
	return true
}

func (p *pageBuilder) push(m *store.Message, size int) bool {
	p.Bytes += size
	p.Messages = append(p.Messages, m)
	return len(p.Messages) >= p.count
}

// collect fills p from rows of msgCols, in order, until the page is full or over budget;
// keep (nil: all) filters.
func (p *pageBuilder) collect(rows pgx.Rows, keep func(*store.Message) bool) error {
	defer rows.Close()
	for rows.Next() {
		m, size, err := scanMessage(rows)
		if err != nil {
			return err
		}
		if keep != nil && !keep(m) {
			continue
		}
		if !p.fits(size) || p.push(m, size) {
			break
		}
	}
	rows.Close()
	return rows.Err()
}

// Message returns a message by id if reader may read its room, else ErrMsgNotFound.
func (s *Store) Message(id string, reader *store.User) (m *store.Message, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		v, err := visibleMessage(ctx, tx, id, reader, false)
		if err == nil {
			m = v.msg
		}
		return err
	})
	return m, err
}

// visible is a message with its room as reader sees them.
type visible struct {
	*access
	msg *store.Message
	// author and editor are their current names, actor the reader's own (for a write,
	// which shows them once it changed the message).
	author, editor, actor store.AuthorName
}

// visibleMessage returns message id and its room if reader may read that room (bbolt's
// visibleMessage): a message of a room the reader may not read is ErrMsgNotFound, exactly
// like one that does not exist, since ids can be guessed. lock takes the room's row lock
// and then the message's, for a write.
func visibleMessage(ctx context.Context, db q, id string, reader *store.User, lock bool) (*visible, error) {
	if badText(id) {
		return nil, store.ErrMsgNotFound
	}
	sql := `SELECT ` + msgCols + `, m.room_id, act.username, act.doc->>'name' FROM messages m` + msgJoins + `
		LEFT JOIN users act ON act.id = $2 WHERE m.id = $1`
	var v visible
	var rid string
	var actUser, actName *string
	var seq int64
	var doc []byte
	var aUser, aName, eUser, eName *string
	if err := db.QueryRow(ctx, sql, id, reader.ID).Scan(&seq, &doc, &aUser, &aName, &eUser, &eName, &rid, &actUser, &actName); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrMsgNotFound
		}
		return nil, err
	}
	a, err := roomAccess(ctx, db, rid, reader.ID, lock)
	if err == nil {
		err = store.MayReadRoom(a, a.room, reader)
	}
	switch store.KindOf(err) {
	case 0:
		if err != nil {
			return nil, err
		}
	case store.Forbidden, store.Denied, store.NotFound:
		return nil, store.ErrMsgNotFound
	default:
		return nil, err
	}
	if lock {
		// Under the room's lock the message may have changed or gone since the read above.
		row := db.QueryRow(ctx, `SELECT `+msgCols+`, act.username, act.doc->>'name' FROM messages m`+msgJoins+`
			LEFT JOIN users act ON act.id = $3 WHERE m.room_id = $1 AND m.seq = $2 FOR UPDATE OF m`, rid, seq, reader.ID)
		if err := row.Scan(&seq, &doc, &aUser, &aName, &eUser, &eName, &actUser, &actName); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, store.ErrMsgNotFound
			}
			return nil, err
		}
	}
	m := new(store.Message)
	if err := store.DecodeMessage(doc, m); err != nil {
		return nil, err
	}
	m.Seq = uint64(seq)
	v.access, v.msg = a, m
	v.actor = names(actUser, actName)
	author, editor := names(aUser, aName), names(eUser, eName)
	if !lock {
		showNames(m, author, editor, v.actor, reader.ID)
	} else {
		v.author, v.editor = author, editor
	}
	return &v, nil
}

// showNames shows m's author and editor under their current names: author and editor as
// read with the message, or the actor's (reader's) when they are the one named.
func showNames(m *store.Message, author, editor, actor store.AuthorName, actorID string) {
	store.ShowAuthor(m, func(id string) store.AuthorName {
		switch {
		case id == actorID:
			return actor
		case id == m.User.ID:
			return author
		case m.EditedBy != nil && id == m.EditedBy.ID:
			return editor
		}
		return store.AuthorName{Gone: true}
	})
}

// History returns the messages of HistoryPage.
func (s *Store) History(rid string, reader *store.User, q store.HistoryQuery) ([]*store.Message, error) {
	p, err := s.HistoryPage(rid, reader, q)
	return p.Messages, err
}

// HistoryPage returns a page of room rid as read by reader, newest first (bbolt's
// HistoryPage). Its cost is the page's, not the room's: the newest-N page and the before-id
// cursor walk the primary key (room_id, seq) backwards; a time-bounded page walks
// (room_id, ts, seq) and passes over at most maxFiltered entries its other bounds filter.
func (s *Store) HistoryPage(rid string, reader *store.User, q store.HistoryQuery) (page store.Page, err error) {
	if q.Count < 1 {
		q.Count = 1
	}
	if q.Offset < 0 || q.Offset > store.MaxHistorySkip {
		return store.Page{}, store.Errorf(store.Invalid, "invalid-offset", "offset must be from 0 to %d", store.MaxHistorySkip)
	}
	if badText(rid) {
		return store.Page{}, store.ErrRoomNotFound
	}
	timed := !q.Before.IsZero() || !q.After.IsZero()
	var lo, hi time.Time
	if timed {
		loMs, hiMs, ok := q.TimeBounds()
		if !ok {
			timed, q.Count = false, 0 // nothing can match: the room is still checked
		}
		lo = time.UnixMilli(loMs).UTC()
		// PostgreSQL's timestamps end in the year 294276.
		hi = time.UnixMilli(min(hiMs, 9e15)).UTC()
	}
	beforeID := q.BeforeID
	if badText(beforeID) {
		beforeID = "\uFFFDnone" // no message has it: the page is refused as for an unknown id
	}
	b := &pgx.Batch{}
	b.Queue(roomAccessSQL, rid, reader.ID)
	if q.BeforeID != "" {
		b.Queue(`SELECT seq FROM messages WHERE id = $1 AND room_id = $2`, beforeID, rid)
	}
	if q.Count > 0 {
		// The page's query goes in the same round trip; its bounds are subqueries, so it needs
		// nothing of the room's row. Its rows are kept only if access is granted.
		sql, args := historySQL(rid, reader.ID, q, timed, lo, hi, beforeID)
		b.Queue(sql, args...)
	}
	err = s.readBatch(b, func(ctx context.Context, db queryer, br pgx.BatchResults) (func() error, error) {
		pb := pageBuilder{count: q.Count, maxBytes: q.MaxBytes}
		a, err := scanAccess(br.QueryRow(), facts{ctx, db}, reader.ID)
		if err != nil {
			return nil, err
		}
		beforeKnown := true
		if q.BeforeID != "" {
			var seq int64
			if err := br.QueryRow().Scan(&seq); errors.Is(err, pgx.ErrNoRows) {
				beforeKnown = false
			} else if err != nil {
				return nil, err
			}
		}
		if q.Count > 0 {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			if err := pb.collect(rows, nil); err != nil {
				return nil, err
			}
		}
		// The access rule, once the batch is read (it may ask the database more).
		return func() error {
			if err := store.MayReadRoom(a, a.room, reader); err != nil {
				return err
			}
			if !beforeKnown {
				return store.Errorf(store.Invalid, "invalid-before", "before is neither the _id of a message of this room nor an ISO date such as 2015-07-24T14:35:23.542Z")
			}
			page = pb.Page
			return nil
		}, nil
	})
	return page, err
}

// queryer is q, for functions whose parameter q (a query) hides the type.
type queryer = q

// readBatch sends b in one round trip, outside any explicit transaction (its statements run
// in the implicit transaction of one pipeline), hands its results to read, closes them, then
// runs what read returned with the connection free for more queries. It is a read's fastest
// path: one round trip where a read transaction costs three.
func (s *Store) readBatch(b *pgx.Batch, read func(ctx context.Context, db queryer, br pgx.BatchResults) (func() error, error)) error {
	run := func(ctx context.Context, db interface {
		q
		SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	}) error {
		br := db.SendBatch(ctx, b)
		then, err := read(ctx, db, br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return then()
	}
	if s.tx != nil {
		return run(context.Background(), s.tx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.result(err)
	}
	defer conn.Release()
	return s.result(run(ctx, conn))
}

// historySQL is the query of a history page (q.Count > 0): newest first, by the primary key
// or, when timed, by the time index between lo and hi.
func historySQL(rid, uid string, q store.HistoryQuery, timed bool, lo, hi time.Time, beforeID string) (string, []any) {
	args := []any{rid}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	unread := `0`
	if q.Unread {
		unread = `coalesce((SELECT seq FROM reads WHERE room_id = $1 AND user_id = ` + arg(uid) + `), 0)`
	}
	maxSeq := `9223372036854775807`
	if q.BeforeID != "" {
		maxSeq = `coalesce((SELECT seq - 1 FROM messages WHERE id = ` + arg(beforeID) + ` AND room_id = $1), 0)`
	}
	if !timed {
		return `SELECT ` + msgCols + ` FROM messages m` + msgJoins + `
			WHERE m.room_id = $1 AND m.seq > ` + unread + ` AND m.seq <= ` + maxSeq + `
			ORDER BY m.seq DESC LIMIT ` + arg(q.Count) + ` OFFSET ` + arg(q.Offset), args
	}
	// The walk of the time index is bounded first, then filtered: a request reads at most
	// Count + Offset + maxFiltered entries however large the room.
	return `SELECT ` + msgCols + ` FROM (
			SELECT room_id, seq, ts FROM messages WHERE room_id = $1 AND ts >= ` + arg(lo) + ` AND ts <= ` + arg(hi) + `
			ORDER BY ts DESC, seq DESC LIMIT ` + arg(q.Count+q.Offset+maxFiltered) + `) w
		JOIN messages m ON m.room_id = w.room_id AND m.seq = w.seq` + msgJoins + `
		WHERE w.seq > ` + unread + ` AND w.seq <= ` + maxSeq + `
		ORDER BY w.ts DESC, w.seq DESC LIMIT ` + arg(q.Count) + ` OFFSET ` + arg(q.Offset), args
}

// searchSQL finds the newest user messages of room $1 after seq $2 whose lower-cased text is
// LIKE $3, at most $4.
const searchSQL = `SELECT ` + msgCols + ` FROM messages m` + msgJoins + `
	WHERE m.room_id = $1 AND m.type = '' AND m.seq > $2 AND m.text LIKE $3
	ORDER BY m.seq DESC LIMIT $4`

// SearchPage runs q in room rid as read by reader (bbolt's SearchPage): the newest user
// messages whose text contains q.Text ignoring case, among the newest MaxScan sequence
// numbers. The trigram index finds them; a needle too short for trigrams walks the room's
// newest messages, bounded by MaxScan.
func (s *Store) SearchPage(rid string, reader *store.User, q store.SearchQuery) (page store.Page, err error) {
	if q.Count < 1 {
		q.Count = 1
	}
	if q.MaxScan <= 0 {
		q.MaxScan = store.SearchScanLimit
	}
	needle := strings.ToLower(q.Text)
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		pb := pageBuilder{count: q.Count, maxBytes: q.MaxBytes}
		defer func() { page = pb.Page }()
		a, err := readable(ctx, tx, rid, reader, false)
		if err != nil {
			return err
		}
		if strings.IndexByte(needle, 0) >= 0 {
			return nil // no stored text holds a NUL
		}
		lo := int64(a.room.Seq) - int64(q.MaxScan)
		// Planned for its own needle each time (not a cached generic plan): the trigram index
		// for a rare one, the newest MaxScan by primary key for a common or short one.
		rows, err := tx.Query(ctx, searchSQL, pgx.QueryExecModeExec, rid, lo, "%"+likeEscape(needle)+"%", q.Count)
		if err != nil {
			return err
		}
		return pb.collect(rows, nil)
	})
	return page, err
}

// Search returns up to count user messages of the room whose text contains text.
func (s *Store) Search(rid string, reader *store.User, text string, count int) ([]*store.Message, error) {
	p, err := s.SearchPage(rid, reader, store.SearchQuery{Text: text, Count: count})
	return p.Messages, err
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// saveChanged writes m, changed from old, as data (its checked record), shows it to viewerID
// and announces it, with room if given (as bbolt's events do).
func saveChanged(t *Tx, v *visible, old, m *store.Message, data []byte, viewerID string, room *store.Room) error {
	b := &pgx.Batch{}
	queueMarks(b, old, m)
	queueUpdate(b, m, data)
	if err := execBatch(t.Ctx, t, b); err != nil {
		return err
	}
	showNames(m, v.author, v.editor, v.actor, viewerID) // the record keeps what it has
	t.Pages(m.RoomID)
	t.Emit(store.Event{Kind: store.MessageEdited, Room: room, Message: m})
	return nil
}

// UpdateMessage applies change to message id and saves it as edited by editor (bbolt's
// UpdateMessage).
func (s *Store) UpdateMessage(id string, editor *store.User, change func(m *store.Message) error) (updated *store.Message, err error) {
	now := ms(s.now())
	err = s.write(func(t *Tx) error {
		v, err := visibleMessage(t.Ctx, t, id, editor, true)
		if err != nil {
			return err
		}
		m := v.msg
		old := *m
		if err := change(m); err != nil {
			return err
		}
		if err := store.MayWriteRoom(v.access, v.room, editor); err != nil {
			return err
		}
		if err := store.ValidMessage(m); err != nil {
			return err
		}
		ed := editor.Ref()
		m.EditedAt, m.EditedBy, m.UpdatedAt = now, &ed, now
		if m.Text != old.Text {
			if err := resolveMentions(t.Ctx, t, m); err != nil {
				return err
			}
		}
		data, err := store.CheckMessageCaps(m, s.maxMsgBytes, s.maxMsgDepth)
		if err != nil {
			return err
		}
		updated = m
		return saveChanged(t, v, &old, m, data, editor.ID, nil)
	})
	return updated, err
}

// DeleteMessage removes message id for deleter after check approved it (bbolt's
// DeleteMessage).
func (s *Store) DeleteMessage(id string, deleter *store.User, check func(m *store.Message) error) (deleted *store.Message, err error) {
	now := ms(s.now())
	err = s.write(func(t *Tx) error {
		v, err := visibleMessage(t.Ctx, t, id, deleter, true)
		if err != nil {
			return err
		}
		m, r := v.msg, v.room
		if err := check(m); err != nil {
			return err
		}
		if err := store.MayWriteRoom(v.access, r, deleter); err != nil {
			return err
		}
		b := &pgx.Batch{}
		dropMessage(t, b, r, m, now)
		if err := saveRoomCounts(b, r); err != nil {
			return err
		}
		if err := execBatch(t.Ctx, t, b); err != nil {
			return err
		}
		if err := leaveThreads(t, []*store.Message{m}, now, nil); err != nil {
			return err
		}
		showNames(m, v.author, v.editor, v.actor, deleter.ID)
		deleted = m
		t.Emit(store.Event{Kind: store.MessageDeleted, Room: r, Message: m})
		return nil
	})
	return deleted, err
}

// dropMessage queues the removal of message m with its marks and a tombstone for Sync, and
// counts it out of r (which the caller saves): bbolt's dropMessage but for the thread, which
// leaveThreads uncounts once the batch ran.
func dropMessage(t *Tx, b *pgx.Batch, r *store.Room, m *store.Message, now time.Time) {
	t.Pages(r.ID)
	b.Queue(`DELETE FROM messages WHERE room_id = $1 AND seq = $2`, r.ID, int64(m.Seq))
	queueMarks(b, m, nil)
	b.Queue(`INSERT INTO message_tombstones (room_id, at, id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, r.ID, now, m.ID)
	if r.Msgs > 0 {
		r.Msgs--
	}
}

// leaveThreads uncounts deleted messages that were replies from their threads' first
// messages, those still there, one reply at a time in the order given (bbolt's leaveThread,
// with its events); then (nil: nothing) is called after each message's thread change, for
// the events that follow it.
func leaveThreads(t *Tx, gone []*store.Message, now time.Time, then func(m *store.Message)) error {
	var tmids []string
	for _, m := range gone {
		if m.TMID != "" {
			tmids = append(tmids, m.TMID)
		}
	}
	if len(tmids) == 0 {
		if then != nil {
			for _, m := range gone {
				then(m)
			}
		}
		return nil
	}
	type parent struct {
		msg            *store.Message
		author, editor store.AuthorName
		changed        bool
	}
	rows, err := t.Query(t.Ctx, `SELECT `+msgCols+` FROM messages m`+msgJoins+`
		WHERE m.id = ANY ($1) ORDER BY m.room_id, m.seq FOR UPDATE OF m`, tmids)
	if err != nil {
		return err
	}
	parents := map[string]*parent{}
	var order []*parent
	for rows.Next() {
		var seq int64
		var doc []byte
		var aUser, aName, eUser, eName *string
		if err := rows.Scan(&seq, &doc, &aUser, &aName, &eUser, &eName); err != nil {
			rows.Close()
			return err
		}
		p := &parent{msg: new(store.Message), author: names(aUser, aName), editor: names(eUser, eName)}
		if err := store.DecodeMessage(doc, p.msg); err != nil {
			rows.Close()
			return err
		}
		p.msg.Seq = uint64(seq)
		parents[p.msg.ID] = p
		order = append(order, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range gone {
		p := parents[m.TMID]
		if m.TMID == "" || p == nil || p.msg.TCount == 0 {
			if then != nil {
				then(m)
			}
			continue
		}
		p.msg.TCount--
		p.msg.UpdatedAt = now
		p.changed = true
		t.Pages(p.msg.RoomID)
		ev := *p.msg
		showNames(&ev, p.author, p.editor, store.AuthorName{Gone: true}, "")
		t.Emit(store.Event{Kind: store.MessageEdited, Message: &ev})
		if then != nil {
			then(m)
		}
	}
	b := &pgx.Batch{}
	for _, p := range order {
		if !p.changed {
			continue
		}
		doc, err := json.Marshal(p.msg)
		if err != nil {
			return err
		}
		queueUpdate(b, p.msg, doc)
	}
	return execBatch(t.Ctx, t, b)
}

// CleanHistory removes the messages of room rid with a time between after and before (zero:
// no bound; inclusive: the bounds included), in transactions of cleanChunk messages (bbolt's
// CleanHistory), and returns how many.
func (s *Store) CleanHistory(rid string, after, before time.Time, inclusive bool) (removed int, err error) {
	lo, hi := int64(0), int64(1<<63-1)
	if !after.IsZero() {
		lo = max(after.UnixMilli(), 0)
		if !inclusive {
			lo++
		}
	}
	if !before.IsZero() {
		if before.UnixMilli() < 0 || (!inclusive && before.UnixMilli() == 0) {
			return 0, nil
		}
		hi = before.UnixMilli()
		if !inclusive {
			hi--
		}
	}
	if hi < lo {
		return 0, nil
	}
	loT, hiT := time.UnixMilli(lo).UTC(), time.UnixMilli(min(hi, 9e15)).UTC()
	for {
		n := 0
		err := s.write(func(t *Tx) error {
			n = 0
			now := t.Now()
			a, err := roomAccess(t.Ctx, t, rid, "", true)
			if err != nil {
				return err
			}
			r := a.room
			rows, err := t.Query(t.Ctx, `SELECT seq, doc FROM messages WHERE room_id = $1 AND ts >= $2 AND ts <= $3
				ORDER BY ts, seq LIMIT $4`, rid, loT, hiT, cleanChunk)
			if err != nil {
				return err
			}
			var gone []*store.Message
			for rows.Next() {
				var seq int64
				var doc []byte
				if err := rows.Scan(&seq, &doc); err != nil {
					rows.Close()
					return err
				}
				m := new(store.Message)
				if err := store.DecodeMessage(doc, m); err != nil {
					rows.Close()
					return err
				}
				m.Seq, m.RoomID = uint64(seq), rid
				gone = append(gone, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			n = len(gone)
			if n == 0 {
				return nil
			}
			seqs := make([]int64, n)
			ids := make([]string, n)
			b := &pgx.Batch{}
			for i, m := range gone {
				seqs[i], ids[i] = int64(m.Seq), m.ID
				if k, _ := userMarks(m); len(k) > 0 {
					queueMarks(b, m, nil)
				}
				if r.Msgs > 0 {
					r.Msgs--
				}
			}
			t.Pages(rid)
			b.Queue(`DELETE FROM messages WHERE room_id = $1 AND seq = ANY ($2)`, rid, seqs)
			b.Queue(`INSERT INTO message_tombstones (room_id, at, id) SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, rid, now, ids)
			before := *r
			r.UpdatedAt = now
			if err := saveRoomCounts(b, r); err != nil {
				return err
			}
			if err := execBatch(t.Ctx, t, b); err != nil {
				return err
			}
			// Events as bbolt emits them: each reply's thread change, then its deletion.
			msgs := r.Msgs + int64(n)
			return leaveThreads(t, gone, now, func(m *store.Message) {
				if msgs > 0 {
					msgs--
				}
				ev := before
				ev.Msgs = msgs
				t.Emit(store.Event{Kind: store.MessageDeleted, Room: &ev, Message: m})
			})
		})
		removed += n
		if err != nil || n < cleanChunk {
			return removed, err
		}
	}
}
