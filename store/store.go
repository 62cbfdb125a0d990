// Package store keeps every record of rocketlite in one bbolt file: users, tokens, rooms,
// memberships, messages, roles and permissions. It knows nothing of HTTP.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout this code reads and writes.
const SchemaVersion = "1"

var (
	bMeta         = []byte("meta")
	bUsers        = []byte("users")
	bUsersByName  = []byte("users_by_name")
	bUsersByEmail = []byte("users_by_email")
	bTokens       = []byte("tokens")
	bTokensByExp  = []byte("tokens_by_expiry")
	bTokensByUser = []byte("tokens_by_user")
	bRooms        = []byte("rooms")
	bRoomsByName  = []byte("rooms_by_name")
	bMembers      = []byte("members")
	bUserRooms    = []byte("user_rooms")
	bMessages     = []byte("messages")
	bMessageIDs   = []byte("message_ids")
	bMessageTS    = []byte("message_ts")
	bReads        = []byte("reads")
	bSubMarks     = []byte("sub_marks") // room id ∥ 0x00 ∥ user id → be64(Room.Counted when last read)
	bRoles        = []byte("roles")
	bPermissions  = []byte("permissions")
	bIntegrations = []byte("integrations")
	bMarks        = []byte("message_marks") // marks.go
	bAvatars      = []byte("avatars")       // avatars.go
	bPrefs        = []byte("preferences")
	// bPersonalTokens: user id ∥ 0x00 ∥ token name → PersonalToken (pats.go).
	bPersonalTokens = []byte("personal_tokens")

	// laterBuckets came after schema 1's first layout: a file that a server of an older build
	// wrote lacks them until the next start creates them, and is sound without them.
	laterBuckets = [][]byte{bSubMarks}

	allBuckets = [][]byte{bMeta, bUsers, bUsersByName, bUsersByEmail, bTokens, bTokensByExp,
		bTokensByUser, bRooms, bRoomsByName, bMembers, bUserRooms, bMessages, bMessageIDs,
		bMessageTS, bReads, bSubMarks, bRoles, bPermissions, bIntegrations, bPersonalTokens,
		bMarks, bAvatars, bPrefs, bRoomsByCreator, bPublicByMsgs}
)

// ErrLocked is returned by Open when another process holds the database file.
var ErrLocked = errors.New("database file is in use by another process")

// Options tune Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the file lock; 0 means one second.
	LockTimeout time.Duration
	// MaxSize caps the file in bytes (0: no cap). Past it, writes fail with ErrDatabaseFull.
	MaxSize int
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// ReadOnly opens the file for reading only (backup and check of a stopped server).
	ReadOnly bool
	// MaxMessageBytes caps one stored message record, all fields together (0: 64 KiB);
	// MaxMessageDepth caps the nesting of its attachments (0: 8). See msglimits.go.
	MaxMessageBytes int
	MaxMessageDepth int
	// MaxTokensPerUser caps a user's live session tokens: a login past it revokes the oldest
	// (0: DefaultMaxTokensPerUser; negative: no cap).
	MaxTokensPerUser int
	// MaxRoomsPerCreator caps the rooms one user may have created; admins are exempt
	// (0: DefaultMaxRoomsPerCreator; negative: no cap).
	MaxRoomsPerCreator int
}

// Defaults of Options' caps.
const (
	DefaultMaxTokensPerUser   = 50
	DefaultMaxRoomsPerCreator = 1000
)

// CapOf is a cap of Options as a backend applies it: 0 is the default def, a negative value
// none (0).
func CapOf(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0 // no cap
	}
	return v
}

