package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/realtime"
	"rocketlite/store"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:3000", "http://127.1.2.3:80/", "http://localhost:3000", "http://[::1]:3000"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:3000", "http://example.org", "https://127.0.0.1:3000",
		"127.0.0.1:3000", "http://0.0.0.0:3000", "http://[::]:3000", "http://localhost.example.org", ""} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-password", "x", "-addr", "http://192.0.2.1:3000"},
		{"-password", "x", "-d", "11m"},
		{"-password", "x", "-c", "0"},
		{"-d", "1s"}, // no password
		{"-password", "x", "extra"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestFillAndLoad fills a database with the fill mode, serves it with the real handlers on
// loopback, and drives every workload for a moment: each must report results and no errors.
func TestFillAndLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fill.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-fill-db", path, "-n", "1200", "-chunk", "500", "-users", "3", "-password", "adminpass"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "msgs=1200") {
		t.Fatalf("fill said %q", out.String())
	}
	// A second fill appends and creates no user twice.
	out.Reset()
	if err := run(context.Background(), []string{"-fill-db", path, "-n", "10", "-users", "3"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "msgs=1210") || !strings.Contains(out.String(), "users created=0") {
		t.Fatalf("second fill said %q", out.String())
	}

	// -txid reads the file's last transaction id: two fills, so at least two commits.
	out.Reset()
	if err := run(context.Background(), []string{"-txid", path}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "txid=") || out.String() == "txid=0\n" {
		t.Fatalf("-txid: %q, %v", out.String(), err)
	}

	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// As the issue measures: no per-user send or write limit (--send-rate 0 --write-rate 0;
	// badjoin's joins would otherwise be refused before they reach the writer).
	srv := httptest.NewServer(handlers.New(handlers.Config{Store: st, Hasher: h, Log: zerolog.New(io.Discard),
		Limits: handlers.Limits{SendRate: -1, WriteRate: -1}}))
	defer srv.Close()

	for _, w := range []string{"send", "history", "mixed", "login", "badjoin"} {
		out.Reset()
		args := []string{"-addr", srv.URL, "-password", "adminpass", "-users", "3", "-workload", w,
			"-c", "2", "-d", "300ms", "-warmup", "0", "-timeout", "2m"}
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		res := out.String()
		if !strings.Contains(res, "errors=0 ") {
			t.Errorf("%s reported errors:\n%s", w, res)
		}
		want := w
		if w == "mixed" {
			want = "history"
		}
		if w == "badjoin" && !strings.Contains(res, "\nsend ") {
			t.Errorf("badjoin: no send line:\n%s", res)
		}
		if !strings.Contains(res, "\n"+want+" ") {
			t.Errorf("%s: no %s line:\n%s", w, want, res)
		}
	}
	// -n bounds the run by count.
	out.Reset()
	if err := run(context.Background(), []string{"-addr", srv.URL, "-password", "adminpass", "-workload", "send", "-c", "2", "-n", "7", "-warmup", "0"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ok=7 ") {
		t.Errorf("-n 7 did not send 7:\n%s", out.String())
	}
	// A wrong password is an error, not a run.
	if err := run(context.Background(), []string{"-addr", srv.URL, "-password", "wrong", "-d", "100ms"}, io.Discard, io.Discard); err == nil {
		t.Error("a refused login still ran")
	}
}

// TestRealtimeWorkloads drives the realtime, fanout and idle workloads against the real
// handlers and realtime server (hub, DDP over websocket) on loopback: every subscriber gets
// every message, and the reports carry their figures.
func TestRealtimeWorkloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.db")
	if err := run(context.Background(), []string{"-fill-db", path, "-n", "10", "-users", "3", "-password", "adminpass"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, _ := auth.NewHasher(bcrypt.MinCost)
	hub := realtime.NewHub(st, zerolog.Nop())
	hub.SetBatchWindow(5 * time.Millisecond)
	st.SetPublisher(hub)
	var rt *realtime.Server
	api := handlers.New(handlers.Config{Store: st, Hasher: h, Log: zerolog.New(io.Discard),
		Limits:   handlers.Limits{SendRate: -1, WriteRate: -1},
		Realtime: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { rt.ServeHTTP(w, r) }),
		Presence: hub, RealtimeStats: hub.Stats})
	rt = realtime.New(realtime.Config{Store: st, Hub: hub, Core: api, Log: zerolog.Nop(), MaxSocketsPerUser: 100})
	srv := httptest.NewServer(api)
	defer func() {
		rt.Shutdown(context.Background())
		srv.Close()
		st.SetPublisher(nil)
		hub.Close()
	}()
	base := []string{"-addr", srv.URL, "-password", "adminpass", "-users", "3", "-subscribers", "20", "-c", "2",
		"-d", "400ms", "-warmup", "100ms", "-timeout", "1m", "-server-pid", strconv.Itoa(os.Getpid())}
	if err := run(context.Background(), append(append([]string{}, base...), "-workload", "fanout", "-sub-room", "no-such-room"), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no-such-room") {
		t.Fatalf("-sub-room of a missing room: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-workload", "realtime", "-rate", "50"}, []string{"missing=0 ", "closed-sockets=0 ", "server-cpu="}},
		{[]string{"-workload", "realtime", "-rate", "0"}, []string{"missing=0 ", "(max, c=2)"}},
		{[]string{"-workload", "fanout"}, []string{"alone ", "missing=0 ", "ratio="}},
		{[]string{"-workload", "fanout", "-sub-room", "GENERAL"}, []string{"none expected (subscribers of another room) got=0 closed-sockets=0", "ratio="}},
		{[]string{"-workload", "idle"}, []string{"idle     sockets=20 ", "closed-by-server=0"}},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), append(append([]string{}, base...), tc.args...), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, out.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: no %q in\n%s", tc.args, w, out.String())
			}
		}
	}
}

// TestLatencyHistogram: values land in buckets within 1.6 % of themselves, and percentiles
// come out of the merged counts.
func TestLatencyHistogram(t *testing.T) {
	for _, d := range []time.Duration{0, 5 * time.Microsecond, 127 * time.Microsecond, 128 * time.Microsecond,
		time.Millisecond, 37 * time.Millisecond, 2 * time.Second, time.Minute} {
		v := histValue(histIndex(d))
		if v > d || float64(d-v) > 0.016*float64(d)+float64(time.Microsecond) {
			t.Errorf("%s lands in a bucket of %s", d, v)
		}
	}
	var a, b latHist
	for i := 1; i <= 99; i++ {
		a.add(time.Duration(i) * time.Millisecond)
	}
	b.add(time.Second)
	a.merge(&b)
	if p := a.pct(50); p < 49*time.Millisecond || p > 52*time.Millisecond {
		t.Errorf("p50 %s", p)
	}
	if p := a.pct(100); p < time.Second || p > 1020*time.Millisecond {
		t.Errorf("max %s", p)
	}
}
