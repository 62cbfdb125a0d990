package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"rocketlite/store"
)

// The message, page and scan limits of issue 9: defaults, flags, environment, bad values.
func TestServeReadLimitFlags(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseServe(nil, none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.maxMsgBytes != store.DefaultMaxMessageBytes || c.maxMsgDepth != store.DefaultMaxMessageDepth ||
		c.pageBytes != 1<<20 || c.searchScan != store.SearchScanLimit || c.scanRate != 2 || c.scanBurst != 20 {
		t.Fatalf("defaults %+v", c)
	}
	env := map[string]string{"ROCKETLITE_MAX_MESSAGE_SIZE": "16K", "ROCKETLITE_MAX_MESSAGE_DEPTH": "4",
		"ROCKETLITE_MAX_PAGE_BYTES": "256K", "ROCKETLITE_SEARCH_SCAN": "500", "ROCKETLITE_SCAN_RATE": "0", "ROCKETLITE_SCAN_BURST": "3"}
	c, err = parseServe([]string{"--max-message-depth", "5"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.maxMsgBytes != 16<<10 || c.maxMsgDepth != 5 || c.pageBytes != 256<<10 || c.searchScan != 500 || c.scanRate != 0 || c.scanBurst != 3 {
		t.Fatalf("flag > env: %+v", c)
	}
	// 0 turns the page budget and the scan rate off; handlers read negative values as "off".
	if l := readLimits(c); l.ScanRate >= 0 || l.PageBytes != 256<<10 {
		t.Fatalf("readLimits %+v", l)
	}
	c.pageBytes = 0
	if l := readLimits(c); l.PageBytes >= 0 {
		t.Fatalf("readLimits %+v", l)
	}

	for _, args := range [][]string{
		{"--max-message-size", "100"},
		{"--max-message-size", "huge"},
		{"--max-message-depth", "0"},
		{"--max-page-bytes", "-1"},
		{"--search-scan", "0"},
		{"--scan-rate", "-1"},
		{"--scan-burst", "0"},
	} {
		_, err := parseServe(args, none, io.Discard)
		var u usageError
		if err == nil || (!errors.As(err, &u) && !strings.Contains(err.Error(), "invalid value")) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// --socket-batch (issue 11): default, environment, flag, bad values.
func TestServeSocketBatchFlag(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseServe(nil, none, io.Discard)
	if err != nil || c.socketBatch != 5*time.Millisecond {
		t.Fatalf("default %v %v", c.socketBatch, err)
	}
	c, err = parseServe(nil, func(k string) string {
		if k == "ROCKETLITE_SOCKET_BATCH" {
			return "0"
		}
		return ""
	}, io.Discard)
	if err != nil || c.socketBatch != 0 {
		t.Fatalf("env: %v %v", c.socketBatch, err)
	}
	if c, err = parseServe([]string{"--socket-batch", "20ms"}, none, io.Discard); err != nil || c.socketBatch != 20*time.Millisecond {
		t.Fatalf("flag: %v %v", c.socketBatch, err)
	}
	for _, v := range []string{"-1ms", "2s", "soon"} {
		_, err := parseServe([]string{"--socket-batch", v}, none, io.Discard)
		var u usageError
		if err == nil || (!errors.As(err, &u) && !strings.Contains(err.Error(), "invalid value")) {
			t.Errorf("--socket-batch %s: %v", v, err)
		}
	}
}

// --node-timeout: default, environment, flag, bad values.
func TestServeNodeTimeoutFlag(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseServe(nil, none, io.Discard)
	if err != nil || c.nodeTimeout != 30*time.Second {
		t.Fatalf("default %v %v", c.nodeTimeout, err)
	}
	c, err = parseServe(nil, func(k string) string {
		if k == "ROCKETLITE_NODE_TIMEOUT" {
			return "10s"
		}
		return ""
	}, io.Discard)
	if err != nil || c.nodeTimeout != 10*time.Second {
		t.Fatalf("env: %v %v", c.nodeTimeout, err)
	}
	for _, v := range []string{"0", "500ms", "-1s", "soon"} {
		_, err := parseServe([]string{"--node-timeout", v}, none, io.Discard)
		var u usageError
		if err == nil || (!errors.As(err, &u) && !strings.Contains(err.Error(), "invalid value")) {
			t.Errorf("--node-timeout %s: %v", v, err)
		}
	}
}
