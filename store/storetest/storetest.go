// Package storetest is the store contract's test suite: the same tests, run against every
// backend (store_test runs them on bbolt, pgstore's tests on PostgreSQL). A test here uses
// only the contract (store.Store), never a backend's insides, and says what a client of the
// store may rely on.
package storetest

import (
	"testing"
	"time"

	"rocketlite/store"
)

// Opener opens a fresh, empty store for one test with the given options (the clock among
// them), closed when the test ends.
type Opener func(t *testing.T, opts store.Options) store.Store

// Clock is a settable test clock.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// NewClock starts a clock at a fixed, millisecond-truncated time.
func NewClock() *Clock { return &Clock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Run runs every suite test against the backend open opens.
func Run(t *testing.T, open Opener) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

type test struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// tests is filled by each domain's file (users.go, rooms.go, messages.go, rbac.go) in init.
var tests []test

func add(name string, fn func(t *testing.T, open Opener)) { tests = append(tests, test{name, fn}) }

// mustUser creates an active user with the "user" role.
func mustUser(t *testing.T, st store.Store, id, name string) *store.User {
	t.Helper()
	u := &store.User{ID: id, Username: name, Name: name, Email: name + "@example.org", Roles: []string{"user"}, Active: true, Type: "user", Hash: "x"}
	if err := st.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	return u
}

func init() {
	add("MetaRoundTrip", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		if v, err := st.Meta("k"); err != nil || v != "" {
			t.Fatalf("unset meta = %q, %v", v, err)
		}
		if err := st.SetMetaKeys([]string{"a", "b"}, "1"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"a", "b"} {
			if v, err := st.Meta(k); err != nil || v != "1" {
				t.Fatalf("meta %s = %q, %v", k, v, err)
			}
		}
	})
}
