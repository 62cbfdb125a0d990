package pgstore

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

var _ store.LoginFailures = (*Store)(nil)

// LoginFailures returns the times of key's failures after since, the newest max, oldest first.
func (s *Store) LoginFailures(key []byte, since time.Time, max int) (ts []time.Time, err error) {
	err = s.one(func(ctx context.Context, db q) error {
		rows, err := db.Query(ctx, `SELECT at FROM login_failures WHERE key = $1 AND at > $2 ORDER BY at DESC LIMIT $3`, key, since, max)
		if err != nil {
			return err
		}
		ts, err = pgx.CollectRows(rows, pgx.RowTo[time.Time])
		return err
	})
	slices.Reverse(ts)
	return ts, err
}

// AddLoginFailure records a failure of key and forgets its failures before expired (and,
// now and then, every key's: a name tried once is not kept for ever).
func (s *Store) AddLoginFailure(key []byte, at, expired time.Time) error {
	return s.result(s.direct(func(ctx context.Context) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO login_failures (key, at) VALUES ($1, $2)`, key, at)
		b.Queue(`DELETE FROM login_failures WHERE key = $1 AND at <= $2`, key, expired)
		if s.loginFailures.Add(1)%64 == 0 { // not the time: a clock in whole milliseconds is always 0 mod 64
			b.Queue(`DELETE FROM login_failures WHERE at < $1`, expired.Add(-24*time.Hour))
		}
		return s.pool.SendBatch(ctx, b).Close()
	}))
}

// ResetLoginFailures forgets key's failures.
func (s *Store) ResetLoginFailures(key []byte) error {
	return s.result(s.direct(func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
		return err
	}))
}

// direct runs fn with the operation's timeout, outside a transaction of its own: for
// bookkeeping that publishes nothing.
func (s *Store) direct(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return fn(ctx)
}
