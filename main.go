// Command rocketlite serves the Rocket.Chat REST API from one binary and one bbolt file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cancel(interrupted{s})
		// A second signal means "now": a drain or a clean-up that hangs must not keep the
		// process (and the database lock) alive.
		s = <-sigs
		fmt.Fprintln(os.Stderr, "rocketlite: second signal, exiting at once")
		os.Exit(interrupted{s}.code())
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "rocketlite:", err)
		}
		os.Exit(exitCode(err))
	}
}

// errReported marks an error already shown to the user.
var errReported = errors.New("reported")

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// interrupted is the cause of a command stopped by a signal; it exits with 128+signal, as a
// shell reports a process killed by that signal.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string { return "interrupted (" + e.sig.String() + ")" }

func (e interrupted) code() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

func exitCode(err error) int {
	var u usageError
	var i interrupted
	switch {
	case errors.As(err, &u) || errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &i):
		return i.code()
	}
	return 1
}

// run is the whole program: main only adds the process's signals, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	}
	if cmd == "serve" && len(rest) > 0 && len(args) > 1 && args[1] == rest[0] {
		// "rocketlite --help" and "rocketlite --version" are about the program, not serve.
		switch rest[0] {
		case "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		case "-version", "--version":
			cmd = "version"
		}
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "user", "role", "permission":
		return interruptible(ctx, func(ctx context.Context) error {
			return admin(ctx, cmd, rest, getenv, stdin, stdout, stderr)
		})
	case "hook":
		return interruptible(ctx, func(context.Context) error { return hookCmd(rest, getenv, stdout, stderr) })
	case "backup":
		return interruptible(ctx, func(ctx context.Context) error { return backupCmd(ctx, rest, getenv, stdout, stderr) })
	case "check":
		return interruptible(ctx, func(ctx context.Context) error { return checkCmd(ctx, rest, getenv, stdout, stderr) })
	case "migrate":
		return interruptible(ctx, func(ctx context.Context) error { return migrateCmd(ctx, rest, getenv, stdout, stderr) })
	case "version":
		fmt.Fprintln(stdout, "rocketlite", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q (rocketlite help lists the commands)", cmd)}
}

// cleanupGrace is how long a command stopped by a signal gets to remove what it half made
// (a backup's temporary file) before the process exits anyway.
const cleanupGrace = 2 * time.Second

// interruptible runs a command that is not the server. On SIGINT or SIGTERM it returns at
// once (the process then exits, which releases the database lock): a command blocked in a
// prompt or a long read cannot hold the file. The command sees ctx end and may clean up.
func interruptible(ctx context.Context, fn func(ctx context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case <-done:
	case <-time.After(cleanupGrace):
	}
	if err := context.Cause(ctx); err != nil {
		var i interrupted
		if errors.As(err, &i) {
			return i
		}
		return err
	}
	return ctx.Err()
}

const usage = `rocketlite: a Rocket.Chat-compatible chat server (REST and realtime) on one bbolt file,
or on PostgreSQL for several nodes (--db postgres://…).

Usage:
  rocketlite [serve] [flags]            serve the API (rocketlite serve -h lists the flags)
  rocketlite user …                     add, passwd, disable, enable, list, revoke-tokens, role add|remove
  rocketlite role …                     add, list, remove
  rocketlite permission …               list, grant, revoke
  rocketlite hook …                     add, list, rm, enable, disable (webhooks)
  rocketlite backup [--db FILE] [--force] OUT   copy the database of a stopped server to OUT
                                        (on PostgreSQL: pg_dump, while the nodes serve)
  rocketlite check [--db FILE]          verify a database (pages and invariants)
  rocketlite migrate --from FILE --to postgres://…   copy a stopped server's file into an
                                        empty PostgreSQL database, then verify the counts
  rocketlite version                    print the version (also --version)
  rocketlite help                       this text (also --help)

The user, role, permission and hook commands work on the file of a stopped server, or on
PostgreSQL beside running nodes (rocketlite user help lists them). Every command's -h lists its flags; every flag can also be
set as ROCKETLITE_<NAME> in the environment (--token-ttl: ROCKETLITE_TOKEN_TTL).
`

// envName is the environment variable of a flag: ROCKETLITE_<NAME>, dashes become underscores.
func envName(flagName string) string {
	return "ROCKETLITE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envFallback sets every flag of fs that the command line did not set from the environment
// variable ROCKETLITE_<NAME> (dashes become underscores), if that is set: flag > env > default.
// It returns the flags it set, with their variable, so that later checks name the source.
func envFallback(fs *flag.FlagSet, getenv func(string) string) (fromEnv map[string]string, err error) {
	set := map[string]bool{}
	fromEnv = map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageError{fmt.Sprintf("%s=%q: %v", name, v, e)}
				return
			}
			fromEnv[f.Name] = name
		}
	})
	return fromEnv, err
}

// flagSource names where a flag's value came from, for error messages: "--addr" or
// "ROCKETLITE_ADDR".
func flagSource(fromEnv map[string]string, name string) string {
	if v, ok := fromEnv[name]; ok {
		return v
	}
	return "--" + name
}

// printFlags writes fs's flags, each with its environment variable and default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if arg != "" {
			head += " " + arg
		}
		fmt.Fprintf(w, "%s\n    \t%s", head, text)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "\n    \tenv %s\n", envName(f.Name))
	})
}
