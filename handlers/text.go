package handlers

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"rocketlite/store"
)

// MaxMessageChars is the longest message text accepted, in characters.
const MaxMessageChars = 5000

// checkMessageText validates a message's text; field names the parameter in the error.
func checkMessageText(field, text string, present bool) error {
	switch {
	case !present:
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) is missing", field)
	case text == "":
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) is empty", field)
	case strings.TrimSpace(text) == "":
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) is only white space", field)
	case !utf8.ValidString(text):
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) is not valid UTF-8", field)
	case utf8.RuneCountInString(text) > MaxMessageChars:
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) is longer than %d characters", field, MaxMessageChars)
	case hasControl(text, true):
		return store.Errorf(store.Invalid, "invalid-msg", "The message text (%s) contains control characters", field)
	}
	return nil
}

// hasControl reports control characters; inText allows tab and line breaks.
func hasControl(s string, inText bool) bool {
	for _, r := range s {
		if inText && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
