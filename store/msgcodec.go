package store

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeMessage decodes a stored message. Reading a page of 50 is the hottest read of the
// server, and encoding/json's reflective decoder was 60% of a history request's CPU (pprof of
// BenchmarkHTTPHistory). The fast path reads the object putJSON wrote: known members, plain
// strings (escaped ones are unquoted by encoding/json), times through time.Time's own
// UnmarshalJSON, one string allocation shared by every field. Anything else (a member it does
// not know, attachments, null, odd layout) falls back to json.Unmarshal, so the result is
// always what json.Unmarshal gives. TestDecodeMessageMatchesJSON compares the two.
func decodeMessage(data []byte, m *Message) error {
	*m = Message{}
	if (&msgDecoder{data: data}).message(m) {
		return nil
	}
	*m = Message{}
	return json.Unmarshal(data, m)
}

type msgDecoder struct {
	data []byte
	i    int
	all  string // data as one string; unescaped fields are substrings of it
}

func (d *msgDecoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *msgDecoder) consume(c byte) bool {
	d.ws()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// quoted returns the extent [start, end) of the string value at d.i, quotes included, and
// whether it holds an escape or a non-ASCII byte (which then need encoding/json's unquoting).
func (d *msgDecoder) quoted() (start, end int, plain, ok bool) {
	d.ws()
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return 0, 0, false, false
	}
	start, plain = d.i, true
	for j := d.i + 1; j < len(d.data); j++ {
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			return start, d.i, plain, true
		case c == '\\':
			plain = false
			j++ // skip the escaped byte (an escaped quote must not end the string)
		case c < 0x20:
			return 0, 0, false, false // not valid JSON: let json.Unmarshal say so
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return 0, 0, false, false
}

func (d *msgDecoder) str(dst *string) bool {
	start, end, plain, ok := d.quoted()
	if !ok {
		return false
	}
	if plain {
		if d.all == "" {
			d.all = string(d.data)
		}
		*dst = d.all[start+1 : end-1]
		return true
	}
	if utf8.Valid(d.data[start:end]) && !hasBackslash(d.data[start:end]) {
		if d.all == "" {
			d.all = string(d.data)
		}
		*dst = d.all[start+1 : end-1]
		return true
	}
	return json.Unmarshal(d.data[start:end], dst) == nil
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// key reads a member name that needs no unescaping, and the colon after it.
func (d *msgDecoder) key() ([]byte, bool) {
	start, end, plain, ok := d.quoted()
	if !ok || !plain || !d.consume(':') {
		return nil, false
	}
	return d.data[start+1 : end-1], true
}

// members calls member for each member of the object at d.i.
func (d *msgDecoder) members(member func(k []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		k, ok := d.key()
		if !ok || !member(k) {
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

func (d *msgDecoder) ref(r *UserRef) bool {
	return d.members(func(k []byte) bool {
		switch string(k) {
		case "_id":
			return d.str(&r.ID)
		case "username":
			return d.str(&r.Username)
		case "name":
			return d.str(&r.Name)
		}
		return false
	})
}

func (d *msgDecoder) message(m *Message) bool {
	ok := d.members(func(k []byte) bool {
		switch k := string(k); k {
		case "_id":
			return d.str(&m.ID)
		case "rid":
			return d.str(&m.RoomID)
		case "msg":
			return d.str(&m.Text)
		case "t":
			return d.str(&m.Type)
		case "alias":
			return d.str(&m.Alias)
		case "emoji":
			return d.str(&m.Emoji)
		case "avatar":
			return d.str(&m.Avatar)
		case "ts", "_updatedAt", "editedAt", "tlm", "pinnedAt":
			start, end, _, ok := d.quoted()
			if !ok {
				return false
			}
			t := &m.TS
			switch k {
			case "_updatedAt":
				t = &m.UpdatedAt
			case "editedAt":
				t = &m.EditedAt
			case "tlm":
				t = &m.TLM
			case "pinnedAt":
				t = &m.PinnedAt
			}
			return t.UnmarshalJSON(d.data[start:end]) == nil
		case "tmid":
			return d.str(&m.TMID)
		case "tcount":
			var n int64
			if !d.int(&n) || n > int64(^uint(0)>>1) { // past int on 32-bit: json.Unmarshal's
				return false
			}
			m.TCount = int(n)
			return true
		case "pinned":
			return d.boolean(&m.Pinned)
		case "pinnedBy":
			m.PinnedBy = &UserRef{}
			return d.ref(m.PinnedBy)
		case "replies":
			return d.strs(&m.Replies)
		case "starred":
			return d.strs(&m.Starred)
		case "mentions":
			m.Mentions = []UserRef{}
			return d.elems(func() bool {
				m.Mentions = append(m.Mentions, UserRef{})
				return d.ref(&m.Mentions[len(m.Mentions)-1])
			})
		case "u":
			return d.ref(&m.User)
		case "editedBy":
			m.EditedBy = &UserRef{}
			return d.ref(m.EditedBy)
		}
		return false
	})
	if !ok {
		return false
	}
	d.ws()
	return d.i == len(d.data)
}

// elems calls elem for each element of the array at d.i (null is left to json.Unmarshal).
func (d *msgDecoder) elems(elem func() bool) bool {
	if !d.consume('[') {
		return false
	}
	if d.consume(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.consume(']') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}
