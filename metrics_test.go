package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsAndPprof starts the program with --metrics-addr and --pprof-addr, makes some
// traffic, and parses the metrics page with Prometheus's own text parser.
func TestMetricsAndPprof(t *testing.T) {
	s := start(t, "--db", t.TempDir()+"/m.db", "--admin-password", "adminpass",
		"--metrics-addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0")
	addrOf := func(what string) string {
		e := s.stderr.find(t, what+" listening")
		if e == nil {
			t.Fatalf("no %q log line: %s", what+" listening", s.stderr.String())
		}
		return "http://" + e["addr"].(string)
	}
	metricsURL, pprofURL := addrOf("metrics"), addrOf("pprof")

	s.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"wrong"}`, "application/json").want(t, 401, "")
	login := s.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"adminpass"}`, "application/json")
	login.want(t, 200, "")
	data := login.obj["data"].(map[string]any)
	uid, tok := data["userId"].(string), data["authToken"].(string)
	s.curl("POST", "/api/v1/chat.postMessage", uid, tok, `{"channel":"#general","text":"counted"}`, "application/json").want(t, 200, "")
	s.curl("GET", "/api/v1/no-such-route", "", "", "", "").want(t, 404, "")

	res, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the metrics page does not parse: %v\n%s", err, body)
	}
	for _, name := range []string{"rocketlite_http_requests_total", "rocketlite_http_request_duration_seconds",
		"rocketlite_logins_total", "rocketlite_messages_posted_total", "rocketlite_commits_total",
		"rocketlite_commit_seconds_total", "rocketlite_db_size_bytes", "rocketlite_db_free_pages", "rocketlite_tokens",
		"rocketlite_webhook_deliveries_total", "go_goroutines"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, want := range []string{
		`rocketlite_http_requests_total{route="POST /api/v1/chat.postMessage",status="200"} 1`,
		`rocketlite_http_requests_total{route="unmatched",status="404"} 1`,
		`rocketlite_logins_total{result="success"} 1`,
		`rocketlite_logins_total{result="failure"} 1`,
		`rocketlite_messages_posted_total{api="v1"} 1`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), tok) || strings.Contains(string(body), "adminpass") {
		t.Fatal("the metrics page shows a secret")
	}
	// pprof answers on its own listener, and neither side page is on the public one.
	if res, err := http.Get(pprofURL + "/debug/pprof/"); err != nil || res.StatusCode != 200 {
		t.Fatalf("pprof: %v %v", res, err)
	}
	s.curl("GET", "/metrics", "", "", "", "").want(t, 404, "")
	s.curl("GET", "/debug/pprof/", "", "", "", "").want(t, 404, "")
}

// TestMetricsAddrInUse: a metrics port in use stops the start before the database exists (no
// admin is created whose one-time password would go to a log nobody reads).
func TestMetricsAddrInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	db := filepath.Join(t.TempDir(), "never.db")
	var stderr strings.Builder
	err = run(context.Background(), []string{"rocketlite", "--addr", "127.0.0.1:0", "--db", db,
		"--metrics-addr", busy.Addr().String()}, noEnv, strings.NewReader(""), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Fatalf("start with the metrics port in use: %v", err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatalf("the database was created: %v", err)
	}
}
