package store

import (
	"regexp"
	"unicode"
	"unicode/utf8"
)

// The store's last line of defence on text: whatever route or command writes a record, its
// names and texts are valid UTF-8, free of control characters and of bounded length. The
// handlers check the same earlier, with friendlier messages; these caps are loose on purpose.
const (
	maxNameBytes = 256   // usernames, e-mails, room names
	maxTextBytes = 4096  // display names, topics, descriptions, aliases
	maxMsgBytes  = 64000 // message text (the API caps it lower, in characters)
)

func checkField(field, s string, maxBytes int, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(Invalid, "invalid-"+field, "%s is not valid UTF-8", field)
	}
	if len(s) > maxBytes {
		return Errorf(Invalid, "invalid-"+field, "%s is longer than %d bytes", field, maxBytes)
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return Errorf(Invalid, "invalid-"+field, "%s contains control characters", field)
		}
	}
	return nil
}

func validUser(u *User) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"username", u.Username, maxNameBytes}, {"email", u.Email, maxNameBytes}, {"name", u.Name, maxTextBytes}} {
		if err := checkField(f.name, f.v, f.max, false); err != nil {
			return err
		}
	}
	if u.Username == "" {
		return Errorf(Invalid, "invalid-username", "username is missing")
	}
	switch u.Status {
	case "", "online", "away", "busy", "offline":
	default:
		return Errorf(Invalid, "invalid-status", "status must be online, away, busy or offline")
	}
	return checkField("statusText", u.StatusText, MaxStatusTextBytes, false)
}

// MaxStatusTextBytes bounds a user's status message.
const MaxStatusTextBytes = 480

func validRoom(r *Room) error {
	if err := checkField("name", r.Name, maxNameBytes, false); err != nil {
		return err
	}
	if r.Name == "" && r.Type != Direct {
		return Errorf(Invalid, "invalid-name", "room name is missing")
	}
	for _, f := range []struct{ name, v string }{{"topic", r.Topic}, {"description", r.Description}, {"purpose", r.Purpose}, {"announcement", r.Announcement}, {"joinCode", r.JoinCode}} {
		if err := checkField(f.name, f.v, maxTextBytes, true); err != nil {
			return err
		}
	}
	return nil
}

func validMessage(m *Message) error {
	if err := checkField("msg", m.Text, maxMsgBytes, true); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"alias", m.Alias}, {"emoji", m.Emoji}, {"avatar", m.Avatar}} {
		if err := checkField(f.name, f.v, maxTextBytes, false); err != nil {
			return err
		}
	}
	return nil
}

// NameRE is what usernames, room names, role and permission ids may look like (API.md §2).
// One rule for every route, command and seed file.
var NameRE = regexp.MustCompile(`^[0-9a-zA-Z-_.]+$`)

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// MaxNameLen bounds user, room and role names.
const MaxNameLen = 100

// ValidName reports whether s is a valid user, room or role name: 1 to MaxNameLen characters
// of NameRE.
func ValidName(s string) bool { return len(s) <= MaxNameLen && NameRE.MatchString(s) }

// MaxEmailLen bounds an e-mail address (RFC 5321's limit on a path).
const MaxEmailLen = 254

// ValidEmail reports whether s looks like an e-mail address of at most MaxEmailLen bytes.
func ValidEmail(s string) bool { return len(s) <= MaxEmailLen && emailRE.MatchString(s) }
