package store

import "time"

// What the PostgreSQL store (pgstore) needs of the rooms code that the bbolt store keeps
// unexported: the same validation and errors, written once.

// ValidRoom checks a room's fields as every room write does (name, topic, … sizes).
func ValidRoom(r *Room) error { return validRoom(r) }

// ValidKeyPart reports whether s may be a record id chosen by a caller (not empty, no NUL).
func ValidKeyPart(s string) bool { return validKeyPart(s) }

// RoomNameKey is the key that room names are unique by: the name, case folded.
func RoomNameKey(name string) string { return string(lower(name)) }

// ErrTooManyRooms refuses a room past the cap of max rooms per creator.
func ErrTooManyRooms(max int) error { return errTooManyRooms(max) }

// ErrDuplicateRoomName is CreateRooms' refusal of a name in use.
func ErrDuplicateRoomName(name string) error {
	return Errorf(Invalid, "duplicate-name", "A room named %q already exists", name)
}

// ErrRoomIDTaken is CreateRooms' refusal of an id that is invalid or in use.
func ErrRoomIDTaken(id string) error {
	return Errorf(Invalid, "invalid-id", "Room id %q is invalid or taken", id)
}

// Latest returns the latest of the times (zero if none is set).
func Latest(ts ...time.Time) time.Time { return latest(ts...) }
