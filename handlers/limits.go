package handlers

// Abuse limits: login throttling per account and per client address, a token bucket per user
// for sends, and the caps on names and batches that routes share.

import (
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
	if l.MaxAvatar <= 0 {
		l.MaxAvatar = DefaultMaxAvatar
	}
}

// DefaultMaxAvatar is the default cap on an avatar picture.
const DefaultMaxAvatar = 256 << 10

// limiterPruneN: prune a limiter map when it grows past this many entries.
const limiterPruneN = 4096

// With --open-registration anyone may create accounts: one client address may create at most
// registerPerAddress of them per registerWindow, so that a script cannot fill the database.
const (
	registerPerAddress = 10
	registerWindow     = time.Hour
)

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

// failures counts failed logins per key within a sliding window.
type failures struct {
	mu      sync.Mutex
	window  time.Duration
	max     int
	seen    map[string][]time.Time // failure times, oldest first, all within window
	pruneAt int                    // prune the map when it grows past this
}

func newFailures(window time.Duration, max int) *failures {
	return &failures{window: window, max: max, seen: map[string][]time.Time{}}
}

// live drops the failures of key older than the window and returns the rest.
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

// locked reports how long key stays locked out (0: not locked).
func (f *failures) locked(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.live(key, now)
	if len(ts) < f.max {
		return 0
	}
	// Locked until enough of the oldest failures have aged out of the window.
	return ts[len(ts)-f.max].Add(f.window).Sub(now)
}

func (f *failures) add(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) > max(f.pruneAt, limiterPruneN) {
		for k := range f.seen {
			f.live(k, now)
		}
		f.pruneAt = 2 * len(f.seen) // amortized: a map full of live entries is not rescanned at every add
	}
	ts := append(f.live(key, now), now)
	if len(ts) > f.max {
		ts = ts[len(ts)-f.max:] // more than max never changes the answer
	}
	f.seen[key] = ts
}

func (f *failures) reset(key string) {
	f.mu.Lock()
	delete(f.seen, key)
	f.mu.Unlock()
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

// sendLimiter is a token bucket per user.
type sendLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	users   map[string]*rate.Limiter
	pruneAt int
}

// allowSend takes one token from the user's bucket, or returns a 429 saying when the next
// token comes. Every route that posts a message calls it before writing anything.
func (a *API) allowSend(u *store.User) error {
	s := a.sends
	if s == nil {
		return nil
	}
	now := a.st.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.users) > max(s.pruneAt, limiterPruneN) {
		for id, l := range s.users {
			if l.TokensAt(now) >= float64(s.burst) {
				delete(s.users, id) // a full bucket is the same as no bucket
			}
		}
		s.pruneAt = 2 * len(s.users)
	}
	l := s.users[u.ID]
	if l == nil {
		l = rate.NewLimiter(s.limit, s.burst)
		s.users[u.ID] = l
	}
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return tooMany("Too many messages; slow down", d)
	}
	return nil
}
