// Package handlers serves the Rocket.Chat REST APIs over HTTP: routing, authentication,
// request decoding, response encoding and error mapping. routes.go is the table of contents.
package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/rs/zerolog"

	"rocketlite/auth"
	"rocketlite/metrics"
	"rocketlite/pagecache"
	"rocketlite/store"
	"rocketlite/web"
)

// Config is what the API needs from the program that serves it.
type Config struct {
	Store    store.Store
	Hasher   *auth.Hasher
	Log      zerolog.Logger
	TokenTTL time.Duration // lifetime of a login token; 0 means 90 days
	MaxBody  int64         // request body cap in bytes; 0 means 1 MiB
	Version  string        // the program's version, shown by /api/info
	// OpenRegistration lets anyone create an account with POST /api/v1/users.register.
	OpenRegistration bool
	Limits           Limits // abuse limits (limits.go); the zero value means the defaults
	// CORSOrigins are the browser origins (scheme://host[:port]) allowed to call the API.
	CORSOrigins []string
	// AllowPrivateWebhooks lets outgoing webhooks aim at loopback and private addresses.
	AllowPrivateWebhooks bool
	// Outgoing receives every committed message for the outgoing webhooks (SetOutgoing).
	Outgoing Outgoing
	// Metrics counts requests by route and status, logins and posts (nil: not counted).
	Metrics *metrics.Registry
	Reads   ReadLimits // page byte budget, search scan and rate (limits_read.go)
	// Realtime serves DDP at /websocket and /sockjs/… (package realtime); nil: none.
	Realtime http.Handler
	// Web serves the embedded web client at / (package web); nil: none (--no-web).
	Web *web.Handler
	// Presence answers users.getPresence and the status of users.info and users.list; nil:
	// online while the user holds a live login token.
	Presence Presence
	// RealtimeStats reports open sockets and subscriptions for /readyz; nil: not shown.
	RealtimeStats func() (sockets, subscriptions int)
	// OtherNodes reports how many other nodes share the database and are heard from, for
	// /readyz; ok false (or nil): not shown.
	OtherNodes func() (n int, ok bool)
	// PageCacheBytes bounds the memory of rendered newest pages (pages.go); 0 means
	// DefaultPageCacheBytes, negative means no cache.
	PageCacheBytes int64
}

// Outgoing is what the API tells the outgoing-webhook dispatcher (hooks.Dispatcher).
type Outgoing interface {
	MessagePosted(m *store.Message) // never blocks
	Reload()                        // the integrations changed
}

// SetOutgoing connects the outgoing-webhook dispatcher, which itself posts through the API.
func (a *API) SetOutgoing(o Outgoing) { a.cfg.Outgoing = o }

// API is the HTTP handler of rocketlite.
type API struct {
	cfg    Config
	st     store.Store
	log    zerolog.Logger
	router *httprouter.Router

	limits       Limits
	loginAccount *failures // failed logins per account
	loginAddress *failures // failed logins per client address
	signups      *failures // open registrations per client address (users.register)
	sends        *buckets  // per-user send buckets; nil when sends are not limited
	writes       *buckets  // per-user buckets of the other writes; nil when not limited
	reads        ReadLimits
	scans        *buckets // per-user buckets of searches and deep pages; nil when not limited
	cors         map[string]bool
	refusals     refusalLog // 429s logged once per limit, key and window
	registered   []Route
	unmatched    *metrics.Route   // requests no route matched (404, 405)
	pages        *pagecache.Cache // nil: no page cache
}

// Route is one registered method and path, and whether it needs credentials.
type Route struct {
	Method, Path string
	Open         bool
}

// Routes lists every registered route, in registration order (tests walk it).
func (a *API) Routes() []Route { return append([]Route(nil), a.registered...) }

