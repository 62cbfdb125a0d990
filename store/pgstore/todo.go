package pgstore

// The operations not written yet for PostgreSQL: each answers errNotYet. Whoever writes one
// moves it out of this file into its domain's file (users.go, rooms.go, messages.go, rbac.go).

import (
	"rocketlite/store"
)

var errNotYet = &store.Error{Kind: store.Invalid, Code: "not-implemented", Message: "Not available on PostgreSQL yet"}
