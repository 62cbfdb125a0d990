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
// and the follower waits; free, and the row still absent after gapDead, its transaction died
// (a node killed mid-write, a rolled-back commit, the numbers a sequence skips after a crash)
// and the follower goes on. Two transactions that touch the same room lock its row, so a
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

// eventsSQL records a transaction's events, announces them, and takes the lock by which the
// listeners tell a write in flight from a dead one (holeDead); it returns their seq.
const eventsSQL = `WITH e AS (INSERT INTO events (body, node) VALUES ($1, $3) RETURNING seq)
	SELECT e.seq, pg_notify($2, ''), pg_advisory_xact_lock($4, (e.seq % 2147483647)::int4) FROM e`

func (s *Store) eventsArgs(events []store.Event) ([]any, error) {
	ws := make([]wireEvent, len(events))
	for i, ev := range events {
		ws[i] = toWire(ev)
	}
	body, err := json.Marshal(ws)
	if err != nil {
		return nil, err
	}
	return []any{body, s.channel, s.node, lockClass(s.channel)}, nil
}

// appendEvents records a transaction's events as its last statement and returns their seq
// (0: no events), which stays in s.own until the writer has applied them here (ownRows).
func (s *Store) appendEvents(ctx context.Context, tx pgx.Tx, events []store.Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	args, err := s.eventsArgs(events)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.QueryRow(ctx, eventsSQL, args...).Scan(&seq, nil, nil)
	if err == nil {
		s.noteOwn(seq, events)
	}
	return seq, err
}

// queueEvents queues the events emitted so far as the last statement of b, so that they take
// no round trip of their own (the send batches: a round trip fewer under the room's lock). No
// event may be emitted after it; runSend reads the seq back into t.
func (t *Tx) queueEvents(b *pgx.Batch) error {
	if len(*t.events) == 0 || t.s.tx != nil {
		return nil // inside Atomic, whose commit records the events
	}
	args, err := t.s.eventsArgs(*t.events)
	if err != nil {
		return err
	}
	b.Queue(eventsSQL, args...)
	t.queued = len(*t.events)
	return nil
}

// noteOwn keeps a committing write's row for the listener (a store without one never takes
// it).
func (s *Store) noteOwn(seq int64, events []store.Event) {
	if s.listen != nil {
		s.own.add(seq, events)
	}
}

// ownRows are this node's events rows between their insert and the moment the listener reads
// them. Their writer, having committed, moves the page versions and empties the read cache the
// events change, then marks the row done; the listener, which may read the row first (the
// writer's goroutine can be slow to run again), waits for that, so that a hub checking a
// kicked member's subscription never gets the answer cached before the kick, and a client
// fetching history on hearing of a message never gets the page of before it. The listener then
// hands on the writer's events as they are, without decoding the row.
type ownRows struct {
	mu      sync.Mutex
	pending map[int64]*ownRow
}

type ownRow struct {
	events []store.Event
	done   chan struct{} // closed once the writer applied them
}

// maxOwnRows bounds the rows kept for a listener that fell behind: past it, it decodes them.
const maxOwnRows = 10_000

func (o *ownRows) add(seq int64, events []store.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending == nil {
		o.pending = map[int64]*ownRow{}
	}
	if len(o.pending) < maxOwnRows {
		o.pending[seq] = &ownRow{events: events, done: make(chan struct{})}
	}
}

// done tells the listener that seq (0: no row) committed and was applied here; a write that
// did not commit, or whose commit is in doubt, drops its row, which the listener decodes and
// applies should it turn up.
func (o *ownRows) done(seq int64, committed bool) {
	if seq == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.pending[seq]
	if !ok {
		return
	}
	if committed {
		close(r.done)
	} else {
		delete(o.pending, seq)
	}
}

