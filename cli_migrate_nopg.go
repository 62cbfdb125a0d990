//go:build nopostgres

package main

import (
	"context"
	"errors"

	"rocketlite/store"
)

// errNoPostgres explains that this build cannot migrate.
var errNoPostgres = errors.New("this rocketlite was built with -tags nopostgres, without PostgreSQL: migrate with a build without that tag (the bbolt file is the same)")

func importPostgres(context.Context, string, *store.Bolt, map[store.RecordKind]int, int, int, func(store.RecordKind, int), func(string)) (map[store.RecordKind]int, error) {
	return nil, errNoPostgres
}
