package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebServedAndNoWeb: the web client is at / (with its policy headers) and the APIs stay
// where they were; --no-web turns it off.
func TestWebServedAndNoWeb(t *testing.T) {
	s := start(t, "--db", filepath.Join(t.TempDir(), "w.db"), "--admin-password", "adminpass")
	res, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="/assets/app.`) ||
		res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("/: %d %v %s", res.StatusCode, res.Header, body)
	}
	s.curl("GET", "/api/version", "", "", "", "").want(t, 200, "")
	s.stop()

	s = start(t, "--db", filepath.Join(t.TempDir(), "n.db"), "--admin-password", "adminpass", "--no-web")
	s.curl("GET", "/", "", "", "", "").want(t, 404, "")
	s.curl("GET", "/api/version", "", "", "", "").want(t, 200, "")
}
