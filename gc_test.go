package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/seed"
	"rocketlite/store"
)

func TestTuneGC(t *testing.T) {
	oldPct := debug.SetGCPercent(100)
	oldLim := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldPct); debug.SetMemoryLimit(oldLim) })
	none := func(string) string { return "" }
	auto := memoryLimitFlag{auto: true}

	for _, tc := range []struct {
		name  string
		total int64
		want  int64
	}{
		{"Pi1G", 1 << 30, 256 << 20},
		{"Small256M", 256 << 20, 64 << 20},
		{"Big24G", 24 << 30, 1 << 30},
		{"Unknown", 0, 256 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tuneGC(none, auto, tc.total); got != tc.want {
				t.Errorf("tuneGC = %d, want %d", got, tc.want)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("memory limit %d, want %d", got, tc.want)
			}
			if got := debug.SetGCPercent(100); got != defaultGCPercent {
				t.Errorf("GC percent %d, want %d", got, defaultGCPercent)
			}
		})
	}

	t.Run("Explicit", func(t *testing.T) {
		var f memoryLimitFlag
		if err := f.Set("512M"); err != nil {
			t.Fatal(err)
		}
		// An explicit limit wins over GOMEMLIMIT.
		if got := tuneGC(func(k string) string { return map[string]string{"GOMEMLIMIT": "1GiB"}[k] }, f, 1<<30); got != 512<<20 || debug.SetMemoryLimit(-1) != 512<<20 {
			t.Errorf("tuneGC = %d, want 512 MiB", got)
		}
	})
	t.Run("Off", func(t *testing.T) {
		var f memoryLimitFlag
		if err := f.Set("0"); err != nil {
			t.Fatal(err)
		}
		if got := tuneGC(none, f, 1<<30); got != 0 || debug.SetMemoryLimit(-1) != 1<<63-1 {
			t.Errorf("tuneGC = %d, want no limit", got)
		}
	})
	t.Run("ErrTooSmall", func(t *testing.T) {
		var f memoryLimitFlag
		for _, s := range []string{"1M", "-5", "lots"} {
			if err := f.Set(s); err == nil {
				t.Errorf("Set(%q) accepted", s)
			}
		}
	})

	// The operator's GOGC and GOMEMLIMIT win over the automatic settings.
	debug.SetGCPercent(77)
	debug.SetMemoryLimit(1 << 30)
	if got := tuneGC(func(k string) string { return map[string]string{"GOGC": "77", "GOMEMLIMIT": "1GiB"}[k] }, auto, 1<<30); got != -1 {
		t.Errorf("tuneGC = %d, want -1 (the operator's)", got)
	}
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent %d, want the operator's 77", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d, want the operator's 1 GiB", got)
	}
}

func TestAvailableMemory(t *testing.T) {
	if n := availableMemory(); n < 16<<20 {
		t.Errorf("availableMemory = %d: /proc/meminfo not read?", n)
	}
}

// TestDefaultMemoryLimitFitsLegalLoad: the load, 8 readers of count=1000 pages of
// legal messages, must leave the collector its GOGC headroom under the default limit of a
// 1 GB Pi. A page's allocation (measured here, at the default page budget) bounds what it
// holds live while in flight; the collector spins once the live heap times (1 + GOGC/100)
// no longer fits the limit. 32 MiB did not fit: the issue measured small requests falling
// from 12,676/s to 81/s.
func TestDefaultMemoryLimitFitsLegalLoad(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "gc.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.ApplyDefault(st, h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := seed.EnsureAdmin(st, h, "admin", "adminpass"); err != nil {
		t.Fatal(err)
	}
	admin, err := st.UserByUsername("admin")
	if err != nil {
		t.Fatal(err)
	}
	// Legal messages of 4,000 characters: a count=1000 page meets the page budget.
	msgs := make([]*store.Message, 400)
	for i := range msgs {
		msgs[i] = &store.Message{Text: strings.Repeat("the quick brown fox jumps over the lazy dog ", 91)[:4000], User: admin.Ref()}
	}
	if err := st.AppendMessages("GENERAL", msgs); err != nil {
		t.Fatal(err)
	}
	tok := auth.NewToken()
	if err := st.AddToken(admin, auth.HashToken(tok), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	api := handlers.New(handlers.Config{Store: st, Hasher: h, Log: zerolog.Nop()})
	page := func() {
		r := httptest.NewRequest("GET", "/api/rooms/GENERAL/messages?count=1000", nil)
		r.Header.Set("X-User-Id", admin.ID)
		r.Header.Set("X-Auth-Token", tok)
		w := &discardWriter{h: http.Header{}}
		api.ServeHTTP(w, r)
		if w.code != 200 || w.n < 1<<20 {
			t.Fatalf("page: status %d, %d bytes", w.code, w.n)
		}
	}
	page()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const n = 5
	for range n {
		page()
	}
	runtime.ReadMemStats(&m1)
	perPage := int64(m1.TotalAlloc-m0.TotalAlloc) / n
	need := 8 * perPage * (1 + defaultGCPercent/100)
	limit := autoMemoryLimit(1 << 30)
	t.Logf("a count=1000 page allocates %d KiB; 8 in flight need %d MiB of heap goal; the default limit of a 1 GB machine is %d MiB",
		perPage>>10, need>>20, limit>>20)
	if need > limit {
		t.Fatalf("8 legal pages need a heap goal of %d MiB, over the default limit of %d MiB", need>>20, limit>>20)
	}
	if need <= 32<<20 {
		t.Fatalf("the load (%d MiB) no longer exceeds the old 32 MiB limit: the test lost its point", need>>20)
	}
}

// discardWriter is a ResponseWriter that counts the body, as a connection would take it,
// without keeping a copy (httptest.ResponseRecorder's would double the allocation).
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(200)
	w.n += len(b)
	return len(b), nil
}
