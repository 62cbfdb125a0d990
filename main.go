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
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
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

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// run is the whole program: main only adds the process's signals, environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "user", "role", "permission":
		return admin(cmd, rest, getenv, stdin, stdout, stderr)
	case "hook":
		return hookCmd(rest, getenv, stdout, stderr)
	case "backup":
		return backupCmd(rest, getenv, stdout, stderr)
	case "check":
		return checkCmd(rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rocketlite", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

const usage = `Usage:
  rocketlite [serve] [flags]   serve the Rocket.Chat REST API (rocketlite serve -h lists the flags)
  rocketlite backup [--db FILE] OUT   copy the database of a stopped server to OUT
  rocketlite check [--db FILE]        verify a database file (pages and invariants)
  rocketlite version           print the version
  rocketlite user|role|permission …   manage users, roles and permissions (rocketlite user help)
  rocketlite hook add|list|rm|enable|disable …   manage webhooks (rocketlite hook help)
`

// envFallback sets every flag of fs that the command line did not set from the environment
// variable ROCKETLITE_<NAME> (dashes become underscores), if that is set: flag > env > default.
func envFallback(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := "ROCKETLITE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageError{fmt.Sprintf("%s=%q: %v", name, v, e)}
			}
		}
	})
	return err
}
