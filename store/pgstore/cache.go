package pgstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"rocketlite/store"
)

// What every request reads before its real work — who owns the token it carries, and whether
// that user may read the room it names — is kept in memory, so that a cached history page or
// a send costs no round trip for them. Only positive answers are kept (a token found, a read
// allowed): a login or a join on another node is seen at once. They are dropped:
//
//   - on this node, when a write that changes them commits (before its caller hears of it);
//   - on every node, when the write's event comes through the events table (milliseconds);
//   - in any case after cacheTTL, should events be late (the listener reconnecting).
//
// A revoked token drops that token's answer, and a changed or removed membership that room
// and user's; the events that may change many answers (a changed or deleted user or room,
// changed permissions) empty the whole cache: they are rare next to reads, and a coarse rule
// is easy to keep right. Membership changes are not rare — every mention counts one — so
// they must not empty the cache of every node. A read that began before any of these events
// does not store its answer (gen).

const cacheTTL = 2 * time.Second

type readCache struct {
	mu       sync.Mutex
	gen      uint64
	tokens   map[store.TokenHash]cachedToken
	readable map[[2]string]time.Time // room id, user id → when it was found readable
}

type cachedToken struct {
	owner   string
	expires int64 // Unix nanoseconds
	user    *store.User
	at      time.Time
}

func newReadCache() *readCache {
	return &readCache{tokens: map[store.TokenHash]cachedToken{}, readable: map[[2]string]time.Time{}}
}

// maxCached bounds each map: past it, the map is emptied (the next requests fill it again).
const maxCached = 100_000

// apply drops what events may have changed.
func (c *readCache) apply(events []store.Event) {
	for _, ev := range events {
		switch {
		case ev.Kind == store.UserChanged, ev.Kind == store.UserDeleted, ev.Kind == store.RoomChanged,
			ev.Kind == store.RoomDeleted, ev.Kind == store.PermissionsChanged,
			(ev.Kind == store.MemberRemoved || ev.Kind == store.MemberChanged) && ev.Room == nil:
			c.flush()
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		switch ev.Kind {
		case store.TokenRevoked:
			c.gen++
			delete(c.tokens, ev.Token)
		case store.MemberRemoved, store.MemberChanged:
			c.gen++
			delete(c.readable, [2]string{ev.Room.ID, ev.UserID})
		}
	}
}

func (c *readCache) flush() {
	c.mu.Lock()
	c.gen++
	clear(c.tokens)
	clear(c.readable)
	c.mu.Unlock()
}

func (c *readCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// token returns the cached owner of h.
func (c *readCache) token(h store.TokenHash, now time.Time) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[h]
	if !ok || now.Sub(t.at) >= cacheTTL {
		return cachedToken{}, false
	}
	return t, true
}

func (c *readCache) putToken(h store.TokenHash, t cachedToken, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.tokens) >= maxCached {
		clear(c.tokens)
	}
	c.tokens[h] = t
}

func (c *readCache) isReadable(rid, uid string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.readable[[2]string{rid, uid}]
	return ok && now.Sub(at) < cacheTTL
}

func (c *readCache) putReadable(rid, uid string, at time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.readable) >= maxCached {
		clear(c.readable)
	}
	c.readable[[2]string{rid, uid}] = at
}

// copyUser is a user the caller may keep and change.
func copyUser(u *store.User) *store.User {
	if u == nil {
		return nil
	}
	c := *u
	c.Roles = slices.Clone(u.Roles)
	return &c
}

// cachedTokenOwner is tokenOwner through the cache (outside Atomic's transaction).
func (s *Store) cachedTokenOwner(ctx context.Context, db q, h store.TokenHash) (owner string, expires int64, u *store.User, err error) {
	if s.tx != nil {
		return tokenOwner(ctx, db, h)
	}
	now := time.Now()
	if t, ok := s.cache.token(h, now); ok {
		return t.owner, t.expires, copyUser(t.user), nil
	}
	gen := s.cache.generation()
	owner, expires, u, err = tokenOwner(ctx, db, h)
	if err == nil && u != nil {
		s.cache.putToken(h, cachedToken{owner: owner, expires: expires, user: copyUser(u), at: now}, gen)
	}
	return owner, expires, u, err
}
