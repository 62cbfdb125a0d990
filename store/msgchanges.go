package store

import (
	"encoding/json"
	"slices"
	"time"
)

// The changes React, Star and Pin make to a message record, the same on every backend: a
// backend loads the message in its transaction, applies one of these and stores it.

// ApplyReaction adds (on) or removes (!on) username's emoji (normalized) on m; on == nil
// toggles. A new kind past MaxReactionKinds is ErrTooManyReactions.
func (m *Message) ApplyReaction(username, emoji string, on *bool) error {
	reactions := make(map[string]*Reaction, len(m.Reactions)+1)
	for k, v := range m.Reactions {
		reactions[k] = &Reaction{Usernames: slices.Clone(v.Usernames)}
	}
	cur := reactions[emoji]
	has := cur != nil && slices.Contains(cur.Usernames, username)
	want := !has
	if on != nil {
		want = *on
	}
	switch {
	case want && !has:
		if cur == nil {
			if len(reactions) >= MaxReactionKinds {
				return ErrTooManyReactions
			}
			cur = &Reaction{}
			reactions[emoji] = cur
		}
		cur.Usernames = append(cur.Usernames, username)
	case !want && has:
		cur.Usernames = slices.DeleteFunc(cur.Usernames, func(n string) bool { return n == username })
		if len(cur.Usernames) == 0 {
			delete(reactions, emoji)
		}
	}
	if len(reactions) == 0 {
		reactions = nil
	}
	m.Reactions = reactions
	return nil
}

// ApplyStar adds (on) or removes user uid from m's starrers.
func (m *Message) ApplyStar(uid string, on bool) {
	starred := slices.DeleteFunc(slices.Clone(m.Starred), func(id string) bool { return id == uid })
	if on {
		starred = append(starred, uid)
	}
	if len(starred) == 0 {
		starred = nil
	}
	m.Starred = starred
}

// pinAttachment is how a message_pinned system message quotes the pinned message.
type pinAttachment struct {
	Text       string    `json:"text"`
	AuthorName string    `json:"author_name"`
	AuthorIcon string    `json:"author_icon"`
	TS         time.Time `json:"ts"`
}

// ApplyPin pins (on) or unpins m as pinner at now. Pinning returns the message_pinned
// system message (quoting m, as Rocket.Chat does) that the backend appends to the room;
// unpinning, or pinning what is pinned already, returns nil. A system message cannot be
// pinned (ErrSystemMessage).
func (m *Message) ApplyPin(pinner *User, on bool, now time.Time) (sys *Message, err error) {
	if m.Type != "" {
		return nil, ErrSystemMessage
	}
	if m.Pinned == on {
		return nil, nil
	}
	m.Pinned = on
	if !on {
		m.PinnedAt, m.PinnedBy = time.Time{}, nil
		return nil, nil
	}
	by := pinner.Ref()
	m.PinnedAt, m.PinnedBy = now, &UserRef{ID: by.ID, Username: by.Username}
	// The quote holds the text only, so that it fits the size cap whatever the pinned
	// message's attachments.
	att, err := json.Marshal([]pinAttachment{{Text: m.Text, AuthorName: m.User.Username,
		AuthorIcon: "/avatar/" + m.User.Username, TS: m.TS}})
	if err != nil {
		return nil, err
	}
	return &Message{Type: "message_pinned", TS: now, User: by, Attachments: att}, nil
}

// MayReactIn returns nil if u may react in room r: in a read-only room reacting needs
// post-readonly, as posting does.
func MayReactIn(f Facts, r *Room, u *User) error {
	if !r.ReadOnly {
		return nil
	}
	ok, err := HasPermissionIn(f, u, postReadOnly, r.ID)
	if err != nil || !ok {
		return firstErr(err, ErrNoPermission)
	}
	return nil
}
