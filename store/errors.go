package store

import (
	"errors"
	"fmt"
)

// Kind says what sort of failure an Error is; the HTTP layer maps it to a status code.
type Kind int

const (
	Invalid      Kind = iota + 1 // the request or its data is wrong (400)
	Unauthorized                 // no valid credentials (401)
	Denied                       // a permission is missing (403, status "error")
	Forbidden                    // the room or record is out of the caller's reach (403, status "fail")
	NotFound                     // the thing named does not exist (404)
	Conflict                     // the change would break an invariant (409)
	TooLarge                     // a size cap was exceeded (413)
	TooMany                      // a rate limit was hit (429)
	Full                         // the database reached its size cap (507)
	Unavailable                  // the database cannot be reached now; try again (503)
)

// Error is the one error type the project reports to clients. Message is safe to show; Code is a
// machine-readable reason such as "invalid-room" (may be empty).
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Message + " [" + e.Code + "]"
	}
	return e.Message
}

// Errorf builds an *Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of err if it is (or wraps) an *Error, else 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Errors shared by several packages.
var (
	ErrRoomNotFound   = &Error{Kind: NotFound, Code: "invalid-room", Message: "Room not found"}
	ErrUserNotFound   = &Error{Kind: NotFound, Code: "invalid-user", Message: "User not found"}
	ErrCannotAccess   = &Error{Kind: Forbidden, Code: "", Message: "Cannot access room."}
	ErrMsgNotFound    = &Error{Kind: NotFound, Code: "invalid-message", Message: "Message not found"}
	ErrRoleNotFound   = &Error{Kind: NotFound, Code: "invalid-role", Message: "Role not found"}
	ErrPermNotFound   = &Error{Kind: NotFound, Code: "invalid-permission", Message: "Permission not found"}
	ErrDatabaseFull   = &Error{Kind: Full, Code: "database-full", Message: "The database has reached its size limit; free space or raise --max-db-size"}
	ErrUnauthorized   = &Error{Kind: Unauthorized, Message: "You must be logged in to do this."}
	ErrLoginRefused   = &Error{Kind: Unauthorized, Message: "Unauthorized"}
	ErrNoPermission   = &Error{Kind: Denied, Message: "You do not have permission to do this"}
	ErrLastAdmin      = &Error{Kind: Conflict, Code: "last-admin", Message: "The last active admin cannot lose the admin role, be deactivated or be deleted"}
	ErrAdminAccess    = &Error{Kind: Conflict, Code: "admin-access", Message: "Cannot revoke access-permissions from the admin role: nobody could manage roles and permissions any more"}
	ErrUsernameTaken  = &Error{Kind: Invalid, Code: "username-taken", Message: "Username is already in use"}
	ErrEmailTaken     = &Error{Kind: Invalid, Code: "email-taken", Message: "E-mail is already in use"}
	ErrRoomNameTaken  = &Error{Kind: Invalid, Code: "duplicate-name", Message: "A room with that name already exists"}
	ErrMessageIDTaken = &Error{Kind: Invalid, Code: "duplicate-id", Message: "A message with that id already exists"}
)
