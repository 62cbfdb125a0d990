package handlers

// The conventions every API v1 list route shares (README "List conventions"): count, offset,
// sort and fields; Rocket.Chat's Mongo-style query parameter is refused.
//
// How a list handler uses them:
//
//	var roomSort = sorter[*store.Room]{"name": func(a, b *store.Room) int { … }, …}
//
//	func (a *API) thingsList1(c *call) (any, error) {
//		q, err := readList(c.in, defaultPage1, roomSort) // 400 on query, bad sort or fields
//		…
//		rooms, total, err := a.st.RoomsBy(keep, q.cmp, q.Offset, q.Count) // sort before paging
//		…
//		return listOf(q, "things", roomsOf(rooms), total) // applies fields to each item
//	}
//
// sorter lists the documented sort fields of one list; a sort over any other field is a 400
// naming it, and a list that cannot sort passes a nil sorter (any sort is then refused). A
// field mapped to nil is the list's fixed order (history: {"ts": -1}): that sort alone is
// accepted, and changes nothing.
// q.cmp is nil when the caller gave no sort: the store keeps its own order. fields is applied
// to the rendered items only, so it can hide members of the documents the route already
// serves but never reveal anything else.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// maxSortKeys and maxProjected bound the work a sort or projection may ask for.
const (
	maxSortKeys  = 4
	maxProjected = 64
)

// sorter maps the documented sort fields of a list to comparisons in ascending order.
type sorter[T any] map[string]func(a, b T) int

