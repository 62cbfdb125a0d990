package pgstore

// Subscriptions and read marks (store/subscriptions.go of the bbolt store). A member's
// unread count is the room's Counted (doc uc) minus their read mark (members.sub_mark); the
// chat history's unread filter reads the reads table.

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"rocketlite/store"
)

// writeMarks moves uid's marks in room rid in one round trip: the history's unread bound
// (reads) to readSeq unless it is negative, and, if uid is a member, the subscription's mark
// to counted with their mentions cleared and their last read at now. The membership is
// changed by one statement, without reading it first, so that a mention counted meanwhile
// (a row update of its own) is not lost.
func writeMarks(t *Tx, rid, uid string, readSeq int64, counted uint64, now time.Time) error {
	b := &pgx.Batch{}
	if readSeq >= 0 {
		b.Queue(`INSERT INTO reads (room_id, user_id, seq) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO UPDATE SET seq = excluded.seq`, rid, uid, readSeq)
	}
	// doc's ls and updatedAt as encoding/json writes a time; mentions omitted as zero.
	at := now.Format(time.RFC3339Nano)
	b.Queue(`UPDATE members SET sub_mark = $4,
		doc = ((doc::jsonb - 'mentions') || jsonb_build_object('ls', $3::text, 'updatedAt', $3::text))::json
		WHERE room_id = $1 AND user_id = $2`, rid, uid, at, int64(counted))
	err := runBatch(t, b)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return store.ErrRoomNotFound // deleted since it was read (the room row is not locked)
	}
	return err
}

// subscriptionRow is what a subscription is built from: the room, the membership and its
// read mark.
type subscriptionRow struct {
	room   *store.Room
	member *store.Member
	mark   int64
}

func newSubscription(sr subscriptionRow) *store.Subscription {
	r, m := sr.room, sr.member
	sub := &store.Subscription{Room: r, Member: m, ReadAt: m.LS, UpdatedAt: store.Latest(m.Updated, m.Joined, r.LastMessage)}
	if mark := uint64(max(sr.mark, 0)); mark < r.Counted {
		sub.Unread = int(min(r.Counted-mark, 1<<31-1))
	}
	return sub
}

