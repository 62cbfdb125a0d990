package store

// Chat beyond posting: mentions, threads, reactions, pins, stars and sync. Each write is one
// transaction that re-reads the message, checks the room access rule for the caller, and
// replaces the message's marks (marks.go) with its new ones.

import (
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The pseudo-users of @all and @here mentions, as Rocket.Chat records them.
const (
	MentionAll  = "all"
	MentionHere = "here"
)

// Bounds on what one message may collect.
const (
	MaxMentions      = 50 // distinct @names resolved per message; more are left as text
	MaxReactionKinds = 50 // distinct emoji on one message
	MaxEmojiLen      = 64 // bytes of one ":emoji:" name
	MaxSync          = 1000
)

var (
	ErrInvalidThread = &Error{Kind: Invalid, Code: "invalid-thread", Message: "tmid is not a message of this room"}
	ErrInvalidEmoji  = &Error{Kind: Invalid, Code: "invalid-emoji",
		Message: `emoji must be a name such as "smile" or ":smile:" (letters, digits, _ + -)`}
	ErrTooManyReactions = &Error{Kind: Invalid, Code: "too-many-reactions", Message: "This message has too many different reactions"}
	ErrSystemMessage    = &Error{Kind: Invalid, Code: "action-not-allowed", Message: "System messages cannot be pinned"}
	ErrMessageFull      = &Error{Kind: Invalid, Code: "message-too-large",
		Message: "This message is at the size cap: it takes no more reactions or stars"}
)

// mentionNames returns the distinct names written as @name in text (at the start or after a
// space or an opening bracket), at most MaxMentions, lower-cased.
func mentionNames(text string) []string {
	var out []string
	for i := 0; i < len(text) && len(out) < MaxMentions; i++ {
		if text[i] != '@' {
			continue
		}
		if i > 0 {
			switch text[i-1] {
			case ' ', '\n', '\t', '(', '[', '>', '*', '_', '~', ',', ';':
			default:
				continue
			}
		}
		j := i + 1
		for j < len(text) && isNameByte(text[j]) {
			j++
		}
		if j == i+1 {
			continue
		}
		name := strings.ToLower(text[i+1 : j])
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
		i = j - 1
	}
	return out
}

// resolveMentions sets m.Mentions from its text: existing users, @all and @here. A name that
// ends a sentence ("@bob.") is tried without its trailing dots.
func resolveMentions(tx *bolt.Tx, m *Message) {
	m.Mentions = nil
	if m.Type != "" || !strings.Contains(m.Text, "@") {
		return
	}
	byName := tx.Bucket(bUsersByName)
	for _, name := range mentionNames(m.Text) {
		if name == MentionAll || name == MentionHere {
			m.Mentions = append(m.Mentions, UserRef{ID: name, Username: name})
			continue
		}
		id := byName.Get([]byte(name))
		if id == nil {
			if t := strings.TrimRight(name, "."); t != name && t != "" {
				id = byName.Get([]byte(t))
			}
		}
		if id == nil {
			continue
		}
		u, err := getUser(tx, string(id))
		if err != nil || slices.ContainsFunc(m.Mentions, func(r UserRef) bool { return r.ID == u.ID }) {
			continue
		}
		m.Mentions = append(m.Mentions, UserRef{ID: u.ID, Username: u.Username})
	}
}

// joinThread checks m's tmid and counts m as a reply of its thread's first message: a reply
// to a reply joins the first message's thread, as in Rocket.Chat.
func (s *Bolt) joinThread(tx *bolt.Tx, r *Room, m *Message) error {
	pk, parent, err := messageByID(tx, m.TMID)
	if err != nil || parent.RoomID != r.ID {
		return ErrInvalidThread
	}
	if parent.TMID != "" {
		if pk, parent, err = messageByID(tx, parent.TMID); err != nil || parent.RoomID != r.ID {
			return ErrInvalidThread
		}
	}
	m.TMID = parent.ID
	old := *parent
	parent.TCount++
	parent.TLM = m.TS
	parent.UpdatedAt = m.TS
	if !slices.Contains(parent.Replies, m.User.ID) {
		parent.Replies = append(slices.Clone(parent.Replies), m.User.ID)
		// The repliers count against the first message's size cap; a message at the cap
		// keeps counting replies but names no more repliers, rather than refuse the reply.
		if _, err := s.checkMessageCaps(parent); err != nil {
			parent.Replies = old.Replies
		}
	}
	if err := putMarks(tx, &old, parent); err != nil {
		return err
	}
	pageChanged(tx, r.ID)
	if err := putJSON(tx.Bucket(bMessages), pk, parent); err != nil {
		return err
	}
	ev := *parent
	showAuthorsTx(tx, &ev)
	emit(tx, Event{Kind: MessageEdited, Room: r, Message: &ev})
	return nil
}

// leaveThread uncounts a deleted reply m from its thread's first message, if that is still there.
func leaveThread(tx *bolt.Tx, m *Message, now time.Time) error {
	pk, parent, err := messageByID(tx, m.TMID)
	if err != nil || parent.TCount == 0 {
		return nil
	}
	old := *parent
	parent.TCount--
	parent.UpdatedAt = now
	if err := putMarks(tx, &old, parent); err != nil {
		return err
	}
	pageChanged(tx, parent.RoomID)
	ev := *parent
	showAuthorsTx(tx, &ev)
	emit(tx, Event{Kind: MessageEdited, Message: &ev})
	return putJSON(tx.Bucket(bMessages), pk, parent)
}

// changeMessage applies change to message id, read by reader (who needs read access to its
// room), stamps _updatedAt and keeps its marks.
func (s *Bolt) changeMessage(id string, reader *User, change func(tx *bolt.Tx, r *Room, m *Message) error) (changed *Message, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		k, m, r, err := visibleMessage(tx, id, reader)
		if err != nil {
			return err
		}
		old := *m
		if err := change(tx, r, m); err != nil {
			return err
		}
		if err := validMessage(m); err != nil {
			return err
		}
		m.UpdatedAt = now
		// Reactions and stars count against the record's size cap like every other field.
		data, err := s.checkMessageCaps(m)
		if err != nil {
			if KindOf(err) == Invalid {
				return ErrMessageFull
			}
			return err
		}
		if err := putMarks(tx, &old, m); err != nil {
			return err
		}
		showAuthorsTx(tx, m) // for the answer and the event; the record keeps what it has
		changed = m
		pageChanged(tx, r.ID)
		emit(tx, Event{Kind: MessageEdited, Room: r, Message: m})
		return tx.Bucket(bMessages).Put(k, data)
	})
	return changed, err
}

