package handlers

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// A direct encoder for answers. encoding/json renders an Obj in three passes (MarshalJSON,
// then the Encoder validates and compacts that output, then indents it), and renders every
// jsTime through the same validate-and-compact path; for a page of 50 messages that was half
// of the request's CPU. appendPretty writes the same bytes in one pass for the shapes of the
// hot routes (Obj, strings, numbers, booleans, messages) and hands any other value to
// encoding/json with the indentation of its depth, so its output is unchanged.
// TestAppendPrettyMatchesEncodingJSON holds the two to the same bytes.

const indentUnit = "  "

func appendIndent(b []byte, depth int) []byte {
	b = append(b, '\n')
	for range depth {
		b = append(b, indentUnit...)
	}
	return b
}

// appendPretty appends v as json.Encoder with SetIndent("", "  ") and SetEscapeHTML(false)
// would at nesting depth, without the trailing newline.
func appendPretty(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case Obj:
		if len(x) == 0 { // nil too: Obj's MarshalJSON has a value receiver
			return append(b, "{}"...), nil
		}
		b = append(b, '{')
		for i, kv := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			b = appendString(b, kv.Key)
			b = append(b, ": "...)
			var err error
			if b, err = appendPretty(b, kv.Value, depth+1); err != nil {
				return nil, err
			}
		}
		b = appendIndent(b, depth)
		return append(b, '}'), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case json.RawMessage:
		// Free-form JSON (attachments, projected members) as it is: indenting it would cost
		// its size times its depth.
		if len(x) == 0 {
			return append(b, "null"...), nil
		}
		return append(b, x...), nil
	case []Obj:
		if x == nil {
			return append(b, "null"...), nil
		}
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			var err error
			if b, err = appendPretty(b, x[i], depth+1); err != nil {
				return nil, err
			}
		}
		b = appendIndent(b, depth)
		return append(b, ']'), nil
	case messageView:
		return appendMessageView(b, &x, depth)
	case []messageView:
		if x == nil {
			return append(b, "null"...), nil
		}
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		// One allocation of about the page's size: growing by append from 16 KiB to a 1 MiB
		// page allocated five times the page.
		est := 0
		for i := range x {
			est += len(x[i].Msg) + len(x[i].Attachments) + len(x[i].Alias) + len(x[i].Avatar) + 400 + 20*depth
		}
		b = slices.Grow(b, est)
		b = append(b, '[')
		for i := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendIndent(b, depth+1)
			var err error
			if b, err = appendMessageView(b, &x[i], depth+1); err != nil {
				return nil, err
			}
		}
		b = appendIndent(b, depth)
		return append(b, ']'), nil
	}
	return appendGeneric(b, v, depth)
}

// appendGeneric lets encoding/json render v, indented as if it sat at depth.
func appendGeneric(b []byte, v any, depth int) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	prefix := make([]byte, 0, 2*depth)
	for range depth {
		prefix = append(prefix, indentUnit...)
	}
	enc.SetIndent(string(prefix), indentUnit)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

func appendMember(b []byte, first bool, key string, depth int) []byte {
	if !first {
		b = append(b, ',')
	}
	b = appendIndent(b, depth)
	b = appendString(b, key)
	return append(b, ": "...)
}

func appendJSTime(b []byte, t jsTime) []byte {
	b, _ = t.appendJSON(b)
	return b
}

func appendRef(b []byte, r *userRefView, depth int) []byte {
	b = append(b, '{')
	b = appendMember(b, true, "_id", depth+1)
	b = appendString(b, r.ID)
	b = appendMember(b, false, "username", depth+1)
	b = appendString(b, r.Username)
	if r.Name != "" {
		b = appendMember(b, false, "name", depth+1)
		b = appendString(b, r.Name)
	}
	b = appendIndent(b, depth)
	return append(b, '}')
}

