package store

// Subscriptions: a member's view of a room (Rocket.Chat's subscription records), with unread
// and mention counts kept as messages arrive.
//
// A send must stay one cheap write, so the unread count is not a counter per member (a room
// of 5,000 members would rewrite 5,000 records per message). The room counts its user
// messages (Room.Counted) and every member keeps a read mark in sub_marks: unread is the
// difference. The send writes the room (as it always did) and the author's own mark (their
// own message is not unread to them). Mentions are per member, but only the members a
// message names (@username as chat.go resolves them, at most MaxMentions) are written, and in a direct
// message room every message counts as a mention of the other members, as in Rocket.Chat.

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxMentions bounds the members one message counts as mentioned (and so the writes it
// costs): MaxMentions names at most, the members of a direct-message room fewer still.
const maxMentions = MaxMentions

// countArrival counts user message m, just stored in r by author, into the subscriptions.
// r is saved by the caller.
func countArrival(tx *bolt.Tx, r *Room, author *User, m *Message, now time.Time) error {
	if m.Type != "" {
		return nil // system messages are not unread, as in Rocket.Chat
	}
	r.Counted++
	members := tx.Bucket(bMembers)
	mk := join2(r.ID, []byte(author.ID))
	if members.Get(mk) != nil {
		if err := tx.Bucket(bSubMarks).Put(mk, be64(r.Counted)); err != nil {
			return err
		}
	}
	if r.Type == Direct {
		p := prefix(r.ID)
		var others [][]byte
		c := members.Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p) && len(others) < maxMentions; k, _ = c.Next() {
			if string(k[len(p):]) != author.ID {
				others = append(others, append([]byte(nil), k...))
			}
		}
		for _, k := range others {
			if err := bumpMentions(tx, r, k, now); err != nil {
				return err
			}
		}
		return nil
	}
	// m.Mentions holds the users the message names, resolved once for the message itself
	// (chat.go): the same rule for the message's mentions and the subscriptions' counts.
	for _, ref := range m.Mentions {
		if ref.ID == MentionAll || ref.ID == MentionHere || ref.ID == author.ID {
			continue
		}
		k := join2(r.ID, []byte(ref.ID))
		if members.Get(k) == nil {
			continue
		}
		if err := bumpMentions(tx, r, k, now); err != nil {
			return err
		}
	}
	return nil
}

func bumpMentions(tx *bolt.Tx, r *Room, k []byte, now time.Time) error {
	b := tx.Bucket(bMembers)
	var m Member
	ok, err := getJSON(b, k, &m)
	if err != nil || !ok {
		return err
	}
	m.Mentions++
	m.Updated = now
	m.RoomID, m.UserID = r.ID, string(k[len(r.ID)+1:])
	emit(tx, Event{Kind: MemberChanged, Room: r, UserID: m.UserID, Member: &m})
	return putJSON(b, k, &m)
}

// markSubscription sets uid's read mark in r to counted and clears their mentions, if they
// are a member (a reader of a public room need not be).
func markSubscription(tx *bolt.Tx, r *Room, uid string, counted uint64, now time.Time) error {
	mk := join2(r.ID, []byte(uid))
	b := tx.Bucket(bMembers)
	var m Member
	ok, err := getJSON(b, mk, &m)
	if err != nil || !ok {
		return err
	}
	if err := tx.Bucket(bSubMarks).Put(mk, be64(counted)); err != nil {
		return err
	}
	m.Mentions, m.LS, m.Updated = 0, now, now
	return putJSON(b, mk, &m)
}

// Subscription is one member's view of one room (REST subscriptions.*, realtime's
// subscriptions stream).
type Subscription struct {
	Room      *Room
	Member    *Member
	Unread    int       // user messages since the read mark, not the member's own
	ReadAt    time.Time // the last read (Member.LS); zero if never
	Usernames []string  // the members, for a direct-message room (its name is theirs)
	Names     []string  // their display names, in the same order
	UpdatedAt time.Time // the later of the subscription's own change and the room's last message
}

// Alert reports whether the subscription has something new for its user.
func (s *Subscription) Alert() bool { return s.Unread > 0 || s.Member.Mentions > 0 }

