// Package jsonerr turns encoding/json's errors into texts for people: where the input broke
// (line and column) and what was expected, in words ("a list of strings") instead of Go type
// names ("[]string"). It imports nothing of the project.
package jsonerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Position is the 1-based line and column of byte offset off in data (columns count bytes).
func Position(data []byte, off int64) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Describe explains err, returned by decoding data, as "line L, column C: what". offset is
// where the decoder stood when it failed (Decoder.InputOffset), used when err carries none.
func Describe(data []byte, err error, offset int64) string {
	at := func(off int64) string {
		l, c := Position(data, off)
		return fmt.Sprintf("line %d, column %d", l, c)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the byte that broke it: point at that byte.
		return at(syn.Offset-1) + ": " + strings.TrimPrefix(syn.Error(), "json: ")
	case errors.As(err, &typ):
		what := "the value"
		if typ.Field != "" {
			what = fmt.Sprintf("%q", typ.Field)
		}
		// Offset is just past the value: point at its last byte.
		return fmt.Sprintf("%s: %s must be %s, not %s", at(typ.Offset-1), what, TypeWords(typ.Type), ValueWords(typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return at(int64(len(data))) + ": the JSON ends early (a missing } or ] or \")"
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok && offset <= int64(len(data)) {
		// The decoder read the whole value first: point at the field's name instead.
		if i := bytes.LastIndex(data[:offset], []byte(name)); i >= 0 {
			offset = int64(i)
		}
	}
	return at(offset) + ": " + msg
}

// TypeWords names a Go type as a JSON value: "a string", "a list of strings", "an object".
func TypeWords(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list of " + plural(TypeWords(t.Elem()))
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a JSON value"
}

func plural(w string) string {
	switch w {
	case "true or false":
		return "true or false values"
	case "a JSON value":
		return "values"
	}
	w = strings.TrimPrefix(strings.TrimPrefix(w, "an "), "a ")
	if rest, ok := strings.CutPrefix(w, "list of "); ok {
		return "lists of " + rest
	}
	return w + "s"
}

// ValueWords names what encoding/json found ("string", "number 5", "array", "object", "bool")
// in words: "a string", "a number", "a list", …
func ValueWords(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number"
	}
	return v
}

// NextValue is the offset of the first byte at or after off that is not JSON white space:
// where data after a decoded value starts.
func NextValue(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
		off++
	}
	return off
}
