package store

import "encoding/json"

// decodeUser and decodeRoom decode the user and room records that every authenticated
// request reads (the token's owner, the room whose access is checked). encoding/json's
// reflective decoder of those two records was 37% of the CPU of a history read served from
// the page cache, and 14 + 10 of its 62 allocations (pprof of BenchmarkReadAllocs). As
// decodeMessage, the fast path reads what putJSON wrote (known members, plain strings,
// booleans, integers, lists of strings, times) and anything else falls back to json.Unmarshal,
// so the result is always json.Unmarshal's (TestDecodeRecordsMatchJSON).

func decodeUser(data []byte, u *User) error {
	*u = User{}
	if (&msgDecoder{data: data}).user(u) {
		return nil
	}
	*u = User{}
	return json.Unmarshal(data, u)
}

func decodeRoom(data []byte, r *Room) error {
	*r = Room{}
	if (&msgDecoder{data: data}).room(r) {
		return nil
	}
	*r = Room{}
	return json.Unmarshal(data, r)
}

// literal consumes the exact bytes of word (true, false).
func (d *msgDecoder) literal(word string) bool {
	d.ws()
	if len(d.data)-d.i >= len(word) && string(d.data[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

func (d *msgDecoder) boolean(dst *bool) bool {
	switch {
	case d.literal("true"):
		*dst = true
	case d.literal("false"):
		*dst = false
	default:
		return false
	}
	return true
}

// digits reads a run of decimal digits (no sign, no fraction, no exponent: anything else is
// left for json.Unmarshal) as a uint64, refusing overflow.
func (d *msgDecoder) digits() (uint64, bool) {
	d.ws()
	var n uint64
	start := d.i
	for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
		c := uint64(d.data[d.i] - '0')
		if n > (1<<64-1-c)/10 {
			return 0, false
		}
		n = n*10 + c
		d.i++
	}
	if d.i == start || d.i-start > 1 && d.data[start] == '0' {
		return 0, false
	}
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

func (d *msgDecoder) uint(dst *uint64) bool {
	n, ok := d.digits()
	*dst = n
	return ok
}

func (d *msgDecoder) int(dst *int64) bool {
	n, ok := d.digits() // a negative count is json.Unmarshal's to read
	if !ok || n > 1<<63-1 {
		return false
	}
	*dst = int64(n)
	return true
}

// strs reads a list of strings (never null: that is json.Unmarshal's).
func (d *msgDecoder) strs(dst *[]string) bool {
	if !d.consume('[') {
		return false
	}
	list := []string{}
	if !d.consume(']') {
		for {
			var s string
			if !d.str(&s) {
				return false
			}
			list = append(list, s)
			if d.consume(']') {
				break
			}
			if !d.consume(',') {
				return false
			}
		}
	}
	*dst = list
	return true
}

func (d *msgDecoder) time(dst interface{ UnmarshalJSON([]byte) error }) bool {
	start, end, _, ok := d.quoted()
	return ok && dst.UnmarshalJSON(d.data[start:end]) == nil
}

func (d *msgDecoder) end() bool {
	d.ws()
	return d.i == len(d.data)
}

func (d *msgDecoder) user(u *User) bool {
	return d.members(func(k []byte) bool {
		switch string(k) {
		case "id":
			return d.str(&u.ID)
		case "username":
			return d.str(&u.Username)
		case "name":
			return d.str(&u.Name)
		case "email":
			return d.str(&u.Email)
		case "verified":
			return d.boolean(&u.Verified)
		case "hash":
			return d.str(&u.Hash)
		case "roles":
			return d.strs(&u.Roles)
		case "active":
			return d.boolean(&u.Active)
		case "type":
			return d.str(&u.Type)
		case "createdAt":
			return d.time(&u.CreatedAt)
		case "updatedAt":
			return d.time(&u.UpdatedAt)
		case "status":
			return d.str(&u.Status)
		case "statusText":
			return d.str(&u.StatusText)
		}
		return false
	}) && d.end()
}

func (d *msgDecoder) room(r *Room) bool {
	return d.members(func(k []byte) bool {
		switch string(k) {
		case "id":
			return d.str(&r.ID)
		case "name":
			return d.str(&r.Name)
		case "t":
			return d.str(&r.Type)
		case "u":
			r.Creator = &UserRef{}
			return d.ref(r.Creator)
		case "msgs":
			return d.int(&r.Msgs)
		case "seq":
			return d.uint(&r.Seq)
		case "ts":
			return d.time(&r.CreatedAt)
		case "updatedAt":
			return d.time(&r.UpdatedAt)
		case "lm":
			return d.time(&r.LastMessage)
		case "default":
			return d.boolean(&r.Default)
		case "ro":
			return d.boolean(&r.ReadOnly)
		case "topic":
			return d.str(&r.Topic)
		case "description":
			return d.str(&r.Description)
		case "purpose":
			return d.str(&r.Purpose)
		case "announcement":
			return d.str(&r.Announcement)
		case "archived":
			return d.boolean(&r.Archived)
		case "joinCode":
			return d.str(&r.JoinCode)
		case "uc":
			return d.uint(&r.Counted)
		}
		return false
	}) && d.end()
}
