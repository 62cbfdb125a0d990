package pgstore

// Chat beyond posting on PostgreSQL (bbolt's chat.go): mentions, threads, reactions, pins,
// stars, the marked lists and sync. Each write is one transaction that locks the message's
// room, re-reads the message, checks the room access rule for the caller, and rewrites the
// message with the columns and marks that follow from it.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// resolveMentions sets m.Mentions from its text: existing users, @all and @here (bbolt's
// resolveMentions). A name that ends a sentence ("@bob.") is tried without its trailing
// dots.
func resolveMentions(ctx context.Context, db q, m *store.Message) error {
	return resolveAllMentions(ctx, db, []*store.Message{m})
}

// resolveAllMentions is resolveMentions for several messages, with one query for them all.
func resolveAllMentions(ctx context.Context, db q, msgs []*store.Message) error {
	var look []string
	names := make([][]string, len(msgs))
	for i, m := range msgs {
		m.Mentions = nil
		if m.Type != "" || !strings.Contains(m.Text, "@") {
			continue
		}
		names[i] = store.MentionNames(m.Text)
		for _, n := range names[i] {
			if n == store.MentionAll || n == store.MentionHere {
				continue
			}
			look = append(look, n)
			if t := strings.TrimRight(n, "."); t != n && t != "" {
				look = append(look, t)
			}
		}
	}
	type ref struct{ id, username string }
	byName := map[string]ref{}
	if len(look) > 0 {
		rows, err := db.Query(ctx, `SELECT id, username, username_key FROM users WHERE username_key = ANY ($1)`, look)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r ref
			var key string
			if err := rows.Scan(&r.id, &r.username, &key); err != nil {
				rows.Close()
				return err
			}
			byName[key] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		for _, name := range names[i] {
			if name == store.MentionAll || name == store.MentionHere {
				m.Mentions = append(m.Mentions, store.UserRef{ID: name, Username: name})
				continue
			}
			u, ok := byName[name]
			if !ok {
				if t := strings.TrimRight(name, "."); t != name && t != "" {
					u, ok = byName[t]
				}
			}
			if !ok || slices.ContainsFunc(m.Mentions, func(r store.UserRef) bool { return r.ID == u.id }) {
				continue
			}
			m.Mentions = append(m.Mentions, store.UserRef{ID: u.id, Username: u.username})
		}
	}
	return nil
}

// shown is a message read with its author's and editor's current names.
type shown struct {
	msg            *store.Message
	author, editor store.AuthorName
}

// messageByID reads message id (locked, for a write) with its authors' names; ok is false
// if there is none.
func messageByID(ctx context.Context, db q, id string, lock bool) (v shown, ok bool, err error) {
	if badText(id) {
		return v, false, nil
	}
	sql := `SELECT ` + msgCols + ` FROM messages m` + msgJoins + ` WHERE m.id = $1`
	if lock {
		sql += ` FOR UPDATE OF m`
	}
	var seq int64
	var doc []byte
	var aUser, aName, eUser, eName *string
	if err := db.QueryRow(ctx, sql, id).Scan(&seq, &doc, &aUser, &aName, &eUser, &eName); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return v, false, nil
		}
		return v, false, err
	}
	v.msg = new(store.Message)
	if err := store.DecodeMessage(doc, v.msg); err != nil {
		return v, false, err
	}
	v.msg.Seq = uint64(seq)
	v.author, v.editor = names(aUser, aName), names(eUser, eName)
	return v, true, nil
}