// directNames fills in the members of the direct-message rooms among subs, by user id as
// the bbolt store lists them, with their display names (a user that no longer exists shows
// their username).
func directNames(ctx context.Context, db q, subs []*store.Subscription) error {
	var ids []string
	for _, s := range subs {
		if s.Room.Type == store.Direct {
			ids = append(ids, s.Room.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT m.room_id, m.doc->>'u', CASE WHEN u.id IS NULL THEN m.doc->>'u' ELSE coalesce(u.doc->>'name', '') END
		FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.room_id = ANY($1)
		ORDER BY m.room_id, m.user_id COLLATE "C"`, ids)
	if err != nil {
		return err
	}
	type names struct{ usernames, names []string }
	byRoom := map[string]*names{}
	var rid, username, name string
	if _, err := pgx.ForEachRow(rows, []any{&rid, &username, &name}, func() error {
		n := byRoom[rid]
		if n == nil {
			n = new(names)
			byRoom[rid] = n
		}
		n.usernames, n.names = append(n.usernames, username), append(n.names, name)
		return nil
	}); err != nil {
		return err
	}
	for _, s := range subs {
		if n := byRoom[s.Room.ID]; n != nil && s.Room.Type == store.Direct {
			s.Usernames, s.Names = n.usernames, n.names
		}
	}
	return nil
}

// subscriptions reads uid's subscriptions (one room's if rid is not "") in two queries.
func subscriptions(ctx context.Context, db q, uid, rid string) ([]*store.Subscription, error) {
	if !storable(uid, rid) {
		return nil, nil
	}
	sql := `SELECT r.doc, m.room_id, m.doc, m.sub_mark FROM members m JOIN rooms r ON r.id = m.room_id
		WHERE m.user_id = $1 ORDER BY m.room_id COLLATE "C"`
	args := []any{uid}
	if rid != "" {
		sql = `SELECT r.doc, m.room_id, m.doc, m.sub_mark FROM members m JOIN rooms r ON r.id = m.room_id
			WHERE m.user_id = $1 AND m.room_id = $2`
		args = append(args, rid)
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var subs []*store.Subscription
	var roomDoc, memberDoc []byte
	var roomID string
	var mark int64
	if _, err := pgx.ForEachRow(rows, []any{&roomDoc, &roomID, &memberDoc, &mark}, func() error {
		r, err := decodeRoom(roomDoc)
		if err != nil {
			return err
		}
		m, err := decodeMember(roomID, uid, memberDoc)
		if err != nil {
			return err
		}
		subs = append(subs, newSubscription(subscriptionRow{r, m, mark}))
		return nil
	}); err != nil {
		return nil, err
	}
	return subs, directNames(ctx, db, subs)
}

// SubscriptionsSince returns uid's subscriptions changed after since (zero: all).
func (s *Store) SubscriptionsSince(uid string, since time.Time) ([]store.Subscription, error) {
	return s.subscriptionList(uid, "", since)
}

// Subscriptions returns uid's subscriptions, or only the one of room rid if rid is not ""
// (none if uid is not a member).
func (s *Store) Subscriptions(uid, rid string) ([]store.Subscription, error) {
	return s.subscriptionList(uid, rid, time.Time{})
}

func (s *Store) subscriptionList(uid, rid string, since time.Time) (out []store.Subscription, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		out = nil
		subs, err := subscriptions(ctx, tx, uid, rid)
		if err != nil {
			return err
		}
		for _, sub := range subs {
			if since.IsZero() || sub.UpdatedAt.After(since) {
				out = append(out, *sub)
			}
		}
		return nil
	})
	return out, err
}

// SubscriptionOf returns uid's subscription to room rid: ErrRoomNotFound, or ErrNotInRoom if
// they are not a member.
func (s *Store) SubscriptionOf(rid, uid string) (sub *store.Subscription, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := getRoom(ctx, tx, rid); err != nil {
			return err
		}
		subs, err := subscriptions(ctx, tx, uid, rid)
		if err != nil {
			return err
		}
		if len(subs) == 0 {
			return store.ErrNotInRoom
		}
		sub = subs[0]
		return nil
	})
	if err != nil {
		sub = nil
	}
	return sub, err
}

// MarkRead marks room rid read up to its last message for reader (store.Bolt.MarkRead).
func (s *Store) MarkRead(rid string, reader *store.User) error {
	return s.write(func(t *Tx) error {
		r, err := getRoom(t.Ctx, t, rid)
		if err != nil {
			return err
		}
		if err := store.MayReadRoom(t.Facts(), r, reader); err != nil {
			return err
		}
		t.Emit(store.Event{Kind: store.ReadMarked, Room: r, UserID: reader.ID})
		return writeMarks(t, rid, reader.ID, int64(r.Seq), r.Counted, t.Now())
	})
}

// MarkUnread makes room rid unread for reader from message fromID on (fromID "": from the
// room's last user message), counting at most MaxHistorySkip messages (store.Bolt.MarkUnread).
func (s *Store) MarkUnread(rid string, reader *store.User, fromID string) error {
	return s.write(func(t *Tx) error {
		r, err := getRoom(t.Ctx, t, rid)
		if err != nil {
			return err
		}
		if err := store.MayReadRoom(t.Facts(), r, reader); err != nil {
			return err
		}
		member, err := t.Facts().IsMember(rid, reader.ID)
		if err != nil {
			return err
		}
		if !member {
			return store.ErrNotInRoom
		}
		if r.Counted == 0 {
			return store.ErrNoMessageForUnread
		}
		unread := uint64(1)
		from := uint64(0)
		if fromID != "" {
			if !storable(fromID) {
				return store.ErrMsgNotFound
			}
			var seq int64
			err := t.QueryRow(t.Ctx, `SELECT seq FROM messages WHERE id = $1 AND room_id = $2`, fromID, rid).Scan(&seq)
			if err == pgx.ErrNoRows {
				return store.ErrMsgNotFound
			}
			if err != nil {
				return err
			}
			from = uint64(seq)
			var n int64
			if err := t.QueryRow(t.Ctx, `SELECT count(*) FROM (SELECT doc FROM messages WHERE room_id = $1 AND seq >= $2
				ORDER BY seq LIMIT $3) m WHERE coalesce(m.doc->>'t', '') = ''`, rid, seq, store.MaxHistorySkip).Scan(&n); err != nil {
				return err
			}
			unread = uint64(n)
		}
		unread = min(unread, r.Counted)
		t.Emit(store.Event{Kind: store.ReadMarked, Room: r, UserID: reader.ID})
		readSeq := int64(-1) // from the room's last message: the history's bound stays
		if from > 0 {
			readSeq = int64(from - 1)
		}
		return writeMarks(t, rid, reader.ID, readSeq, r.Counted-unread, t.Now())
	})
}