// New builds the API with every route of routes.go.
func New(cfg Config) *API {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 90 * 24 * time.Hour
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 20
	}
	a := &API{cfg: cfg, st: cfg.Store, log: cfg.Log, limits: cfg.Limits}
	a.limits.setDefaults()
	l := a.limits
	a.loginAccount = newFailures(l.LoginWindow, l.LoginPerAccount, l.TableEntries, a.st.Now)
	if db, ok := a.st.(store.LoginFailures); ok {
		a.loginAccount.shared = &sharedFailures{db: db, log: func(err error) {
			a.log.Error().Err(err).Msg("login throttle: the database did not answer")
		}}
	}
	a.loginAddress = newFailures(l.LoginWindow, l.LoginPerAddress, l.TableEntries, a.st.Now)
	a.signups = newFailures(registerWindow, l.RegisterPerAddress, l.TableEntries, a.st.Now)
	a.sends = newBuckets(l.SendRate, l.SendBurst, l.TableEntries, "Too many messages; slow down")
	a.writes = newBuckets(l.WriteRate, l.WriteBurst, l.TableEntries, "Too many changes; slow down")
	a.reads = cfg.Reads
	a.reads.setDefaults()
	a.scans = newBuckets(a.reads.ScanRate, a.reads.ScanBurst, l.TableEntries, "Too many searches or deep pages; slow down")
	a.cors = corsOrigins(cfg.CORSOrigins)
	if cfg.PageCacheBytes == 0 {
		cfg.PageCacheBytes = DefaultPageCacheBytes
	}
	a.pages = pagecache.New(cfg.PageCacheBytes)
	r := httprouter.New()
	// A trailing slash is served as the same route (see ServeHTTP), never redirected: a
	// redirect would turn a POST into a GET in many clients.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, J("status", "error", "message", "API endpoint does not exist"))
	})
	// httprouter has set the Allow header by the time this runs.
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, J("status", "error", "message", "API endpoint does not exist"))
	})
	r.PanicHandler = a.panicked
	r.GlobalOPTIONS = http.HandlerFunc(a.preflight)
	a.router = r
	if cfg.Metrics != nil {
		a.unmatched = cfg.Metrics.Route("unmatched")
	}
	a.routes()
	return a
}

// ServeHTTP logs the request, gives it an id and routes it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := store.NewID()
	sw := &statusWriter{ResponseWriter: w}
	sw.Header().Set("X-Request-Id", id)
	if r.TLS != nil {
		sw.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	a.allowOrigin(sw.Header(), r)
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(context.WithValue(r.Context(), requestIDKey{}, id), requestInfoKey{}, info))
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimRight(p, "/")
		r.URL.RawPath = ""
	}
	a.router.ServeHTTP(sw, r)
	if m := a.cfg.Metrics; m != nil {
		rt := sw.route
		if rt == nil {
			rt = a.unmatched
		}
		rt.Observe(sw.status(), time.Since(start))
	}
	// Path only: no query string (it may hold search text) and never a header or a body. The
	// client is the address the limits count (after --trusted-proxies); uid the caller, if any.
	ev := a.log.Info().Str("id", id).Str("method", r.Method).Str("path", r.URL.Path).
		Int("status", sw.status()).Int("bytes", sw.bytes).Dur("duration", time.Since(start)).
		Str("client", a.clientAddr(r))
	if info.uid != "" {
		ev = ev.Str("uid", info.uid)
	}
	ev.Msg("request")
}

type requestIDKey struct{}

type requestInfoKey struct{}

// requestInfo is what a route learns about its request that the access log wants.
type requestInfo struct{ uid string }

// noteUser records the authenticated caller for the access log.
func noteUser(r *http.Request, uid string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.uid = uid
	}
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int
	route *metrics.Route // the matched route's counters (nil: none matched, or no metrics)
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (a *API) panicked(w http.ResponseWriter, r *http.Request, v any) {
	a.log.Error().Str("id", requestID(r)).Interface("panic", v).Msg("handler panicked")
	a.internalError(w, r)
}

func (a *API) internalError(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusInternalServerError, J("status", "error", "message", "Internal server error", "requestId", requestID(r)))
}

// style is the error dialect of a route.
type style int

const (
	v0 style = iota // API 0.1: {"status": "fail"|"error", "message"}
	v1              // API v1: {"success": false, "error", "errorType"}
)

// call is one request on its way through a route.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	ps    httprouter.Params
	user  *store.User     // the caller; nil on routes without authentication
	token store.TokenHash // the caller's token hash
	in    body            // the POST body, or the query string of a GET
	raw   []byte          // the body as sent, on rawBody routes only
	room  string          // the room id, when a route found it by other means than roomId/roomName
}

func (c *call) ctx() context.Context { return c.r.Context() }

type handlerFunc func(c *call) (any, error)

// rawReply is what a handler returns when it writes the response itself (a stream, a status
// other than 200).
type rawReply func(w http.ResponseWriter)

type access int

const (
	open   access = iota // no credentials needed
	authed               // X-User-Id and X-Auth-Token required; a write counts against the write limit
	poster               // authed, for routes that post messages: they count against the send limit instead
	// rawBody: no credentials, and the body is left unparsed in call.raw for the handler
	// (incoming webhooks take a form whose JSON field may arrive unencoded).
	rawBody
)

