// Package pagecache keeps rendered answers (the newest page of a room's history) in memory,
// in a least-recently-used list bounded by bytes. It knows nothing of HTTP or of access: each
// page is kept under the version its reader saw (store.PageVersion), and a lookup under any
// other version misses and drops the page.
package pagecache

import (
	"container/list"
	"sync"
)

// Key names one cached answer: which route's form, which room, what page size.
type Key struct {
	Form  uint8
	Room  string
	Count int
}

// Page is one rendered answer. It is shared by every reader: never modify it.
type Page struct {
	Version uint64
	Body    []byte
	ETag    string
	Header  [][2]string // headers the answer carries besides the usual ones
	// Shared is whatever the cache's user derives from the page once (header values), so
	// that serving it allocates nothing more.
	Shared any
}

// entryOverhead approximates what an entry costs beyond its bytes (list element, map slot,
// Page header, strings' headers), so that many tiny pages cannot exceed the bound either.
const entryOverhead = 256

func (p *Page) size(k Key) int64 {
	n := len(p.Body) + len(p.ETag) + len(k.Room) + entryOverhead
	for _, h := range p.Header {
		n += len(h[0]) + len(h[1]) + 32
	}
	return int64(n)
}

// Cache is safe for concurrent use. A nil *Cache caches nothing.
type Cache struct {
	mu   sync.Mutex
	max  int64
	used int64
	ll   list.List // front: most recently used; values are *entry
	m    map[Key]*list.Element

	hits, misses, evictions int64
}

type entry struct {
	key  Key
	page *Page
	size int64
}

// New returns a cache of at most maxBytes, or nil (no cache) when maxBytes <= 0.
func New(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		return nil
	}
	return &Cache{max: maxBytes, m: make(map[Key]*list.Element)}
}

// Get returns the page kept under k if it was kept under version; a page of another version
// is dropped.
func (c *Cache) Get(k Key, version uint64) (*Page, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		c.misses++
		return nil, false
	}
	e := el.Value.(*entry)
	if e.page.Version != version {
		c.misses++
		c.remove(el)
		return nil, false
	}
	c.hits++
	c.ll.MoveToFront(el)
	return e.page, true
}

// Put keeps p under k, unless a page of a later version is there already (a slower reader
// must not replace a newer page) or p alone would take more than an eighth of the cache
// (one huge page must not empty it). It evicts the least recently used pages to stay within
// the bound.
func (c *Cache) Put(k Key, p *Page) {
	if c == nil {
		return
	}
	size := p.size(k)
	if size > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		e := el.Value.(*entry)
		if e.page.Version > p.Version {
			return
		}
		c.remove(el)
	}
	for c.used+size > c.max {
		c.remove(c.ll.Back())
		c.evictions++
	}
	c.m[k] = c.ll.PushFront(&entry{key: k, page: p, size: size})
	c.used += size
}

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.ll.Remove(el)
	delete(c.m, e.key)
	c.used -= e.size
}

// Stats is a snapshot of the cache's counters.
type Stats struct {
	Entries                 int
	Bytes, Max              int64
	Hits, Misses, Evictions int64
}

// Stats returns the cache's size and counters (zero for a nil cache).
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Entries: len(c.m), Bytes: c.used, Max: c.max, Hits: c.hits, Misses: c.misses, Evictions: c.evictions}
}