// NormalizeEmoji returns emoji as ":name:", or "" if it is not a valid emoji name.
func NormalizeEmoji(emoji string) string {
	name := strings.Trim(emoji, ":")
	if name == "" || len(name)+2 > MaxEmojiLen {
		return ""
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '+' || c == '-') {
			return ""
		}
	}
	return ":" + name + ":"
}

// React adds (on) or removes (!on) reactor's emoji on message id; toggle picks whichever is
// not the case now. In a read-only room reacting needs post-readonly, as posting does.
func (s *Bolt) React(id string, reactor *User, emoji string, on *bool) (*Message, error) {
	emoji = NormalizeEmoji(emoji)
	if emoji == "" {
		return nil, ErrInvalidEmoji
	}
	return s.changeMessage(id, reactor, func(tx *bolt.Tx, r *Room, m *Message) error {
		if err := MayReactIn(boltFacts{tx}, r, reactor); err != nil {
			return err
		}
		return m.ApplyReaction(reactor.Username, emoji, on)
	})
}

// Star adds (on) or removes the message to or from starrer's starred messages.
func (s *Bolt) Star(id string, starrer *User, on bool) (*Message, error) {
	return s.changeMessage(id, starrer, func(tx *bolt.Tx, r *Room, m *Message) error {
		m.ApplyStar(starrer.ID, on)
		return nil
	})
}

// Pin pins (on) or unpins message id. may checks the pinner's permission in the message's
// room. Pinning writes a message_pinned system message quoting the message, as Rocket.Chat
// does, and returns it; pinning a pinned message or unpinning an unpinned one changes
// nothing and returns the message itself.
func (s *Bolt) Pin(id string, pinner *User, on bool, may func(rid string) error) (*Message, error) {
	now := ms(s.now())
	var out *Message
	_, err := s.changeMessage(id, pinner, func(tx *bolt.Tx, r *Room, m *Message) error {
		if err := may(r.ID); err != nil {
			return err
		}
		out = m
		sys, err := m.ApplyPin(pinner, on, now)
		if err != nil || sys == nil {
			return err
		}
		out = sys
		return appendMessage(tx, r, sys)
	})
	return out, err
}

// MarkedQuery selects a page of a room's marked messages.
type MarkedQuery struct {
	Kind          string // "pinned", "starred", "mentioned", "threads", "thread"
	Reader        *User  // starred and mentioned: the reader's own
	TMID          string // thread: the thread's first message
	Offset, Count int
}

