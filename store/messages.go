package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// appendMessage gives m the room's next sequence number (and an id and time if it has none),
// stores it with its indexes and updates the room's msgs and lm.
func appendMessage(tx *bolt.Tx, r *Room, m *Message) error {
	if err := putMessage(tx, r, m); err != nil {
		return err
	}
	emit(tx, Event{Kind: MessageAdded, Room: r, Message: m})
	return putRoom(tx, r)
}

const appendFill = 0.9

// putMessage is appendMessage without saving r, so that a bulk load saves the room once.
func putMessage(tx *bolt.Tx, r *Room, m *Message) error { return putEncoded(tx, r, m, nil) }

// putEncoded is putMessage with m's record already encoded as data (nil: encode it here).
// data must be what json.Marshal gives for m once putEncoded set its room, id and times.
func putEncoded(tx *bolt.Tx, r *Room, m *Message, data []byte) error {
	ids := tx.Bucket(bMessageIDs)
	if m.ID == "" {
		m.ID = NewID()
	} else if !validKeyPart(m.ID) || ids.Get([]byte(m.ID)) != nil {
		return ErrMessageIDTaken
	}
	r.Seq++
	r.Msgs++
	m.Seq, m.RoomID = r.Seq, r.ID
	m.UpdatedAt = m.TS
	r.LastMessage = m.TS
	k := msgKey(r.ID, m.Seq)
	// A room's messages and its time index only grow at the room's end, so split pages 90%
	// full instead of bbolt's 50%: the file (and the page cache it needs) is about half.
	mb, tb := tx.Bucket(bMessages), tx.Bucket(bMessageTS)
	mb.FillPercent, tb.FillPercent = appendFill, appendFill
	// The cheap write first: a dry run (see batch) stops at the first write, before the
	// record is encoded.
	if err := ids.Put([]byte(m.ID), k); err != nil {
		return err
	}
	pageChanged(tx, r.ID)
	if data == nil {
		var err error
		if data, err = json.Marshal(m); err != nil {
			return err
		}
	}
	if err := mb.Put(k, data); err != nil {
		return err
	}
	return tb.Put(tsKey(r.ID, m.TS.UnixMilli(), m.Seq), nil)
}

// PostMessage stores m in room rid as written by author, once its transaction committed to
// disk. The author needs read access to the room (any public room, or a private room they
// are in), and in a read-only room the permission post-readonly. The store sets the room,
// time and sequence; it keeps m.ID if set and unused.
func (s *Bolt) PostMessage(rid string, author *User, m *Message) error {
	now := ms(s.now())
	tmid := m.TMID
	if err := validMessage(m); err != nil {
		return err
	}
	// The record is complete before the writer sees it (the id too, unless the caller chose
	// one), so its size is checked here, on the caller's goroutine, exactly as it will be
	// stored.
	id := m.ID
	if id == "" {
		id = NewID()
	}
	m.ID, m.RoomID, m.TS, m.UpdatedAt, m.User = id, rid, now, now, author.Ref()
	data, err := s.checkMessageCaps(m)
	if err != nil {
		return err
	}
	return s.batch(func(tx *bolt.Tx) error {
		r, err := readableRoom(tx, rid, author)
		if err != nil {
			return err
		}
		if err := mayWriteIn(tx, r, author); err != nil {
			return err
		}
		m.ID, m.TS, m.User, m.TMID = id, now, author.Ref(), tmid
		// The writer stores the encoding checked above (the record is the same: the room is
		// rid, the times now): encoding it again would cost the one writer goroutine. A
		// message with mentions or a thread changed here is encoded (and checked) again:
		// those fields count against the record's cap like any other.
		enc := data
		resolveMentions(tx, m)
		if m.TMID != "" {
			if err := s.joinThread(tx, r, m); err != nil {
				return err
			}
		}
		if len(m.Mentions) > 0 || m.TMID != "" {
			var err error
			if enc, err = s.checkMessageCaps(m); err != nil {
				return err
			}
		}
		if err := putEncoded(tx, r, m, enc); err != nil {
			return err
		}
		if err := putMarks(tx, nil, m); err != nil {
			return err
		}
		if err := countArrival(tx, r, author, m, now); err != nil {
			return err
		}
		emit(tx, Event{Kind: MessageAdded, Room: r, Message: m})
		return putRoom(tx, r)
	})
}

