//go:build !nopostgres

package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/store"
	"rocketlite/store/pgstore"
)

// postgresBuilt says this build can use PostgreSQL.
const postgresBuilt = true

// openPostgres opens the PostgreSQL store at dsn, applying its schema's migrations.
func openPostgres(ctx context.Context, dsn string, opts store.Options, log zerolog.Logger) (store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return pgstore.Open(ctx, dsn, pgstore.Options{Options: opts, Log: log})
}
