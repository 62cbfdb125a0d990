package pgstore

import (
	"testing"

	"rocketlite/store"
	"rocketlite/store/storetest"
)

// TestSuite runs the store contract's suite on PostgreSQL, each test on a fresh schema.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { return openTest(t, "", opts) })
}
