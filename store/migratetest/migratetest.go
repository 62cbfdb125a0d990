// Package migratetest fills a store with every kind of record through the store contract,
// and compares two stores through the contract: the tests of rocketlite migrate (bbolt to
// PostgreSQL) fill a bbolt file, copy it, and read both sides back.
package migratetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
)

// Start is the fixture's clock at the beginning of Fill.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Clock is the settable clock both stores of a comparison must share (tokens expire by it).
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Fixture is what Fill wrote, for Compare to check beyond "both sides agree".
type Fixture struct {
	Clock     *Clock
	Hasher    *auth.Hasher
	Users     map[string]*store.User // by username
	Passwords map[string]string      // by username
	// Tokens are login tokens as clients hold them (live and expired), with their owner.
	Tokens map[string]string
	// Live reports which of Tokens still authenticate (by the fixture's clock).
	Live map[string]bool
	// PersonalToken is ann's personal access token, which never expires (a server on the
	// real clock takes it).
	PersonalToken string
	Rooms         map[string]string // room name (direct: "ann-bob") → id
	Meta          map[string]string
	Messages      int // messages in rooms that still exist, system messages included
	Deleted       int // deleted messages (tombstones)
	// BobUnread and BobMentions are bob's subscription to lobby after Fill.
	BobUnread, BobMentions int
}

