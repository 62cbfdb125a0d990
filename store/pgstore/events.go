package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"rocketlite/store"
)

// Cross-node fan-out. A write transaction that emitted events appends them, as its last
// statement, as one row of the events table and calls pg_notify; the row and the
// notification exist only if the transaction commits. Every node, the writer included,
// follows the table on one dedicated connection: it wakes on a notification (or on the
// safety poll, for one that was lost) and hands each row's events to its publisher in the
// order of seq. So every node's subscribers see the same events in the same order, and a
// node that missed notifications (restart, network blip) reads what it missed from the
// table.
//
// seq is taken when the row is inserted, not when its transaction commits, so a row may
// become visible after a later one: the follower stops at a hole in seq. The writer holds a
// transaction-level advisory lock named by its seq until it commits or rolls back, so once a
// hole is older than gapCheck the follower asks for that lock: held, the write is in flight
// and the follower waits; free, and the row still absent, its transaction died (a node killed
// mid-write, a rolled-back commit, the numbers a sequence skips after a crash) and the
// follower goes on at once. Two transactions that touch the same room lock its row, so a
// room's events are in seq order in any case.

// wireEvent is a store.Event as the events table keeps it: the fields store.Event's records
// hide from JSON (a message's seq, a membership's keys) travel beside them.
type wireEvent struct {
	Kind        store.EventKind     `json:"k"`
	Room        *store.Room         `json:"r,omitempty"`
	Before      *store.Room         `json:"b,omitempty"`
	UserID      string              `json:"u,omitempty"`
	Message     *store.Message      `json:"m,omitempty"`
	MessageSeq  uint64              `json:"ms,omitempty"`
	Member      *store.Member       `json:"mb,omitempty"`
	MemberRoom  string              `json:"mr,omitempty"`
	MemberUser  string              `json:"mu,omitempty"`
	User        *store.User         `json:"us,omitempty"`
	Permissions []*store.Permission `json:"p,omitempty"`
	Token       []byte              `json:"t,omitempty"`
}

func toWire(ev store.Event) wireEvent {
	w := wireEvent{Kind: ev.Kind, Room: ev.Room, Before: ev.Before, UserID: ev.UserID, Message: ev.Message,
		Member: ev.Member, User: ev.User, Permissions: ev.Permissions}
	if ev.Message != nil {
		w.MessageSeq = ev.Message.Seq
	}
	if ev.Member != nil {
		w.MemberRoom, w.MemberUser = ev.Member.RoomID, ev.Member.UserID
	}
	if ev.Token != (store.TokenHash{}) {
		w.Token = ev.Token[:]
	}
	return w
}

func (w wireEvent) event() store.Event {
	ev := store.Event{Kind: w.Kind, Room: w.Room, Before: w.Before, UserID: w.UserID, Message: w.Message,
		Member: w.Member, User: w.User, Permissions: w.Permissions}
	if ev.Message != nil {
		ev.Message.Seq = w.MessageSeq
	}
	if ev.Member != nil {
		ev.Member.RoomID, ev.Member.UserID = w.MemberRoom, w.MemberUser
	}
	copy(ev.Token[:], w.Token)
	return ev
}

// appendEvents records a transaction's events as its last statement. The row names its node
// (0060_events_node.sql) for whoever reads the table; the listeners no longer tell rows apart
// by it (publish).
func appendEvents(ctx context.Context, tx pgx.Tx, events []store.Event, channel, node string) error {
	if len(events) == 0 {
		return nil
	}
	ws := make([]wireEvent, len(events))
	for i, ev := range events {
		ws[i] = toWire(ev)
	}
	body, err := json.Marshal(ws)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `WITH e AS (INSERT INTO events (body, node) VALUES ($1, $3) RETURNING seq)
		SELECT pg_notify($2, ''), pg_advisory_xact_lock($4, (e.seq % 2147483647)::int4) FROM e`,
		body, channel, node, lockClass(channel))
	return err
}

// channelFor is the NOTIFY channel of a schema: notifications are database-wide, and each
// schema (a test's, another deployment's) is its own cluster of nodes.
func channelFor(schema string) string {
	c := "rocketlite_events_" + schema
	if len(c) > 63 {
		c = c[:63]
	}
	return c
}

// lockClass is the advisory lock class of a schema's events (the first half of the key).
func lockClass(channel string) int32 {
	h := fnv.New32a()
	h.Write([]byte(channel))
	return int32(h.Sum32())
}

const (
	// gapCheck is how old a hole must be before the follower asks whether its writer lives:
	// the writer takes its lock in the statement that takes the seq, microseconds later.
	gapCheck  = 50 * time.Millisecond
	trimEvery = time.Minute
)

