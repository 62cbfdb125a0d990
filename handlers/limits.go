package handlers

// Abuse limits: login throttling per account and per client address, a token bucket per user
// for sends, and the caps on names and batches that routes share.

import (
	"crypto/sha256"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"rocketlite/store"
)

// Limits are the abuse limits of the API. The zero value means the defaults.
type Limits struct {
	// LoginWindow is how long a failed login counts (default 15 minutes).
	LoginWindow time.Duration
	// LoginPerAccount and LoginPerAddress cap the failed logins within LoginWindow, for one
	// account and for one client address (defaults 10 and 30).
	LoginPerAccount int
	LoginPerAddress int
	// SendRate is the sustained number of messages a user may post per second (default 50);
	// a negative value turns the limit off. SendBurst is the bucket size (default 200).
	SendRate  float64
	SendBurst int
	// WriteRate is the sustained number of other writes (join, leave, edit, delete, room
	// changes, …) a user may make per second (default 10); negative turns it off. WriteBurst
	// is the bucket size (default 100).
	WriteRate  float64
	WriteBurst int
	// RegisterPerAddress caps the users.register attempts of one client address per hour
	// (default 10), with --open-registration.
	RegisterPerAddress int
	// TableEntries caps the entries of each limiter table (failed logins per account and per
	// address, registrations, send, write and scan buckets): default 10,000.
	TableEntries int
	// MaxAvatar caps an uploaded avatar picture in bytes (default 256 KiB); the request body
	// cap (Config.MaxBody) applies first.
	MaxAvatar int64
	// TrustedProxies are the networks whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix
}

func (l *Limits) setDefaults() {
	if l.LoginWindow <= 0 {
		l.LoginWindow = 15 * time.Minute
	}
	if l.LoginPerAccount <= 0 {
		l.LoginPerAccount = 10
	}
	if l.LoginPerAddress <= 0 {
		l.LoginPerAddress = 30
	}
	if l.SendRate == 0 {
		l.SendRate = 50
	}
	if l.SendBurst <= 0 {
		l.SendBurst = 200
	}
	if l.WriteRate == 0 {
		l.WriteRate = 10
	}
	if l.WriteBurst <= 0 {
		l.WriteBurst = 100
	}
	if l.RegisterPerAddress <= 0 {
		l.RegisterPerAddress = 10
	}
	if l.TableEntries <= 0 {
		l.TableEntries = 10000
	}
	if l.MaxAvatar <= 0 {
		l.MaxAvatar = DefaultMaxAvatar
	}
}

// DefaultMaxAvatar is the default cap on an avatar picture.
const DefaultMaxAvatar = 256 << 10

// With --open-registration anyone may create accounts: one client address may try at most
// RegisterPerAddress of them (every attempt counts, refused ones too) per registerWindow, so
// that a script can neither fill the database nor burn the CPU on password hashes.
const registerWindow = time.Hour

