package store

import (
	"encoding/json"
	"time"
)

// UserRef names a user inside another record (a message's author, a room's creator).
type UserRef struct {
	ID       string `json:"_id"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
}

// User is an account. Hash is the bcrypt hash of the password (never the password).
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Verified  bool      `json:"verified,omitempty"`
	Hash      string    `json:"hash"`
	Roles     []string  `json:"roles"`
	Active    bool      `json:"active"`
	Type      string    `json:"type"` // "user" or "bot"
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Status is the presence the user chose (users.setStatus, UserPresence:setDefaultStatus):
	// "" or "online", "away", "busy", "offline" (invisible); StatusText their status message.
	Status     string `json:"status,omitempty"`
	StatusText string `json:"statusText,omitempty"`
}

// Ref is the user as it appears inside other records.
func (u *User) Ref() UserRef { return UserRef{ID: u.ID, Username: u.Username, Name: u.Name} }

// HasRole reports whether u holds the global role.
func (u *User) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Room types.
const (
	Public  = "c"
	Private = "p"
	Direct  = "d" // a direct-message room: no name, readable by its members only
)

// Room is a channel ("c", public), a private group ("p") or a direct-message room ("d").
type Room struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Type        string    `json:"t"`
	Creator     *UserRef  `json:"u,omitempty"`
	Msgs        int64     `json:"msgs"`
	Seq         uint64    `json:"seq"` // last message sequence number in this room
	CreatedAt   time.Time `json:"ts"`
	UpdatedAt   time.Time `json:"updatedAt"`
	LastMessage time.Time `json:"lm,omitzero"`
	Default     bool      `json:"default,omitempty"`
	ReadOnly    bool      `json:"ro,omitempty"`
	Topic       string    `json:"topic,omitempty"`
	Description string    `json:"description,omitempty"`
	Purpose     string    `json:"purpose,omitempty"`
	// Announcement, Archived (posts refused) and JoinCode (joining needs it) are the room
	// settings of Rocket.Chat's channels.setAnnouncement, archive and setJoinCode.
	Announcement string `json:"announcement,omitempty"`
	Archived     bool   `json:"archived,omitempty"`
	JoinCode     string `json:"joinCode,omitempty"`
	// Counted counts the user messages ever posted here (never decremented): a member's unread
	// count is Counted minus their read mark, so a send costs no write per member.
	Counted uint64 `json:"uc,omitempty"`
}

// Member is one user's membership of one room.
type Member struct {
	RoomID   string    `json:"-"`
	UserID   string    `json:"-"`
	Username string    `json:"u"`
	Roles    []string  `json:"roles,omitempty"` // room roles: owner, moderator
	Joined   time.Time `json:"ts"`
	Hidden   bool      `json:"hidden,omitempty"`   // closed (hidden from the member's room list), API v1 channels.close
	Mentions int       `json:"mentions,omitempty"` // messages naming @username since the last read
	LS       time.Time `json:"ls,omitzero"`        // last read ("last seen")
	Updated  time.Time `json:"updatedAt,omitzero"` // last change of the subscription itself
}

// HasRole reports whether the membership holds the room role.
func (m *Member) HasRole(role string) bool {
	for _, r := range m.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Message is one message of a room. Type is "" for a user message, "uj"/"ul" for join/leave.
type Message struct {
	ID          string          `json:"_id"`
	RoomID      string          `json:"rid"`
	Seq         uint64          `json:"-"`
	Text        string          `json:"msg"`
	TS          time.Time       `json:"ts"`
	User        UserRef         `json:"u"`
	Type        string          `json:"t,omitempty"`
	Alias       string          `json:"alias,omitempty"`
	Emoji       string          `json:"emoji,omitempty"`
	Avatar      string          `json:"avatar,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Bot         *BotRef         `json:"bot,omitempty"` // posted by an integration
	EditedAt    time.Time       `json:"editedAt,omitzero"`
	EditedBy    *UserRef        `json:"editedBy,omitempty"`
	UpdatedAt   time.Time       `json:"_updatedAt"`
	Role        string          `json:"role,omitempty"` // the role of a subscription-role-added/-removed message

	// Threads: a reply names its thread's first message in TMID; that message counts the
	// replies (TCount), the time of the last one (TLM) and who replied (user ids).
	TMID    string    `json:"tmid,omitempty"`
	TCount  int       `json:"tcount,omitempty"`
	TLM     time.Time `json:"tlm,omitzero"`
	Replies []string  `json:"replies,omitempty"`
	// Mentions are the users named by @username in the text, and "all"/"here".
	Mentions []UserRef `json:"mentions,omitempty"`
	// Reactions maps ":emoji:" to who reacted with it, as Rocket.Chat shapes them.
	Reactions map[string]*Reaction `json:"reactions,omitempty"`
	Pinned    bool                 `json:"pinned,omitempty"`
	PinnedAt  time.Time            `json:"pinnedAt,omitzero"`
	PinnedBy  *UserRef             `json:"pinnedBy,omitempty"`
	Starred   []string             `json:"starred,omitempty"` // ids of the users who starred it
}

// Reaction is who reacted to a message with one emoji.
type Reaction struct {
	Usernames []string `json:"usernames"`
}

// Role is a named global or room role.
type Role struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Scope       string `json:"scope,omitempty"` // "Users" (global) or "Subscriptions" (room)
	Protected   bool   `json:"protected,omitempty"`
}

// Permission lists the roles granted one permission.
type Permission struct {
	ID        string    `json:"_id"`
	Roles     []string  `json:"roles"`
	UpdatedAt time.Time `json:"_updatedAt"`
}

// BotRef marks a message posted by an integration (Rocket.Chat's bot: {i: <integration id>}).
type BotRef struct {
	I string `json:"i"`
}
