//go:build !nopostgres

package main

import (
	"context"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore"
)

// errNoPostgres is nil in a build with PostgreSQL.
var errNoPostgres error

// importPostgres opens the PostgreSQL database at dsn (applying its schema) and copies src
// into it, returning the rows of every kind it then holds.
func importPostgres(ctx context.Context, dsn string, src *store.Bolt, want map[store.RecordKind]int, batch, batchBytes int, progress func(store.RecordKind, int), stage func(string)) (map[store.RecordKind]int, error) {
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// ReadOnly: no events to follow (the copy publishes none); Import writes in its own
	// transaction.
	dst, err := pgstore.Open(openCtx, dsn, pgstore.Options{Options: store.Options{ReadOnly: true}})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	return dst.Import(ctx, src.Export, pgstore.ImportOptions{Want: want, Batch: batch, BatchBytes: batchBytes, Progress: progress, Stage: stage})
}
