package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"rocketlite/store"
)

// Obj is a JSON object that keeps its keys in the order given, so that "status" or "success"
// leads as in Rocket.Chat's answers.
type Obj []KV

// KV is one member of an Obj.
type KV struct {
	Key   string
	Value any
}

// J builds an Obj from alternating keys and values.
func J(pairs ...any) Obj {
	o := make(Obj, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		o = append(o, KV{pairs[i].(string), pairs[i+1]})
	}
	return o
}

// With returns o with more members appended.
func (o Obj) With(pairs ...any) Obj { return append(o, J(pairs...)...) }

// MarshalJSON writes the members in order; writeJSON indents the result.
func (o Obj) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, kv := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(kv.Key)
		b = append(b, k...)
		b = append(b, ':')
		v, err := marshalNoEscape(kv.Value)
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// answerBufs recycles answer buffers. A buffer that grew past maxPooledBuf (a page of 1,000
// long messages) is dropped rather than kept, so one huge answer does not pin its memory.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledBuf = 1 << 20

// writeJSON writes v pretty-printed with two spaces, as Rocket.Chat did (encode.go renders
// it in one pass, byte for byte as json.Encoder with SetIndent("", "  ") would).
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := answerBufs.Get().(*[]byte)
	b, err := appendPretty((*bp)[:0], v, 0)
	if err != nil {
		b = append(b[:0], `{"status":"error","message":"Internal server error"}`...)
		status = http.StatusInternalServerError
	} else {
		b = append(b, '\n')
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
	if cap(b) <= maxPooledBuf {
		*bp = b
		answerBufs.Put(bp)
	}
}

// Shared header values: setting them does not allocate. net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

func statusOf(kind store.Kind) int {
	switch kind {
	case store.Invalid:
		return http.StatusBadRequest
	case store.Unauthorized:
		return http.StatusUnauthorized
	case store.Denied, store.Forbidden:
		return http.StatusForbidden
	case store.NotFound:
		return http.StatusNotFound
	case store.Conflict:
		return http.StatusConflict
	case store.TooLarge:
		return http.StatusRequestEntityTooLarge
	case store.TooMany:
		return http.StatusTooManyRequests
	case store.Full:
		return http.StatusInsufficientStorage
	case store.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorBody0 renders err as API 0.1 does: "error" for authentication, permission and server
// problems, "fail" for problems with the request or its data.
func errorBody0(e *store.Error) Obj {
	status := "fail"
	switch e.Kind {
	case store.Unauthorized, store.Denied, store.TooMany, store.Full, store.Unavailable:
		status = "error"
	}
	if e.Code == "" {
		return J("status", status, "message", e.Message)
	}
	return J("status", status, "message", e.Message+" ["+e.Code+"]", "error", e.Code)
}

// errorBody1 renders err as API v1 does.
func errorBody1(e *store.Error) Obj {
	switch e.Kind {
	case store.Unauthorized:
		return errorBody0(e) // v1 answers 401 exactly as 0.1 does
	case store.Denied, store.Forbidden:
		return J("success", false, "error", "unauthorized")
	}
	code := e.Code
	if code == "" {
		code = "error-invalid-request"
	}
	return J("success", false, "error", e.Message, "errorType", code)
}

// asPublic returns err as a *store.Error if it is one.
func asPublic(err error) (*store.Error, bool) {
	var e *store.Error
	ok := errors.As(err, &e)
	return e, ok
}

// jsTime renders a time as Rocket.Chat does: UTC, ISO-8601, milliseconds.
type jsTime time.Time

const jsLayout = "2006-01-02T15:04:05.000Z"

func (t jsTime) MarshalJSON() ([]byte, error) { return t.appendJSON(make([]byte, 0, len(jsLayout)+2)) }

// appendJSON formats digit by digit: time.Format's layout interpretation was 15% of a history
// request (two times per message). Years outside 0-9999 take the general path.
func (t jsTime) appendJSON(b []byte) ([]byte, error) {
	u := time.Time(t).UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = u.AppendFormat(b, jsLayout)
		return append(b, '"'), nil
	}
	hour, minute, sec := u.Clock()
	milli := u.Nanosecond() / 1e6
	return append(b, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10),
		'Z', '"'), nil
}

func optTime(t time.Time) *jsTime {
	if t.IsZero() {
		return nil
	}
	j := jsTime(t)
	return &j
}
