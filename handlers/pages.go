package handlers

// The newest page of a room is the same bytes for every reader who may read it, until the
// next write to the room: it is rendered once and kept (pagecache, bounded by bytes), and
// every later reader pays an access check and a copy. Answers of history and room lists
// carry a strong ETag; a request whose If-None-Match names it gets 304 with no body, after
// the same access checks as a full answer.

import (
	"hash/crc64"
	"net/http"
	"strconv"
	"strings"

	"rocketlite/pagecache"
)

// Page forms that are cached: the routes' answers differ, so each has its own key space.
const (
	formRooms0   uint8 = iota + 1 // GET /api/rooms/:id/messages, newest page
	formHistory1                  // GET /api/v1/channels.history, newest page
)

// DefaultPageCacheBytes is the page cache's default bound (--page-cache).
const DefaultPageCacheBytes = 8 << 20

// PageCacheStats reports the page cache's size and counters (zero when it is off).
func (a *API) PageCacheStats() pagecache.Stats { return a.pages.Stats() }

// cachedPage answers with the page kept under k, or renders it with fill and keeps it. fill
// must give every reader who may read room k.Room the same answer, and check that access
// itself (History does); a kept page is served only after the same check. The version is
// taken before anything is read (store/pages.go says why that is enough).
func (a *API) cachedPage(c *call, k pagecache.Key, fill func() (any, error)) (any, error) {
	if a.pages == nil {
		return fill() // tagged renders it and gives it its ETag
	}
	v := a.st.PageVersion(k.Room)
	if p, ok := a.pages.Get(k, v); ok {
		if err := a.st.MayRead(k.Room, c.user); err != nil {
			return nil, err
		}
		return pageReply(c, p), nil
	}
	h := c.w.Header()
	had := make(map[string]bool, len(h))
	for name := range h {
		had[name] = true
	}
	out, err := fill()
	if err != nil {
		return nil, err
	}
	if raw, ok := out.(rawReply); ok {
		return raw, nil
	}
	body, err := encodeAnswer(out)
	if err != nil {
		return nil, err
	}
	p := &pagecache.Page{Version: v, Body: body, ETag: etagOf(body)}
	p.Shared = &taggedHeaders{etag: []string{p.ETag}, length: []string{strconv.Itoa(len(body))}}
	// Headers the fill set (a truncated page says so) go with the page.
	for name, vals := range h {
		if !had[name] {
			for _, val := range vals {
				p.Header = append(p.Header, [2]string{name, val})
			}
		}
	}
	a.pages.Put(k, p)
	return pageReply(c, p), nil
}

// pageReply writes p, or 304 when the request's If-None-Match names its ETag.
func pageReply(c *call, p *pagecache.Page) rawReply {
	return func(w http.ResponseWriter) {
		for _, kv := range p.Header {
			w.Header().Set(kv[0], kv[1])
		}
		writeTaggedWith(w, c.r, p.Body, p.Shared.(*taggedHeaders))
	}
}

// taggedHeaders are the header values of one answer, made once: a page served from the
// cache sets them without allocating (net/http only reads them).
type taggedHeaders struct{ etag, length []string }

// tagged gives fn's answers a strong ETag and answers 304 to a matching If-None-Match (for
// GET routes whose answers clients poll: history, room lists).
func (a *API) tagged(fn handlerFunc) handlerFunc {
	return func(c *call) (any, error) {
		out, err := fn(c)
		if err != nil {
			return nil, err
		}
		if _, ok := out.(rawReply); ok {
			return out, nil
		}
		// Rendered into a pooled buffer, given back once written: no copy of the answer.
		bp, b, err := renderPooled(out)
		if err != nil {
			return nil, err
		}
		return rawReply(func(w http.ResponseWriter) {
			writeTagged(w, c.r, b, etagOf(b))
			recycle(bp, b)
		}), nil
	}
}

var (
	crcTable = crc64.MakeTable(crc64.ECMA)
	noCache  = []string{"private, no-cache"}
)

// etagOf is a strong ETag of body: its CRC-64 and length. It names the exact bytes, so it
// stays valid across restarts and is the same for every reader of the same answer.
func etagOf(body []byte) string {
	b := make([]byte, 0, 34)
	b = append(b, '"')
	b = strconv.AppendUint(b, crc64.Checksum(body, crcTable), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(len(body)), 16)
	return string(append(b, '"'))
}

// writeTagged writes a 200 JSON answer with its ETag, or only the headers and 304 when the
// client's If-None-Match names it. Caches must revalidate (no-cache) and only the client
// may keep it (private): the answer depends on who asks.
func writeTagged(w http.ResponseWriter, r *http.Request, body []byte, etag string) {
	writeTaggedWith(w, r, body, &taggedHeaders{etag: []string{etag}, length: []string{strconv.Itoa(len(body))}})
}

func writeTaggedWith(w http.ResponseWriter, r *http.Request, body []byte, th *taggedHeaders) {
	h := w.Header()
	h["Etag"] = th.etag
	h["Cache-Control"] = noCache
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, th.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = th.length
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2): "*", or any tag
// of the list equal to etag once a W/ prefix is set aside.
func etagMatches(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// encodeAnswer renders v exactly as writeJSON would, into a slice of its own.
func encodeAnswer(v any) ([]byte, error) {
	bp, b, err := renderPooled(v)
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(b)), b...)
	recycle(bp, b)
	return out, nil
}

// renderPooled renders v as writeJSON does, into a buffer of answerBufs; give it back with
// recycle once b is written.
func renderPooled(v any) (bp *[]byte, b []byte, err error) {
	bp = answerBufs.Get().(*[]byte)
	if b, err = appendPretty((*bp)[:0], v, 0); err != nil {
		answerBufs.Put(bp)
		return nil, nil, err
	}
	return bp, append(b, '\n'), nil
}

// recycle gives b's buffer back to answerBufs, unless it grew past maxPooledBuf.
func recycle(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledBuf {
		*bp = b
		answerBufs.Put(bp)
	}
}
