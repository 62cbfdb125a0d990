package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/metrics"
	"rocketlite/netlimit"
	"rocketlite/realtime"
	"rocketlite/seed"
	"rocketlite/store"
	"rocketlite/web"
)

type serveConfig struct {
	addr          string
	addrFrom      string // "--addr" or "ROCKETLITE_ADDR", for messages
	db            string
	seedFile      string
	adminUser     string
	adminPassword string
	seed          *seed.File // the --seed file, read and checked before anything is written
	// adminPasswordFrom names where adminPassword came from, for messages.
	adminPasswordFrom string
	bcryptCost        int
	tokenTTL          time.Duration
	tokenSweep        time.Duration
	logLevel          string
	logFormat         string
	openRegister      bool

	// Hardening (readme-hard): TLS, abuse limits, CORS, size caps and timeouts.
	tlsCert, tlsKey   string
	tlsSelfSigned     bool
	trustedProxies    []netip.Prefix
	corsOrigins       []string
	sendRate          float64
	sendBurst         int
	maxBody           int64
	maxAvatar         int64
	maxDBSize         int64
	pageCache         int64
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	writeTimeout      time.Duration
	idleTimeout       time.Duration
	drainTimeout      time.Duration

	// Abuse limits of issue 9 (handlers/limits.go, store caps, netlimit).
	writeRate        float64
	writeBurst       int
	registerLimit    int
	limiterEntries   int
	maxRoomsPerUser  int
	maxTokensPerUser int
	maxConns         int
	maxConnsPerAddr  int

	// Realtime (DDP): socket caps, queue and keep-alive.
	maxSockets, maxSocketsPerUser, socketQueue int
	socketPing, socketBatch, nodeTimeout       time.Duration

	// Message and read limits, and the collector's memory limit (issue 9).
	maxMsgBytes, maxMsgDepth int
	pageBytes, searchScan    int
	scanRate                 float64
	scanBurst                int
	memoryLimit              memoryLimitFlag

	noWeb bool // --no-web: no web client at /

	integ integrationsConfig // webhooks, metrics (serve_integrations.go)
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("rocketlite serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Plain HTTP is for this machine (README): only TLS listens on every interface by default.
	fs.StringVar(&c.addr, "addr", "", "`address` to listen on, [host]:port (default 127.0.0.1:3000; :3000 with TLS)")
	fs.StringVar(&c.db, "db", "rocketlite.db", "database: a `file` (created if missing), or postgres://user:pass@host/db for PostgreSQL shared by several nodes")
	fs.StringVar(&c.seedFile, "seed", "", "JSON seed file read at every start; each entry is applied once per database (what an admin removed later stays removed)")
	fs.StringVar(&c.adminUser, "admin-user", "admin", "name of the admin created when the database has no user")
	fs.StringVar(&c.adminPassword, "admin-password", "", "password of that admin (default: a random one, printed once in the log); visible to ps: prefer --admin-password-file")
	pwFile := fs.String("admin-password-file", "", "`file` whose first line is the password of that admin (e.g. a systemd credential)")
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of new password hashes (minimum 4)")
	durationFlag(fs, &c.tokenTTL, "token-ttl", 2160*time.Hour, "lifetime of a login token (2160h is 90 days)")
	durationFlag(fs, &c.tokenSweep, "token-sweep", time.Hour, "interval between sweeps of expired tokens")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: console or json (default: console on a terminal, json otherwise)")
	fs.BoolVar(&c.openRegister, "open-registration", false, "let anyone create an account with POST /api/v1/users.register")
	fs.BoolVar(&c.noWeb, "no-web", false, "do not serve the web client at / (the APIs stay)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&c.tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a certificate of a local CA kept beside the database (<db>.ca.pem is the file clients trust; created on first start)")
	fs.Func("trusted-proxies", "comma-separated CIDR networks of reverse proxies whose X-Forwarded-For is believed", func(s string) (err error) {
		c.trustedProxies, err = handlers.ParseTrustedProxies(s)
		return err
	})
	fs.Func("cors-origins", "comma-separated browser origins (https://host[:port]) allowed to call the API", func(s string) error {
		c.corsOrigins = nil
		for _, o := range strings.Split(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
					return fmt.Errorf("%q: an origin is scheme://host[:port]", o)
				}
				c.corsOrigins = append(c.corsOrigins, o)
			}
		}
		return nil
	})
	fs.Float64Var(&c.sendRate, "send-rate", 50, "messages per second one user may post, sustained (0: no limit)")
	fs.IntVar(&c.sendBurst, "send-burst", 200, "messages one user may post at once before --send-rate applies")
	fs.Float64Var(&c.writeRate, "write-rate", 10, "other writes (join, leave, edit, delete, room changes, …) per second one user may make, sustained (0: no limit)")
	fs.IntVar(&c.writeBurst, "write-burst", 100, "writes one user may make at once before --write-rate applies")
	fs.IntVar(&c.registerLimit, "register-limit", 10, "users.register attempts per client address per hour (with --open-registration)")
	fs.IntVar(&c.limiterEntries, "limiter-entries", 10000, "entries each abuse-limit table keeps at most (failed logins, registrations, rate buckets)")
	fs.IntVar(&c.maxRoomsPerUser, "max-rooms-per-user", store.DefaultMaxRoomsPerCreator, "rooms one user may create; admins are exempt (0: no cap)")
	fs.IntVar(&c.maxTokensPerUser, "max-tokens-per-user", store.DefaultMaxTokensPerUser, "live login tokens per user; a login past it revokes the oldest (0: no cap)")
	fs.IntVar(&c.maxConns, "max-conns", 512, "concurrent connections at most; more wait in the listen backlog")
	fs.IntVar(&c.maxConnsPerAddr, "max-conns-per-addr", 64, "concurrent connections from one client address (trusted proxies exempt); more are closed")
	c.maxAvatar = handlers.DefaultMaxAvatar
	fs.Func("max-avatar-size", "largest avatar picture a user may upload, in bytes (suffixes K, M; default 256K)", func(s string) (err error) {
		c.maxAvatar, err = parseSize(s)
		return err
	})
	c.maxBody = 1 << 20
	fs.Func("max-body", "largest request body, in bytes (suffixes K, M, G; default 1M)", func(s string) (err error) {
		c.maxBody, err = parseSize(s)
		return err
	})
	c.maxDBSize = defaultMaxDBSize(strconv.IntSize)
	fs.Func("max-db-size", "largest database file, in bytes (suffixes K, M, G; default: no cap, 1G on 32-bit builds); past it writes answer 507", func(s string) (err error) {
		c.maxDBSize, err = parseSize(s)
		return err
	})
	c.pageCache = handlers.DefaultPageCacheBytes
	fs.Func("page-cache", "memory for the newest pages of rooms kept rendered, in bytes (suffixes K, M, G; default 8M; 0: no cache)", func(s string) (err error) {
		c.pageCache, err = parseSize(s)
		return err
	})
	c.maxMsgBytes, c.pageBytes, c.memoryLimit = store.DefaultMaxMessageBytes, 1<<20, memoryLimitFlag{auto: true}
	fs.Func("max-message-size", "largest stored message (text, attachments and every other field, encoded), in bytes (suffixes K, M; default 64K)", func(s string) error {
		n, err := parseSize(s)
		c.maxMsgBytes = int(min(n, 1<<30))
		return err
	})
	fs.IntVar(&c.maxMsgDepth, "max-message-depth", store.DefaultMaxMessageDepth, "deepest nesting of a message's attachments (the list is level 1)")
	fs.Func("max-page-bytes", "byte budget of one page of messages, counted in stored records (suffixes K, M; default 1M; 0: none); a page past it ends early with X-Page-Truncated", func(s string) error {
		n, err := parseSize(s)
		c.pageBytes = int(min(n, 1<<30))
		return err
	})
	fs.IntVar(&c.searchScan, "search-scan", store.SearchScanLimit, "messages one chat.search reads at most (the newest of the room)")
	fs.Float64Var(&c.scanRate, "scan-rate", 2, "searches and pages at offset 1000 or more one user may request per second, sustained (0: no limit)")
	fs.IntVar(&c.scanBurst, "scan-burst", 20, "searches and deep pages one user may request at once before --scan-rate applies")
	fs.Var(&c.memoryLimit, "memory-limit", "soft memory limit of the Go runtime: auto (a quarter of the machine's or cgroup's memory, 64M to 1G), a size, or 0 for none")
	durationFlag(fs, &c.readHeaderTimeout, "read-header-timeout", 5*time.Second, "time a client has to send a request's headers")
	durationFlag(fs, &c.readTimeout, "read-timeout", 30*time.Second, "time a client has to send a whole request")
	durationFlag(fs, &c.writeTimeout, "write-timeout", 60*time.Second, "time to write a response (a backup gets more, by its size)")
	durationFlag(fs, &c.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	durationFlag(fs, &c.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	integrationFlags(fs, &c.integ)
	fs.IntVar(&c.maxSockets, "max-sockets", 2000, "most realtime (DDP) sockets open at once (0: no cap)")
	fs.IntVar(&c.maxSocketsPerUser, "max-sockets-per-user", 20, "most realtime sockets one user may have logged in at once (0: no cap)")
	fs.IntVar(&c.socketQueue, "socket-queue", 256, "realtime messages queued for one socket; a socket further behind is closed as too slow")
	durationFlag(fs, &c.socketPing, "socket-ping", 25*time.Second, "a realtime socket silent this long is pinged, and closed after twice as long")
	durationFlag(fs, &c.socketBatch, "socket-batch", 5*time.Millisecond, "realtime events of the writes committed within this window (up to 4 times it while writes keep coming) go to each socket in one write (0: every commit at once)")
	durationFlag(fs, &c.nodeTimeout, "node-timeout", 30*time.Second, "with several nodes on PostgreSQL: a node not heard from this long (killed, cut off) is taken for gone, and its users' presence with it; nodes send a heartbeat every third of it")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: rocketlite [serve] [flags]\n\nFlags (each also read from its environment variable; a flag wins):\n")
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		// A bad flag or value is a usage mistake (exit 2), like every other check below.
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	fromEnv, err := envFallback(fs, getenv)
	if err != nil {
		return nil, err
	}
	src := func(name string) string { return flagSource(fromEnv, name) }
	switch {
	case c.bcryptCost < 4 || c.bcryptCost > 31:
		return nil, usageError{fmt.Sprintf("%s %d: must be from 4 to 31", src("bcrypt-cost"), c.bcryptCost)}
	case c.tokenTTL <= 0:
		return nil, usageError{src("token-ttl") + " must be positive"}
	case c.tokenTTL > maxTokenTTL:
		// A token's expiry is kept in Unix nanoseconds, which end in 2262: a longer lifetime
		// would wrap to the past and refuse every token.
		return nil, usageError{fmt.Sprintf("%s %s: at most %s (100 years)", src("token-ttl"), c.tokenTTL, maxTokenTTL)}
	case c.tokenSweep <= 0:
		return nil, usageError{src("token-sweep") + " must be positive"}
	case c.logFormat != "" && c.logFormat != "console" && c.logFormat != "json":
		return nil, usageError{fmt.Sprintf("--log-format %q: must be console or json", c.logFormat)}
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return nil, usageError{"--tls-cert and --tls-key go together"}
	case c.tlsCert != "" && c.tlsSelfSigned:
		return nil, usageError{"--tls-self-signed and --tls-cert exclude each other"}
	case c.sendRate < 0 || c.sendBurst < 1:
		return nil, usageError{"--send-rate must be 0 or more and --send-burst at least 1"}
	case c.writeRate < 0 || c.writeBurst < 1:
		return nil, usageError{"--write-rate must be 0 or more and --write-burst at least 1"}
	case c.registerLimit < 1 || c.limiterEntries < 100:
		return nil, usageError{"--register-limit must be at least 1 and --limiter-entries at least 100"}
	case c.maxRoomsPerUser < 0 || c.maxTokensPerUser < 0:
		return nil, usageError{"--max-rooms-per-user and --max-tokens-per-user must be 0 (no cap) or more"}
	case c.maxConns < 1 || c.maxConnsPerAddr < 1:
		return nil, usageError{"--max-conns and --max-conns-per-addr must be at least 1"}
	case c.maxAvatar < 1024:
		return nil, usageError{"--max-avatar-size must be at least 1K"}
	case c.maxBody < 1024:
		return nil, usageError{"--max-body must be at least 1K"}
	case c.maxDBSize != 0 && c.maxDBSize < 1<<20:
		return nil, usageError{"--max-db-size must be at least 1M"}
	case c.maxDBSize > math.MaxInt:
		return nil, usageError{"--max-db-size is larger than this machine can map"}
	case c.maxSockets < 0 || c.maxSocketsPerUser < 0 || c.socketQueue < 1 || c.socketPing < time.Second:
		return nil, usageError{"--max-sockets and --max-sockets-per-user must be 0 or more, --socket-queue at least 1, --socket-ping at least 1s"}
	case c.socketBatch < 0 || c.socketBatch > time.Second:
		return nil, usageError{"--socket-batch must be from 0 to 1s"}
	case c.nodeTimeout < time.Second:
		return nil, usageError{"--node-timeout must be at least 1s"}
	case c.maxMsgBytes < 1024:
		return nil, usageError{"--max-message-size must be at least 1K"}
	case c.maxMsgDepth < 1:
		return nil, usageError{"--max-message-depth must be at least 1"}
	case c.searchScan < 1:
		return nil, usageError{"--search-scan must be at least 1"}
	case c.scanRate < 0 || c.scanBurst < 1:
		return nil, usageError{"--scan-rate must be 0 or more and --scan-burst at least 1"}
	case c.readHeaderTimeout <= 0 || c.readTimeout <= 0 || c.writeTimeout <= 0 || c.idleTimeout <= 0 || c.drainTimeout <= 0:
		return nil, usageError{"timeouts must be positive"}
	}
	if err := c.integ.check(); err != nil {
		return nil, err
	}
	if _, err := zerolog.ParseLevel(c.logLevel); err != nil || c.logLevel == "" {
		return nil, usageError{fmt.Sprintf("%s %q: must be debug, info, warn or error", src("log-level"), c.logLevel)}
	}
	if c.addr == "" {
		c.addr = "127.0.0.1:3000"
		if c.tlsCert != "" || c.tlsSelfSigned {
			c.addr = ":3000"
		}
	}
	c.addrFrom = src("addr")
	if err := checkAddr(c.addr); err != nil {
		return nil, usageError{fmt.Sprintf("%s %q: %v", src("addr"), c.addr, err)}
	}
	if !store.ValidName(c.adminUser) {
		return nil, usageError{fmt.Sprintf("%s %q: a user name must match %s", src("admin-user"), c.adminUser, store.NameRE)}
	}
	if *pwFile != "" {
		if c.adminPassword != "" {
			return nil, usageError{fmt.Sprintf("%s and %s exclude each other", src("admin-password"), src("admin-password-file"))}
		}
		pw, err := readSecretFile(*pwFile)
		if err != nil {
			return nil, usageError{fmt.Sprintf("%s: %v", src("admin-password-file"), err)}
		}
		c.adminPassword = pw
		c.adminPasswordFrom = src("admin-password-file")
	} else {
		c.adminPasswordFrom = src("admin-password")
	}
	if len(c.adminPassword) > auth.MaxPasswordBytes {
		return nil, usageError{fmt.Sprintf("the admin password is longer than %d bytes (bcrypt's limit)", auth.MaxPasswordBytes)}
	}
	return c, nil
}

// maxTokenTTL bounds --token-ttl: far below the end of Unix nanoseconds (year 2262).
const maxTokenTTL = 100 * 365 * 24 * time.Hour

// defaultMaxDBSize is --max-db-size's default for a build with intBits-bit ints. A 32-bit
// process (armv6, armv7) cannot map a file much past 1 GiB: bbolt maps the file whole and
// grows the mapping by doubling, so past 1 GiB it asks for 2 GiB of contiguous address space
// and the write fails with an mmap error. Capped at 1 GiB, writes answer 507 instead, reads
// go on, and the operator sees why.
func defaultMaxDBSize(intBits int) int64 {
	if intBits == 32 {
		return 1 << 30
	}
	return 0
}

// checkAddr checks a listen address before anything is written: "nonsense" must not get as
// far as creating the database.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("an address is [host]:port, e.g. 127.0.0.1:3000, :3000 or [::1]:3000")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /\\") {
		return fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// readSecretFile reads a password file: its first line, without the line break. An empty
// file is no password (a random one is made): the documented unit's empty default credential.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err // *PathError: it names the file once
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", nil
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: the first line is empty", path)
	}
	return line, nil
}

