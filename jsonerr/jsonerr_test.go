package jsonerr

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDescribe(t *testing.T) {
	type user struct {
		Name  string   `json:"username"`
		Roles []string `json:"roles"`
		On    *bool    `json:"active"`
	}
	type file struct {
		Users []user `json:"users"`
	}
	for _, tc := range []struct{ in, want string }{
		{"{\n  \"users\": [\n    {\"username\": 5}\n  ]\n}", `line 3, column 18: "users.username" must be a string, not a number`},
		{"{\"users\": [{\"roles\": \"admin\"}]}", `line 1, column 28: "users.roles" must be a list of strings, not a string`},
		{"{\"users\": [{\"active\": \"yes\"}]}", `line 1, column 27: "users.active" must be true or false, not a string`},
		{"{\"users\": {}}", `line 1, column 11: "users" must be a list of objects, not an object`},
		{"{\n\"users\": [,]}", "line 2, column 11: invalid character ',' looking for beginning of value"},
		{"{\"users\": [", "line 1, column 12: the JSON ends early (a missing } or ] or \")"},
		{"{\"users\": [], \"pasword\": 1}", `line 1, column 15: unknown field "pasword"`},
	} {
		dec := json.NewDecoder(bytes.NewReader([]byte(tc.in)))
		dec.DisallowUnknownFields()
		var f file
		err := dec.Decode(&f)
		if err == nil {
			t.Fatalf("%q decoded", tc.in)
		}
		if got := Describe([]byte(tc.in), err, dec.InputOffset()); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\n")
	for off, want := range map[int64][2]int{0: {1, 1}, 2: {1, 3}, 3: {2, 1}, 4: {2, 2}, 99: {3, 1}} {
		if l, c := Position(data, off); l != want[0] || c != want[1] {
			t.Errorf("offset %d: %d:%d, want %v", off, l, c, want)
		}
	}
}
