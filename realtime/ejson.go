package realtime

import (
	"encoding/json"
	"strconv"
	"time"

	"rocketlite/store"
)

// date is a time in EJSON: {"$date": <epoch ms>}. DDP clients (Meteor, the Rocket.Chat SDKs,
// purple-rocketchat) read dates only in this form; REST keeps ISO strings.
type date time.Time

func (d date) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"$date":`), strconv.FormatInt(time.Time(d).UnixMilli(), 10)...)
	return append(b, '}'), nil
}

func (d *date) UnmarshalJSON(b []byte) error {
	var v struct {
		Date *int64 `json:"$date"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Date == nil {
		return errBadParams
	}
	*d = date(time.UnixMilli(*v.Date))
	return nil
}

func optDate(t time.Time) *date {
	if t.IsZero() {
		return nil
	}
	d := date(t)
	return &d
}

type userRefDoc struct {
	ID       string `json:"_id"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
}

func refDoc(r store.UserRef) userRefDoc { return userRefDoc{r.ID, r.Username, r.Name} }

type messageDoc struct {
	ID          string          `json:"_id"`
	RID         string          `json:"rid"`
	Msg         string          `json:"msg"`
	TS          date            `json:"ts"`
	U           userRefDoc      `json:"u"`
	T           string          `json:"t,omitempty"`
	Alias       string          `json:"alias,omitempty"`
	Emoji       string          `json:"emoji,omitempty"`
	Avatar      string          `json:"avatar,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Mentions    []userRefDoc    `json:"mentions"`
	Channels    []any           `json:"channels"`
	EditedAt    *date           `json:"editedAt,omitempty"`
	EditedBy    *userRefDoc     `json:"editedBy,omitempty"`
	UpdatedAt   date            `json:"_updatedAt"`
	// Threads, reactions, pins and stars, as the REST API shows them (handlers/views.go).
	TMID      string                     `json:"tmid,omitempty"`
	TCount    int                        `json:"tcount,omitempty"`
	TLM       *date                      `json:"tlm,omitempty"`
	Replies   []string                   `json:"replies,omitempty"`
	Reactions map[string]*store.Reaction `json:"reactions,omitempty"`
	Pinned    bool                       `json:"pinned,omitempty"`
	PinnedAt  *date                      `json:"pinnedAt,omitempty"`
	PinnedBy  *userRefDoc                `json:"pinnedBy,omitempty"`
	Starred   []map[string]string        `json:"starred,omitempty"`
}

func messageOf(m *store.Message) messageDoc {
	d := messageDoc{ID: m.ID, RID: m.RoomID, Msg: m.Text, TS: date(m.TS), U: refDoc(m.User), T: m.Type,
		Alias: m.Alias, Emoji: m.Emoji, Avatar: m.Avatar, Attachments: m.Attachments,
		Mentions: []userRefDoc{}, Channels: []any{}, EditedAt: optDate(m.EditedAt), UpdatedAt: date(m.UpdatedAt)}
	if m.EditedBy != nil {
		e := refDoc(*m.EditedBy)
		d.EditedBy = &e
	}
	if m.Mentions != nil {
		// The store resolved them when the message was written: ids and names of real users.
		for _, r := range m.Mentions {
			d.Mentions = append(d.Mentions, userRefDoc{ID: r.ID, Username: r.Username})
		}
	} else {
		for _, name := range mentions(m.Text) {
			d.Mentions = append(d.Mentions, userRefDoc{Username: name})
		}
	}
	d.TMID, d.TCount, d.TLM, d.Replies = m.TMID, m.TCount, optDate(m.TLM), m.Replies
	d.Reactions, d.Pinned, d.PinnedAt = m.Reactions, m.Pinned, optDate(m.PinnedAt)
	if m.PinnedBy != nil {
		p := refDoc(*m.PinnedBy)
		d.PinnedBy = &p
	}
	for _, id := range m.Starred {
		d.Starred = append(d.Starred, map[string]string{"_id": id})
	}
	return d
}

type roomDoc struct {
	ID          string      `json:"_id"`
	Name        string      `json:"name"`
	FName       string      `json:"fname"`
	T           string      `json:"t"`
	U           *userRefDoc `json:"u,omitempty"`
	Msgs        int64       `json:"msgs"`
	TS          date        `json:"ts"`
	LM          *date       `json:"lm,omitempty"`
	Default     bool        `json:"default"`
	RO          bool        `json:"ro"`
	Topic       string      `json:"topic,omitempty"`
	Description string      `json:"description,omitempty"`
	Purpose     string      `json:"purpose,omitempty"`
	UpdatedAt   date        `json:"_updatedAt"`
}

func roomOf(r *store.Room) roomDoc {
	d := roomDoc{ID: r.ID, Name: r.Name, FName: r.Name, T: r.Type, Msgs: r.Msgs, TS: date(r.CreatedAt),
		LM: optDate(r.LastMessage), Default: r.Default, RO: r.ReadOnly, Topic: r.Topic,
		Description: r.Description, Purpose: r.Purpose, UpdatedAt: date(r.UpdatedAt)}
	if r.Creator != nil {
		c := refDoc(*r.Creator)
		d.U = &c
	}
	return d
}

// subscriptionDoc is a membership as Rocket.Chat's clients know it (collection
// rocketchat_subscription).
type subscriptionDoc struct {
	ID        string     `json:"_id"`
	RID       string     `json:"rid"`
	Name      string     `json:"name"`
	FName     string     `json:"fname"`
	T         string     `json:"t"`
	Open      bool       `json:"open"`
	Alert     bool       `json:"alert"`
	Unread    int        `json:"unread"`
	LS        *date      `json:"ls,omitempty"`
	TS        date       `json:"ts"`
	Roles     []string   `json:"roles,omitempty"`
	U         userRefDoc `json:"u"`
	UpdatedAt date       `json:"_updatedAt"`
}

func subscriptionOf(r *store.Room, m *store.Member, uid string, unread int, ls time.Time) subscriptionDoc {
	return subscriptionDoc{ID: r.ID + uid, RID: r.ID, Name: r.Name, FName: r.Name, T: r.Type, Open: !m.Hidden,
		Alert: unread > 0, Unread: unread, LS: optDate(ls), TS: date(m.Joined), Roles: m.Roles,
		U: userRefDoc{ID: uid, Username: m.Username}, UpdatedAt: date(r.UpdatedAt)}
}