// ErrRoomArchived refuses a post, edit or deletion in an archived room.
var ErrRoomArchived = &Error{Kind: Invalid, Code: "error-room-archived", Message: "The room is archived"}

// postReadOnly is the permission to post in a read-only room (globally, or through a room role
// such as owner): rbac.PostReadonly, which the store cannot import.
const postReadOnly = "post-readonly"

// mayWriteIn applies the rule of read-only rooms to a message written, edited or deleted by u:
// in a read-only room only holders of post-readonly may, as in Rocket.Chat (its
// canSendMessage guards posts and edits, canDeleteMessage deletions, with the same test).
// An archived room refuses them all.
func mayWriteIn(tx *bolt.Tx, r *Room, u *User) error { return MayWriteRoom(boltFacts{tx}, r, u) }

func messageAt(tx *bolt.Tx, k []byte) (*Message, error) {
	return messageFrom(k, tx.Bucket(bMessages).Get(k))
}

// messageFrom decodes the message stored under k as v (nil: none).
func messageFrom(k, v []byte) (*Message, error) {
	if v == nil {
		return nil, ErrMsgNotFound
	}
	m := new(Message)
	if err := decodeMessage(v, m); err != nil {
		return nil, err
	}
	m.Seq = binary.BigEndian.Uint64(k[len(k)-8:])
	return m, nil
}

func messageByID(tx *bolt.Tx, id string) ([]byte, *Message, error) {
	k := tx.Bucket(bMessageIDs).Get([]byte(id))
	if k == nil {
		return nil, nil, ErrMsgNotFound
	}
	k = append([]byte(nil), k...)
	m, err := messageAt(tx, k)
	return k, m, err
}

