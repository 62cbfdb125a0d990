package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Group commit. Every small write (a send, a join, a login's token) goes through one goroutine
// that takes whatever writes are queued, runs them all in one transaction and commits once, so
// concurrent senders share an fsync. Unlike bolt.DB.Batch there is no timer: a lone writer
// commits at once, and writers that arrive during a commit form the next batch (see the
// convoy note at writer for the one case where a batch waits).

const maxBatch = 256

type writeReq struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

var reqPool = make(chan *writeReq, 1024)

func getReq(fn func(tx *bolt.Tx) error) *writeReq {
	select {
	case r := <-reqPool:
		r.fn = fn
		return r
	default:
		return &writeReq{fn: fn, done: make(chan error, 1)}
	}
}

func putReq(r *writeReq) {
	r.fn = nil
	select {
	case reqPool <- r:
	default:
	}
}

// batch runs fn in a shared write transaction and returns once that transaction committed (or
// failed). fn may run more than once, so it must only derive its effects from tx and must
// not keep state between runs except by overwriting it; it must return the errors of its
// writes (wrapped or not). An error from fn leaves the other writes of the batch unaffected.
//
// fn first runs in a read transaction, on the caller's goroutine: until its first write it
// only reads, so a refusal it reaches there (no such room, no permission, already a member)
// is answered from that read and never reaches the writer, and a fn that ends without
// writing anything needs no commit at all. Only a fn that tries to write (bbolt refuses that
// in a read transaction) is queued. A failing write used to break up the group commit of
// everyone else's (see runBatch); now a cheap failing request costs one read.
func (s *Bolt) batch(fn func(tx *bolt.Tx) error) (err error) {
	if s.tx != nil {
		return fn(s.tx) // inside Atomic: its transaction commits or rolls back the whole
	}
	if s.writes == nil {
		// Opened read-only: there is no writer, and a send on the nil channel would block forever.
		return errReadOnly
	}
	if err, decided := s.dryRun(fn); decided {
		return err
	}
	// Close takes the write side of this lock before it closes the channel, so a write that
	// comes in after the server's drain timeout gets errClosed instead of a send on a closed
	// channel; one already queued is committed first.
	s.closing.RLock()
	if s.closed {
		s.closing.RUnlock()
		return errClosed
	}
	r := getReq(fn)
	s.writes <- r
	s.closing.RUnlock()
	err = <-r.done
	putReq(r)
	return err
}

// dryRun runs fn in a read transaction. decided is true when fn returned without trying to
// write: err is then its answer, as the writer would have given it on the committed state.
func (s *Bolt) dryRun(fn func(tx *bolt.Tx) error) (err error, decided bool) {
	emitted := false
	verr := s.db.View(func(tx *bolt.Tx) error {
		err = runFn(fn, tx)
		// An event is an effect too: a function that emits one goes to the writer, whose
		// commit publishes it.
		emitted = len(takeEvents(tx)) > 0
		return nil
	})
	if verr != nil || emitted || errors.Is(err, berrors.ErrTxNotWritable) {
		return nil, false
	}
	s.dryAnswered.Add(1)
	return err, true
}

type closedError struct{}

func (closedError) Error() string { return "database is closed" }

var errClosed = closedError{}

var errReadOnly = errors.New("database is open read-only")

// The convoy: when a crowd of k clients shares one commit, they all get their answers at
// once and come back one after the other. Taking whatever is queued would commit the first
// one alone while the other k-1 queue behind it, so batches alternate 1, k-1, 1, k-1 and the
// mean batch halves (BenchmarkPostMessageParallel measured 31 writes/commit for 64 senders).
// So after a batch of more than gatherMin writes, the next batch waits for its crowd: until
// as many writes as last time are queued, or half the last commit's duration (at most
// maxGather) has passed. A lone writer (last batch 1) never waits; a crowd that went away
// costs one wait.
const (
	gatherMin = 4
	maxGather = 2 * time.Millisecond
)

func (s *Bolt) writer() {
	defer s.wg.Done()
	pending := make([]*writeReq, 0, maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	last, lastDur := 0, time.Duration(0)
	for r := range s.writes {
		pending = append(pending[:0], r)
		open := true
	fill:
		for len(pending) < maxBatch {
			select {
			case r, ok := <-s.writes:
				if !ok {
					open = false
					break fill
				}
				pending = append(pending, r)
			default:
				break fill
			}
		}
		if open && last > gatherMin && len(pending) < last {
			timer.Reset(min(lastDur/2, maxGather))
		gather:
			for len(pending) < min(last, maxBatch) {
				select {
				case r, ok := <-s.writes:
					if !ok {
						break gather
					}
					pending = append(pending, r)
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		}
		start := time.Now()
		s.runBatch(pending)
		last, lastDur = len(pending), time.Since(start)
	}
}

// runBatch commits reqs together. A request whose fn fails must leave no partial write, and
// bbolt has no savepoints, so the transaction is rolled back and run again without it: the
// others still share one commit. Its error stands, because it ran on exactly the state
// committed before it (the writes of the requests ahead of it, which commit). Each failure
// costs one more run of the batch's functions (reads and in-memory writes, no fsync); with
// refusals answered before the writer (dryRun), failures here are rare races.
func (s *Bolt) runBatch(reqs []*writeReq) {
	var failed []error // failed[i] != nil: request i failed and is left out
	for {
		tx, err := s.db.Begin(true)
		if err != nil {
			err = s.commitFailed(err)
			for i, r := range reqs {
				if failed != nil && failed[i] != nil {
					r.done <- failed[i]
				} else {
					r.done <- err
				}
			}
			return
		}
		retry := false
		for i, r := range reqs {
			if failed != nil && failed[i] != nil {
				continue
			}
			if e := runFn(r.fn, tx); e != nil {
				if failed == nil {
					failed = make([]error, len(reqs))
				}
				failed[i], retry = e, true
				break
			}
		}
		if retry {
			tx.Rollback()
			dropEvents(tx)
			continue
		}
		n := 0
		for i := range reqs {
			if failed == nil || failed[i] == nil {
				n++
			}
		}
		if n == 0 {
			tx.Rollback()
			dropEvents(tx)
		} else {
			err = s.commit(tx)
			s.commits.Add(1)
			s.batched.Add(int64(n))
		}
		for i, r := range reqs {
			if failed != nil && failed[i] != nil {
				r.done <- failed[i]
				continue
			}
			r.done <- err
		}
		return
	}
}

// runFn runs one request's fn, turning a panic into its error: the writer goroutine serves
// every request, so a bug in one write must not take the whole process down.
func runFn(fn func(tx *bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("write panicked: %v", rec)
		}
	}()
	return fn(tx)
}
