package store

// Exported forms of the message helpers that a backend outside this package (pgstore) needs,
// so that both backends validate, cap, decode and show messages by the same code.

// PostReadOnly is the permission to post (edit, delete, react) in a read-only room.
const PostReadOnly = postReadOnly

// ValidMessage is the store's check of a message's text fields.
func ValidMessage(m *Message) error { return validMessage(m) }

// CheckMessageCaps refuses m if its attachments nest deeper than maxDepth or its encoded
// record is larger than maxBytes; it returns the encoding, which is what is stored.
func CheckMessageCaps(m *Message, maxBytes, maxDepth int) ([]byte, error) {
	return checkMessageCaps(m, maxBytes, maxDepth)
}

// DecodeMessage decodes a stored message record (what json.Marshal wrote) into m.
func DecodeMessage(data []byte, m *Message) error { return decodeMessage(data, m) }

// MentionNames returns the distinct names written as @name in text, lower-cased, at most
// MaxMentions: the candidates a backend resolves to users for Message.Mentions.
func MentionNames(text string) []string { return mentionNames(text) }

// AuthorName is a user's current names as a message shows them; Gone means the user no
// longer exists (the message keeps the names it was written with).
type AuthorName struct {
	Username, Name string
	Gone           bool
}

// ShowAuthor sets m's author and editor to their current names; name gives them by id. A
// join or leave message names its author in its text, which changes with them.
func ShowAuthor(m *Message, name func(id string) AuthorName) {
	showAuthor(m, func(id string) authorName {
		a := name(id)
		return authorName{username: a.Username, name: a.Name, gone: a.Gone}
	})
}
