// Package pgtest gives tests a PostgreSQL database of their own: a fresh schema in the
// database that ROCKETLITE_TEST_PG names (.ci/pg.sh starts a throwaway cluster and prints
// one), dropped when the test ends. Without ROCKETLITE_TEST_PG a test that needs PostgreSQL
// is skipped with a message, except under CI=true, where it fails: CI must run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test database.
const Env = "ROCKETLITE_TEST_PG"

// Available reports whether PostgreSQL tests can run here.
func Available() bool { return os.Getenv(Env) != "" }

// Need skips tb without a test database (fails it under CI=true).
func Need(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: CI must run the PostgreSQL tests (bash .ci/pg.sh starts a cluster)", Env)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s=postgres://… (bash .ci/pg.sh starts a throwaway cluster and prints it)", Env)
	}
	return dsn
}

// DSN creates a fresh schema and returns the address of the test database with that schema
// first on the search path; the schema is dropped when tb ends (after the stores opened on
// it closed, as cleanups run last-registered first).
func DSN(tb testing.TB) string {
	tb.Helper()
	base := Need(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("PostgreSQL at %s: %v", Env, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema+",public")
	u.RawQuery = q.Encode()
	return u.String()
}
