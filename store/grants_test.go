package store

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// grants must answer as a full json.Unmarshal of the record would, on records as putJSON
// writes them and on records in any other layout.
func TestGrantsMatchesJSON(t *testing.T) {
	stored := func(p Permission) []byte { b, _ := json.Marshal(p); return b }
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	records := [][]byte{
		stored(Permission{ID: "view-c-room", Roles: []string{"admin", "user", "bot", "guest"}, UpdatedAt: now}),
		stored(Permission{ID: "x", Roles: []string{}, UpdatedAt: now}),
		stored(Permission{ID: "x", Roles: nil, UpdatedAt: now}),
		stored(Permission{ID: "roles", Roles: []string{"a.b-c_d"}, UpdatedAt: now}),
		[]byte(`{"roles":["user"],"_id":"reordered"}`),
		[]byte(`{"_id":"x", "roles": ["user"]}`),
		[]byte(`{"_id":"x","roles":["us\u0065r"]}`),
		[]byte(`{"_id":"x","roles":["admin" ,"user"]}`),
	}
	for _, rec := range records {
		var p rolesOnly
		if err := json.Unmarshal(rec, &p); err != nil {
			t.Fatal(err)
		}
		for _, roles := range [][]string{nil, {"user"}, {"guest", "zzz"}, {"admin"}, {"a.b-c_d"}, {"nobody"}} {
			want := false
			for _, r := range p.Roles {
				want = want || slices.Contains(roles, r)
			}
			got, err := grants(rec, roles)
			if err != nil || got != want {
				t.Errorf("grants(%s, %v) = %v, %v; want %v", rec, roles, got, err, want)
			}
		}
	}
	if _, handled := grantsFast(records[0], []string{"user"}); !handled {
		t.Fatal("the fast path does not read what putJSON writes")
	}
	if _, err := grants([]byte(`{"_id":"x","roles":[1]}`), nil); err == nil {
		t.Fatal("a garbled record was not an error")
	}
}
