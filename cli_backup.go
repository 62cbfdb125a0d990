package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/store"
)

// openStopped opens the database of a stopped server for reading; a running server holds the
// lock, and then the REST API is the way (GET /api/backup).
func openStopped(path string) (*store.Bolt, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (--db or ROCKETLITE_DB names it)", path)
	}
	st, err := store.Open(path, store.Options{ReadOnly: true, LockTimeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by another process (a running rocketlite server?): stop it, or do this through the server's REST API instead: GET /api/backup (then check the copy)", path)
	}
	return st, err
}

// parseDBFlag parses the flags of backup and check; extra declares their own flags.
func parseDBFlag(name string, args []string, getenv func(string) string, stderr io.Writer, nargs int, argsUsage string, extra func(fs *flag.FlagSet)) (db string, rest []string, err error) {
	fs := flag.NewFlagSet("rocketlite "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&db, "db", "rocketlite.db", "database `file`")
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rocketlite %s [--db FILE] %s\n\nFlags (each also read from its environment variable; a flag wins):\n", name, argsUsage)
		printFlags(stderr, fs)
	}
	// Flags may follow OUT, as in the user/role/permission commands.
	rest, err = parseInterleaved(fs, args)
	if err != nil {
		return "", nil, err
	}
	if _, err := envFallback(fs, getenv); err != nil {
		return "", nil, err
	}
	if len(rest) != nargs {
		fs.Usage()
		if nargs == 0 {
			return "", nil, usageError{fmt.Sprintf("rocketlite %s takes no argument: name the database with --db %s", name, rest[0])}
		}
		return "", nil, usageError{fmt.Sprintf("rocketlite %s takes one argument, %s (and the database with --db FILE)", name, argsUsage)}
	}
	return db, rest, nil
}

// backupCmd copies the database of a stopped server to OUT (temp file, fsync, rename, 0600).
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var force bool
	db, rest, err := parseDBFlag("backup", args, getenv, stderr, 1, "OUT", func(fs *flag.FlagSet) {
		fs.BoolVar(&force, "force", false, "replace OUT if it exists")
	})
	if err != nil {
		return err
	}
	out := rest[0]
	if isPostgres(db) {
		return pgDump(ctx, db, out, force, stdout, stderr)
	}
	a, errA := os.Stat(db)
	if b, errB := os.Stat(out); errB == nil {
		if errA == nil && os.SameFile(a, b) {
			return usageError{"OUT is the database itself"}
		}
		if !force {
			return usageError{fmt.Sprintf("%s exists: choose another name, or replace it with --force", out)}
		}
	}
	st, err := openStopped(db)
	if err != nil {
		return err
	}
	defer st.Close()
	started := time.Now()
	last := started
	progress := func(done, total int64) {
		// A backup of a big file on an SD card takes minutes: say how far it is.
		if now := time.Now(); now.Sub(last) >= progressEvery || (done == total && now.Sub(started) >= progressEvery) {
			last = now
			fmt.Fprintf(stderr, "rocketlite backup: %d of %d MiB (%d%%)\n", done>>20, total>>20, 100*done/max(total, 1))
		}
	}
	if err := st.BackupFileProgress(ctx, out, force, progress); err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageError{fmt.Sprintf("%s exists: choose another name, or replace it with --force", out)}
		}
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", db, out, fi.Size())
	return nil
}

// checkProgressSize is the file size from which check reports its stages.
var checkProgressSize int64 = 64 << 20

// progressEvery is how often a long command reports how far it is.
var progressEvery = 2 * time.Second

// checkCmd verifies a database file: bbolt's page check and the store's invariants.
func checkCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	db, _, err := parseDBFlag("check", args, getenv, stderr, 0, "", nil)
	if err != nil {
		return err
	}
	// bbolt panics on some damaged pages rather than returning an error: that is a finding.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintln(stdout, "problem: the file is damaged:", p)
			fmt.Fprintf(stderr, "rocketlite check: %s is damaged\n", db)
			err = errReported
		}
	}()
	var st store.Store
	if isPostgres(db) {
		// Nodes may be serving meanwhile: the check reads one snapshot per stage.
		st, err = openPostgres(ctx, db, store.Options{ReadOnly: true}, zerolog.Nop())
	} else {
		st, err = openStopped(db)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	var stage func(string)
	if fi, err := os.Stat(db); err == nil && !isPostgres(db) && fi.Size() >= checkProgressSize {
		// A big file on an SD card takes minutes: say what is being read.
		fmt.Fprintf(stderr, "rocketlite check: reading %s (%d MiB)\n", db, fi.Size()>>20)
		stage = func(what string) { fmt.Fprintf(stderr, "rocketlite check: %s\n", what) }
	}
	errs := st.CheckProgress(ctx, stage)
	for _, e := range errs {
		fmt.Fprintln(stdout, "problem:", e)
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "rocketlite check: %s has %d problem(s)\n", dbForLog(db), len(errs))
		return errReported
	}
	c, err := st.Counts()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s: %d users, %d rooms, %d messages, %d tokens\n", dbForLog(db), c["users"], c["rooms"], c["messages"], c["tokens"])
	return nil
}

// pgDump backs up a PostgreSQL database the way PostgreSQL does it: pg_dump, in its custom
// format (restore with pg_restore). It copies a consistent snapshot while the nodes serve.
func pgDump(ctx context.Context, dsn, out string, force bool, stdout, stderr io.Writer) error {
	if _, err := os.Stat(out); err == nil && !force {
		return usageError{fmt.Sprintf("%s exists: choose another name, or replace it with --force", out)}
	}
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump"); len(m) > 0 {
			bin, err = m[len(m)-1], nil
		}
	}
	if err != nil {
		return fmt.Errorf("a PostgreSQL database is backed up with pg_dump, which is not installed here (Debian: apt-get install postgresql-client)")
	}
	args, err := pgDumpArgs(dsn)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--format=custom", "--no-owner", "--file", out}, args...)...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_dump of %s: %w", dbForLog(dsn), err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s with pg_dump (%d bytes, custom format): restore it with pg_restore --dbname postgres://… %s\n", dbForLog(dsn), out, fi.Size(), out)
	return nil
}

// pgDumpArgs turns a pgx address into pg_dump's arguments: libpq refuses the parameters only
// pgx knows (pool_max_conns and the other pool_* ones), and a search_path parameter, which
// pgx sends as a setting, becomes the schema to dump.
func pgDumpArgs(dsn string) ([]string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("database address: %v", err)
	}
	q := u.Query()
	var args []string
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	if sp := q.Get("search_path"); sp != "" {
		q.Del("search_path")
		schema, _, _ := strings.Cut(sp, ",")
		args = append(args, "--schema", strings.TrimSpace(schema))
	}
	u.RawQuery = q.Encode()
	return append(args, "--dbname", u.String()), nil
}
