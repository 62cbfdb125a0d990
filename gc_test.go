package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	oldPct := debug.SetGCPercent(100)
	oldLim := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(oldPct); debug.SetMemoryLimit(oldLim) })

	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GC percent %d, want %d", got, defaultGCPercent)
	}
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Errorf("memory limit %d, want %d", got, defaultMemoryLimit)
	}

	// The operator's GOGC and GOMEMLIMIT win: tuneGC leaves the runtime's values alone.
	debug.SetGCPercent(77)
	debug.SetMemoryLimit(1 << 30)
	tuneGC(func(k string) string { return map[string]string{"GOGC": "77", "GOMEMLIMIT": "1GiB"}[k] })
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent %d, want the operator's 77", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d, want the operator's 1 GiB", got)
	}
}

func TestMemoryLimitCountsSockets(t *testing.T) {
	oldLim := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(oldLim) })
	for _, c := range []struct {
		sockets int
		want    int64
	}{{2000, defaultMemoryLimit + 2000*socketHeap}, {0, defaultMemoryLimit + socketsWithoutCap*socketHeap}} {
		raiseMemoryLimitForSockets(func(string) string { return "" }, c.sockets)
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("--max-sockets %d: memory limit %d, want %d", c.sockets, got, c.want)
		}
	}
	debug.SetMemoryLimit(1 << 30)
	raiseMemoryLimitForSockets(func(k string) string { return map[string]string{"GOMEMLIMIT": "1GiB"}[k] }, 5000)
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d, want the operator's 1 GiB", got)
	}
}
