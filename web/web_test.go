package web

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestPageNamesHashedAssets(t *testing.T) {
	h := New()
	w := httptest.NewRecorder()
	h.Page(w, httptest.NewRequest("GET", "/", nil))
	page := w.Body.String()
	for _, plain := range []string{"app.js", "app.css"} {
		hashed := h.Names[plain]
		if !regexp.MustCompile(`^[a-z]+\.[0-9a-f]{12}\.(js|css)$`).MatchString(hashed) || !strings.Contains(page, `"/assets/`+hashed+`"`) {
			t.Fatalf("%s: hashed %q, page %s", plain, hashed, page)
		}
	}
	if w.Header().Get("Cache-Control") != "no-cache" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") ||
		w.Header().Get("X-Frame-Options") != "DENY" || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page headers %v", w.Header())
	}
	// Modules import each other by hashed name too, so a cached module never mixes versions.
	w = httptest.NewRecorder()
	h.Asset(w, httptest.NewRequest("GET", "/", nil), h.Names["app.js"])
	if !strings.Contains(w.Body.String(), `"./`+h.Names["ddp.js"]+`"`) || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") ||
		w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("app.js: %v %s", w.Header(), w.Body.String()[:200])
	}
	w = httptest.NewRecorder()
	h.Asset(w, httptest.NewRequest("GET", "/", nil), "app.js")
	if w.Code != http.StatusNotFound {
		t.Fatalf("an unhashed name: %d", w.Code)
	}
	// No page or module loads anything from elsewhere, nor runs inline code.
	for name, a := range h.assets {
		if bytes.Contains(a.body, []byte("innerHTML")) || bytes.Contains(a.body, []byte("insertAdjacentHTML")) {
			t.Errorf("%s parses strings as HTML", name)
		}
		if strings.HasSuffix(name, ".css") && bytes.Contains(a.body, []byte("url(")) {
			t.Errorf("%s loads something", name)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || regexp.MustCompile(` on[a-z]+=`).MatchString(page) {
		t.Fatal("inline script, style or handler in the page")
	}
}

// TestAssetBudget holds the client to its budget: 150 KB gzipped for everything it loads.
func TestAssetBudget(t *testing.T) {
	h := New()
	var total int
	for _, body := range append([][]byte{h.page}, assetBodies(h)...) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		total += buf.Len()
	}
	t.Logf("web client: %d bytes, %d bytes gzipped", h.Size(), total)
	if total > 150<<10 {
		t.Fatalf("the web client is %d bytes gzipped, over its 150 KB budget", total)
	}
}

func assetBodies(h *Handler) [][]byte {
	var out [][]byte
	for _, a := range h.assets {
		out = append(out, a.body)
	}
	return out
}
