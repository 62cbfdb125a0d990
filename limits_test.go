package main

// Issue 9's limits as the program wires them: flags, environment, defaults, and the
// connection caps on the real listener.

import (
	"bufio"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAbuseLimitFlags(t *testing.T) {
	c, err := parseServe(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.writeRate != 10 || c.writeBurst != 100 || c.registerLimit != 10 || c.limiterEntries != 10000 ||
		c.maxRoomsPerUser != 1000 || c.maxTokensPerUser != 50 || c.maxConns != 512 || c.maxConnsPerAddr != 64 {
		t.Fatalf("defaults: %+v", c)
	}
	env := map[string]string{"ROCKETLITE_WRITE_RATE": "3", "ROCKETLITE_WRITE_BURST": "9", "ROCKETLITE_REGISTER_LIMIT": "4",
		"ROCKETLITE_LIMITER_ENTRIES": "500", "ROCKETLITE_MAX_ROOMS_PER_USER": "0", "ROCKETLITE_MAX_TOKENS_PER_USER": "5",
		"ROCKETLITE_MAX_CONNS": "100", "ROCKETLITE_MAX_CONNS_PER_ADDR": "8"}
	c, err = parseServe([]string{"--max-conns", "200"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.writeRate != 3 || c.writeBurst != 9 || c.registerLimit != 4 || c.limiterEntries != 500 ||
		c.maxRoomsPerUser != 0 || c.maxTokensPerUser != 5 || c.maxConns != 200 || c.maxConnsPerAddr != 8 {
		t.Fatalf("from the environment: %+v", c)
	}
	for _, args := range [][]string{
		{"--write-rate", "-1"}, {"--write-burst", "0"}, {"--register-limit", "0"}, {"--limiter-entries", "10"},
		{"--max-rooms-per-user", "-1"}, {"--max-tokens-per-user", "-2"}, {"--max-conns", "0"}, {"--max-conns-per-addr", "0"},
	} {
		_, err := parseServe(args, func(string) string { return "" }, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// Item 10: slow-header clients from one address hold at most --max-conns-per-addr
// connections; more are closed at once, and once the read-header timeout cuts the slow ones
// off, a normal client is served.
func TestConnectionCapsOnTheListener(t *testing.T) {
	srv := startInProc(t, "--db", filepath.Join(t.TempDir(), "conns.db"), "--max-conns-per-addr", "3",
		"--read-header-timeout", "500ms")
	addr := strings.TrimPrefix(srv.base, "http://")
	var slow []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // headers never finish
		slow = append(slow, c)
	}
	ask := func() string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return ""
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not a speed check
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	// The listen queue is first in, first out: the three are accepted before a fourth, which
	// is closed without an answer.
	if got := ask(); got != "" {
		t.Fatalf("a fourth connection from the address was served: %q", got)
	}
	// The slow ones are cut off by the header timeout; then a normal client is served.
	for _, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ask() != "HTTP/1.1 200 OK" {
		if time.Now().After(deadline) {
			t.Fatal("no normal client served after the slow ones were cut off")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