// handle registers fn for method and path: authenticate, decode, run, encode, map errors.
func (a *API) handle(method, path string, st style, acc access, fn handlerFunc) {
	a.registered = append(a.registered, Route{Method: method, Path: path, Open: acc != authed && acc != poster})
	var rm *metrics.Route
	if a.cfg.Metrics != nil {
		rm = a.cfg.Metrics.Route(method + " " + path)
	}
	h := a.wrap(st, acc, fn, rm, postingRoutes[method+" "+path])
	a.router.Handle(method, path, h)
	if method == http.MethodGet && !noHead[path] {
		// Uptime monitors and link checkers ask with HEAD: the same answer, without the body
		// (net/http drops it).
		a.router.Handle(http.MethodHead, path, h)
	}
}

// noHead lists the GET routes that HEAD must not run: HEAD is a safe method, and these log
// the caller out, read the whole database, or post (a webhook called with GET).
var noHead = map[string]bool{"/api/logout": true, "/api/v1/logout": true, "/api/backup": true,
	"/hooks/:id/:token": true, "/hooks/:id/:token/:userId": true}

// wrap is a route's handler: authenticate, decode, run, encode, map errors; rm counts its
// answers and posts names the API whose message a success posts (metrics).
func (a *API) wrap(st style, acc access, fn handlerFunc, rm *metrics.Route, posts string) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if sw, ok := w.(*statusWriter); ok {
			sw.route = rm
		}
		c := &call{w: w, r: r, ps: ps}
		var err error
		if acc == authed || acc == poster {
			c.user, c.token, err = a.authenticate(r)
			if c.user != nil {
				noteUser(r, c.user.ID)
			}
		}
		if err == nil && acc == authed && r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Every write a user can repeat counts (join/leave, edits, room changes, …), so
			// a route added later is limited unless it says otherwise; checked before the
			// body is read, so a refused request costs next to nothing.
			err = a.allowWrite(c.user)
		}
		if err == nil && acc == rawBody {
			c.raw, err = readBody(r, a.cfg.MaxBody)
		} else if err == nil {
			c.in, err = parseBody(r, a.cfg.MaxBody)
		}
		var out any
		if err == nil {
			out, err = fn(c)
		}
		if err != nil {
			a.fail(w, r, st, err)
			return
		}
		if raw, ok := out.(rawReply); ok {
			raw(w)
			return
		}
		writeJSON(w, http.StatusOK, out)
		if posts != "" && a.cfg.Metrics != nil {
			a.cfg.Metrics.Posted(posts)
		}
	}
}

// postingRoutes are the routes whose success posts a message, by the API they belong to
// (the metric rocketlite_messages_posted_total).
var postingRoutes = map[string]string{
	"POST /api/rooms/:id/send":       "v0",
	"POST /api/v1/chat.postMessage":  "v1",
	"POST /api/v1/chat.sendMessage":  "v1",
	"POST /hooks/:id/:token":         "webhook",
	"GET /hooks/:id/:token":          "webhook",
	"POST /hooks/:id/:token/:userId": "webhook",
	"GET /hooks/:id/:token/:userId":  "webhook",
}

// countLogin counts a login attempt by its result.
func (a *API) countLogin(err error) {
	if a.cfg.Metrics == nil {
		return
	}
	switch {
	case err == nil:
		a.cfg.Metrics.Login("success")
	case store.KindOf(err) == store.TooMany:
		a.cfg.Metrics.Login("throttled")
	default:
		a.cfg.Metrics.Login("failure")
	}
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, st style, err error) {
	e, ok := asPublic(err)
	if !ok {
		a.log.Error().Str("id", requestID(r)).Err(err).Msg("request failed")
		a.internalError(w, r)
		return
	}
	switch e.Kind {
	case store.Full:
		a.log.Warn().Str("id", requestID(r)).Msg("write refused: database size limit reached")
	case store.Unavailable:
		a.log.Warn().Str("id", requestID(r)).Err(err).Msg("database unavailable")
		w.Header().Set("Retry-After", "1")
	}
	var re *retryError
	if errors.As(err, &re) {
		w.Header().Set("Retry-After", retryAfterSeconds(re.after))
		a.refusals.log(a, r, re)
	}
	body := errorBody0(e)
	if st == v1 {
		e = asV1(e)
		body = errorBody1(e)
	}
	writeJSON(w, statusOf(e.Kind), body)
}

// authenticate checks X-User-Id and X-Auth-Token. Credentials anywhere else are ignored.
func (a *API) authenticate(r *http.Request) (*store.User, store.TokenHash, error) {
	uid, tok := r.Header.Get("X-User-Id"), r.Header.Get("X-Auth-Token")
	if uid == "" || tok == "" {
		return nil, store.TokenHash{}, store.ErrUnauthorized
	}
	h := auth.HashToken(tok)
	u, err := a.st.Authenticate(uid, h)
	return u, h, err
}