// retryError is a 429 that tells the client when to come back (the Retry-After header).
type retryError struct {
	err   *store.Error
	after time.Duration
	// key is what the limit counts, for logging each refusal once per window ("": the
	// client address and the caller); account is a locked user id, to name in that log.
	key, account string
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

func tooMany(msg string, after time.Duration) error {
	return &retryError{err: &store.Error{Kind: store.TooMany, Code: "too-many-requests", Message: msg}, after: after}
}

// retryAfterSeconds rounds up, and is at least 1: "Retry-After: 0" invites a busy loop.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// failures counts events (failed logins, registrations) per key within a sliding window. Its
// memory is bounded: keys are short (addresses, user ids, or a hash of the name tried), each
// keeps at most max times, entries expire on time (sweep), and at most maxKeys are kept.
type failures struct {
	mu        sync.Mutex
	window    time.Duration
	max       int
	maxKeys   int
	now       func() time.Time
	seen      map[string][]time.Time // event times, oldest first, all within window
	nextSweep time.Time              // when the next sweep of expired entries is due
	shared    *sharedFailures        // set: the table is in the database, the fields above unused
	timer     *time.Timer            // the idle sweep, armed while the table has entries
}

// sharedFailures keeps a failures table in the database instead of memory (login throttling
// per account on PostgreSQL, which must hold across nodes: an attacker who spreads guesses
// over every node behind the balancer gets no more of them).
type sharedFailures struct {
	db  store.LoginFailures
	log func(err error)
}

func newFailures(window time.Duration, max, maxKeys int, now func() time.Time) *failures {
	return &failures{window: window, max: max, maxKeys: maxKeys, now: now, seen: map[string][]time.Time{}}
}

// sweepEvery is how often a table is swept of expired entries while it is in use.
func (f *failures) sweepEvery() time.Duration { return min(f.window, time.Minute) }

// live drops the events of key older than the window and returns the rest.
func (f *failures) live(key string, now time.Time) []time.Time {
	ts := f.seen[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= f.window {
		i++
	}
	if i == len(ts) {
		delete(f.seen, key)
		return nil
	}
	if i > 0 {
		ts = append(ts[:0], ts[i:]...)
		f.seen[key] = ts
	}
	return ts
}

// sweep drops every expired entry; callers hold mu.
func (f *failures) sweep(now time.Time) {
	for k := range f.seen {
		f.live(k, now)
	}
	f.nextSweep = now.Add(f.sweepEvery())
}

// maybeSweep sweeps when one is due, so a busy table never holds entries much past their
// window; the cost, one pass over at most maxKeys entries, is paid once per sweepEvery.
func (f *failures) maybeSweep(now time.Time) {
	if !now.Before(f.nextSweep) {
		f.sweep(now)
	}
}

// idleSweep runs on a timer while the table holds entries, so that an idle server also lets
// them go once their window has passed (the attack left 300 MB held an hour later).
func (f *failures) idleSweep() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweep(f.now())
	if len(f.seen) > 0 {
		f.timer.Reset(f.sweepEvery())
	} else {
		f.timer = nil
	}
}

// locked reports how long key stays locked out (0: not locked).
func (f *failures) locked(key string, now time.Time) time.Duration {
	if f.shared != nil {
		ts, err := f.shared.db.LoginFailures([]byte(key), now.Add(-f.window), f.max)
		if err != nil {
			f.shared.log(err)
			return 0 // the login itself needs the database: it fails on its own
		}
		if len(ts) < f.max {
			return 0
		}
		return ts[0].Add(f.window).Sub(now) // ts: the newest max failures, oldest first
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybeSweep(now)
	ts := f.live(key, now)
	if len(ts) < f.max {
		return 0
	}
	// Locked until enough of the oldest failures have aged out of the window.
	return ts[len(ts)-f.max].Add(f.window).Sub(now)
}

func (f *failures) add(key string, now time.Time) {
	if f.shared != nil {
		if err := f.shared.db.AddLoginFailure([]byte(key), now, now.Add(-f.window)); err != nil {
			f.shared.log(err)
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybeSweep(now)
	ts := f.live(key, now)
	if ts == nil && len(f.seen) >= f.maxKeys {
		f.sweep(now)
		if len(f.seen) >= f.maxKeys {
			f.evict()
		}
	}
	ts = append(ts, now)
	if len(ts) > f.max {
		ts = ts[len(ts)-f.max:] // more than max never changes the answer
	}
	f.seen[key] = ts
	if f.timer == nil {
		f.timer = time.AfterFunc(f.sweepEvery(), f.idleSweep)
	}
}

// evict drops, of a few entries in the map's random order, the one whose last event is
// oldest: a full table keeps its most recent offenders, and nobody can pick whose entry goes.
func (f *failures) evict() {
	var victim string
	var last time.Time
	n := 0
	for k, ts := range f.seen {
		if t := ts[len(ts)-1]; n == 0 || t.Before(last) {
			victim, last = k, t
		}
		if n++; n == 8 {
			break
		}
	}
	delete(f.seen, victim)
}

func (f *failures) reset(key string) {
	if f.shared != nil {
		if err := f.shared.db.ResetLoginFailures([]byte(key)); err != nil {
			f.shared.log(err)
		}
		return
	}
	f.mu.Lock()
	delete(f.seen, key)
	f.mu.Unlock()
}

// len is the number of keys held (tests).
func (f *failures) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

// maxLoginName is the longest name a login can match (an e-mail address, 254 bytes). The
// tables never key on the name itself: a name tried for no account is kept as its hash.
const maxLoginName = 254

// accountKey is the throttle key of a login for a name with no account: a fixed-size hash of
// the lower-cased name (as the lookup ignores case), whatever its length.
func accountKey(name string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(name)))
	return "name:" + string(sum[:])
}

const loginThrottledMsg = "Too many failed login attempts; try again later"

// checkLoginAccount refuses a login for an account (a user id, or the lower-cased name tried
// when no such user exists) that failed too often, whatever the password.
func (a *API) checkLoginAccount(account string) error {
	if d := a.loginAccount.locked(account, a.st.Now()); d > 0 {
		re := &retryError{err: &store.Error{Kind: store.TooMany, Code: "too-many-requests", Message: loginThrottledMsg}, after: d, key: "account " + account}
		if _, err := a.st.User(account); err == nil {
			re.account = account // a user id; a name tried is never logged (it may be a password)
		}
		return re
	}
	return nil
}

// clientAddr is the client's IP address: the connection's peer, or, when that peer is a
// trusted proxy, the right-most address of X-Forwarded-For that is not a trusted proxy.
func (a *API) clientAddr(r *http.Request) string {
	peer := remoteIP(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !a.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled header: trust nothing further left
		}
		ip = ip.Unmap()
		if !a.trusted(ip) {
			return ip.String()
		}
		peer = ip
	}
	return peer.String()
}

func (a *API) trusted(ip netip.Addr) bool {
	for _, p := range a.limits.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// ParseTrustedProxies reads a comma-separated list of CIDR networks or single addresses.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// buckets is a token bucket per user: one table for sends, one for the other writes, one for
// searches and deep pages (limits_read.go). Its size is bounded: a full bucket is the same as
// no bucket and is dropped, and past maxKeys users an entry is evicted (that user gets a full
// bucket again, which only errs on their side).
type buckets struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	maxKeys int
	users   map[string]*rate.Limiter
	pruneAt int
	msg     string
}

func newBuckets(perSecond float64, burst, maxKeys int, msg string) *buckets {
	if perSecond <= 0 {
		return nil // no limit
	}
	return &buckets{limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys, users: map[string]*rate.Limiter{}, msg: msg}
}

// take takes one token from the user's bucket, or returns a 429 saying when the next token
// comes. A nil table allows everything.
func (s *buckets) take(uid string, now time.Time) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.users[uid]
	if l == nil {
		if len(s.users) > max(s.pruneAt, limiterPruneN) || len(s.users) >= s.maxKeys {
			for id, l := range s.users {
				if l.TokensAt(now) >= float64(s.burst) {
					delete(s.users, id) // a full bucket is the same as no bucket
				}
			}
			// Amortized: a map full of busy buckets is not rescanned at every new user.
			s.pruneAt = min(2*len(s.users), s.maxKeys)
			for id := range s.users {
				if len(s.users) < s.maxKeys {
					break
				}
				delete(s.users, id)
			}
		}
		l = rate.NewLimiter(s.limit, s.burst)
		s.users[uid] = l
	}
	// AllowN, not a reservation cancelled on refusal: concurrent requests read the clock
	// before they take the lock, so times arrive slightly out of order, and a reservation
	// cancelled out of order does not give its token back: a client hammering past the limit
	// ran its bucket into debt (Retry-After grew to minutes).
	if l.AllowN(now, 1) {
		return nil
	}
	d := time.Duration((1 - l.TokensAt(now)) / float64(s.limit) * float64(time.Second))
	return tooMany(s.msg, max(d, time.Millisecond))
}

// limiterPruneN: a bucket table is pruned of full buckets when it grows past this many.
const limiterPruneN = 4096

// allowSend takes one token from the user's send bucket. Every route that posts a message
// calls it (through post) before writing anything.
func (a *API) allowSend(u *store.User) error { return a.sends.take(u.ID, a.st.Now()) }

// AllowWrite is allowWrite for the realtime API's methods that write (realtime.Core).
func (a *API) AllowWrite(u *store.User) error { return a.allowWrite(u) }

// allowWrite takes one token from the user's write bucket: every authenticated request that
// may change something, except the sends, which have their own bucket (handle calls it).
func (a *API) allowWrite(u *store.User) error { return a.writes.take(u.ID, a.st.Now()) }
