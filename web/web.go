// Package web serves rocketlite's own web client: chat and administration in any browser,
// from files embedded in the binary (no CDN, no font or script from elsewhere: it works with no
// internet at all). The client is hand-written ES modules, with no build step, so building
// rocketlite needs Go only; it talks to the server through the public REST and DDP APIs, the
// same ones every other client uses.
//
// Assets are served under /assets/<name>.<hash>.<ext> with a year's immutable caching, and the
// page at / names them by hash: a new binary's page loads the new assets, never a stale copy.
// Every answer carries a strict Content-Security-Policy (no inline script or style, nothing
// from other origins) and refuses framing.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// asset is one embedded file, with the name it is served under.
type asset struct {
	body        []byte
	contentType string
}

// Handler serves the client: the page at / and the hashed assets under /assets/.
type Handler struct {
	page   []byte
	assets map[string]asset // by hashed name
	// Names maps a file's plain name (app.js) to its hashed one, for tests.
	Names map[string]string
}

// New loads the embedded files and renders the page with the assets' hashed names.
func New() *Handler {
	h := &Handler{assets: map[string]asset{}, Names: map[string]string{}}
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		panic(err) // the files are embedded: only a broken build gets here
	}
	var page []byte
	for _, e := range entries {
		body, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		if e.Name() == "index.html" {
			page = body
			continue
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		hashed := strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext
		ct := mime.TypeByExtension(ext)
		if ext == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		h.assets[hashed] = asset{body: body, contentType: ct}
		h.Names[e.Name()] = hashed
	}
	// The page names its assets by their plain names; the hashed ones replace them here.
	for plain, hashed := range h.Names {
		page = bytes.ReplaceAll(page, []byte(`"/assets/`+plain+`"`), []byte(`"/assets/`+hashed+`"`))
	}
	// The modules import each other by plain name too.
	for name, a := range h.assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		body := a.body
		for plain, hashed := range h.Names {
			body = bytes.ReplaceAll(body, []byte(`"./`+plain+`"`), []byte(`"./`+hashed+`"`))
		}
		h.assets[name] = asset{body: body, contentType: a.contentType}
	}
	h.page = page
	return h
}

// security sets the headers every answer of the client carries.
func security(w http.ResponseWriter) {
	hd := w.Header()
	// 'self' covers same-origin websockets (ws: and wss:) in current browsers; connect-src
	// names them for older ones. Images: the avatars (same origin) and data: for none.
	hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "+
		"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
}

// Page serves the client's page (GET /).
func (h *Handler) Page(w http.ResponseWriter, r *http.Request) {
	security(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(h.page)
}

// Asset serves one hashed asset (GET /assets/:name); an unknown name is a 404.
func (h *Handler) Asset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	security(w)
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(a.body)
}

// Size is the total size of the client's files in bytes (the page and every asset).
func (h *Handler) Size() int {
	n := len(h.page)
	for _, a := range h.assets {
		n += len(a.body)
	}
	return n
}
