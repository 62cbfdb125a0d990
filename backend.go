package main

import (
	"net/url"
	"strings"
)

// Where the data lives: --db FILE keeps it in one bbolt file (the default, nothing to run
// beside rocketlite); --db postgres://… (or postgresql://…) in PostgreSQL, shared by several
// nodes. backend_pg.go opens PostgreSQL; a build with -tags nopostgres leaves pgx out
// (backend_nopg.go) for the smallest binary.

// isPostgres reports whether db names a PostgreSQL database rather than a file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// dbForLog is db as the log may show it: a PostgreSQL address without its password.
func dbForLog(db string) string {
	if !isPostgres(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable address)"
	}
	return u.Redacted()
}
