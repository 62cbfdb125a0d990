package store_test

import (
	"path/filepath"
	"testing"

	"rocketlite/store"
	"rocketlite/store/storetest"
)

// TestSuite runs the store contract's suite on bbolt (pgstore runs it on PostgreSQL).
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		st, err := store.Open(filepath.Join(t.TempDir(), "suite.db"), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