// durationValue is a duration flag whose error says what a duration looks like: the flag
// package's own says only "parse error", and "90d" is the first thing people try.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("a duration is a number with a unit h, m, s or ms, e.g. 2160h (90 days), 90m or 30s; there is no d")
	}
	*v.d = d
	return nil
}

func durationFlag(fs *flag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(durationValue{p}, name, usage)
}

// webClient is the embedded web client, unless --no-web.
func webClient(off bool) *web.Handler {
	if off {
		return nil
	}
	return web.New()
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

// openStore opens the database (a file, or PostgreSQL at a postgres:// address), turning a
// held lock into a message that says what to do.
func openStore(ctx context.Context, path string, opts store.Options, log zerolog.Logger) (store.Store, error) {
	if isPostgres(path) {
		return openPostgres(ctx, path, opts, log)
	}
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
	memLimit := tuneGC(getenv, cfg.memoryLimit, availableMemory())
	if cfg.seedFile != "" {
		// Read and checked now: a seed that does not parse must stop the start before the
		// database is created and an admin password is shown.
		if cfg.seed, err = seed.Load(cfg.seedFile); err != nil {
			return err
		}
	}

	// The order matters for a first start: every flag is checked (parseServe) and the port is
	// ours before anything is written, so a start that fails leaves no database behind, and
	// no admin whose one-time password went to a log nobody read.
	ln, err := listen(cfg.addr, cfg.addrFrom)
	if err != nil {
		return err
	}
	ln = netlimit.Listener(ln, cfg.maxConns, cfg.maxConnsPerAddr, func(ip netip.Addr) bool {
		for _, p := range cfg.trustedProxies {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	})
	defer ln.Close()
	sides, err := cfg.integ.listen()
	if err != nil {
		return err
	}
	defer sides.Close()
	tlsCfg, err := serverTLS(cfg, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.db, store.Options{MaxSize: int(cfg.maxDBSize),
		MaxMessageBytes: cfg.maxMsgBytes, MaxMessageDepth: cfg.maxMsgDepth,
		MaxRoomsPerCreator: offIsNegative(cfg.maxRoomsPerUser), MaxTokensPerUser: offIsNegative(cfg.maxTokensPerUser)}, log)
	if err != nil {
		return err
	}
	defer st.Close()

	hasher, err := auth.NewHasher(cfg.bcryptCost)
	if err != nil {
		return err
	}
	if err := applySeeds(ctx, st, hasher, cfg, log); err != nil {
		return err
	}

	sendRate := offIsNegative(cfg.sendRate)
	// Realtime: the hub hears every commit of the store; the DDP server shares the REST API's
	// login and send (realtime.Core), the API serves its sockets and asks it for presence.
	hub := realtime.NewHub(st, log)
	hub.SetBatchWindow(cfg.socketBatch)
	st.SetPublisher(hub)
	if sg, ok := st.(store.Signaler); ok {
		hub.JoinPeers(sg, cfg.nodeTimeout)
	}
	stopHub := sync.OnceFunc(func() { st.SetPublisher(nil); hub.Close() })
	defer stopHub()
	var rt *realtime.Server
	reg := cfg.integ.newMetrics()
	api := handlers.New(handlers.Config{Store: st, Hasher: hasher, Log: log, TokenTTL: cfg.tokenTTL, Version: version,
		MaxBody: cfg.maxBody, CORSOrigins: cfg.corsOrigins, OpenRegistration: cfg.openRegister,
		Limits: handlers.Limits{SendRate: sendRate, SendBurst: cfg.sendBurst, TrustedProxies: cfg.trustedProxies,
			WriteRate: offIsNegative(cfg.writeRate), WriteBurst: cfg.writeBurst, RegisterPerAddress: cfg.registerLimit, TableEntries: cfg.limiterEntries,
			MaxAvatar: cfg.maxAvatar},
		Reads:                readLimits(cfg),
		Realtime:             http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rt.ServeHTTP(w, r) }),
		Presence:             hub,
		RealtimeStats:        hub.Stats,
		OtherNodes:           hub.OtherNodes,
		AllowPrivateWebhooks: cfg.integ.allowPrivateWebhooks,
		Metrics:              reg,
		Web:                  webClient(cfg.noWeb),
		PageCacheBytes:       offIsNegative(cfg.pageCache)})
	// Stopped before the store closes (below), and by the defer on an earlier return: once.
	stopIntegrations := sync.OnceFunc(startIntegrations(&cfg.integ, sides, st, hub, api, reg, log))
	defer stopIntegrations()
	if reg != nil {
		reg.Source(func(w io.Writer) {
			sockets, subs := hub.Stats()
			metrics.WriteGauge(w, "rocketlite_realtime_sockets", float64(sockets))
			metrics.WriteGauge(w, "rocketlite_realtime_subscriptions", float64(subs))
		})
	}
	rt = realtime.New(realtime.Config{Store: st, Hub: hub, Core: api, Log: log, MaxMessage: cfg.maxBody,
		Origins: cfg.corsOrigins, MaxSockets: cfg.maxSockets, MaxSocketsPerUser: cfg.maxSocketsPerUser,
		Queue: cfg.socketQueue, Ping: cfg.socketPing})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsCfg,
		// net/http's own complaints (TLS handshake errors, bad requests) go to the log.
		ErrorLog: stdlog.New(log.With().Str("from", "net/http").Logger(), "", 0),
	}
	if tlsCfg == nil {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().Unmap().IsLoopback() {
			log.Warn().Msg("serving plain HTTP beyond this machine: put rocketlite behind TLS (--tls-cert, --tls-self-signed or a proxy), or listen on 127.0.0.1")
		} else {
			log.Info().Msg("serving plain HTTP on loopback only: use TLS (--tls-cert, --tls-self-signed or a proxy) before exposing it")
		}
	}
	log.Info().Str("addr", ln.Addr().String()).Bool("tls", tlsCfg != nil).Str("db", dbForLog(cfg.db)).Str("version", version).
		Int64("memoryLimit", memLimit).Msg("listening")
	if cfg.maxDBSize > 0 && !isPostgres(cfg.db) {
		if fi, err := os.Stat(cfg.db); err == nil && fi.Size() >= cfg.maxDBSize {
			log.Warn().Int64("size", fi.Size()).Int64("max", cfg.maxDBSize).Msg("the database is at its size cap: writes answer 507 until space is freed or --max-db-size is raised")
		}
	}
	if strconv.IntSize == 32 && (cfg.maxDBSize == 0 || cfg.maxDBSize > 1<<30) {
		log.Warn().Int64("max", cfg.maxDBSize).Msg("32-bit build: a database past about 1 GiB may not fit in the address space; writes then fail (500) instead of answering 507: keep --max-db-size at 1G or below")
	}

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
	go func() {
		if tlsCfg != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info().Msg("shutting down: draining requests")
		shutCtx, cancel := context.WithTimeout(context.Background(), cfg.drainTimeout)
		err = srv.Shutdown(shutCtx)
		if err != nil {
			log.Error().Err(err).Msg("drain did not finish in time")
			srv.Close()
		}
		// Sockets are hijacked: Shutdown leaves them. Their methods in flight finish, what
		// they have queued goes out, then a close frame.
		rt.Shutdown(shutCtx)
		cancel()
		err = nil
	}
	stopSweep()
	wg.Wait()
	stopIntegrations() // before the store closes: a delivery may still post a reply
	stopHub()
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

