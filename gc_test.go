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