// joinThread checks m's tmid and counts m as a reply of its thread's first message, queuing
// that message's update on b (bbolt's joinThread): a reply to a reply joins the first
// message's thread, as in Rocket.Chat. r is m's room, locked.
func (s *Store) joinThread(t *Tx, b *pgx.Batch, r *store.Room, m *store.Message) error {
	p, ok, err := messageByID(t.Ctx, t, m.TMID, true)
	if err != nil {
		return err
	}
	if !ok || p.msg.RoomID != r.ID {
		return store.ErrInvalidThread
	}
	if p.msg.TMID != "" {
		if p, ok, err = messageByID(t.Ctx, t, p.msg.TMID, true); err != nil {
			return err
		}
		if !ok || p.msg.RoomID != r.ID {
			return store.ErrInvalidThread
		}
	}
	parent := p.msg
	m.TMID = parent.ID
	old := *parent
	parent.TCount++
	parent.TLM = m.TS
	parent.UpdatedAt = m.TS
	if !slices.Contains(parent.Replies, m.User.ID) {
		parent.Replies = append(slices.Clone(parent.Replies), m.User.ID)
		// The repliers count against the first message's size cap; a message at the cap
		// keeps counting replies but names no more repliers, rather than refuse the reply.
		if _, err := store.CheckMessageCaps(parent, s.maxMsgBytes, s.maxMsgDepth); err != nil {
			parent.Replies = old.Replies
		}
	}
	doc, err := json.Marshal(parent)
	if err != nil {
		return err
	}
	queueMarks(b, &old, parent)
	queueUpdate(b, parent, doc)
	t.Pages(r.ID)
	ev := *parent
	showNames(&ev, p.author, p.editor, store.AuthorName{Gone: true}, "")
	t.Emit(store.Event{Kind: store.MessageEdited, Room: r, Message: &ev})
	return nil
}

// changeMessage applies change to message id, read by reader (who needs read access to its
// room), stamps _updatedAt and keeps its columns and marks (bbolt's changeMessage).
func (s *Store) changeMessage(id string, reader *store.User, change func(t *Tx, v *visible, m *store.Message) error) (changed *store.Message, err error) {
	now := ms(s.now())
	err = s.write(func(t *Tx) error {
		v, err := visibleMessage(t.Ctx, t, id, reader, true)
		if err != nil {
			return err
		}
		m := v.msg
		old := *m
		if err := change(t, v, m); err != nil {
			return err
		}
		if err := store.ValidMessage(m); err != nil {
			return err
		}
		m.UpdatedAt = now
		// Reactions and stars count against the record's size cap like every other field.
		data, err := store.CheckMessageCaps(m, s.maxMsgBytes, s.maxMsgDepth)
		if err != nil {
			if store.KindOf(err) == store.Invalid {
				return store.ErrMessageFull
			}
			return err
		}
		changed = m
		return saveChanged(t, v, &old, m, data, reader.ID, v.room)
	})
	return changed, err
}

// React adds (on) or removes (!on) reactor's emoji on message id; toggle (nil) picks
// whichever is not the case now. In a read-only room reacting needs post-readonly.
func (s *Store) React(id string, reactor *store.User, emoji string, on *bool) (*store.Message, error) {
	emoji = store.NormalizeEmoji(emoji)
	if emoji == "" {
		return nil, store.ErrInvalidEmoji
	}
	return s.changeMessage(id, reactor, func(t *Tx, v *visible, m *store.Message) error {
		if err := store.MayReactIn(v.access, v.room, reactor); err != nil {
			return err
		}
		return m.ApplyReaction(reactor.Username, emoji, on)
	})
}

// Star adds (on) or removes the message to or from starrer's starred messages.
func (s *Store) Star(id string, starrer *store.User, on bool) (*store.Message, error) {
	return s.changeMessage(id, starrer, func(t *Tx, v *visible, m *store.Message) error {
		m.ApplyStar(starrer.ID, on)
		return nil
	})
}

// Pin pins (on) or unpins message id (bbolt's Pin): may checks the pinner's permission in
// the message's room; pinning writes a message_pinned system message quoting the message and
// returns it; pinning a pinned message or unpinning an unpinned one returns the message.
func (s *Store) Pin(id string, pinner *store.User, on bool, may func(rid string) error) (*store.Message, error) {
	now := ms(s.now())
	var out *store.Message
	_, err := s.changeMessage(id, pinner, func(t *Tx, v *visible, m *store.Message) error {
		if err := may(v.room.ID); err != nil {
			return err
		}
		out = m
		sys, err := m.ApplyPin(pinner, on, now)
		if err != nil || sys == nil {
			return err
		}
		out = sys
		return appendMessage(t, v.room, sys)
	})
	return out, err
}

