package store

// Exported wrappers of the user helpers that another backend (pgstore) needs to behave as
// this one does.

// ValidUser is the store's last check of a user record before it is written.
func ValidUser(u *User) error { return validUser(u) }

// DecodeUser decodes a user record as json.Unmarshal would, faster (every authenticated
// request reads one).
func DecodeUser(data []byte, u *User) error { return decodeUser(data, u) }

// LowerKey is the key under which user names and e-mails are unique: strings.ToLower.
func LowerKey(s string) string { return string(lower(s)) }