// visibleMessage returns message id, its key and its room if reader may read that room. A
// message of a room the reader may not read is ErrMsgNotFound, exactly like a message that
// does not exist: clients may choose message ids (chat.sendMessage), so ids can be guessed, and
// any other answer would confirm that the message exists somewhere.
func visibleMessage(tx *bolt.Tx, id string, reader *User) ([]byte, *Message, *Room, error) {
	k, m, err := messageByID(tx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	r, err := readableRoom(tx, m.RoomID, reader)
	switch KindOf(err) {
	case 0:
		if err != nil {
			return nil, nil, nil, err
		}
	case Forbidden, Denied, NotFound:
		return nil, nil, nil, ErrMsgNotFound
	default:
		return nil, nil, nil, err
	}
	return k, m, r, nil
}

// Message returns a message by id if reader may read its room, else ErrMsgNotFound.
func (s *Bolt) Message(id string, reader *User) (m *Message, err error) {
	gen := s.authors.generation()
	err = s.view(func(tx *bolt.Tx) error {
		if _, m, _, err = visibleMessage(tx, id, reader); err == nil {
			s.showAuthors(tx, gen, []*Message{m})
		}
		return err
	})
	return m, err
}

// HistoryQuery selects a page of a room's history, newest first.
type HistoryQuery struct {
	Count     int       // page size, at least 1
	Offset    int       // matching messages to skip first
	BeforeID  string    // only messages older than this one (same room)
	Before    time.Time // only messages with ts before this (zero: no bound)
	After     time.Time // only messages with ts after this (zero: no bound)
	Inclusive bool      // Before and After include messages at exactly that time
	Unread    bool      // only messages newer than the reader's read mark
	// MaxBytes is the page's byte budget (0: none): the page ends before the message that
	// would take its stored records past it, but always holds at least one message.
	MaxBytes int
}

// TimeBounds is q's Before and After as a closed range of Unix milliseconds, Inclusive or
// not; ok is false when no time can match. Dates at or before 1970 count from 0, so that they
// never wrap around to the far future as unsigned keys.
func (q HistoryQuery) TimeBounds() (loMs, hiMs int64, ok bool) {
	loMs, hiMs = 0, int64(1<<63-1)
	if !q.Before.IsZero() {
		hiMs = q.Before.UnixMilli()
		if !q.Inclusive {
			hiMs--
		}
	}
	if !q.After.IsZero() {
		loMs = max(q.After.UnixMilli(), 0)
		if !q.Inclusive {
			loMs++
		}
	}
	return loMs, hiMs, hiMs >= loMs
}

// Page is a page of messages. Truncated means it ended on its byte budget before Count
// messages: more may follow, and the client asks again from its last message.
type Page struct {
	Messages  []*Message
	Bytes     int // the stored size of Messages' records, which bounds the answer's size
	Truncated bool
}

// pageBuilder collects a page under its count and byte budget. Skipped entries are never
// decoded, so an offset costs a cursor step, not a decode.
type pageBuilder struct {
	Page
	count, maxBytes, skip int
}

// add takes the record v stored under k, and reports whether the page is done.
func (p *pageBuilder) add(k, v []byte) (bool, error) {
	if p.skip > 0 {
		p.skip--
		return false, nil
	}
	if !p.fits(len(v)) {
		return true, nil
	}
	m, err := messageFrom(k, v)
	if err != nil {
		return true, err
	}
	return p.push(m, len(v)), nil
}

// fits reports whether a record of size bytes fits the budget; when it does not, the page
// is truncated there.
func (p *pageBuilder) fits(size int) bool {
	if p.maxBytes > 0 && len(p.Messages) > 0 && p.Bytes+size > p.maxBytes {
		p.Truncated = true
		return false
	}
	return true
}

// push appends m, stored in size bytes, and reports whether the page is full.
func (p *pageBuilder) push(m *Message, size int) bool {
	p.Bytes += size
	p.Messages = append(p.Messages, m)
	return len(p.Messages) >= p.count
}

// MaxHistorySkip bounds the messages one history page may pass over: its offset, and the
// entries a time-bounded page filters out.
const MaxHistorySkip = 100000

// maxFiltered is MaxHistorySkip for filtered entries; tests lower it.
var maxFiltered = MaxHistorySkip

// History returns the messages of HistoryPage.
func (s *Bolt) History(rid string, reader *User, q HistoryQuery) ([]*Message, error) {
	p, err := s.HistoryPage(rid, reader, q)
	return p.Messages, err
}

// HistoryPage returns a page of room rid as read by reader. Its cost depends on the page
// size, not on the size of the room: it seeks a cursor and walks Count+Offset keys (a
// time-bounded page also passes over at most MaxHistorySkip entries that its other bounds
// filter out), and it decodes no more than the page's byte budget.
func (s *Bolt) HistoryPage(rid string, reader *User, q HistoryQuery) (page Page, err error) {
	if q.Count < 1 {
		q.Count = 1
	}
	if q.Offset < 0 || q.Offset > MaxHistorySkip {
		return Page{}, Errorf(Invalid, "invalid-offset", "offset must be from 0 to %d", MaxHistorySkip)
	}
	gen := s.authors.generation()
	err = s.view(func(tx *bolt.Tx) error {
		pb := pageBuilder{count: q.Count, maxBytes: q.MaxBytes, skip: q.Offset}
		defer func() { s.showAuthors(tx, gen, pb.Messages); page = pb.Page }()
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		var minSeq uint64
		if q.Unread {
			if v := tx.Bucket(bReads).Get(join2(rid, []byte(reader.ID))); len(v) == 8 {
				minSeq = binary.BigEndian.Uint64(v)
			}
		}
		maxSeq := r.Seq
		if q.BeforeID != "" {
			k := tx.Bucket(bMessageIDs).Get([]byte(q.BeforeID))
			if k == nil || !hasPrefix(k, prefix(rid)) {
				return Errorf(Invalid, "invalid-before", "before is neither the _id of a message of this room nor an ISO date such as 2015-07-24T14:35:23.542Z")
			}
			maxSeq = binary.BigEndian.Uint64(k[len(k)-8:]) - 1
		}
		p := prefix(rid)
		if q.Before.IsZero() && q.After.IsZero() {
			c := tx.Bucket(bMessages).Cursor()
			for k, v := seekLE(c, msgKey(rid, maxSeq)); k != nil && hasPrefix(k, p); k, v = c.Prev() {
				if binary.BigEndian.Uint64(k[len(k)-8:]) <= minSeq {
					break
				}
				// The cursor has the value: no second lookup.
				if done, err := pb.add(k, v); done || err != nil {
					return err
				}
			}
			return nil
		}
		// A time bound walks the (time, seq) index instead: a Pi may boot with a wrong clock,
		// so time order and sequence order can differ.
		loMs, hiMs, ok := q.TimeBounds()
		if !ok {
			return nil
		}
		hi, lo := uint64(hiMs), uint64(loMs)
		// Entries outside the unread or before-id bounds are skipped, not a reason to stop
		// (time and sequence order may differ): the skips are capped so that no request
		// reads more than Count + Offset + maxFiltered keys, however large the room.
		filtered := 0
		mb := tx.Bucket(bMessages)
		c := tx.Bucket(bMessageTS).Cursor()
		for k, _ := seekLE(c, append(join2(rid, be64(hi)), be64(1<<64-1)...)); k != nil && hasPrefix(k, p); k, _ = c.Prev() {
			if len(k) != len(p)+16 {
				continue
			}
			if binary.BigEndian.Uint64(k[len(p):]) < lo {
				break
			}
			seq := binary.BigEndian.Uint64(k[len(p)+8:])
			if seq <= minSeq || seq > maxSeq {
				if filtered++; filtered > maxFiltered {
					break
				}
				continue
			}
			mk := msgKey(rid, seq)
			v := mb.Get(mk)
			if v == nil {
				return ErrMsgNotFound
			}
			if done, err := pb.add(mk, v); done || err != nil {
				return err
			}
		}
		return nil
	})
	return page, err
}

// seekLE positions c on the last key <= k.
func seekLE(c *bolt.Cursor, k []byte) ([]byte, []byte) {
	ck, v := c.Seek(k)
	if ck == nil {
		return c.Last()
	}
	if string(ck) == string(k) {
		return ck, v
	}
	return c.Prev()
}

// MarkRead moves uid's read mark in the room to its newest message; a member's subscription
// then has no unread messages and no mentions (subscriptions.read).
func (s *Bolt) MarkRead(rid string, reader *User) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		emit(tx, Event{Kind: ReadMarked, Room: r, UserID: reader.ID})
		if err := tx.Bucket(bReads).Put(join2(rid, []byte(reader.ID)), be64(r.Seq)); err != nil {
			return err
		}
		return markSubscription(tx, r, reader.ID, r.Counted, now)
	})
}