// Marked returns a page of room rid's pinned messages, the reader's starred messages or
// mentions, its threads (by last reply) or one thread's replies (oldest first), with the
// total (bbolt's Marked).
func (s *Store) Marked(rid string, q store.MarkedQuery) (msgs []*store.Message, total int, err error) {
	if q.Offset < 0 || q.Offset > store.MaxHistorySkip {
		return nil, 0, store.Errorf(store.Invalid, "invalid-offset", "offset must be from 0 to %d", store.MaxHistorySkip)
	}
	count := max(q.Count, 0)
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		msgs, total = nil, 0
		if q.Kind == "thread" {
			v, err := visibleMessage(ctx, tx, q.TMID, q.Reader, false)
			if err != nil {
				return err
			}
			rid = v.msg.RoomID
		}
		if _, err := readable(ctx, tx, rid, q.Reader, false); err != nil {
			return err
		}
		var from, where, order string
		args := []any{rid, count, q.Offset}
		switch q.Kind {
		case "pinned":
			from, where, order = `messages m`, `m.room_id = $1 AND m.pinned`, `m.seq DESC`
		case "starred", "mentioned":
			kind := "s"
			if q.Kind == "mentioned" {
				kind = "m"
			}
			from = `message_users mu JOIN messages m ON m.room_id = mu.room_id AND m.seq = mu.seq`
			where, order = `mu.room_id = $1 AND mu.kind = $4::"char" AND mu.user_id = $5`, `mu.seq DESC`
			args = append(args, kind, q.Reader.ID)
		case "threads":
			from, where, order = `messages m`, `m.room_id = $1 AND m.tcount > 0`, `m.tlm DESC, m.seq DESC`
		case "thread":
			from, where, order = `messages m`, `m.room_id = $1 AND m.tmid <> '' AND m.tmid = $4`, `m.seq`
			args = append(args, q.TMID)
		default:
			return store.Errorf(store.Invalid, "invalid-kind", "unknown list %q", q.Kind)
		}
		b := &pgx.Batch{}
		// The count's statement takes the page's arguments too; $2 and $3 go unused there.
		b.Queue(`SELECT count(*) FROM `+from+` WHERE `+where+` AND $2::int >= 0 AND $3::int >= 0`, args...)
		b.Queue(`SELECT `+msgCols+` FROM `+from+msgJoins+` WHERE `+where+` ORDER BY `+order+` LIMIT $2 OFFSET $3`, args...)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if err := br.QueryRow().Scan(&total); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		pb := pageBuilder{count: max(count, 1) + 1}
		if err := pb.collect(rows, nil); err != nil {
			return err
		}
		msgs = pb.Messages
		if len(msgs) > count {
			msgs = msgs[:count]
		}
		return nil
	})
	return msgs, total, err
}

// Sync returns what changed in room rid after since (bbolt's Sync): messages posted or
// changed, oldest change first, and messages deleted, at most store.MaxSync of each.
func (s *Store) Sync(rid string, reader *store.User, since time.Time) (updated []*store.Message, deleted []store.Deleted, err error) {
	from := time.UnixMilli(max(since.UnixMilli()+1, 0)).UTC()
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		updated, deleted = nil, nil
		if _, err := readable(ctx, tx, rid, reader, false); err != nil {
			return err
		}
		b := &pgx.Batch{}
		// A message posted and never changed has updated_at = ts: it sorts before a changed
		// one of the same instant, as bbolt merges its two lists.
		b.Queue(`SELECT `+msgCols+` FROM messages m`+msgJoins+`
			WHERE m.room_id = $1 AND m.updated_at >= $2
			ORDER BY m.updated_at, m.updated_at <> m.ts, m.seq LIMIT $3`, rid, from, store.MaxSync)
		b.Queue(`SELECT at, id FROM message_tombstones WHERE room_id = $1 AND at >= $2
			ORDER BY at, id COLLATE "C" LIMIT $3`, rid, from, store.MaxSync)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		pb := pageBuilder{count: store.MaxSync + 1}
		if err := pb.collect(rows, nil); err != nil {
			return err
		}
		updated = pb.Messages
		rows, err = br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var d store.Deleted
			if err := rows.Scan(&d.At, &d.ID); err != nil {
				rows.Close()
				return err
			}
			d.At = d.At.UTC()
			deleted = append(deleted, d)
		}
		rows.Close()
		return rows.Err()
	})
	return updated, deleted, err
}
