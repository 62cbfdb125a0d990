//go:build nopostgres

package main

import (
	"context"
	"errors"

	"github.com/rs/zerolog"

	"rocketlite/store"
)

const postgresBuilt = false

func openPostgres(ctx context.Context, dsn string, opts store.Options, log zerolog.Logger) (store.Store, error) {
	return nil, errors.New("this rocketlite was built with -tags nopostgres, without PostgreSQL: use --db FILE, or a build without that tag")
}