// UpdateMessage applies change to message id and saves it, as edited by editor. A message
// editor may not read is ErrMsgNotFound; change may refuse (for example when the editor may
// not edit that message); in a read-only room the editor needs post-readonly, as for posting.
func (s *Bolt) UpdateMessage(id string, editor *User, change func(m *Message) error) (updated *Message, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		k, m, r, err := visibleMessage(tx, id, editor)
		if err != nil {
			return err
		}
		old := *m
		if err := change(m); err != nil {
			return err
		}
		if err := mayWriteIn(tx, r, editor); err != nil {
			return err
		}
		if err := validMessage(m); err != nil {
			return err
		}
		ed := editor.Ref()
		m.EditedAt, m.EditedBy, m.UpdatedAt = now, &ed, now
		if m.Text != old.Text {
			resolveMentions(tx, m)
		}
		data, err := s.checkMessageCaps(m)
		if err != nil {
			return err
		}
		if err := putMarks(tx, &old, m); err != nil {
			return err
		}
		showAuthorsTx(tx, m) // for the answer and the event; the record keeps what it has
		updated = m
		pageChanged(tx, m.RoomID)
		emit(tx, Event{Kind: MessageEdited, Message: m})
		return tx.Bucket(bMessages).Put(k, data)
	})
	return updated, err
}

// DeleteMessage removes message id for deleter after check approved it, and returns what was
// removed. A message deleter may not read is ErrMsgNotFound; in a read-only room the deleter
// needs post-readonly.
func (s *Bolt) DeleteMessage(id string, deleter *User, check func(m *Message) error) (deleted *Message, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		k, m, r, err := visibleMessage(tx, id, deleter)
		if err != nil {
			return err
		}
		if err := check(m); err != nil {
			return err
		}
		if err := mayWriteIn(tx, r, deleter); err != nil {
			return err
		}
		if err := dropMessage(tx, r, k, m, now); err != nil {
			return err
		}
		showAuthorsTx(tx, m)
		deleted = m
		pageChanged(tx, r.ID)
		emit(tx, Event{Kind: MessageDeleted, Room: r, Message: m})
		return putRoom(tx, r)
	})
	return deleted, err
}

