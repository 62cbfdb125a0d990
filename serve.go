package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/seed"
	"rocketlite/store"
)

type serveConfig struct {
	addr          string
	db            string
	seedFile      string
	adminUser     string
	adminPassword string
	bcryptCost    int
	tokenTTL      time.Duration
	tokenSweep    time.Duration
	logLevel      string
	logFormat     string
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("rocketlite serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":3000", "address to listen on")
	fs.StringVar(&c.db, "db", "rocketlite.db", "database file (created if missing)")
	fs.StringVar(&c.seedFile, "seed", "", "JSON seed file applied at every start (creates what is missing)")
	fs.StringVar(&c.adminUser, "admin-user", "admin", "name of the admin created when the database has no user")
	fs.StringVar(&c.adminPassword, "admin-password", "", "password of that admin (default: a random one, printed once in the log)")
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of new password hashes (minimum 4)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", 2160*time.Hour, "lifetime of a login token")
	fs.DurationVar(&c.tokenSweep, "token-sweep", time.Hour, "interval between sweeps of expired tokens")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: console or json (default: console on a terminal, json otherwise)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if err := envFallback(fs, getenv); err != nil {
		return nil, err
	}
	switch {
	case c.bcryptCost < 4 || c.bcryptCost > 31:
		return nil, usageError{fmt.Sprintf("--bcrypt-cost %d: must be from 4 to 31", c.bcryptCost)}
	case c.tokenTTL <= 0:
		return nil, usageError{"--token-ttl must be positive"}
	case c.tokenSweep <= 0:
		return nil, usageError{"--token-sweep must be positive"}
	case c.logFormat != "" && c.logFormat != "console" && c.logFormat != "json":
		return nil, usageError{fmt.Sprintf("--log-format %q: must be console or json", c.logFormat)}
	}
	if _, err := zerolog.ParseLevel(c.logLevel); err != nil || c.logLevel == "" {
		return nil, usageError{fmt.Sprintf("--log-level %q: must be debug, info, warn or error", c.logLevel)}
	}
	return c, nil
}

func newLogger(w io.Writer, format, level string) zerolog.Logger {
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	lvl, _ := zerolog.ParseLevel(level)
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// openStore opens the database, turning a held lock into a message that says what to do.
func openStore(path string, opts store.Options) (*store.Store, error) {
	st, err := store.Open(path, opts)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by another process (a running rocketlite?): stop it, or use the REST API of the running server", path)
	}
	return st, err
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	tuneGC(getenv)

	st, err := openStore(cfg.db, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	hasher, err := auth.NewHasher(cfg.bcryptCost)
	if err != nil {
		return err
	}
	if err := applySeeds(st, hasher, cfg, log); err != nil {
		return err
	}

	api := handlers.New(handlers.Config{Store: st, Hasher: hasher, Log: log, TokenTTL: cfg.tokenTTL, Version: version})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	log.Info().Str("addr", ln.Addr().String()).Str("db", cfg.db).Str("version", version).Msg("listening")
	log.Warn().Msg("serving plain HTTP: put rocketlite behind TLS before exposing it beyond this machine")

	sweepCtx, stopSweep := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		auth.Sweep(sweepCtx, st, cfg.tokenSweep,
			func(err error) { log.Error().Err(err).Msg("token sweep failed") },
			func(n int) { log.Info().Int("deleted", n).Msg("expired tokens swept") })
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info().Msg("shutting down: draining requests")
		shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = srv.Shutdown(shutCtx)
		cancel()
		if err != nil {
			log.Error().Err(err).Msg("drain did not finish in time")
			srv.Close()
		}
		err = nil
	}
	stopSweep()
	wg.Wait()
	if cerr := st.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err == nil {
		log.Info().Msg("stopped")
	}
	return err
}

func applySeeds(st *store.Store, h *auth.Hasher, cfg *serveConfig, log zerolog.Logger) error {
	created, err := seed.ApplyDefault(st, h)
	if err != nil {
		return err
	}
	if cfg.seedFile != "" {
		f, err := seed.Load(cfg.seedFile)
		if err != nil {
			return err
		}
		more, err := seed.Apply(st, h, cfg.seedFile, f)
		created = append(created, more...)
		if err != nil {
			return err
		}
	}
	if len(created) > 0 {
		log.Info().Int("created", len(created)).Str("what", strings.Join(created, ", ")).Msg("seeded")
	}
	generated, made, err := seed.EnsureAdmin(st, h, cfg.adminUser, cfg.adminPassword)
	if err != nil {
		return err
	}
	if made {
		ev := log.Warn().Str("user", cfg.adminUser)
		if generated != "" {
			// The one time a password is logged: the operator has no other way to learn it.
			ev = ev.Str("password", generated)
		}
		ev.Msg("no user existed: created an admin")
	}
	return nil
}
