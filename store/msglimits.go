package store

import (
	"encoding/json"
	"fmt"
)

// Caps on a stored message. A message is stored once and read by every member on every
// page, so its size multiplies: 50 posts of 1 MB made one default page 360 MB. The cap is on
// the encoded record (text, attachments and every other field together), which is also what
// a page's byte budget counts.
const (
	// DefaultMaxMessageBytes bounds one stored message record.
	DefaultMaxMessageBytes = 64 << 10
	// DefaultMaxMessageDepth bounds the nesting of a message's attachments; the attachments
	// list itself is level 1, so [{"fields":[{"title":…}]}] is 4 levels deep.
	DefaultMaxMessageDepth = 8
)

// jsonDepth returns the deepest nesting of arrays and objects in the JSON text b (0 for a
// scalar). It does not validate b: it runs on what encoding/json already accepted.
func jsonDepth(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// checkMessageCaps refuses m if its attachments nest deeper than the store's cap, or if its
// encoded record would be larger than the store's cap. It returns the encoding, which is what
// putMessage stores when m does not change in between.
func (s *Bolt) checkMessageCaps(m *Message) ([]byte, error) {
	return checkMessageCaps(m, s.maxMsgBytes, s.maxMsgDepth)
}

func checkMessageCaps(m *Message, maxBytes, maxDepth int) ([]byte, error) {
	if d := jsonDepth(m.Attachments); d > maxDepth {
		return nil, Errorf(Invalid, "message-too-deep",
			"The attachments nest %d levels deep; at most %d are allowed", d, maxDepth)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	if len(data) > maxBytes {
		return nil, Errorf(Invalid, "message-too-large",
			"The message is %d bytes when stored (text, attachments and every other field together); at most %d are allowed",
			len(data), maxBytes)
	}
	return data, nil
}

// MessageCaps reports the store's caps on a message: encoded bytes and attachment nesting.
func (s *Bolt) MessageCaps() (maxBytes, maxDepth int) { return s.maxMsgBytes, s.maxMsgDepth }