func (s sorter[T]) names() string {
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type sortKey struct {
	field string
	desc  bool
}

// listQuery is a list request's count, offset, sort and fields, checked.
type listQuery[T any] struct {
	Count, Offset int
	Sort          []sortKey
	// cmp orders items by Sort (nil: no sort asked for); it breaks no ties, so the store's
	// stable sort keeps its own order among equals.
	cmp    func(a, b T) int
	fields projection
}

// readList reads count (0 or absent: def), offset, sort and fields, and refuses query.
func readList[T any](in body, def int, by sorter[T]) (listQuery[T], error) {
	var q listQuery[T]
	if in.has("query") {
		return q, badRequest("error-invalid-params",
			`The parameter "query" is not supported: filter with the route's own parameters, sort with "sort" and pick fields with "fields"`)
	}
	var err error
	if q.Count, q.Offset, err = pageParams1(in, def); err != nil {
		return q, err
	}
	if q.Sort, err = readSort(in); err != nil {
		return q, err
	}
	if len(q.Sort) > 0 {
		if by == nil {
			return q, badRequest("error-invalid-params", `This list cannot be sorted: leave out "sort"`)
		}
		cmps := make([]func(a, b T) int, len(q.Sort))
		for i, k := range q.Sort {
			f, ok := by[k.field]
			if !ok {
				return q, badRequest("error-invalid-params", "sort: %q is not a sortable field here (sortable: %s)", k.field, by.names())
			}
			if f == nil { // the list's own fixed order, newest first
				if !k.desc || len(q.Sort) > 1 {
					return q, badRequest("error-invalid-params", `sort: this list comes only in the order {%q: -1}`, k.field)
				}
				return q, q.readFields(in)
			}
			if k.desc {
				cmps[i] = func(a, b T) int { return f(b, a) }
			} else {
				cmps[i] = f
			}
		}
		q.cmp = func(a, b T) int {
			for _, c := range cmps {
				if r := c(a, b); r != 0 {
					return r
				}
			}
			return 0
		}
	}
	return q, q.readFields(in)
}

func (q *listQuery[T]) readFields(in body) (err error) {
	q.fields, err = readFields(in)
	return err
}

// jsonParam returns a parameter that holds a JSON object: a JSON object in a JSON body, or
// its text in a string (the query string of a GET, as Rocket.Chat's clients send it).
func jsonParam(in body, name string) ([]byte, error) {
	if in.obj != nil {
		if raw, ok := in.obj[name]; ok && !isNull(raw) && raw[0] == '{' {
			return raw, nil
		}
	}
	s, err := in.str(name)
	if err != nil {
		return nil, badRequest("error-invalid-params", "%s must be a JSON object", name)
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// objectMembers decodes a flat JSON object, keeping its members in order (a sort's order
// matters). Every value must be a number or a boolean.
func objectMembers(raw []byte, name string) (keys []string, vals []json.Number, err error) {
	bad := badRequest("error-invalid-params", `%s must be a JSON object of field names and numbers, such as {"name": 1}`, name)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, bad
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, bad
		}
		k, _ := t.(string)
		v, err := dec.Token()
		if err != nil {
			return nil, nil, bad
		}
		var n json.Number
		switch v := v.(type) {
		case json.Number:
			n = v
		case bool:
			n = "0"
			if v {
				n = "1"
			}
		default:
			return nil, nil, bad
		}
		if k == "" || strings.ContainsAny(k, ".$") {
			return nil, nil, badRequest("error-invalid-params", "%s: %q is not a top-level field name", name, k)
		}
		if slices.Contains(keys, k) {
			return nil, nil, badRequest("error-invalid-params", "%s names %q twice", name, k)
		}
		keys, vals = append(keys, k), append(vals, n)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, bad
	}
	return keys, vals, nil
}

func readSort(in body) ([]sortKey, error) {
	raw, err := jsonParam(in, "sort")
	if err != nil || raw == nil {
		return nil, err
	}
	keys, vals, err := objectMembers(raw, "sort")
	if err != nil {
		return nil, err
	}
	if len(keys) > maxSortKeys {
		return nil, badRequest("error-invalid-params", "sort takes at most %d fields", maxSortKeys)
	}
	out := make([]sortKey, len(keys))
	for i, k := range keys {
		switch vals[i] {
		case "1":
			out[i] = sortKey{field: k}
		case "-1":
			out[i] = sortKey{field: k, desc: true}
		default:
			return nil, badRequest("error-invalid-params", "sort: %q must be 1 (ascending) or -1 (descending)", k)
		}
	}
	return out, nil
}

// projection keeps (include) or drops (!include) the named top-level members of each item;
// _id stays unless it is dropped by name, as in Mongo.
type projection struct {
	names   []string
	include bool
	dropID  bool
}

func (p projection) empty() bool { return len(p.names) == 0 && !p.dropID }

func readFields(in body) (projection, error) {
	var p projection
	raw, err := jsonParam(in, "fields")
	if err != nil || raw == nil {
		return p, err
	}
	keys, vals, err := objectMembers(raw, "fields")
	if err != nil {
		return p, err
	}
	if len(keys) > maxProjected {
		return p, badRequest("error-invalid-params", "fields names at most %d fields", maxProjected)
	}
	mode := 0 // 1 include, -1 exclude
	for i, k := range keys {
		on := vals[i] != "0"
		if n, err := vals[i].Float64(); err != nil || (n != 0 && n != 1) {
			return p, badRequest("error-invalid-params", "fields: %q must be 1 (include) or 0 (exclude)", k)
		}
		if k == "_id" {
			p.dropID = !on
			continue
		}
		m := -1
		if on {
			m = 1
		}
		if mode != 0 && m != mode {
			return p, badRequest("error-invalid-params", "fields cannot mix included and excluded fields (except _id)")
		}
		mode = m
		p.names = append(p.names, k)
	}
	p.include = mode == 1
	return p, nil
}

// apply renders item and keeps the members the projection selects, in the item's order.
func (p projection) apply(item any) (Obj, error) {
	raw, err := marshalNoEscape(item)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("projection of a %T: not a JSON object", item)
	}
	out := Obj{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		keep := !p.include // exclusion keeps what it does not name
		if slices.Contains(p.names, k) {
			keep = p.include
		}
		if k == "_id" {
			keep = !p.dropID
		}
		if keep {
			out = append(out, KV{k, v})
		}
	}
	return out, nil
}

// project applies the fields of a list request to each of items (a slice of views).
func project[E any](p projection, items []E) (any, error) {
	if p.empty() {
		return items, nil
	}
	out := make([]Obj, len(items))
	for i := range items {
		o, err := p.apply(items[i])
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

// listOf is list1 with the request's fields applied to each item.
func listOf[T, E any](q listQuery[T], name string, items []E, total int) (any, error) {
	things, err := project(q.fields, items)
	if err != nil {
		return nil, err
	}
	return list1(name, things, len(items), q.Offset, total), nil
}

// cmpString and friends are the building blocks of sorters.
func cmpString(a, b string) int { return strings.Compare(a, b) }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
