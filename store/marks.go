package store

import (
	"bytes"
	"encoding/binary"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Message marks: the index behind pins, stars, mentions, threads and sync. Every key starts
// with the room id and 0x00 (so room "A" never matches room "AB"), then a kind byte:
//
//	'p' ∥ be64(seq)                     pinned messages
//	's' ∥ uid ∥ 0x00 ∥ be64(seq)        messages uid starred
//	'm' ∥ uid ∥ 0x00 ∥ be64(seq)        messages that mention uid
//	't' ∥ be64(tlm ms) ∥ be64(seq)      thread heads, by their last reply
//	'r' ∥ tmid ∥ 0x00 ∥ be64(seq)       the replies of thread tmid
//	'u' ∥ be64(_updatedAt ms) ∥ be64(seq)  messages changed after they were posted
//	'd' ∥ be64(deleted ms) ∥ id         deleted messages (for syncMessages)
//
// All but 'd' follow from the message itself (marksOf), so a write replaces the old
// message's marks with the new one's: a list is a prefix walk whose cost is the page, not
// the room, and a message without pins, stars, mentions or a thread costs no key.
const (
	markPinned  = 'p'
	markStarred = 's'
	markMention = 'm'
	markThread  = 't'
	markReply   = 'r'
	markChanged = 'u'
	markDeleted = 'd'
)

func markPrefix(rid string, kind byte, parts ...[]byte) []byte {
	k := append(prefix(rid), kind)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// withSep is s ∥ 0x00: the separator of a variable-length part.
func withSep(s string) []byte { return append([]byte(s), 0) }

// marksOf returns the mark keys message m should have.
func marksOf(m *Message) [][]byte {
	var out [][]byte
	seq := be64(m.Seq)
	if m.Pinned {
		out = append(out, markPrefix(m.RoomID, markPinned, seq))
	}
	for _, uid := range m.Starred {
		out = append(out, markPrefix(m.RoomID, markStarred, withSep(uid), seq))
	}
	for _, u := range m.Mentions {
		if u.ID != MentionAll && u.ID != MentionHere {
			out = append(out, markPrefix(m.RoomID, markMention, withSep(u.ID), seq))
		}
	}
	if m.TCount > 0 {
		out = append(out, markPrefix(m.RoomID, markThread, be64(uint64(max(m.TLM.UnixMilli(), 0))), seq))
	}
	if m.TMID != "" {
		out = append(out, markPrefix(m.RoomID, markReply, withSep(m.TMID), seq))
	}
	if !m.UpdatedAt.Equal(m.TS) {
		out = append(out, markPrefix(m.RoomID, markChanged, be64(uint64(max(m.UpdatedAt.UnixMilli(), 0))), seq))
	}
	return out
}

// putMarks replaces the marks of old (nil: a new message) by those of m (nil: deleted).
func putMarks(tx *bolt.Tx, old, m *Message) error {
	b := tx.Bucket(bMarks)
	var was, is [][]byte
	if old != nil {
		was = marksOf(old)
	}
	if m != nil {
		is = marksOf(m)
	}
	has := func(list [][]byte, k []byte) bool {
		return slices.ContainsFunc(list, func(x []byte) bool { return bytes.Equal(x, k) })
	}
	for _, k := range was {
		if !has(is, k) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, k := range is {
		if !has(was, k) {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// markedSeqs walks the marks under p, newest (highest key) first unless ascending, skipping
// offset and taking up to count sequence numbers (the last 8 bytes of each key); total counts
// them all.
func markedSeqs(tx *bolt.Tx, p []byte, ascending bool, offset, count int) (seqs []uint64, total int) {
	c := tx.Bucket(bMarks).Cursor()
	var k []byte
	next := c.Prev
	if ascending {
		k, _ = c.Seek(p)
		next = c.Next
	} else {
		k, _ = seekLE(c, append(slices.Clone(p), bytes.Repeat([]byte{0xff}, 17)...))
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, _ = next() {
		if len(k) < len(p)+8 {
			continue
		}
		if total >= offset && len(seqs) < count {
			seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
		}
		total++
	}
	return seqs, total
}

// messagesBySeq loads the messages of room rid with the sequence numbers given.
func messagesBySeq(tx *bolt.Tx, rid string, seqs []uint64) ([]*Message, error) {
	out := make([]*Message, 0, len(seqs))
	for _, seq := range seqs {
		m, err := messageAt(tx, msgKey(rid, seq))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// dropRoomMarks deletes every mark of room rid, tombstones included: for a room that is
// deleted with all its messages.
func dropRoomMarks(tx *bolt.Tx, rid string) error {
	c := tx.Bucket(bMarks).Cursor()
	p := prefix(rid)
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Seek(p) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
