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

// socketHeap is about what one open realtime socket keeps on the heap (goroutine stack,
// buffers, subscriptions). The soft memory limit grows by it for every socket --max-sockets
// allows: without that, a few thousand idle sockets would hold the heap at the limit and the
// collector would run without pause (measured: 15% CPU for 10,000 idle sockets at 32 MiB).
const socketHeap = 32 << 10

// socketsWithoutCap is what --max-sockets 0 (no cap) counts as for the memory limit.
const socketsWithoutCap = 10000

// raiseMemoryLimitForSockets adds the sockets' share to the default memory limit, unless the
// operator set GOMEMLIMIT.
func raiseMemoryLimitForSockets(getenv func(string) string, maxSockets int) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	if maxSockets <= 0 {
		maxSockets = socketsWithoutCap
	}
	debug.SetMemoryLimit(defaultMemoryLimit + int64(maxSockets)*socketHeap)
}
