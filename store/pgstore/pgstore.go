// Package pgstore is the store on PostgreSQL: the same contract as the bbolt file
// (store.Store), for several rocketlite nodes sharing one database. Each domain operation is
// one transaction of a few statements; records are kept as the JSON the bbolt store writes
// (column doc), beside the columns that the indexes and queries need.
//
// Every committed write that publishes events also appends them, in the same transaction, to
// the events table and announces them with NOTIFY; every node (the writer too) feeds its
// realtime hub from that table, in order (events.go).
package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"rocketlite/store"
)

// Options tune Open beyond store.Options.
type Options struct {
	store.Options
	// Timeout bounds one operation, waiting for a connection included (0: 10 s). Past it the
	// caller gets store.Unavailable (a 503), never a hang.
	Timeout time.Duration
	// Poll is the safety poll of the events table, for a NOTIFY that was lost (0: 500 ms).
	Poll time.Duration
	// KeepEvents is how long the events table keeps an event for nodes that fell behind
	// (0: 10 minutes).
	KeepEvents time.Duration
	// MaxConns caps the connection pool (0: pgxpool's default, 4 per CPU, at least 4).
	MaxConns int32
	// Log receives the events listener's reconnections.
	Log zerolog.Logger
}

// Store is the PostgreSQL backend. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	now     func() time.Time
	timeout time.Duration
	opts    Options

	maxMsgBytes, maxMsgDepth int
	maxTokens, maxRooms      int

	versions  *store.PageVersions
	publisher atomic.Pointer[store.Publisher]

	// tx, when set, is the one transaction every call runs in (a Store handed to Atomic);
	// events then collects its events until the outer commit.
	tx     pgx.Tx
	events *[]store.Event

	cache *readCache // cache.go
	own   ownRows    // this node's events rows not yet applied here (events.go)
	// commits counts this node's committed write transactions (tests: nothing was written).
	commits atomic.Int64
	// loginFailures counts the failed logins recorded here; every 64th also sweeps old ones.
	loginFailures atomic.Int64
	// afterCommit, in tests, runs between a write's commit and its cache and page changes.
	afterCommit func()

	listen  *listener
	channel string // the NOTIFY channel of this schema's events
	// sigChannel carries the nodes' signals (signals.go); signal is their receiver here.
	sigChannel string
	signal     atomic.Pointer[func(node string, payload []byte)]
	node       string // this process's name in the events table
	closeOnce  sync.Once

	sends [sendLanes]sender // this node's sends waiting for a shared transaction (sends.go)
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (postgres://… or a key=value string), applies the
// schema's missing migrations under an advisory lock, and starts following the events table.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database address: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{pool: pool, now: opts.Now, timeout: opts.Timeout, opts: opts, versions: new(store.PageVersions), cache: newReadCache(),
		maxMsgBytes: opts.MaxMessageBytes, maxMsgDepth: opts.MaxMessageDepth,
		maxTokens: store.CapOf(opts.MaxTokensPerUser, store.DefaultMaxTokensPerUser),
		maxRooms:  store.CapOf(opts.MaxRoomsPerCreator, store.DefaultMaxRoomsPerCreator)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.maxMsgBytes <= 0 {
		s.maxMsgBytes = store.DefaultMaxMessageBytes
	}
	if s.maxMsgDepth <= 0 {
		s.maxMsgDepth = store.DefaultMaxMessageDepth
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	s.channel = channelFor(schema)
	s.sigChannel = channelName("rocketlite_signals_", schema)
	s.node = store.NewID()
	if !opts.ReadOnly {
		if s.listen, err = startListener(ctx, s, cfg.ConnConfig); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops following the events table and closes the pool. A Store given to an Atomic
// function has nothing to close.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	s.closeOnce.Do(func() {
		if s.listen != nil {
			s.listen.stop()
		}
		s.pool.Close()
	})
	return nil
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// MessageCaps returns the caps on one message record.
func (s *Store) MessageCaps() (maxBytes, maxDepth int) { return s.maxMsgBytes, s.maxMsgDepth }

// PageVersion is the version of room rid's pages (store.Bolt.PageVersion). It moves after a
// local commit and again when any node's event for the room comes through the events table.
func (s *Store) PageVersion(rid string) uint64 { return s.versions.Version(rid) }

// SetPublisher makes p receive the events of every node's commits from now on (nil: none).
func (s *Store) SetPublisher(p store.Publisher) {
	if p == nil {
		s.publisher.Store(nil)
		return
	}
	s.publisher.Store(&p)
}

// Healthy reports whether the database answers now.
func (s *Store) Healthy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	return nil
}

// Describe is what /readyz shows of the database: the backend, its schema version, the
// connection pool and how far this node follows the events table.
func (s *Store) Describe() map[string]any {
	st := s.pool.Stat()
	d := map[string]any{"backend": "postgresql", "schema": SchemaVersion(),
		"pool": map[string]any{"open": st.TotalConns(), "busy": st.AcquiredConns(), "max": st.MaxConns()}}
	if s.listen != nil {
		d["eventsSeen"] = s.listen.seen.Load()
	}
	return d
}

// Commits is the number of write transactions this node committed.
func (s *Store) Commits() int64 { return s.commits.Load() }

// Pool is the connection pool (tools and tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// q is what both a pool and a transaction offer.
type q interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Tx is one write transaction of a domain operation: run its statements on Tx (with Ctx),
// record what other clients should learn of with Emit, and the pages it changes with Pages.
type Tx struct {
	pgx.Tx
	Ctx    context.Context
	events *[]store.Event
	pages  []string
	all    bool
	s      *Store
	// queued is how many events queueEvents put in a batch (0: none), seq their row's.
	queued int
	seq    int64
}

