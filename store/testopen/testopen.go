// Package testopen opens the store a test runs on: a bbolt file by default, or PostgreSQL
// (a fresh schema of the ROCKETLITE_TEST_PG database) when ROCKETLITE_TEST_STORE=postgres,
// so that the same API and realtime tests run on both backends (.ci/run runs them twice).
package testopen

import (
	"context"
	"os"
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore"
	"rocketlite/store/pgstore/pgtest"
)

// Postgres reports whether tests run on PostgreSQL.
func Postgres() bool { return os.Getenv("ROCKETLITE_TEST_STORE") == "postgres" }

// Open opens the test's store (the file at path on bbolt), closed when tb ends.
func Open(tb testing.TB, path string, opts store.Options) store.Store {
	tb.Helper()
	if Postgres() {
		return OpenPostgres(tb, pgtest.DSN(tb), opts)
	}
	st, err := store.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// OpenPostgres opens a PostgreSQL store (one node) on dsn, closed when tb ends.
func OpenPostgres(tb testing.TB, dsn string, opts store.Options) store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{Options: opts, Poll: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// BoltOnly skips a test about the bbolt file itself when tests run on PostgreSQL.
func BoltOnly(tb testing.TB, why string) {
	tb.Helper()
	if Postgres() {
		tb.Skip("bbolt only: " + why)
	}
}