// dropMessage removes message m, stored under k, with its indexes and marks, and counts it
// out of r (which the caller saves); it leaves a tombstone for syncMessages and uncounts m
// from its thread. Every deletion (chat.delete, cleanHistory, a room's deletion) goes through
// it, so an index added to messages is dropped in one place.
func dropMessage(tx *bolt.Tx, r *Room, k []byte, m *Message, now time.Time) error {
	pageChanged(tx, r.ID)
	if err := tx.Bucket(bMessages).Delete(k); err != nil {
		return err
	}
	if err := tx.Bucket(bMessageIDs).Delete([]byte(m.ID)); err != nil {
		return err
	}
	if err := tx.Bucket(bMessageTS).Delete(tsKey(r.ID, m.TS.UnixMilli(), m.Seq)); err != nil {
		return err
	}
	if r.Msgs > 0 {
		r.Msgs--
	}
	if err := putMarks(tx, m, nil); err != nil {
		return err
	}
	if err := tx.Bucket(bMarks).Put(markPrefix(r.ID, markDeleted, be64(uint64(max(now.UnixMilli(), 0))), []byte(m.ID)), nil); err != nil {
		return err
	}
	if m.TMID != "" {
		return leaveThread(tx, m, now)
	}
	return nil
}

// SearchScanLimit is the default of SearchQuery.MaxScan.
const SearchScanLimit = 20000

// SearchQuery selects the newest user messages of a room whose text contains Text, ignoring
// case.
type SearchQuery struct {
	Text     string
	Count    int // at most this many results (at least 1)
	MaxBytes int // the page's byte budget, as HistoryQuery.MaxBytes
	// MaxScan bounds the messages one search reads (0: SearchScanLimit), so that a search
	// costs the same in a room of millions: it looks at the newest MaxScan messages only.
	MaxScan int
}

// Search returns up to count user messages of the room whose text contains text (ignoring
// case), newest first, reading at most SearchScanLimit messages.
func (s *Bolt) Search(rid string, reader *User, text string, count int) ([]*Message, error) {
	p, err := s.SearchPage(rid, reader, SearchQuery{Text: text, Count: count})
	return p.Messages, err
}

// SearchPage runs q in room rid as read by reader.
func (s *Bolt) SearchPage(rid string, reader *User, q SearchQuery) (page Page, err error) {
	if q.Count < 1 {
		q.Count = 1
	}
	if q.MaxScan <= 0 {
		q.MaxScan = SearchScanLimit
	}
	needle := strings.ToLower(q.Text)
	// A record whose bytes do not contain the needle cannot match, and that test costs no
	// decode. It holds when json.Marshal writes the needle's bytes unchanged (printable ASCII
	// other than " \ < > &) and the record is ASCII (non-ASCII text may lower-case into ASCII,
	// as the Kelvin sign does).
	rawSafe := needle != ""
	for i := 0; i < len(needle); i++ {
		if c := needle[i]; c < 0x20 || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			rawSafe = false
			break
		}
	}
	nb := []byte(needle)
	var lower []byte
	gen := s.authors.generation()
	err = s.view(func(tx *bolt.Tx) error {
		pb := pageBuilder{count: q.Count, maxBytes: q.MaxBytes}
		defer func() { s.showAuthors(tx, gen, pb.Messages); page = pb.Page }()
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		p := prefix(rid)
		c := tx.Bucket(bMessages).Cursor()
		scanned := 0
		for k, v := seekLE(c, msgKey(rid, r.Seq)); k != nil && hasPrefix(k, p) && scanned < q.MaxScan; k, v = c.Prev() {
			scanned++
			if rawSafe {
				var ascii bool
				if lower, ascii = lowerASCII(lower[:0], v); ascii && !bytes.Contains(lower, nb) {
					continue
				}
			}
			m, err := messageFrom(k, v)
			if err != nil {
				return err
			}
			if m.Type != "" || !strings.Contains(strings.ToLower(m.Text), needle) {
				continue
			}
			if !pb.fits(len(v)) || pb.push(m, len(v)) {
				return nil
			}
		}
		return nil
	})
	return page, err
}

// lowerASCII appends b lower-cased to dst, and reports whether b is all ASCII.
func lowerASCII(dst, b []byte) ([]byte, bool) {
	for _, c := range b {
		if c >= 0x80 {
			return dst, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}