// Bolt is the store on one bbolt file (the embedded default). It is safe for concurrent use.
type Bolt struct {
	db  *bolt.DB
	now func() time.Time
	// maxTokens and maxRooms are Options' caps (0: none).
	maxTokens, maxRooms int

	writes    chan *writeReq
	closing   sync.RWMutex // guards closed and the close of writes against late senders
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	// authors caches users' current names for the messages they wrote (authors.go).
	authors authorCache
	// commitErr holds the last commit failure (nil after a later success); /readyz reads it.
	commitErr atomic.Pointer[error]
	// commits and batched count the writer's transactions and the writes they carried.
	commits, batched atomic.Int64
	// dryAnswered counts writes answered by their read-only run, without the writer.
	dryAnswered atomic.Int64
	// publisher receives the events of every commit (events.go).
	publisher atomic.Pointer[Publisher]

	maxMsgBytes, maxMsgDepth int
	versions                 *pageVersions // pages.go

	// tx, when set, is the one write transaction every read and write of this Store runs in
	// (a Store handed to an Atomic function).
	tx *bolt.Tx
	// commitNanos adds up the time every commit (with its fsync) took.
	commitNanos atomic.Int64
}

// CommitTime is the time every commit took, added up (divide by the commits for the mean).
func (s *Bolt) CommitTime() time.Duration { return time.Duration(s.commitNanos.Load()) }

// FileStats reports the database file's size in bytes and its free pages (bbolt's
// freelist), for monitoring.
func (s *Bolt) FileStats() (size int64, freePages int) {
	st := s.db.Stats()
	_ = s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	return size, st.FreePageN + st.PendingPageN
}

// WriterStats reports how many transactions the group-commit writer committed and how many
// writes they carried (their ratio is the mean batch size).
func (s *Bolt) WriterStats() (commits, writes int64) { return s.commits.Load(), s.batched.Load() }

// DryAnswered reports how many writes were answered from a read, without the writer: the
// refusals that a read can know, and writes that found nothing to change.
func (s *Bolt) DryAnswered() int64 { return s.dryAnswered.Load() }

// Open opens (or creates, with mode 0600) the database at path, creates any missing bucket and
// checks the schema version.
func Open(path string, opts Options) (*Bolt, error) {
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		FreelistType: bolt.FreelistMapType,
		MaxSize:      opts.MaxSize,
		ReadOnly:     opts.ReadOnly,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			return nil, err // "open X: permission denied" names the file already
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// bbolt creates the file with the mode given, but an existing file keeps its own: tighten it.
	if !opts.ReadOnly {
		_ = os.Chmod(path, 0o600)
	}
	s := &Bolt{db: db, now: opts.Now, versions: new(pageVersions), maxMsgBytes: opts.MaxMessageBytes, maxMsgDepth: opts.MaxMessageDepth,
		maxTokens: CapOf(opts.MaxTokensPerUser, DefaultMaxTokensPerUser), maxRooms: CapOf(opts.MaxRoomsPerCreator, DefaultMaxRoomsPerCreator)}
	if s.maxMsgBytes <= 0 {
		s.maxMsgBytes = DefaultMaxMessageBytes
	}
	if s.maxMsgDepth <= 0 {
		s.maxMsgDepth = DefaultMaxMessageDepth
	}
	versionsOf.Store(db, s.versions)
	if s.now == nil {
		s.now = time.Now
	}
	// A file that has every bucket needs no write at start: that commit (two fsyncs) was a
	// good part of the time to first answer.
	complete := false
	if !opts.ReadOnly {
		_ = db.View(func(tx *bolt.Tx) error {
			complete = true
			for _, b := range allBuckets {
				complete = complete && tx.Bucket(b) != nil
			}
			complete = complete && tx.Bucket(bMeta).Get([]byte("schema")) != nil
			return nil
		})
	}
	if opts.ReadOnly || complete {
		err = db.View(checkSchema)
	} else {
		err = db.Update(func(tx *bolt.Tx) error {
			fresh := map[string]bool{}
			for _, b := range derivedBuckets {
				fresh[string(b)] = tx.Bucket(b) == nil
			}
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if err := buildRoomIndexes(tx, fresh); err != nil {
				return err
			}
			meta := tx.Bucket(bMeta)
			if meta.Get([]byte("schema")) == nil {
				if err := meta.Put([]byte("schema"), []byte(SchemaVersion)); err != nil {
					return err
				}
			}
			return checkSchema(tx)
		})
	}
	if err != nil {
		versionsOf.Delete(db)
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !opts.ReadOnly {
		s.writes = make(chan *writeReq, 4096)
		s.wg.Add(1)
		go s.writer()
	}
	return s, nil
}

func checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return errors.New("not a rocketlite database (no meta bucket)")
	}
	if v := string(meta.Get([]byte("schema"))); v != SchemaVersion {
		return fmt.Errorf("unknown schema version %q (this build reads %q)", v, SchemaVersion)
	}
	return nil
}