func subscriptionOf(tx *bolt.Tx, r *Room, uid string) (*Subscription, error) {
	m, err := getMember(tx, r.ID, uid)
	if err != nil || m == nil {
		return nil, firstErr(err, ErrNotInRoom)
	}
	sub := &Subscription{Room: r, Member: m, ReadAt: m.LS, UpdatedAt: latest(m.Updated, m.Joined, r.LastMessage)}
	if v := tx.Bucket(bSubMarks).Get(join2(r.ID, []byte(uid))); len(v) == 8 {
		if mark := binary.BigEndian.Uint64(v); mark < r.Counted {
			sub.Unread = int(min(r.Counted-mark, 1<<31-1))
		}
	}
	if r.Type == Direct {
		p := prefix(r.ID)
		c := tx.Bucket(bMembers).Cursor()
		for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
			var o Member
			if err := unmarshal(v, &o); err != nil {
				return nil, err
			}
			name := o.Username
			if u, err := getUser(tx, string(k[len(p):])); err == nil {
				name = u.Name
			}
			sub.Usernames = append(sub.Usernames, o.Username)
			sub.Names = append(sub.Names, name)
		}
	}
	return sub, nil
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// SubscriptionsSince returns uid's subscriptions changed after since (zero: all).
func (s *Bolt) SubscriptionsSince(uid string, since time.Time) ([]Subscription, error) {
	return s.subscriptions(uid, "", since)
}

// Subscriptions returns uid's subscriptions, or only the one of room rid if rid is not ""
// (none if uid is not a member).
func (s *Bolt) Subscriptions(uid, rid string) ([]Subscription, error) {
	return s.subscriptions(uid, rid, time.Time{})
}

func (s *Bolt) subscriptions(uid, rid string, since time.Time) (subs []Subscription, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		subs = subs[:0]
		ids := []string{rid}
		if rid == "" {
			if ids, err = userRoomIDs(tx, uid); err != nil {
				return err
			}
		}
		for _, id := range ids {
			r, err := getRoom(tx, id)
			if KindOf(err) == NotFound && rid != "" {
				return nil
			}
			if err != nil {
				return err
			}
			sub, err := subscriptionOf(tx, r, uid)
			if err == ErrNotInRoom {
				continue
			}
			if err != nil {
				return err
			}
			if since.IsZero() || sub.UpdatedAt.After(since) {
				subs = append(subs, *sub)
			}
		}
		return nil
	})
	return subs, err
}

// SubscriptionOf returns uid's subscription to room rid: ErrRoomNotFound, or ErrNotInRoom if
// they are not a member.
func (s *Bolt) SubscriptionOf(rid, uid string) (sub *Subscription, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		sub, err = subscriptionOf(tx, r, uid)
		return err
	})
	return sub, err
}

// ErrNoMessageForUnread refuses to mark unread a room without a user message.
var ErrNoMessageForUnread = &Error{Kind: Invalid, Code: "error-no-message-for-unread", Message: "There are no messages to mark unread"}

// MarkUnread makes room rid unread for uid from message fromID on (fromID "": from the
// room's last user message), as subscriptions.unread does. The messages from there on are
// counted by reading them: at most MaxHistorySkip.
func (s *Bolt) MarkUnread(rid string, reader *User, fromID string) error {
	now := ms(s.now())
	return s.batch(func(tx *bolt.Tx) error {
		r, err := readableRoom(tx, rid, reader)
		if err != nil {
			return err
		}
		if tx.Bucket(bMembers).Get(join2(rid, []byte(reader.ID))) == nil {
			return ErrNotInRoom
		}
		if r.Counted == 0 {
			return ErrNoMessageForUnread
		}
		unread := uint64(1)
		from := uint64(0)
		if fromID != "" {
			k := tx.Bucket(bMessageIDs).Get([]byte(fromID))
			if k == nil || !hasPrefix(k, prefix(rid)) {
				return ErrMsgNotFound
			}
			from = binary.BigEndian.Uint64(k[len(k)-8:])
			unread = 0
			p := prefix(rid)
			c := tx.Bucket(bMessages).Cursor()
			n := 0
			for k, v := c.Seek(msgKey(rid, from)); k != nil && hasPrefix(k, p) && n < MaxHistorySkip; k, v = c.Next() {
				n++
				m, err := messageFrom(k, v)
				if err != nil {
					return err
				}
				if m.Type == "" {
					unread++
				}
			}
		}
		unread = min(unread, r.Counted)
		if err := markSubscription(tx, r, reader.ID, r.Counted-unread, now); err != nil {
			return err
		}
		emit(tx, Event{Kind: ReadMarked, Room: r, UserID: reader.ID})
		if from > 0 {
			return tx.Bucket(bReads).Put(join2(rid, []byte(reader.ID)), be64(from-1))
		}
		return nil
	})
}