// appendMessageView writes m member by member, in messageView's field order with its
// omitempty rules. Attachments are written as stored (compact JSON, validated when the record
// was decoded), never re-indented: indenting them cost their size times their depth (a 20 KB
// deeply nested post rendered as 200 MB), so an answer's size stays proportional to the
// records it holds. The rest of the document is indented as encoding/json would.
func appendMessageView(b []byte, m *messageView, depth int) ([]byte, error) {
	d := depth + 1
	b = append(b, '{')
	b = appendMember(b, true, "_id", d)
	b = appendString(b, m.ID)
	b = appendMember(b, false, "rid", d)
	b = appendString(b, m.RID)
	b = appendMember(b, false, "msg", d)
	b = appendString(b, m.Msg)
	b = appendMember(b, false, "ts", d)
	b = appendJSTime(b, m.TS)
	b = appendMember(b, false, "u", d)
	b = appendRef(b, &m.U, d)
	for _, f := range [...]struct{ k, v string }{{"t", m.T}, {"alias", m.Alias}, {"emoji", m.Emoji}, {"avatar", m.Avatar}} {
		if f.v != "" {
			b = appendMember(b, false, f.k, d)
			b = appendString(b, f.v)
		}
	}
	if len(m.Attachments) > 0 {
		b = appendMember(b, false, "attachments", d)
		b = append(b, m.Attachments...)
	}
	if m.Bot != nil {
		b = appendMember(b, false, "bot", d)
		b = append(b, '{')
		b = appendMember(b, true, "i", d+1)
		b = appendString(b, m.Bot.I)
		b = appendIndent(b, d)
		b = append(b, '}')
	}
	if m.EditedAt != nil {
		b = appendMember(b, false, "editedAt", d)
		b = appendJSTime(b, *m.EditedAt)
	}
	if m.EditedBy != nil {
		b = appendMember(b, false, "editedBy", d)
		b = appendRef(b, m.EditedBy, d)
	}
	if m.Role != "" {
		b = appendMember(b, false, "role", d)
		b = appendString(b, m.Role)
	}
	b = appendMember(b, false, "_updatedAt", d)
	b = appendJSTime(b, m.UpdatedAt)
	if m.hasExtras() {
		b = appendMessageExtras(b, m, d)
	}
	b = appendIndent(b, depth)
	return append(b, '}'), nil
}

// appendMessageExtras writes the thread, mention, reaction, pin and star members, in
// messageView's order with its omitempty rules.
func appendMessageExtras(b []byte, m *messageView, d int) []byte {
	if m.TMID != "" {
		b = appendMember(b, false, "tmid", d)
		b = appendString(b, m.TMID)
	}
	if m.TCount != 0 {
		b = appendMember(b, false, "tcount", d)
		b = strconv.AppendInt(b, int64(m.TCount), 10)
	}
	if m.TLM != nil {
		b = appendMember(b, false, "tlm", d)
		b = appendJSTime(b, *m.TLM)
	}
	if len(m.Replies) > 0 {
		b = appendMember(b, false, "replies", d)
		b = appendStrings(b, m.Replies, d)
	}
	if len(m.Mentions) > 0 {
		b = appendMember(b, false, "mentions", d)
		b = appendArray(b, len(m.Mentions), d, func(b []byte, i int) []byte {
			return appendRef(b, &m.Mentions[i], d+1)
		})
	}
	if len(m.Reactions) > 0 {
		b = appendMember(b, false, "reactions", d)
		b = append(b, '{')
		for i, emoji := range slices.Sorted(maps.Keys(m.Reactions)) {
			b = appendMember(b, i == 0, emoji, d+1)
			b = append(b, '{')
			b = appendMember(b, true, "usernames", d+2)
			b = appendStrings(b, m.Reactions[emoji].Usernames, d+2)
			b = appendIndent(b, d+1)
			b = append(b, '}')
		}
		b = appendIndent(b, d)
		b = append(b, '}')
	}
	if m.Pinned {
		b = appendMember(b, false, "pinned", d)
		b = append(b, "true"...)
	}
	if m.PinnedAt != nil {
		b = appendMember(b, false, "pinnedAt", d)
		b = appendJSTime(b, *m.PinnedAt)
	}
	if m.PinnedBy != nil {
		b = appendMember(b, false, "pinnedBy", d)
		b = appendRef(b, m.PinnedBy, d)
	}
	if len(m.Starred) > 0 {
		b = appendMember(b, false, "starred", d)
		b = appendArray(b, len(m.Starred), d, func(b []byte, i int) []byte {
			b = append(b, '{')
			b = appendMember(b, true, "_id", d+2)
			b = appendString(b, m.Starred[i].ID)
			b = appendIndent(b, d+1)
			return append(b, '}')
		})
	}
	return b
}

// appendStrings writes a list of strings (a nil or empty one as []).
func appendStrings(b []byte, list []string, d int) []byte {
	return appendArray(b, len(list), d, func(b []byte, i int) []byte {
		return appendString(b, list[i])
	})
}

// appendArray writes an array of n elements at depth d as encoding/json does (an empty one as
// []), each element on its own line at depth d+1, written by elem.
func appendArray(b []byte, n, d int, elem func(b []byte, i int) []byte) []byte {
	if n == 0 {
		return append(b, "[]"...)
	}
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendIndent(b, d+1)
		b = elem(b, i)
	}
	b = appendIndent(b, d)
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s exactly as encoding/json does with HTML escaping off: \" \\ \b \f \n
// \r \t, other control bytes as \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
