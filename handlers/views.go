package handlers

import (
	"encoding/json"

	"rocketlite/store"
)

// The documents clients see. One view per kind serves API 0.1 and v1 alike.

type userRefView struct {
	ID       string `json:"_id"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
}

func refView(r *store.UserRef) *userRefView {
	if r == nil {
		return nil
	}
	return &userRefView{ID: r.ID, Username: r.Username, Name: r.Name}
}

type roomView struct {
	ID          string       `json:"_id"`
	Name        string       `json:"name"`
	FName       string       `json:"fname"`
	T           string       `json:"t"`
	Usernames   []string     `json:"usernames"`
	Msgs        int64        `json:"msgs"`
	TS          jsTime       `json:"ts"`
	U           *userRefView `json:"u,omitempty"`
	LM          *jsTime      `json:"lm,omitempty"`
	Default     bool         `json:"default,omitempty"`
	RO          bool         `json:"ro"`
	Topic       string       `json:"topic,omitempty"`
	Description string       `json:"description,omitempty"`
	Purpose     string       `json:"purpose,omitempty"`
	// Announcement, archived and joinCodeRequired as Rocket.Chat names them; the join code
	// itself is never shown.
	Announcement     string `json:"announcement,omitempty"`
	Archived         bool   `json:"archived,omitempty"`
	JoinCodeRequired bool   `json:"joinCodeRequired,omitempty"`
	UpdatedAt        jsTime `json:"_updatedAt"`
}

func roomOf(r store.RoomWithMembers) roomView {
	names := r.Usernames
	if names == nil {
		names = []string{}
	}
	return roomView{
		ID: r.ID, Name: r.Name, FName: r.Name, T: r.Type, Usernames: names, Msgs: r.Msgs,
		TS: jsTime(r.CreatedAt), U: refView(r.Creator), LM: optTime(r.LastMessage),
		Default: r.Default, RO: r.ReadOnly, Topic: r.Topic, Description: r.Description,
		Purpose: r.Purpose, Announcement: r.Announcement, Archived: r.Archived,
		JoinCodeRequired: r.JoinCode != "", UpdatedAt: jsTime(r.UpdatedAt),
	}
}

func roomsOf(rs []store.RoomWithMembers) []roomView {
	out := make([]roomView, len(rs))
	for i, r := range rs {
		out[i] = roomOf(r)
	}
	return out
}

type messageView struct {
	ID          string          `json:"_id"`
	RID         string          `json:"rid"`
	Msg         string          `json:"msg"`
	TS          jsTime          `json:"ts"`
	U           userRefView     `json:"u"`
	T           string          `json:"t,omitempty"`
	Alias       string          `json:"alias,omitempty"`
	Emoji       string          `json:"emoji,omitempty"`
	Avatar      string          `json:"avatar,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Bot         *store.BotRef   `json:"bot,omitempty"`
	EditedAt    *jsTime         `json:"editedAt,omitempty"`
	EditedBy    *userRefView    `json:"editedBy,omitempty"`
	Role        string          `json:"role,omitempty"`
	UpdatedAt   jsTime          `json:"_updatedAt"`
	// Threads, mentions, reactions, pins and stars (Rocket.Chat's names and shapes); the
	// fast encoder leaves a message with any of them to encoding/json (hasExtras).
	TMID      string                     `json:"tmid,omitempty"`
	TCount    int                        `json:"tcount,omitempty"`
	TLM       *jsTime                    `json:"tlm,omitempty"`
	Replies   []string                   `json:"replies,omitempty"`
	Mentions  []userRefView              `json:"mentions,omitempty"`
	Reactions map[string]*store.Reaction `json:"reactions,omitempty"`
	Pinned    bool                       `json:"pinned,omitempty"`
	PinnedAt  *jsTime                    `json:"pinnedAt,omitempty"`
	PinnedBy  *userRefView               `json:"pinnedBy,omitempty"`
	Starred   []idView                   `json:"starred,omitempty"`
}

type idView struct {
	ID string `json:"_id"`
}

func (m *messageView) hasExtras() bool {
	return m.TMID != "" || m.TCount != 0 || m.TLM != nil || m.Replies != nil || m.Mentions != nil ||
		m.Reactions != nil || m.Pinned || m.PinnedAt != nil || m.PinnedBy != nil || m.Starred != nil
}

func messageOf(m *store.Message) messageView {
	v := messageView{
		ID: m.ID, RID: m.RoomID, Msg: m.Text, TS: jsTime(m.TS),
		U: userRefView{ID: m.User.ID, Username: m.User.Username, Name: m.User.Name}, T: m.Type,
		Alias: m.Alias, Emoji: m.Emoji, Avatar: m.Avatar, Attachments: m.Attachments, Bot: m.Bot,
		EditedAt: optTime(m.EditedAt), EditedBy: refView(m.EditedBy), Role: m.Role, UpdatedAt: jsTime(m.UpdatedAt),
		TMID: m.TMID, TCount: m.TCount, TLM: optTime(m.TLM), Replies: m.Replies,
		Reactions: m.Reactions, Pinned: m.Pinned, PinnedAt: optTime(m.PinnedAt), PinnedBy: refView(m.PinnedBy),
	}
	for _, r := range m.Mentions {
		v.Mentions = append(v.Mentions, userRefView{ID: r.ID, Username: r.Username})
	}
	for _, id := range m.Starred {
		v.Starred = append(v.Starred, idView{ID: id})
	}
	return v
}

func messagesOf(ms []*store.Message) []messageView {
	out := make([]messageView, len(ms))
	for i, m := range ms {
		out[i] = messageOf(m)
	}
	return out
}

type emailView struct {
	Address  string `json:"address"`
	Verified bool   `json:"verified"`
}

type userView struct {
	ID        string      `json:"_id"`
	Username  string      `json:"username"`
	Name      string      `json:"name"`
	Emails    []emailView `json:"emails,omitempty"`
	Active    bool        `json:"active"`
	Roles     []string    `json:"roles"`
	Status    string      `json:"status"`
	Type      string      `json:"type"`
	CreatedAt jsTime      `json:"createdAt"`
	UpdatedAt jsTime      `json:"_updatedAt"`
}

func userOf(u *store.User) userView {
	v := userView{
		ID: u.ID, Username: u.Username, Name: u.Name, Active: u.Active, Roles: u.Roles,
		Status: "offline", Type: u.Type, CreatedAt: jsTime(u.CreatedAt), UpdatedAt: jsTime(u.UpdatedAt),
	}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	if u.Email != "" {
		v.Emails = []emailView{{Address: u.Email, Verified: u.Verified}}
	}
	return v
}
