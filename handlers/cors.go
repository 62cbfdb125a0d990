package handlers

import (
	"net/http"
	"strings"
)

// CORS: a browser page may call the API only from an origin the operator listed
// (--cors-origins). Any other origin gets no Access-Control-Allow-Origin header, so the
// browser keeps the answer from the page.

func corsOrigins(list []string) map[string]bool {
	m := map[string]bool{}
	for _, o := range list {
		if o = normOrigin(o); o != "" {
			m[o] = true
		}
	}
	return m
}

// normOrigin lower-cases an origin and drops a trailing slash: browsers send
// "https://chat.example.org", operators may write "https://Chat.example.org/".
func normOrigin(o string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
}

// allowOrigin sets the CORS answer headers if the request's Origin is listed.
func (a *API) allowOrigin(h http.Header, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h.Add("Vary", "Origin")
	if origin == "" || !a.cors[normOrigin(origin)] {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
	return true
}

// preflight answers OPTIONS on a known path (httprouter has set Allow). A listed origin learns
// which methods and headers it may use; any other request gets the bare Allow answer.
func (a *API) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", h.Get("Allow"))
		h.Set("Access-Control-Allow-Headers", "X-User-Id, X-Auth-Token, Content-Type")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}
