package store

import (
	"encoding/binary"
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
	return putRoom(tx, r)
}

const appendFill = 0.9

// putMessage is appendMessage without saving r, so that a bulk load saves the room once.
func putMessage(tx *bolt.Tx, r *Room, m *Message) error {
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
	if err := putJSON(mb, k, m); err != nil {
		return err
	}
	pageChanged(tx, r.ID)
	if err := ids.Put([]byte(m.ID), k); err != nil {
		return err
	}
	return tb.Put(tsKey(r.ID, m.TS.UnixMilli(), m.Seq), nil)
}

// PostMessage stores m in room rid as written by author, once its transaction committed to
// disk. The author needs read access to the room (any public room, or a private room they
// are in), and in a read-only room the permission post-readonly. The store sets the room,
// time and sequence; it keeps m.ID if set and unused.
func (s *Store) PostMessage(rid string, author *User, m *Message) error {
	now := ms(s.now())
	id := m.ID
	if err := validMessage(m); err != nil {
		return err
	}
	return s.batch(func(tx *bolt.Tx) error {
		r, err := readableRoom(tx, rid, author)
		if err != nil {
			return err
		}
		if r.ReadOnly {
			if ok, err := hasPermission(tx, author, "post-readonly", rid); err != nil || !ok {
				return firstErr(err, ErrNoPermission)
			}
		}
		m.ID, m.TS, m.User = id, now, author.Ref()
		return appendMessage(tx, r, m)
	})
}

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

// Message returns a message by id, if uid may read its room.
func (s *Store) Message(id string, reader *User) (m *Message, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		_, m, err = messageByID(tx, id)
		if err != nil {
			return err
		}
		_, err = readableRoom(tx, m.RoomID, reader)
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
}

// MaxHistorySkip bounds the messages one history page may pass over: its offset, and the
// entries a time-bounded page filters out.
const MaxHistorySkip = 100000

// maxFiltered is MaxHistorySkip for filtered entries; tests lower it.
var maxFiltered = MaxHistorySkip

// History returns a page of room rid as read by uid. Its cost depends on the page size, not on
// the size of the room: it seeks a cursor and walks Count+Offset keys (a time-bounded page
// also passes over at most MaxHistorySkip entries that its other bounds filter out).
func (s *Store) History(rid string, reader *User, q HistoryQuery) (msgs []*Message, err error) {
	if q.Count < 1 {
		q.Count = 1
	}
	if q.Offset < 0 || q.Offset > MaxHistorySkip {
		return nil, Errorf(Invalid, "invalid-offset", "offset must be from 0 to %d", MaxHistorySkip)
	}
	err = s.view(func(tx *bolt.Tx) error {
		msgs = msgs[:0]
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
		skip := q.Offset
		take := func(m *Message) bool { // reports whether the page is full
			if skip > 0 {
				skip--
				return false
			}
			msgs = append(msgs, m)
			return len(msgs) >= q.Count
		}
		p := prefix(rid)
		if q.Before.IsZero() && q.After.IsZero() {
			c := tx.Bucket(bMessages).Cursor()
			for k, v := seekLE(c, msgKey(rid, maxSeq)); k != nil && hasPrefix(k, p); k, v = c.Prev() {
				m, err := messageFrom(k, v) // the cursor has the value: no second lookup
				if err != nil {
					return err
				}
				if m.Seq <= minSeq || take(m) {
					break
				}
			}
			return nil
		}
		// A time bound walks the (time, seq) index instead: a Pi may boot with a wrong clock,
		// so time order and sequence order can differ.
		// Bounds in signed milliseconds first: a date at or before 1970 must not wrap around
		// to the far future when it becomes a key.
		hiMs, loMs := int64(1<<63-1), int64(0)
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
		if hiMs < loMs {
			return nil
		}
		hi, lo := uint64(hiMs), uint64(loMs)
		// Entries outside the unread or before-id bounds are skipped, not a reason to stop
		// (time and sequence order may differ): the skips are capped so that no request
		// reads more than Count + Offset + maxFiltered keys, however large the room.
		filtered := 0
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
			m, err := messageAt(tx, msgKey(rid, seq))
			if err != nil {
				return err
			}
			if take(m) {
				break
			}
		}
		return nil
	})
	return msgs, err
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

// MarkRead moves uid's read mark in the room to its newest message.
func (s *Store) MarkRead(rid string, reader *User) error {
	return s.batch(func(tx *bolt.Tx) error {
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		return tx.Bucket(bReads).Put(join2(rid, []byte(reader.ID)), be64(r.Seq))
	})
}

// UpdateMessage applies change to message id and saves it, as edited by editor. change may
// refuse (for example when the editor may not edit that message).
func (s *Store) UpdateMessage(id string, editor UserRef, change func(m *Message) error) (updated *Message, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		k, m, err := messageByID(tx, id)
		if err != nil {
			return err
		}
		if err := change(m); err != nil {
			return err
		}
		if err := validMessage(m); err != nil {
			return err
		}
		ed := editor
		m.EditedAt, m.EditedBy, m.UpdatedAt = now, &ed, now
		updated = m
		pageChanged(tx, m.RoomID)
		return putJSON(tx.Bucket(bMessages), k, m)
	})
	return updated, err
}

// DeleteMessage removes message id after check approved it, and returns what was removed.
func (s *Store) DeleteMessage(id string, check func(m *Message) error) (deleted *Message, err error) {
	err = s.batch(func(tx *bolt.Tx) error {
		k, m, err := messageByID(tx, id)
		if err != nil {
			return err
		}
		if err := check(m); err != nil {
			return err
		}
		r, err := getRoom(tx, m.RoomID)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bMessages).Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bMessageIDs).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bMessageTS).Delete(tsKey(r.ID, m.TS.UnixMilli(), m.Seq)); err != nil {
			return err
		}
		if r.Msgs > 0 {
			r.Msgs--
		}
		deleted = m
		pageChanged(tx, r.ID)
		return putRoom(tx, r)
	})
	return deleted, err
}

// SearchScanLimit bounds how many messages one search reads, so a search cannot pin a reader
// on a room of millions.
const SearchScanLimit = 100000

// Search returns up to count user messages of the room whose text contains text (ignoring
// case), newest first, reading at most SearchScanLimit messages.
func (s *Store) Search(rid string, reader *User, text string, count int) (msgs []*Message, err error) {
	needle := strings.ToLower(text)
	err = s.view(func(tx *bolt.Tx) error {
		msgs = msgs[:0]
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		p := prefix(rid)
		c := tx.Bucket(bMessages).Cursor()
		scanned := 0
		for k, v := seekLE(c, msgKey(rid, r.Seq)); k != nil && hasPrefix(k, p) && len(msgs) < count && scanned < SearchScanLimit; k, v = c.Prev() {
			scanned++
			m, err := messageFrom(k, v)
			if err != nil {
				return err
			}
			if m.Type == "" && strings.Contains(strings.ToLower(m.Text), needle) {
				msgs = append(msgs, m)
			}
		}
		return nil
	})
	return msgs, err
}
