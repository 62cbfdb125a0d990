package store

// Exported for the PostgreSQL backend (store/pgstore), which keeps bbolt's rules.

// KeepsAdminAccess refuses a role list for permission id that takes access-permissions from
// the admin role (ErrAdminAccess).
func KeepsAdminAccess(id string, roles []string) error { return keepsAdminAccess(id, roles) }