// offIsNegative turns a flag's 0 (no limit, no cache) into the negative that handlers.Limits,
// handlers.ReadLimits, handlers.Config and store.Options read as "off" (their zero is the default).
func offIsNegative[T int | int64 | float64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// listen binds addr; its errors say which setting to change and why.
func listen(addr, from string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s %s: the port is in use (another rocketlite, or another server?): stop it or choose another address", from, addr)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s %s: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE); or use a port from 1024 up behind a proxy", from, addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("%s %s: this machine has no such address", from, addr)
	}
	return nil, fmt.Errorf("%s %s: %w", from, addr, err)
}

// seedProgressEvery is how often a long seed application says it is still at work.
var seedProgressEvery = 5 * time.Second

// applySeeds applies the default seed, the --seed file and the first admin in one
// transaction: a seed that fails half-way leaves the database as it was, and the admin's
// one-time password is shown only once it is committed.
func applySeeds(ctx context.Context, st store.Store, h *auth.Hasher, cfg *serveConfig, log zerolog.Logger) error {
	if cfg.seed != nil {
		hashes := 0
		for _, u := range cfg.seed.Users {
			if u.Password != "" {
				hashes++
			}
		}
		log.Info().Str("seed", cfg.seedFile).Int("users", len(cfg.seed.Users)).Int("rooms", len(cfg.seed.Rooms)).
			Int("passwords", hashes).Int("bcryptCost", h.Cost()).Msg("applying the seed file (what is missing; new users' passwords are hashed)")
	}
	begun := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(seedProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				log.Info().Dur("elapsed", time.Since(begun)).Msg("still applying seeds")
			}
		}
	}()
	var created []string
	var generated string
	var made bool
	err := st.Atomic(func(tx store.Store) error {
		var err error
		if created, err = seed.ApplyDefault(tx, h); err != nil {
			return err
		}
		if cfg.seed != nil {
			more, err := seed.Apply(tx, h, cfg.seedFile, cfg.seed)
			created = append(created, more...)
			if err != nil {
				return fmt.Errorf("%w (nothing of it was applied)", err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if generated, made, err = seed.EnsureAdmin(tx, h, cfg.adminUser, cfg.adminPassword); err != nil || made {
			return err
		}
		return checkAdminPassword(tx, h, cfg, log)
	})
	close(stopProgress)
	<-progressDone
	if err != nil {
		return err
	}
	if len(created) > 0 {
		log.Info().Int("created", len(created)).Str("what", strings.Join(created, ", ")).Dur("took", time.Since(begun)).Msg("seeded")
	}
	if made {
		// Shown whatever --log-level says: a generated password hidden by "--log-level error"
		// would be lost for good, and the admin with it.
		if log.GetLevel() > zerolog.WarnLevel {
			log = log.Level(zerolog.WarnLevel)
		}
		ev := log.Warn().Str("user", cfg.adminUser)
		if generated != "" {
			// The one time a password is logged: the operator has no other way to learn it.
			ev = ev.Str("password", generated)
		}
		ev.Msg("no user existed: created an admin")
	}
	return nil
}

// checkAdminPassword handles an admin password given for a database that already has users:
// it only ever creates the first admin, so a password that is not (or no longer) that admin's
// stops the start, with what to do, rather than being silently ignored. One that still
// matches (a unit that keeps its password file) is fine.
func checkAdminPassword(st store.Store, h *auth.Hasher, cfg *serveConfig, log zerolog.Logger) error {
	if cfg.adminPassword == "" {
		return nil
	}
	u, err := st.UserByUsername(cfg.adminUser)
	if err != nil && store.KindOf(err) != store.NotFound {
		return err
	}
	if err == nil && h.Check(u.Hash, cfg.adminPassword) {
		log.Info().Str("user", cfg.adminUser).Msg(cfg.adminPasswordFrom + " is already this admin's password: it is used only to create the first admin of an empty database")
		return nil
	}
	return usageError{fmt.Sprintf("%s is used only to create the first admin of an empty database, and %s already has users "+
		"(and %q has another password or does not exist): nothing was changed. "+
		"To change a password, stop the server and run: rocketlite user passwd USER --db %s (or use POST /api/v1/users.update); "+
		"then remove %s", cfg.adminPasswordFrom, cfg.db, cfg.adminUser, cfg.db, cfg.adminPasswordFrom)}
}

// readLimits turns the flags into handlers.ReadLimits, whose zero values mean the defaults
// and negative values "off".
func readLimits(c *serveConfig) handlers.ReadLimits {
	return handlers.ReadLimits{PageBytes: offIsNegative(c.pageBytes), SearchScan: c.searchScan,
		ScanRate: offIsNegative(c.scanRate), ScanBurst: c.scanBurst}
}
