package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Collector settings for serve, unless the operator set GOGC or GOMEMLIMIT.
//
// The server's live heap is a few MiB, but a page of history allocates about 50 KB, so with
// the default GOGC=100 it collected every few MiB of requests: at 10,000 pages/s that was
// over a hundred collections a second and a quarter of the server's CPU (measured with wrk,
// 1M-message room: 90 → 66 µs of server CPU per request with GOGC=400). A heap five times
// the live data is still small, and the idle footprint is set by the live data and GOGC,
// not by the soft memory limit.
//
// The soft memory limit keeps a burst from growing the heap past the machine's budget: near
// it the collector works harder instead. It was a fixed 32 MiB, which legal load reaches:
// eight readers of count=1000 pages hold ~8 MB of pages in flight, and with GOGC=400 the
// collector then ran back to back (small requests fell from 12,676/s to 81/s). So the
// default is a quarter of the memory this process may use (the machine's, or its cgroup's
// if lower), at least 64 MiB and at most 1 GiB: 256 MiB on a 1 GB Pi, and far above what
// legal load holds. --memory-limit sets it (0: no limit).
const (
	defaultGCPercent = 400
	minMemoryLimit   = 64 << 20
	maxMemoryLimit   = 1 << 30
)

// memoryLimitFlag is --memory-limit: "auto" (the default), 0 (no limit) or a size.
type memoryLimitFlag struct {
	auto  bool
	bytes int64
}

func (m *memoryLimitFlag) String() string {
	if m == nil || m.auto {
		return "auto"
	}
	return strconv.FormatInt(m.bytes, 10)
}

func (m *memoryLimitFlag) Set(s string) error {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		*m = memoryLimitFlag{auto: true}
		return nil
	}
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n != 0 && n < 16<<20 {
		return fmt.Errorf("%q: the memory limit must be 0 (none) or at least 16M", s)
	}
	*m = memoryLimitFlag{bytes: n}
	return nil
}

// autoMemoryLimit is a quarter of the memory available to the process, within
// [minMemoryLimit, maxMemoryLimit]. total is 0 when unknown.
func autoMemoryLimit(total int64) int64 {
	if total <= 0 {
		return 256 << 20
	}
	return min(max(total/4, minMemoryLimit), maxMemoryLimit)
}

// availableMemory is the machine's memory (MemTotal of /proc/meminfo), or the cgroup v2
// memory.max of this process if that is lower; 0 when neither can be read.
func availableMemory() int64 {
	var total int64
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64); err == nil {
					total = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

// tuneGC sets the collector for serve and returns the memory limit in force (-1: the
// operator's GOMEMLIMIT, left alone). An explicit --memory-limit (or ROCKETLITE_MEMORY_LIMIT)
// wins over GOMEMLIMIT; GOMEMLIMIT wins over the automatic default.
func tuneGC(getenv func(string) string, limit memoryLimitFlag, total int64) int64 {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if limit.auto && getenv("GOMEMLIMIT") != "" {
		return -1
	}
	n := limit.bytes
	if limit.auto {
		n = autoMemoryLimit(total)
	}
	if n == 0 {
		debug.SetMemoryLimit(1<<63 - 1) // the runtime's "no limit"
		return 0
	}
	debug.SetMemoryLimit(n)
	return n
}