// Close waits for queued writes, then closes the file.
func (s *Bolt) Close() error {
	s.closeOnce.Do(func() {
		if s.writes != nil {
			s.closing.Lock()
			s.closed = true
			close(s.writes)
			s.closing.Unlock()
			s.wg.Wait()
		}
		versionsOf.Delete(s.db)
	})
	return s.db.Close()
}

// Now is the store's clock.
func (s *Bolt) Now() time.Time { return s.now() }

// DB exposes the bbolt handle (tests read transaction ids through it).
func (s *Bolt) DB() *bolt.DB { return s.db }

// Healthy reports the last commit failure, or nil if the last commit succeeded.
func (s *Bolt) Healthy() error {
	if p := s.commitErr.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *Bolt) view(fn func(tx *bolt.Tx) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	return s.db.View(fn)
}

// Atomic runs fn with a Store whose reads and writes all go to one write transaction: it is
// committed if fn returns nil and rolled back otherwise, so that a sequence of calls (a seed
// file) applies whole or not at all. It holds the database's single write lock throughout:
// for start-up and maintenance, not for requests. The Store given to fn is valid only in fn.
func (s *Bolt) Atomic(fn func(tx Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	if s.writes == nil {
		return errReadOnly
	}
	return s.update(func(tx *bolt.Tx) error {
		return fn(&Bolt{db: s.db, now: s.now, maxMsgBytes: s.maxMsgBytes, maxMsgDepth: s.maxMsgDepth, versions: s.versions, tx: tx})
	})
}

// update runs fn in a write transaction of its own (for rare or large writes).
func (s *Bolt) update(fn func(tx *bolt.Tx) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return s.commitFailed(err)
	}
	// A panic in fn must not leave the single write lock held.
	defer func() {
		if tx.DB() != nil { // not yet committed or rolled back
			tx.Rollback()
			dropEvents(tx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return s.commit(tx)
}

// commit commits tx, then publishes its events: only a committed change is ever announced.
func (s *Bolt) commit(tx *bolt.Tx) error {
	start := time.Now()
	defer func() { s.commitNanos.Add(int64(time.Since(start))) }()
	events := takeEvents(tx)
	if err := tx.Commit(); err != nil {
		return s.commitFailed(err)
	}
	s.commitErr.Store(nil)
	s.publish(events)
	return nil
}

func (s *Bolt) commitFailed(err error) error {
	if errors.Is(err, berrors.ErrMaxSizeReached) {
		// A full file is a state the operator fixes, not a broken disk: reads and deletes go on.
		return ErrDatabaseFull
	}
	s.commitErr.Store(&err)
	return fmt.Errorf("commit: %w", err)
}

// Counts returns the number of keys in every bucket (tests use it to prove that a refused
// request wrote nothing).
func (s *Bolt) Counts() (map[string]int, error) {
	out := make(map[string]int, len(allBuckets))
	err := s.view(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if bk := tx.Bucket(b); bk != nil {
				out[string(b)] = keyN(bk)
			}
		}
		return nil
	})
	return out, err
}

// Meta returns a value of the meta bucket ("" if unset).
func (s *Bolt) Meta(key string) (v string, err error) {
	err = s.view(func(tx *bolt.Tx) error { v = string(tx.Bucket(bMeta).Get([]byte(key))); return nil })
	return v, err
}

// SetMeta sets a value of the meta bucket.
func (s *Bolt) SetMeta(key, value string) error {
	return s.batch(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put([]byte(key), []byte(value)) })
}

// SetMetaKeys sets every key of the meta bucket to value, in one transaction.
func (s *Bolt) SetMetaKeys(keys []string, value string) error {
	return s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		for _, k := range keys {
			if err := b.Put([]byte(k), []byte(value)); err != nil {
				return err
			}
		}
		return nil
	})
}

func laterBucket(name []byte) bool {
	for _, b := range laterBuckets {
		if string(b) == string(name) {
			return true
		}
	}
	return false
}
