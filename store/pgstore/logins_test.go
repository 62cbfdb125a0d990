package pgstore

import (
	"testing"
	"time"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// TestLoginFailuresShared: failures recorded through one node are counted by another, the
// newest max oldest first; expired ones are forgotten; a reset forgets the key.
func TestLoginFailuresShared(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := []byte("name:\x00\xff binary")
	for i := 0; i < 5; i++ {
		st := []*Store{a, b}[i%2]
		if err := st.AddLoginFailure(key, t0.Add(time.Duration(i)*time.Minute), t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := b.LoginFailures(key, t0.Add(-time.Second), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || !ts[0].Equal(t0.Add(2*time.Minute)) || !ts[2].Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("newest 3 failures = %v", ts)
	}
	// A failure at t0+20m, with those up to t0+3m expired, leaves 4m and 20m.
	if err := a.AddLoginFailure(key, t0.Add(20*time.Minute), t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ts, err = a.LoginFailures(key, t0.Add(-time.Hour), 10); err != nil || len(ts) != 2 {
		t.Fatalf("after expiry: %v %v, want 4m and 20m", ts, err)
	}
	if err := b.ResetLoginFailures(key); err != nil {
		t.Fatal(err)
	}
	if ts, err = a.LoginFailures(key, t0.Add(-time.Hour), 10); err != nil || len(ts) != 0 {
		t.Fatalf("after reset: %v %v", ts, err)
	}
}
