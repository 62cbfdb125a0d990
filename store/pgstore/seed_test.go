package pgstore

import (
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// TestSeedNodesStartingTogether: nodes starting together on an empty database each apply the
// default seed and ensure an admin in one transaction, as serve does. Each comes up; the
// database gets one set of defaults and one admin.
func TestSeedNodesStartingTogether(t *testing.T) {
	dsn := pgtest.DSN(t)
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const nodes = 3
	stores := make([]*Store, nodes)
	for i := range stores {
		stores[i] = openTest(t, dsn, store.Options{})
	}
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	made := make([]bool, nodes)
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Atomic(func(tx store.Store) error {
				if _, err := seed.ApplyDefault(tx, h); err != nil {
					return err
				}
				_, madeOne, err := seed.EnsureAdmin(tx, h, "admin", "change-me")
				made[i] = madeOne
				return err
			})
		}()
	}
	wg.Wait()
	admins := 0
	for i := range stores {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if made[i] {
			admins++
		}
	}
	if admins != 1 {
		t.Fatalf("%d nodes created an admin, want 1", admins)
	}
	st := stores[0]
	if _, total, err := st.Users(0, 10); err != nil || total != 1 {
		t.Fatalf("%d users, %v", total, err)
	}
	roles, err := st.Roles()
	if err != nil || len(roles) != len(seed.Default().Roles) {
		t.Fatalf("%d roles, %v", len(roles), err)
	}
	perms, err := st.Permissions()
	if err != nil || len(perms) != len(seed.Default().Permissions) {
		t.Fatalf("%d permissions, %v", len(perms), err)
	}
	if errs := st.Check(); errs != nil {
		t.Fatal(errs)
	}
}
