package main

import "runtime/debug"

// Collector settings for serve, unless the operator set GOGC or GOMEMLIMIT.
//
// The server's live heap is a few MiB, but a page of history allocates about 50 KB, so with
// the default GOGC=100 it collected every few MiB of requests: at 10,000 pages/s that was
// over a hundred collections a second and a quarter of the server's CPU (measured with wrk,
// 1M-message room: 90 → 66 µs of server CPU per request with GOGC=400). A heap five times
// the live data is still small; the soft memory limit keeps a burst from growing it past a
// small machine's budget (the collector works harder near the limit instead).
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 32 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
