package store

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func lastTxID(t *testing.T, st *Bolt) (id int) {
	t.Helper()
	if err := st.DB().View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReopenWritesNothing: opening a complete file commits no transaction (start-up time).
func TestReopenWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := lastTxID(t, st)
	st.Close()
	st, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if after := lastTxID(t, st); after != before {
		t.Fatalf("reopen committed: txid %d → %d", before, after)
	}
}

// TestOpenAddsMissingBucket: a file missing a bucket still gets it at open.
func TestOpenAddsMissingBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bReads) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := mustCounts(t, st)["reads"]; !ok {
		t.Fatal("reads bucket not recreated")
	}
}

func mustCounts(t *testing.T, st *Bolt) map[string]int {
	t.Helper()
	c, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEnsureExistingWritesNothing: seeding an existing role or permission commits nothing,
// and a missing one is still created.
func TestEnsureExistingWritesNothing(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if created, err := st.EnsureRole(&Role{Name: "user"}); err != nil || !created {
		t.Fatal(created, err)
	}
	if created, err := st.EnsurePermission(&Permission{ID: "p", Roles: []string{"user"}}); err != nil || !created {
		t.Fatal(created, err)
	}
	before := lastTxID(t, st)
	if created, err := st.EnsureRole(&Role{Name: "user"}); err != nil || created {
		t.Fatal(created, err)
	}
	if created, err := st.EnsurePermission(&Permission{ID: "p", Roles: []string{"user"}}); err != nil || created {
		t.Fatal(created, err)
	}
	if after := lastTxID(t, st); after != before {
		t.Fatalf("Ensure of existing records committed: txid %d → %d", before, after)
	}
}