// Marked returns a page of room rid's pinned messages, the reader's starred messages or
// mentions, its threads (by last reply) or one thread's replies (oldest first), with the total.
func (s *Bolt) Marked(rid string, q MarkedQuery) (msgs []*Message, total int, err error) {
	if q.Offset < 0 || q.Offset > MaxHistorySkip {
		return nil, 0, Errorf(Invalid, "invalid-offset", "offset must be from 0 to %d", MaxHistorySkip)
	}
	gen := s.authors.generation()
	err = s.view(func(tx *bolt.Tx) error {
		if q.Kind == "thread" {
			_, parent, _, err := visibleMessage(tx, q.TMID, q.Reader)
			if err != nil {
				return err
			}
			rid = parent.RoomID
		}
		if _, err := readableRoom(tx, rid, q.Reader); err != nil {
			return err
		}
		var p []byte
		ascending := false
		switch q.Kind {
		case "pinned":
			p = markPrefix(rid, markPinned)
		case "starred":
			p = markPrefix(rid, markStarred, withSep(q.Reader.ID))
		case "mentioned":
			p = markPrefix(rid, markMention, withSep(q.Reader.ID))
		case "threads":
			p = markPrefix(rid, markThread)
		case "thread":
			p, ascending = markPrefix(rid, markReply, withSep(q.TMID)), true
		default:
			return Errorf(Invalid, "invalid-kind", "unknown list %q", q.Kind)
		}
		seqs, n := markedSeqs(tx, p, ascending, q.Offset, q.Count)
		total = n
		if msgs, err = messagesBySeq(tx, rid, seqs); err != nil {
			return err
		}
		s.showAuthors(tx, gen, msgs)
		return nil
	})
	return msgs, total, err
}

// Deleted is a message deleted from a room, for syncMessages.
type Deleted struct {
	ID string
	At time.Time
}

// Sync returns what changed in room rid after since: messages posted or changed (oldest
// change first, at most MaxSync) and messages deleted (at most MaxSync). A client that got
// MaxSync of either asks again from the last _updatedAt (or deletion time) it saw.
func (s *Bolt) Sync(rid string, reader *User, since time.Time) (updated []*Message, deleted []Deleted, err error) {
	from := uint64(max(since.UnixMilli()+1, 0))
	gen := s.authors.generation()
	err = s.view(func(tx *bolt.Tx) error {
		updated, deleted = nil, nil
		if _, err := readableRoom(tx, rid, reader); err != nil {
			return err
		}
		// Posted and never changed since: the time index. Changed: the 'u' marks.
		var posted []*Message
		p := prefix(rid)
		c := tx.Bucket(bMessageTS).Cursor()
		skipped := 0
		for k, _ := c.Seek(append(slices.Clone(p), be64(from)...)); k != nil && hasPrefix(k, p) && len(posted) < MaxSync; k, _ = c.Next() {
			if len(k) != len(p)+16 {
				continue
			}
			m, err := messageAt(tx, msgKey(rid, be64u(k[len(p)+8:])))
			if err != nil {
				return err
			}
			if !m.UpdatedAt.Equal(m.TS) { // its change is in the 'u' marks
				if skipped++; skipped > maxFiltered {
					break
				}
				continue
			}
			posted = append(posted, m)
		}
		var changed []*Message
		mp := markPrefix(rid, markChanged)
		mc := tx.Bucket(bMarks).Cursor()
		for k, _ := mc.Seek(append(slices.Clone(mp), be64(from)...)); k != nil && hasPrefix(k, mp) && len(changed) < MaxSync; k, _ = mc.Next() {
			m, err := messageAt(tx, msgKey(rid, be64u(k[len(k)-8:])))
			if err != nil {
				return err
			}
			changed = append(changed, m)
		}
		updated = append(posted, changed...)
		slices.SortStableFunc(updated, func(a, b *Message) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
		if len(updated) > MaxSync {
			updated = updated[:MaxSync]
		}
		s.showAuthors(tx, gen, updated)
		dp := markPrefix(rid, markDeleted)
		for k, _ := mc.Seek(append(slices.Clone(dp), be64(from)...)); k != nil && hasPrefix(k, dp) && len(deleted) < MaxSync; k, _ = mc.Next() {
			if len(k) <= len(dp)+8 {
				continue
			}
			at := time.UnixMilli(int64(be64u(k[len(dp) : len(dp)+8]))).UTC()
			deleted = append(deleted, Deleted{ID: string(k[len(dp)+8:]), At: at})
		}
		return nil
	})
	return updated, deleted, err
}

func be64u(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func isNameByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
}
