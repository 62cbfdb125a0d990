package pagecache

import (
	"fmt"
	"strings"
	"testing"
)

func page(v uint64, n int) *Page {
	return &Page{Version: v, Body: []byte(strings.Repeat("x", n)), ETag: `"e"`}
}

func TestGetVersion(t *testing.T) {
	c := New(1 << 20)
	k := Key{Form: 1, Room: "r", Count: 50}
	if _, ok := c.Get(k, 1); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Put(k, page(1, 100))
	if p, ok := c.Get(k, 1); !ok || len(p.Body) != 100 {
		t.Fatal("miss after Put")
	}
	for _, other := range []Key{{Form: 2, Room: "r", Count: 50}, {Form: 1, Room: "s", Count: 50}, {Form: 1, Room: "r", Count: 20}} {
		if _, ok := c.Get(other, 1); ok {
			t.Fatalf("%+v hit the page of %+v", other, k)
		}
	}
	// Another version misses and drops the page, so its memory is free at once.
	if _, ok := c.Get(k, 2); ok {
		t.Fatal("hit under another version")
	}
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("stale page kept: %+v", s)
	}
}

func TestPutKeepsNewer(t *testing.T) {
	c := New(1 << 20)
	k := Key{Room: "r"}
	c.Put(k, page(5, 10))
	c.Put(k, page(4, 20)) // a slower reader's older page
	if p, ok := c.Get(k, 5); !ok || len(p.Body) != 10 {
		t.Fatal("an older page replaced a newer one")
	}
	c.Put(k, page(6, 30))
	if p, ok := c.Get(k, 6); !ok || len(p.Body) != 30 {
		t.Fatal("a newer page did not replace an older one")
	}
	if s := c.Stats(); s.Entries != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestBoundAndLRU(t *testing.T) {
	const max = 100 << 10
	c := New(max)
	for i := range 1000 {
		c.Put(Key{Room: fmt.Sprint(i)}, page(1, 1000+i%500))
		// Room 0 is read all along: it stays while others go.
		if _, ok := c.Get(Key{Room: "0"}, 1); !ok {
			t.Fatalf("the most recently read page was evicted after %d puts", i)
		}
		if s := c.Stats(); s.Bytes > max {
			t.Fatalf("over the bound after %d puts: %+v", i, s)
		}
	}
	s := c.Stats()
	if s.Evictions == 0 || s.Entries < 50 || s.Bytes < max/2 {
		t.Fatalf("%+v", s)
	}
	if _, ok := c.Get(Key{Room: "1"}, 1); ok {
		t.Fatal("the least recently used page is still there")
	}
	if _, ok := c.Get(Key{Room: "999"}, 1); !ok {
		t.Fatal("the newest page is gone")
	}
}

func TestHugePageNotKept(t *testing.T) {
	c := New(8 << 10)
	c.Put(Key{Room: "small"}, page(1, 100))
	c.Put(Key{Room: "huge"}, page(1, 2<<10)) // more than an eighth of the cache
	if _, ok := c.Get(Key{Room: "huge"}, 1); ok {
		t.Fatal("a page of more than an eighth of the cache was kept")
	}
	if _, ok := c.Get(Key{Room: "small"}, 1); !ok {
		t.Fatal("a huge page evicted the others")
	}
}

func TestNilCache(t *testing.T) {
	for _, n := range []int64{0, -1} {
		c := New(n)
		if c != nil {
			t.Fatalf("New(%d) is a cache", n)
		}
		c.Put(Key{Room: "r"}, page(1, 10))
		if _, ok := c.Get(Key{Room: "r"}, 1); ok {
			t.Fatal("a nil cache hit")
		}
		if c.Stats() != (Stats{}) {
			t.Fatal("a nil cache has stats")
		}
	}
}