// Fill writes, through the contract, every kind of record a server makes: users (one
// deactivated, one deleted after posting), session tokens live and expired, a personal
// access token, an avatar, preferences, the default roles and permissions and a custom role,
// public, private, direct, read-only and archived rooms, memberships with room roles, hidden
// rooms, read marks and mentions, messages with attachments, edits, reactions, stars, pins,
// a thread, a deletion, a reader of a public room who is not a member, webhooks and meta
// keys. perRoom is the number of plain messages appended to lobby (bulk, for big fills).
func Fill(t testing.TB, st store.Store, clock *Clock, perRoom int) *Fixture {
	t.Helper()
	h, err := auth.NewHasher(4)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fixture{Clock: clock, Hasher: h, Users: map[string]*store.User{}, Passwords: map[string]string{},
		Tokens: map[string]string{}, Live: map[string]bool{}, Rooms: map[string]string{}, Meta: map[string]string{}}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fill: %s: %v", what, err)
		}
	}
	tick := func() { clock.T = clock.T.Add(1500 * time.Millisecond) }
	if _, err := seed.ApplyDefault(st, h); err != nil {
		t.Fatalf("fill: default seed: %v", err)
	}
	must("role", st.AddRole(&store.Role{Name: "auditor", Description: "Reads the audit log", Scope: "Users"}))
	_, err = st.EnsurePermission(&store.Permission{ID: "view-audit", Roles: []string{"admin", "auditor"}})
	must("permission", err)
	if r, err := st.RoomByName("general"); err == nil { // the default seed's room
		f.Rooms["general"] = r.ID
	}

	for _, u := range []struct {
		name  string
		roles []string
		typ   string
	}{{"ann", []string{"admin", "user"}, "user"}, {"bob", []string{"user"}, "user"}, {"cy", []string{"bot"}, "bot"},
		{"dee", []string{"user"}, "user"}, {"eve", []string{"user"}, "user"}, {"zed", []string{"user"}, "user"}} {
		pw := "pw-" + u.name + "-Ünïcode"
		hash, err := h.Hash(pw)
		must("hash", err)
		user := &store.User{Username: u.name, Name: strings.ToUpper(u.name[:1]) + u.name[1:] + " Ñame", Email: u.name + "@Example.org",
			Hash: hash, Roles: u.roles, Active: true, Type: u.typ, Verified: u.name == "ann"}
		must("user "+u.name, st.CreateUser(user, false))
		f.Users[u.name], f.Passwords[u.name] = user, pw
		tick()
	}
	ann, bob, dee, eve, zed := f.Users["ann"], f.Users["bob"], f.Users["dee"], f.Users["eve"], f.Users["zed"]
	_, err = st.AddUserRole(bob.ID, "auditor")
	must("user role", err)
	_, err = st.UpdateUser(eve.ID, func(u *store.User) error { u.Status, u.StatusText = "away", "lunch"; return nil })
	must("status", err)

	token := func(u *store.User, ttl time.Duration) string {
		t.Helper()
		raw := auth.NewToken()
		cur, err := st.User(u.ID)
		must("user", err)
		must("token", st.AddToken(cur, auth.HashToken(raw), clock.T.Add(ttl)))
		f.Tokens[raw] = u.ID
		return raw
	}
	for _, u := range []*store.User{ann, bob, eve} {
		f.Live[token(u, time.Hour)] = true
	}
	deeToken := token(dee, time.Hour) // refused once dee is deactivated
	f.Live[token(ann, 24*time.Hour)] = true
	expired := token(bob, time.Minute) // expires below, stays stored until swept
	f.Live[expired] = false
	pat := auth.NewToken()
	must("personal token", st.SetPersonalToken(ann.ID, "monitor", auth.HashToken(pat), pat[len(pat)-6:], false))
	f.Tokens[pat], f.Live[pat], f.PersonalToken = ann.ID, true, pat
	gone := auth.NewToken() // its name outlives it: a password change revoked every token of eve
	must("personal token", st.SetPersonalToken(eve.ID, "old-script", auth.HashToken(gone), gone[len(gone)-6:], false))
	_, err = st.RevokeUserTokens(eve.ID)
	must("revoke", err)
	delete(f.Live, f.tokenOf(eve.ID))
	f.Tokens[gone], f.Live[gone] = eve.ID, false
	must("avatar", st.SetAvatar(bob.ID, &store.Avatar{ContentType: "image/png", Data: []byte("\x89PNG\r\n\x1a\n\x00binary")}))
	_, err = st.SetPreferences(ann.ID, map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`), "emails": json.RawMessage(`{"digest":false}`)})
	must("preferences", err)
	must("meta", st.SetMeta("custom-setting", "on"))

	room := func(name, typ string, members []string, owner string, change func(r *store.Room)) string {
		t.Helper()
		r := &store.Room{Name: name, Type: typ, Creator: &store.UserRef{ID: ann.ID, Username: ann.Username}}
		if change != nil {
			change(r)
		}
		must("room "+name, st.CreateRoom(r, members, owner))
		f.Rooms[name] = r.ID
		tick()
		return r.ID
	}
	general := room("lobby", store.Public, []string{ann.ID, bob.ID, dee.ID, zed.ID}, ann.ID, func(r *store.Room) { r.Default, r.Topic = true, "Everything" })
	secret := room("secret", store.Private, []string{ann.ID, bob.ID}, ann.ID, func(r *store.Room) { r.Description = "Shh" })
	news := room("news", store.Public, []string{ann.ID}, ann.ID, func(r *store.Room) {
		r.ReadOnly, r.Announcement, r.Purpose, r.JoinCode = true, "Read me", "news", "s3cret"
	})
	old := room("old", store.Public, []string{ann.ID, bob.ID}, ann.ID, nil)
	doomed := room("doomed", store.Public, []string{ann.ID}, ann.ID, nil)
	dm, _, err := st.OpenDirect(ann, []string{bob.ID})
	must("direct", err)
	f.Rooms["ann-bob"] = dm.ID

	post := func(rid string, u *store.User, m *store.Message) *store.Message {
		t.Helper()
		cur, err := st.User(u.ID)
		must("author", err)
		must("post", st.PostMessage(rid, cur, m))
		tick()
		return m
	}
	_, err = st.Join(general, eve.ID)
	must("join", err)
	first := post(general, ann, &store.Message{Text: "Hello @bob and @all, this is the lobby"})
	post(general, bob, &store.Message{Text: "hello ann", Alias: "Bobby", Emoji: ":smile:"})
	post(general, ann, &store.Message{Text: "with attachments", Attachments: json.RawMessage(`[{"title":"t","text":"x","fields":[{"short":true,"title":"a","value":"b"}]}]`)})
	post(general, bob, &store.Message{Text: "a reply", TMID: first.ID})
	post(general, dee, &store.Message{Text: "another reply", TMID: first.ID})
	post(general, zed, &store.Message{Text: "zed was here"})
	msgs := make([]*store.Message, 0, perRoom)
	for i := range perRoom {
		msgs = append(msgs, &store.Message{Text: "bulk message " + strings.Repeat("x", i%40), User: store.UserRef{ID: ann.ID, Username: ann.Username}, TS: clock.T.Add(time.Duration(i) * time.Millisecond)})
	}
	if len(msgs) > 0 {
		must("append", st.AppendMessages(general, msgs))
		clock.T = clock.T.Add(time.Duration(perRoom)*time.Millisecond + time.Second)
	}
	edited := post(general, bob, &store.Message{Text: "tpyo"})
	_, err = st.UpdateMessage(edited.ID, bob, func(m *store.Message) error { m.Text = "typo fixed"; return nil })
	must("edit", err)
	tick()
	_, err = st.React(first.ID, bob, ":+1:", nil)
	must("react", err)
	_, err = st.React(first.ID, dee, ":+1:", nil)
	must("react", err)
	_, err = st.Star(first.ID, bob, true)
	must("star", err)
	_, err = st.Pin(first.ID, ann, true, func(string) error { return nil })
	must("pin", err)
	tick()
	doomedMsg := post(general, dee, &store.Message{Text: "to be deleted"})
	_, err = st.DeleteMessage(doomedMsg.ID, ann, func(*store.Message) error { return nil })
	must("delete message", err)
	tick()
	cur, err := st.User(bob.ID)
	must("user", err)
	must("mark read", st.MarkRead(general, cur))
	tick()
	post(general, ann, &store.Message{Text: "after bob read: @bob look"})
	post(general, dee, &store.Message{Text: "and one more"})
	_, err = st.Leave(general, eve.ID)
	must("leave", err)
	cur, err = st.User(eve.ID)
	must("user", err)
	must("mark read (eve)", st.MarkRead(general, cur)) // a reader of a public room, not a member
	tick()

	post(secret, ann, &store.Message{Text: "secret one"})
	s2 := post(secret, bob, &store.Message{Text: "secret two"})
	post(secret, ann, &store.Message{Text: "secret three"})
	cur, err = st.User(ann.ID)
	must("user", err)
	must("mark unread", st.MarkUnread(secret, cur, s2.ID))
	post(news, ann, &store.Message{Text: "news of the day"})
	post(dm.ID, ann, &store.Message{Text: "direct hello"})
	post(dm.ID, ann, &store.Message{Text: "direct again"})
	post(old, bob, &store.Message{Text: "before archiving"})
	must("archive", st.SetArchived(old, true, ann))
	post(doomed, ann, &store.Message{Text: "gone with its room"})
	must("delete room", st.DeleteRoom(doomed))
	delete(f.Rooms, "doomed")
	must("room role", st.SetRoomRole(general, bob.ID, store.RoleModerator, true, ann))
	_, err = st.SetRoomOpen(general, dee.ID, false)
	must("hide", err)
	tick()
	_, err = st.UpdateUser(dee.ID, func(u *store.User) error { u.Active = false; return nil })
	must("deactivate", err)
	f.Live[deeToken] = false
	must("delete user", st.DeleteUser(zed.ID))
	delete(f.Users, "zed")
	delete(f.Passwords, "zed")

	must("hook", st.CreateIntegration(&store.Integration{Type: store.IncomingWebhook, Name: "ci", Enabled: true, UserID: f.Users["cy"].ID,
		Channels: []string{"#lobby"}, Alias: "CI", Emoji: ":robot:", TokenHash: store.HookTokenHash("hook-token"), CreatedBy: ann.Ref()}))
	tick()
	must("hook", st.CreateIntegration(&store.Integration{Type: store.OutgoingWebhook, Name: "echo", Enabled: false, UserID: f.Users["cy"].ID,
		Channels: []string{"#lobby"}, Event: "sendMessage", URLs: []string{"http://127.0.0.1:9/hook"}, TriggerWords: []string{"!echo"},
		Token: "shared-secret", CreatedBy: ann.Ref()}))
	clock.T = clock.T.Add(2 * time.Minute) // bob's short token has expired

	for _, k := range []string{"default-seed-applied", "custom-setting"} {
		v, err := st.Meta(k)
		must("meta", err)
		f.Meta[k] = v
	}
	sub, err := st.SubscriptionOf(general, bob.ID)
	must("subscription", err)
	f.BobUnread, f.BobMentions = sub.Unread, sub.Member.Mentions
	f.Deleted = 1
	for _, rid := range f.Rooms {
		r, err := st.Room(rid)
		must("room", err)
		f.Messages += int(r.Msgs)
	}
	return f
}

func (f *Fixture) tokenOf(uid string) string {
	for raw, id := range f.Tokens {
		if id == uid && f.Live[raw] {
			return raw
		}
	}
	return ""
}

// Compare reads every record of Fill back from src and dst through the contract and fails t
// where they differ, or where src does not hold what Fill wrote (so that two empty stores do
// not compare equal).
func Compare(t testing.TB, f *Fixture, src, dst store.Store) {
	t.Helper()
	c := &comparer{t: t, f: f, src: src, dst: dst}
	c.users()
	c.rooms()
	c.rbac()
}

type comparer struct {
	t        testing.TB
	f        *Fixture
	src, dst store.Store
}

// same fails unless a and b encode to the same JSON. An empty list and none (null) are the
// same answer.
func (c *comparer) same(what string, a, b any) {
	c.t.Helper()
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		c.t.Fatalf("%s: %v %v", what, errA, errB)
	}
	if string(ja) == "null" {
		ja = []byte("[]")
	}
	if string(jb) == "null" {
		jb = []byte("[]")
	}
	if string(ja) != string(jb) {
		c.t.Errorf("%s differs:\n source: %s\n target: %s", what, ja, jb)
	}
}

// both calls fn on each store; errors must agree.
func both[T any](c *comparer, what string, fn func(st store.Store) (T, error)) (T, T) {
	c.t.Helper()
	a, errA := fn(c.src)
	b, errB := fn(c.dst)
	if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
		c.t.Fatalf("%s: source error %v, target error %v", what, errA, errB)
	}
	return a, b
}

func (c *comparer) users() {
	t, f := c.t, c.f
	for k, v := range f.Meta {
		a, b := both(c, "meta "+k, func(st store.Store) (string, error) { return st.Meta(k) })
		if a != v || b != v {
			t.Errorf("meta %s: source %q, target %q, want %q", k, a, b, v)
		}
	}
	a, b := both(c, "users", func(st store.Store) ([]*store.User, error) { l, _, err := st.Users(0, 1000); return l, err })
	if len(a) != len(f.Users) {
		t.Errorf("source has %d users, want %d", len(a), len(f.Users))
	}
	c.same("users", a, b)
	for name, u := range f.Users {
		du, err := c.dst.UserByUsername(strings.ToUpper(name))
		if err != nil {
			t.Fatalf("target user %s: %v", name, err)
		}
		if !f.Hasher.Check(du.Hash, f.Passwords[name]) {
			t.Errorf("user %s: the password does not match the copied hash", name)
		}
		if _, err := c.dst.UserByEmail(strings.ToUpper(u.Email)); err != nil {
			t.Errorf("target user by e-mail %s: %v", u.Email, err)
		}
		p1, p2 := both(c, "preferences", func(st store.Store) (json.RawMessage, error) { return st.Preferences(u.ID) })
		c.same("preferences of "+name, p1, p2)
		a1, a2 := both(c, "avatar", func(st store.Store) (*store.Avatar, error) { return st.AvatarOf(name) })
		c.same("avatar of "+name, a1, a2)
		t1, t2 := both(c, "personal tokens", func(st store.Store) ([]*store.PersonalToken, error) { return st.PersonalTokens(u.ID) })
		c.same("personal tokens of "+name, t1, t2)
		n1, n2 := both(c, "tokens", func(st store.Store) (int, error) { return st.UserTokenCount(u.ID) })
		c.same("token count of "+name, n1, n2)
		l1, l2 := both(c, "live token", func(st store.Store) (bool, error) { return st.HasLiveToken(u.ID) })
		c.same("live token of "+name, l1, l2)
		s1, s2 := both(c, "subscriptions", func(st store.Store) ([]store.Subscription, error) { return st.Subscriptions(u.ID, "") })
		c.same("subscriptions of "+name, s1, s2)
		r1, r2 := both(c, "user rooms", func(st store.Store) ([]string, error) {
			ids, err := st.UserRoomIDs(u.ID)
			slices.Sort(ids)
			return ids, err
		})
		c.same("rooms of "+name, r1, r2)
	}
	if f.BobUnread == 0 || f.BobMentions == 0 {
		t.Errorf("bob's subscription to lobby: %d unread, %d mentions; Fill meant both > 0", f.BobUnread, f.BobMentions)
	}
	for raw, uid := range f.Tokens {
		h := auth.HashToken(raw)
		for i, st := range []store.Store{c.src, c.dst} {
			u, err := st.Authenticate(uid, h)
			if f.Live[raw] != (err == nil) || err == nil && u.ID != uid {
				t.Errorf("store %d: token of %s (live %v): Authenticate = %v", i, uid, f.Live[raw], err)
			}
		}
	}
	n1, n2 := both(c, "token count", func(st store.Store) (int, error) { return st.TokenCount() })
	c.same("token count", n1, n2)
}

func (c *comparer) rooms() {
	t, f := c.t, c.f
	a, b := both(c, "rooms", func(st store.Store) ([]store.RoomWithMembers, error) {
		l, _, err := st.Rooms(func(*store.Room) bool { return true }, 0, 1000)
		return l, err
	})
	if len(a) != len(f.Rooms) {
		t.Errorf("source has %d rooms, want %d", len(a), len(f.Rooms))
	}
	c.same("rooms", a, b)
	p1, p2 := both(c, "public rooms", func(st store.Store) ([]store.RoomWithMembers, error) {
		l, _, err := st.PublicRooms(0, 1000)
		return l, err
	})
	c.same("public rooms", p1, p2)
	ann, bob := f.Users["ann"], f.Users["bob"]
	total := 0
	for name, rid := range f.Rooms {
		m1, m2 := both(c, "members", func(st store.Store) (store.RoomWithMembers, error) { return st.RoomMembers(rid) })
		c.same("members of "+name, m1, m2)
		for _, u := range f.Users {
			x1, x2 := both(c, "membership", func(st store.Store) (*store.Member, error) { return st.Membership(rid, u.ID) })
			c.same("membership of "+u.Username+" in "+name, x1, x2)
		}
		h1, h2 := both(c, "history", func(st store.Store) ([]*store.Message, error) {
			return st.History(rid, ann, store.HistoryQuery{Count: 1 << 20})
		})
		c.same("history of "+name, h1, h2)
		total += len(h1)
		if len(h1) == len(h2) {
			for i := range h1 {
				if h1[i].Seq != h2[i].Seq {
					t.Errorf("history of %s: message %s has seq %d, copy %d", name, h1[i].ID, h1[i].Seq, h2[i].Seq)
					break
				}
			}
		}
		for _, m := range h1 {
			g1, g2 := both(c, "message", func(st store.Store) (*store.Message, error) { return st.Message(m.ID, ann) })
			c.same("message "+m.ID, g1, g2)
			if m.TCount > 0 {
				r1, r2 := both(c, "thread", func(st store.Store) ([]*store.Message, error) {
					l, _, err := st.Marked(rid, store.MarkedQuery{Kind: "thread", TMID: m.ID, Reader: ann, Count: 100})
					return l, err
				})
				c.same("thread "+m.ID, r1, r2)
			}
		}
		u1, u2 := both(c, "sync", func(st store.Store) ([2]any, error) {
			up, del, err := st.Sync(rid, ann, time.Time{})
			return [2]any{up, del}, err
		})
		c.same("sync of "+name, u1, u2)
		for _, kind := range []string{"pinned", "starred", "mentioned", "threads"} {
			k1, k2 := both(c, "marked", func(st store.Store) ([]*store.Message, error) {
				l, _, err := st.Marked(rid, store.MarkedQuery{Kind: kind, Reader: bob, Count: 100})
				return l, err
			})
			c.same(kind+" of "+name, k1, k2)
		}
		q1, q2 := both(c, "search", func(st store.Store) ([]*store.Message, error) { return st.Search(rid, ann, "HELLO", 100) })
		c.same("search of "+name, q1, q2)
		for _, u := range []*store.User{bob, f.Users["eve"]} {
			un1, un2 := both(c, "unread", func(st store.Store) ([]*store.Message, error) {
				l, err := st.History(rid, u, store.HistoryQuery{Count: 1 << 20, Unread: true})
				if store.KindOf(err) != 0 {
					return nil, nil // not readable to u: the same on both sides is checked by History above
				}
				return l, err
			})
			c.same("unread history of "+u.Username+" in "+name, un1, un2)
		}
	}
	if total != f.Messages {
		t.Errorf("source histories hold %d messages, Fill counted %d", total, f.Messages)
	}
}

func (c *comparer) rbac() {
	r1, r2 := both(c, "roles", func(st store.Store) ([]*store.Role, error) { return st.Roles() })
	if !slices.ContainsFunc(r1, func(r *store.Role) bool { return r.Name == "auditor" }) {
		c.t.Errorf("source lacks the role auditor")
	}
	c.same("roles", r1, r2)
	p1, p2 := both(c, "permissions", func(st store.Store) ([]*store.Permission, error) { return st.Permissions() })
	c.same("permissions", p1, p2)
	for _, u := range c.f.Users {
		u, err := c.src.User(u.ID)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, perm := range []string{"view-audit", "create-c", "delete-message"} {
			rid := c.f.Rooms["lobby"]
			h1, h2 := both(c, "permission", func(st store.Store) (bool, error) { return st.HasPermission(u, perm, rid) })
			c.same("permission "+perm+" of "+u.Username, h1, h2)
		}
	}
	i1, i2 := both(c, "integrations", func(st store.Store) ([]*store.Integration, error) { return st.Integrations(nil) })
	if len(i1) != 2 {
		c.t.Errorf("source has %d integrations, want 2", len(i1))
	}
	c.same("integrations", i1, i2)
}