// take returns seq's events once its writer applied them (waiting at most max), or false if
// the listener must decode and apply the row itself.
func (o *ownRows) take(seq int64, max time.Duration) ([]store.Event, bool) {
	o.mu.Lock()
	r, ok := o.pending[seq]
	o.mu.Unlock()
	if !ok {
		return nil, false
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pending, seq)
	select {
	case <-r.done:
		return r.events, true
	default:
		return nil, false
	}
}

// channelFor is the NOTIFY channel of a schema: notifications are database-wide, and each
// schema (a test's, another deployment's) is its own cluster of nodes.
func channelFor(schema string) string { return channelName("rocketlite_events_", schema) }

// channelName is prefix+schema within PostgreSQL's 63 bytes for a name.
func channelName(prefix, schema string) string {
	c := prefix + schema
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
	gapCheck = 50 * time.Millisecond
	// gapDead is how old a hole whose lock is free must be before the follower passes it:
	// the writer takes its seq and its lock in one statement, but a backend descheduled
	// between the two on a busy host must not have its event skipped on every node. Holes
	// are rare (a transaction that died after its events row), so the wait costs little.
	gapDead   = time.Second
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
	// decoded counts the rows decoded (another node's, or own ones handed on by no writer).
	decoded atomic.Int64
	gapAt   time.Time // when the hole at last+1 was first seen
	log     zerolog.Logger
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
	for _, ch := range []string{l.s.channel, l.s.sigChannel} {
		if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	// Signals sent while this connection was not listening are lost: their receiver asks again.
	l.s.signalled("", nil)
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
		if err := l.wait(ctx, conn, wait); err != nil {
			return err
		}
	}
}

// wait returns at the first notification of an event, or after d. Signals that come in the
// meantime go to their handler: they have no row to read.
func (l *listener) wait(ctx context.Context, conn *pgx.Conn, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		n, err := conn.WaitForNotification(wctx)
		if err == nil && n.Channel == l.s.sigChannel {
			l.s.received(n.Payload)
			continue
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() == nil {
				return err
			}
		}
		if err == nil {
			l.drain(conn)
		}
		return nil
	}
}

// drain takes the notifications that came in while the listener was reading the table: one
// read of the table answers all the events ones (each used to cost a read that found nothing
// new), and the signals go to their handler. It does not wait for more.
func (l *listener) drain(conn *pgx.Conn) {
	done, cancel := context.WithCancel(context.Background())
	cancel() // pgx returns the notifications it holds, and waits for none
	for {
		n, err := conn.WaitForNotification(done)
		if err != nil || n == nil {
			return
		}
		if n.Channel == l.s.sigChannel {
			l.s.received(n.Payload)
		}
	}
}

// catchUp publishes the events after l.last, in order; more reports that it stopped at a
// hole or a full batch.
func (l *listener) catchUp(ctx context.Context, conn *pgx.Conn) (more bool, err error) {
	const batch = 1000
	rows, err := conn.Query(ctx, `SELECT seq, body, node FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, l.last, batch)
	if err != nil {
		return false, err
	}
	type row struct {
		seq  int64
		body []byte
		node string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.body, &r.node); err != nil {
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
				if time.Since(l.gapAt) < gapDead {
					return true, nil // or its writer stalled between its insert and its lock
				}
			}
		}
		l.gapAt = time.Time{}
		l.last = r.seq
		l.seen.Store(r.seq)
		// A row of this node is waited for until its writer applied it (ownRows); should
		// the writer take over a second, the listener decodes and applies it itself.
		if r.node == l.s.node {
			if events, ok := l.s.own.take(r.seq, time.Second); ok {
				l.handOn(events)
				continue
			}
		}
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

// publish hands a row's events on, after moving the page versions and emptying the read cache
// they may change.
func (l *listener) publish(body []byte) {
	l.decoded.Add(1)
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
	l.handOn(events)
}

func (l *listener) handOn(events []store.Event) {
	if p := l.s.publisher.Load(); p != nil {
		(*p).Publish(events)
	}
}
