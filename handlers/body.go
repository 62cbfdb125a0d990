package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"rocketlite/jsonerr"
	"rocketlite/store"
)

// body is a request's parameters: a JSON object's members, or form (or query) values.
// Its accessors refuse a value of the wrong JSON type with 400 instead of guessing.
type body struct {
	obj  map[string]json.RawMessage
	form url.Values
	// files are the file parts of a multipart/form-data body, by field name (the first of
	// each); their text fields are in form.
	files map[string]filePart
}

// filePart is one uploaded file.
type filePart struct {
	name string
	data []byte
}

func badRequest(code, format string, args ...any) error {
	return store.Errorf(store.Invalid, code, format, args...)
}

var errBodyTooLarge = &store.Error{Kind: store.TooLarge, Code: "body-too-large", Message: "Request body is too large"}

// parseBody reads at most limit bytes. A body whose first non-blank byte is '{' is JSON
// whatever its Content-Type; an empty body is an empty object; anything else is a form,
// unless the Content-Type says JSON.
func parseBody(r *http.Request, limit int64) (body, error) {
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return body{form: r.URL.Query()}, nil
	}
	data, err := readBody(r, limit)
	if err != nil {
		return body{}, err
	}
	return decodeBody(r.Header.Get("Content-Type"), data)
}

// readBody reads at most limit bytes of the body (none for GET and HEAD).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil, nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errBodyTooLarge
		}
		return nil, badRequest("invalid-body", "Could not read the request body")
	}
	return data, nil
}

func decodeBody(contentType string, data []byte) (body, error) {
	if mt, params, _ := mime.ParseMediaType(contentType); mt == "multipart/form-data" {
		return decodeMultipart(params["boundary"], data)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return body{form: url.Values{}}, nil
	}
	if !utf8.Valid(trimmed) {
		return body{}, badRequest("invalid-utf8", "Request body is not valid UTF-8")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json")
	if trimmed[0] == '{' || isJSON {
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if err := dec.Decode(&obj); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field == "" {
				return body{}, badRequest("invalid-json", "Request body must be a JSON object, not %s", jsonerr.ValueWords(typ.Value))
			}
			// One text for every malformed body, saying where it broke.
			return body{}, badRequest("invalid-json", "Request body is not valid JSON: %s", jsonerr.Describe(trimmed, err, dec.InputOffset()))
		}
		if obj == nil {
			return body{}, badRequest("invalid-json", "Request body must be a JSON object, not null")
		}
		end := dec.InputOffset()
		if _, err := dec.Token(); err != io.EOF {
			l, c := jsonerr.Position(trimmed, jsonerr.NextValue(trimmed, end))
			return body{}, badRequest("invalid-json", "Request body is not valid JSON: line %d, column %d: data after the JSON object", l, c)
		}
		return body{obj: obj}, nil
	}
	form, err := parseForm(string(trimmed))
	if err != nil {
		return body{}, err
	}
	return body{form: form}, nil
}

// parseForm decodes an application/x-www-form-urlencoded body. Unlike url.ParseQuery it
// takes ';' as an ordinary character: curl -d sends text as typed ("msg=Hi; there"), and
// Rocket.Chat's body parser read it so. A bad %-escape is still a 400.
func parseForm(s string) (url.Values, error) {
	form := url.Values{}
	for pair := range strings.SplitSeq(s, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, badRequest("invalid-form", "Request body is not a valid form (bad %%-escape)")
		}
		form[key] = append(form[key], value)
	}
	return form, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func (b body) has(name string) bool {
	if b.obj != nil {
		raw, ok := b.obj[name]
		return ok && !isNull(raw)
	}
	_, ok := b.form[name]
	return ok
}

// str returns a string parameter ("" if absent or null); any other JSON type is a 400.
func (b body) str(name string) (string, error) {
	if b.obj == nil {
		return b.form.Get(name), nil
	}
	raw, ok := b.obj[name]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", badRequest("invalid-param", "%s must be a string", name)
	}
	return s, nil
}

// boolean returns a boolean parameter (def if absent). Forms say true/false/1/0.
func (b body) boolean(name string, def bool) (bool, error) {
	if b.obj == nil {
		v, ok := b.form[name]
		if !ok || len(v) == 0 || v[0] == "" {
			return def, nil
		}
		t, err := strconv.ParseBool(v[0])
		if err != nil {
			return false, badRequest("invalid-param", "%s must be true or false", name)
		}
		return t, nil
	}
	raw, ok := b.obj[name]
	if !ok || isNull(raw) {
		return def, nil
	}
	var t bool
	if json.Unmarshal(raw, &t) != nil {
		return false, badRequest("invalid-param", "%s must be true or false", name)
	}
	return t, nil
}

// integer returns an integer parameter within [lo, hi] (def if absent or empty).
func (b body) integer(name string, def, lo, hi int) (int, error) {
	var s string
	if b.obj == nil {
		s = b.form.Get(name)
	} else if raw, ok := b.obj[name]; ok && !isNull(raw) {
		s = string(raw)
		if raw[0] == '"' {
			json.Unmarshal(raw, &s)
		}
	}
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("invalid-param", "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// decode unmarshals a JSON parameter into v; with a form body it reports absent. It returns
// false if the parameter is absent or null.
func (b body) decode(name string, v any) (bool, error) {
	if b.obj == nil {
		return false, nil
	}
	raw, ok := b.obj[name]
	if !ok || isNull(raw) {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, badRequest("invalid-param", "%s has the wrong type", name)
	}
	return true, nil
}

// strings returns a list of strings: a JSON array, or repeated (or comma-separated) form values.
func (b body) strings(name string) ([]string, error) {
	if b.obj == nil {
		var out []string
		for _, v := range b.form[name] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		return out, nil
	}
	var out []string
	if _, err := b.decode(name, &out); err != nil {
		return nil, badRequest("invalid-param", "%s must be a list of strings", name)
	}
	return out, nil
}

// maxParts bounds the parts of one multipart body (the body size bounds their bytes).
const maxParts = 32

// decodeMultipart reads a multipart/form-data body (an avatar upload): text fields go to
// form, files to files. The whole body is already in memory within the body cap.
func decodeMultipart(boundary string, data []byte) (body, error) {
	bad := badRequest("invalid-multipart", "Request body is not valid multipart/form-data")
	if boundary == "" {
		return body{}, bad
	}
	b := body{form: url.Values{}, files: map[string]filePart{}}
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return b, nil
		}
		if err != nil || n >= maxParts {
			return body{}, bad
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return body{}, bad
		}
		name := p.FormName()
		if p.FileName() != "" {
			if _, dup := b.files[name]; !dup {
				b.files[name] = filePart{name: p.FileName(), data: content}
			}
			continue
		}
		if !utf8.Valid(content) {
			return body{}, badRequest("invalid-utf8", "Request body is not valid UTF-8")
		}
		b.form[name] = append(b.form[name], string(content))
	}
}
