package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"rocketlite/store"
)

// migrate copies the bbolt file of a stopped server into an empty PostgreSQL database (the
// way from one node to several): every record, in one transaction, then the rows of every
// kind counted on both sides. The PostgreSQL part is cli_migrate_pg.go; a build with
// -tags nopostgres has none (cli_migrate_nopg.go).

// migrateCmd is "rocketlite migrate --from FILE --to postgres://…".
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rocketlite migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "rocketlite.db", "the bbolt database `file` to copy (its server stopped)")
	to := fs.String("to", "", "the empty PostgreSQL database to copy into, its `address` postgres://user@host/db")
	batch := fs.Int("batch-rows", 10000, "rows sent to PostgreSQL per COPY")
	batchBytes := int64(16 << 20)
	fs.Func("batch-bytes", "row data held before it is sent, in bytes (suffixes K, M, G; default 16M): bounds the memory of the copy", func(s string) (err error) {
		batchBytes, err = parseSize(s)
		return err
	})
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: rocketlite migrate --from FILE --to postgres://…\n\n"+
			"Copies every record of a stopped server's bbolt file into an empty PostgreSQL database, in one\n"+
			"transaction (a failed copy leaves the database empty), then counts both sides.\n"+
			"ROCKETLITE_DB stands for --from when it names a file, for --to when it names PostgreSQL.\n"+
			"Keep the password off the command line: PGPASSWORD, ~/.pgpass or ROCKETLITE_TO.\n\n"+
			"Flags (each also read from its environment variable; a flag wins):\n")
		printFlags(stderr, fs)
	}
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	fromEnv, err := envFallback(fs, getenv)
	if err != nil {
		return err
	}
	// ROCKETLITE_DB names the file before the move and the database after it: either side
	// falls back to it when it is of that side's kind.
	if db := getenv("ROCKETLITE_DB"); db != "" {
		// (A value from ROCKETLITE_FROM or ROCKETLITE_TO counts as set: envFallback sets it.)
		if !flagSet(fs, "from") && !isPostgres(db) {
			*from, fromEnv["from"] = db, "ROCKETLITE_DB"
		}
		if !flagSet(fs, "to") && isPostgres(db) {
			*to, fromEnv["to"] = db, "ROCKETLITE_DB"
		}
	}
	switch {
	case len(rest) > 0:
		fs.Usage()
		return usageError{fmt.Sprintf("rocketlite migrate takes no argument (%q): name the databases with --from and --to", rest[0])}
	case *to == "":
		fs.Usage()
		return usageError{"rocketlite migrate needs --to postgres://… (or ROCKETLITE_TO, or ROCKETLITE_DB=postgres://…): the PostgreSQL database to copy into"}
	case !isPostgres(*to):
		return usageError{fmt.Sprintf("%s must be a PostgreSQL address, postgres://… (to copy a file, use rocketlite backup)", flagSource(fromEnv, "to"))}
	case isPostgres(*from):
		return usageError{fmt.Sprintf("%s must be a bbolt database file: migrate copies a file into PostgreSQL (from one PostgreSQL database to another, use pg_dump)", flagSource(fromEnv, "from"))}
	case *batch < 1:
		return usageError{fmt.Sprintf("%s must be at least 1", flagSource(fromEnv, "batch-rows"))}
	case batchBytes < 64<<10 || batchBytes > 1<<30:
		return usageError{fmt.Sprintf("%s must be from 64K to 1G", flagSource(fromEnv, "batch-bytes"))}
	}
	if !postgresBuilt {
		return errNoPostgres
	}
	fi, err := os.Stat(*from)
	if err != nil {
		return fmt.Errorf("no database at %s (%s names it)", *from, flagSource(fromEnv, "from"))
	}
	src, err := store.Open(*from, store.Options{ReadOnly: true, LockTimeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%s is in use by another process (a running rocketlite server?): stop the server, then migrate", *from)
	}
	if err != nil {
		return err
	}
	defer src.Close()
	want, err := src.ExportCounts()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "rocketlite migrate: copying %s (%d MiB: %d users, %d rooms, %d messages) to %s\n",
		*from, fi.Size()>>20, want[store.KindUser], want[store.KindRoom], want[store.KindMessage], dbForLog(*to))
	started := time.Now()
	last := started
	progress := func(kind store.RecordKind, n int) {
		// A file of millions of messages takes minutes: say how far the copy is.
		if now := time.Now(); now.Sub(last) >= progressEvery {
			last = now
			fmt.Fprintf(stderr, "rocketlite migrate: %s: %d of %d\n", kind, n, want[kind])
		}
	}
	stage := func(what string) {
		if time.Since(started) >= progressEvery {
			fmt.Fprintf(stderr, "rocketlite migrate: %s\n", what)
		}
	}
	got, err := importPostgres(ctx, *to, src, want, *batch, int(batchBytes), progress, stage)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("migrate interrupted: nothing was committed, %s is as it was", dbForLog(*to))
		}
		return err
	}
	fmt.Fprintf(stdout, "%-16s %10s %10s\n", "kind", "source", "copied")
	for _, k := range store.RecordKinds {
		fmt.Fprintf(stdout, "%-16s %10d %10d\n", k, want[k], got[k])
	}
	fmt.Fprintf(stdout, "migrated %s to %s in %s: %d users, %d rooms, %d messages; every count verified\n",
		*from, dbForLog(*to), time.Since(started).Round(time.Millisecond), got[store.KindUser], got[store.KindRoom], got[store.KindMessage])
	fmt.Fprintf(stderr, "rocketlite migrate: start the nodes with --db %s (keep %s as a backup)\n", dbForLog(*to), *from)
	return nil
}

// flagSet reports whether the command line set the flag.
func flagSet(fs *flag.FlagSet, name string) (set bool) {
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