// Emit records ev; it is published after the commit (store.Bolt's emit). The records ev
// points to are copied here, so the operation may go on changing them.
func (t *Tx) Emit(ev store.Event) { *t.events = append(*t.events, ev.Owned()) }

// Pages marks that the transaction changes what room rid's pages show.
func (t *Tx) Pages(rid string) { t.pages = append(t.pages, rid) }

// AllPages marks that it changes what every room's pages show (an author's name).
func (t *Tx) AllPages() { t.all = true }

// Facts answers the access rules (store.MayReadRoom and the rest) inside this transaction.
func (t *Tx) Facts() store.Facts { return facts{t.Ctx, t.Tx} }

// Now is the store's clock, truncated to milliseconds as every stored time is.
func (t *Tx) Now() time.Time { return ms(t.s.now()) }

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// read runs fn in a read-only transaction (repeatable read: one snapshot for all its
// statements).
func (s *Store) read(fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.tx != nil {
		return fn(context.Background(), s.tx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(ctx, tx) })
	return s.result(err)
}

// write runs fn in a read-committed write transaction and commits it; then the pages it
// changed move and its events go to the events table (in the same transaction) for every
// node's hub. A deadlock or serialization failure runs fn again, up to three times.
func (s *Store) write(fn func(t *Tx) error) error {
	if s.tx != nil {
		t := &Tx{Tx: s.tx, Ctx: context.Background(), events: s.events, s: s}
		if err := fn(t); err != nil {
			return err
		}
		s.pagesChanged(t)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var events []store.Event
		t := &Tx{Ctx: ctx, events: &events, s: s}
		var seq int64
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
			t.Tx = tx
			if err := fn(t); err != nil {
				return err
			}
			if t.queued > 0 {
				if t.queued != len(events) || t.seq == 0 {
					return errors.New("pgstore: events emitted after queueEvents")
				}
				seq = t.seq
				s.noteOwn(seq, events)
				return nil
			}
			seq, err = s.appendEvents(ctx, tx, events)
			return err
		})
		if err == nil {
			s.commits.Add(1)
			if s.afterCommit != nil {
				s.afterCommit()
			}
			s.cache.apply(events)
			s.pagesChanged(t)
		}
		s.own.done(seq, err == nil)
		if err == nil || !retryable(err) {
			break
		}
	}
	return s.result(err)
}

func (s *Store) pagesChanged(t *Tx) {
	if t.all {
		s.versions.AllChanged()
	}
	for _, rid := range t.pages {
		s.versions.Changed(rid)
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errUnavailable answers a request the database could not take now.
var errUnavailable = &store.Error{Kind: store.Unavailable, Code: "database-unavailable",
	Message: "The database is unavailable; try again shortly"}

// result passes the store's own errors through and turns a failure to reach the database
// (connection refused or lost, timeout, server shutting down) into errUnavailable.
func (s *Store) result(err error) error {
	if err == nil {
		return nil
	}
	if store.KindOf(err) != 0 {
		return err
	}
	if unavailable(err) {
		return errUnavailable
	}
	return err
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, pgx.ErrTxClosed) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
		// cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// atomicLock serializes Atomic transactions across nodes.
const atomicLock = migrationLock + 1

// Atomic runs fn with a Store whose calls all share one write transaction: committed if fn
// returns nil, rolled back otherwise (a seed file applies whole or not at all).
func (s *Store) Atomic(fn func(tx store.Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	ctx := context.Background()
	var events []store.Event
	var seq int64
	inner := &Store{pool: s.pool, now: s.now, timeout: s.timeout, opts: s.opts, versions: s.versions,
		maxMsgBytes: s.maxMsgBytes, maxMsgDepth: s.maxMsgDepth, maxTokens: s.maxTokens, maxRooms: s.maxRooms,
		events: &events, channel: s.channel, node: s.node, cache: s.cache}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		// Nodes starting together each apply the seed files: one at a time, so that the
		// second finds the first one's admin and rooms instead of colliding with them.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(atomicLock)); err != nil {
			return err
		}
		inner.tx = tx
		if err := fn(inner); err != nil {
			return err
		}
		seq, err = s.appendEvents(ctx, tx, events)
		return err
	})
	if err == nil {
		s.versions.AllChanged()
		s.cache.flush()
	}
	s.own.done(seq, err == nil)
	return s.result(err)
}

// getJSON reads one doc column into v; ok is false if no row matched.
func getJSON(ctx context.Context, db q, v any, sql string, args ...any) (ok bool, err error) {
	var doc []byte
	if err := db.QueryRow(ctx, sql, args...).Scan(&doc); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	return true, json.Unmarshal(doc, v)
}

// Meta returns a value of the meta table ("" if unset).
func (s *Store) Meta(key string) (v string, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return v, err
}

// SetMeta sets a value of the meta table.
func (s *Store) SetMeta(key, value string) error { return s.SetMetaKeys([]string{key}, value) }

// SetMetaKeys sets several keys of the meta table to one value, in one transaction.
func (s *Store) SetMetaKeys(keys []string, value string) error {
	return s.write(func(t *Tx) error {
		for _, k := range keys {
			if _, err := t.Exec(t.Ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, value); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counts returns the number of rows of every table.
func (s *Store) Counts() (map[string]int, error) {
	out := map[string]int{}
	err := s.read(func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
			AND table_name NOT IN ('events', 'login_failures', 'schema_migrations')`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range names {
			var c int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{n}.Sanitize()).Scan(&c); err != nil {
				return err
			}
			out[n] = c
		}
		return nil
	})
	return out, err
}