// listener follows the events table for one Store.
type listener struct {
	s      *Store
	cfg    *pgx.ConnConfig
	cancel context.CancelFunc
	done   chan struct{}
	last   int64
	seen   atomic.Int64 // last, for /readyz (last belongs to the listener's goroutine)
	gapAt  time.Time    // when the hole at last+1 was first seen
	log    zerolog.Logger

	mu      sync.Mutex
	lastErr error
}

func startListener(ctx context.Context, s *Store, cfg *pgx.ConnConfig) (*listener, error) {
	l := &listener{s: s, cfg: cfg.Copy(), done: make(chan struct{}), log: s.opts.Log}
	// Named, so that pg_stat_activity tells the listening connections from the pool's.
	l.cfg.RuntimeParams["application_name"] = "rocketlite events " + s.channel
	// A node follows from now: the events before its start are history, not news.
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&l.last); err != nil {
		return nil, fmt.Errorf("events table: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(lctx)
	return l, nil
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}

// run keeps one connection listening, reconnecting after a failure with a growing pause.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn().Err(err).Dur("retry_in", pause).Msg("events listener lost its connection")
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// follow listens on one connection until it fails or ctx ends.
func (l *listener) follow(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{l.s.channel}.Sanitize()); err != nil {
		return err
	}
	poll := l.s.opts.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	lastTrim := time.Time{}
	for {
		// Read first: events committed while this connection was not listening yet are in
		// the table already.
		more, err := l.catchUp(ctx, conn)
		if err != nil {
			return err
		}
		if time.Since(lastTrim) >= trimEvery {
			lastTrim = time.Now()
			keep := l.s.opts.KeepEvents
			if keep <= 0 {
				keep = 10 * time.Minute
			}
			if _, err := conn.Exec(ctx, `DELETE FROM events WHERE at < now() - $1::interval`, keep.String()); err != nil {
				return err
			}
		}
		wait := poll
		if more {
			wait = 5 * time.Millisecond // a hole to wait for, or a long backlog
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, err = conn.WaitForNotification(wctx)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() == nil {
				return err
			}
		}
	}
}

// catchUp publishes the events after l.last, in order; more reports that it stopped at a
// hole or a full batch.
func (l *listener) catchUp(ctx context.Context, conn *pgx.Conn) (more bool, err error) {
	const batch = 1000
	rows, err := conn.Query(ctx, `SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, l.last, batch)
	if err != nil {
		return false, err
	}
	type row struct {
		seq  int64
		body []byte
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.body); err != nil {
			rows.Close()
			return false, err
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, r := range got {
		if r.seq != l.last+1 {
			if l.gapAt.IsZero() {
				l.gapAt = time.Now()
			}
			if time.Since(l.gapAt) < gapCheck {
				return true, nil
			}
			// Every number of the hole was taken before r's, whose transaction committed:
			// their writers hold their locks by now, unless they died.
			for ; l.last+1 < r.seq; l.last++ {
				dead, err := l.holeDead(ctx, conn, l.last+1)
				if err != nil || !dead {
					return true, err // in flight: wait for it
				}
			}
		}
		l.gapAt = time.Time{}
		l.last = r.seq
		l.seen.Store(r.seq)
		l.publish(r.body)
	}
	return len(got) == batch, nil
}

// holeDead reports whether the transaction that took seq is gone without its row: nobody
// holds seq's lock, and the row is still not there.
func (l *listener) holeDead(ctx context.Context, conn *pgx.Conn, seq int64) (bool, error) {
	class, key := lockClass(l.s.channel), int32(seq%2147483647)
	var free bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, class, key).Scan(&free); err != nil || !free {
		return false, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, class, key); err != nil {
		return false, err
	}
	var there bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE seq = $1)`, seq).Scan(&there)
	return !there, err
}

// publish hands a row's events on, after moving the page versions and emptying the read
// cache they may change. The writer did that for its own rows at commit, but the listener may
// read a row before the writer's goroutine gets there: a hub checking a kicked member's
// subscription must not get the answer cached before the kick.
func (l *listener) publish(body []byte) {
	var ws []wireEvent
	if err := json.Unmarshal(body, &ws); err != nil {
		l.log.Error().Err(err).Msg("events table: a row that does not decode; skipped")
		return
	}
	events := make([]store.Event, len(ws))
	for i, w := range ws {
		ev := w.event()
		events[i] = ev
		switch {
		case ev.Kind == store.UserChanged || ev.Kind == store.UserDeleted:
			l.s.versions.AllChanged()
		case ev.Message != nil:
			l.s.versions.Changed(ev.Message.RoomID)
		case ev.Room != nil:
			l.s.versions.Changed(ev.Room.ID)
		}
	}
	l.s.cache.apply(events)
	if p := l.s.publisher.Load(); p != nil {
		(*p).Publish(events)
	}
}
