package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"rocketlite/store"
)

// openStopped opens the database of a stopped server for reading; a running server holds the
// lock, and then the REST API is the way (GET /api/backup).
func openStopped(path string) (*store.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (--db or ROCKETLITE_DB names it)", path)
	}
	st, err := store.Open(path, store.Options{ReadOnly: true, LockTimeout: 2 * time.Second})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by another process (a running rocketlite server?): stop it, or do this through the server's REST API instead: GET /api/backup (then check the copy)", path)
	}
	return st, err
}

func parseDBFlag(name string, args []string, getenv func(string) string, stderr io.Writer, nargs int, argsUsage string) (db string, rest []string, err error) {
	fs := flag.NewFlagSet("rocketlite "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&db, "db", "rocketlite.db", "database file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: rocketlite %s [--db FILE] %s\n", name, argsUsage)
		fs.PrintDefaults()
	}
	// Flags may follow OUT, as in the user/role/permission commands.
	rest, err = parseInterleaved(fs, args)
	if err != nil {
		return "", nil, err
	}
	if err := envFallback(fs, getenv); err != nil {
		return "", nil, err
	}
	if len(rest) != nargs {
		fs.Usage()
		return "", nil, usageError{fmt.Sprintf("rocketlite %s takes %d argument(s)", name, nargs)}
	}
	return db, rest, nil
}

// backupCmd copies the database of a stopped server to OUT (temp file, fsync, rename, 0600).
func backupCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	db, rest, err := parseDBFlag("backup", args, getenv, stderr, 1, "OUT")
	if err != nil {
		return err
	}
	out := rest[0]
	if a, errA := os.Stat(db); errA == nil {
		if b, errB := os.Stat(out); errB == nil && os.SameFile(a, b) {
			return usageError{"OUT is the database itself"}
		}
	}
	st, err := openStopped(db)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.BackupFile(out); err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes)\n", db, out, fi.Size())
	return nil
}

// checkCmd verifies a database file: bbolt's page check and the store's invariants.
func checkCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	db, _, err := parseDBFlag("check", args, getenv, stderr, 0, "")
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
	st, err := openStopped(db)
	if err != nil {
		return err
	}
	defer st.Close()
	errs := st.Check()
	for _, e := range errs {
		fmt.Fprintln(stdout, "problem:", e)
	}
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "rocketlite check: %s has %d problem(s)\n", db, len(errs))
		return errReported
	}
	c, err := st.Counts()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s: %d users, %d rooms, %d messages, %d tokens\n", db, c["users"], c["rooms"], c["messages"], c["tokens"])
	return nil
}
