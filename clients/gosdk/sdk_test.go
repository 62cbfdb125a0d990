package gosdk_test

import (
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RocketChat/Rocket.Chat.Go.SDK/models"
	"github.com/RocketChat/Rocket.Chat.Go.SDK/rest"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/seed"
	"rocketlite/store"
)

const admin = "rocketchat.internal.admin.test" // user name and password of the test seed's admin

// startServer serves the API on a new database with the default seed and the Rocket.Chat
// test seed of testdata/.
func startServer(t *testing.T) (*url.URL, store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "sdk.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.ApplyDefault(st, h); err != nil {
		t.Fatal(err)
	}
	const seedFile = "../../testdata/rocketchat-test-seed.json"
	f, err := seed.Load(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Apply(st, h, seedFile, f); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.New(handlers.Config{Store: st, Hasher: h, Log: zerolog.Nop(), Version: "7.0.0-test"}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u, st
}

func channelIDs(chs []models.Channel) []string {
	var ids []string
	for _, c := range chs {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestGoSDKRestClient(t *testing.T) {
	u, st := startServer(t)
	c := rest.NewClient(u, false)

	info, err := c.GetServerInfo()
	if err != nil || info.Version != "7.0.0-test" {
		t.Fatalf("GetServerInfo = %+v, %v", info, err)
	}

	// Login: the SDK sends a form body user=…&password=….
	creds := &models.UserCredentials{Email: admin, Password: admin}
	if err := c.Login(creds); err != nil {
		t.Fatalf("Login: %v", err)
	}
	me, err := st.UserByUsername(admin)
	if err != nil {
		t.Fatal(err)
	}
	if creds.ID != me.ID || len(creds.Token) != 43 {
		t.Fatalf("Login gave id %q token %q, want id %q and a 43-character token", creds.ID, creds.Token, me.ID)
	}

	pub, err := c.GetPublicChannels()
	if err != nil {
		t.Fatalf("GetPublicChannels: %v", err)
	}
	if !slices.Contains(channelIDs(pub.Channels), "GENERAL") || pub.Total != len(pub.Channels) || pub.Count != len(pub.Channels) {
		t.Fatalf("GetPublicChannels = %+v", pub)
	}
	joined, err := c.GetJoinedChannels(nil)
	if err != nil || !slices.Contains(channelIDs(joined.Channels), "GENERAL") {
		t.Fatalf("GetJoinedChannels = %+v, %v", joined, err)
	}

	general, err := c.GetChannelInfo(&models.Channel{ID: "GENERAL"})
	if err != nil || general.Name != "general" || general.Type != "c" || !general.Default || general.Timestamp == nil || general.UpdatedAt == nil {
		t.Fatalf("GetChannelInfo(id) = %+v, %v", general, err)
	}
	byName, err := c.GetChannelInfo(&models.Channel{Name: "general"})
	if err != nil || byName.ID != "GENERAL" {
		t.Fatalf("GetChannelInfo(name) = %+v, %v", byName, err)
	}
	if _, err := c.GetChannelInfo(&models.Channel{Name: "no-such-room"}); err == nil || !strings.Contains(err.Error(), "does not match any channel") {
		t.Fatalf("GetChannelInfo(unknown) error = %v, want error-room-not-found's text", err)
	}

	// Create through the client's generic Post.
	var created rest.ChannelResponse
	if err := c.Post("channels.create", strings.NewReader(`{"name":"gosdk-room"}`), &created); err != nil {
		t.Fatalf("channels.create: %v", err)
	}
	room := created.Channel
	if room.ID == "" || room.Name != "gosdk-room" || room.Type != "c" || room.User == nil || room.User.UserName != admin {
		t.Fatalf("channels.create = %+v", room)
	}

	posted, err := c.PostMessage(&models.PostMessage{RoomID: room.ID, Text: "hello from the Go SDK"})
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	msg := posted.Message
	if msg.ID == "" || msg.RoomID != room.ID || msg.Msg != "hello from the Go SDK" || msg.User == nil || msg.User.UserName != admin || msg.Timestamp == nil {
		t.Fatalf("PostMessage = %+v", msg)
	}
	// Send addresses the room by name and HTML-escapes the text.
	if err := c.Send(&models.Channel{Name: "gosdk-room"}, "second <b>"); err != nil {
		t.Fatalf("Send: %v", err)
	}

	msgs, err := c.GetMessages(&room, &models.Pagination{Count: 10})
	if err != nil || len(msgs) != 2 || msgs[0].Msg != "second &lt;b&gt;" || msgs[1].ID != msg.ID {
		t.Fatalf("GetMessages = %+v, %v", msgs, err)
	}
	hist, err := c.ChannelHistory(&room, true, time.Now().Add(time.Minute), &models.Pagination{Count: 1})
	if err != nil || len(hist) != 1 || hist[0].Msg != "second &lt;b&gt;" {
		t.Fatalf("ChannelHistory = %+v, %v", hist, err)
	}
	old, err := c.ChannelHistory(&room, true, time.Now().Add(-time.Hour), nil)
	if err != nil || len(old) != 0 {
		t.Fatalf("ChannelHistory before the room existed = %+v, %v", old, err)
	}

	got, err := c.GetMessage(msg.ID)
	if err != nil || got.ID != msg.ID || got.Msg != msg.Msg || got.RoomID != room.ID {
		t.Fatalf("GetMessage = %+v, %v", got, err)
	}

	upd, err := c.UpdateMessage(&models.UpdateMessage{RoomID: room.ID, MsgID: msg.ID, Text: "edited by the Go SDK"})
	if err != nil || upd.Message.Msg != "edited by the Go SDK" || upd.Message.EditedAt == nil {
		t.Fatalf("UpdateMessage = %+v, %v", upd, err)
	}
	if got, err := c.GetMessage(msg.ID); err != nil || got.Msg != "edited by the Go SDK" {
		t.Fatalf("GetMessage after update = %+v, %v", got, err)
	}

	found, err := c.SearchMessages(&room, "EDITED")
	if err != nil || len(found) != 1 || found[0].ID != msg.ID {
		t.Fatalf("SearchMessages = %+v, %v", found, err)
	}

	// (The SDK's DeleteMessageResponse cannot receive the deleted message: its untagged
	// Message field loses the "message" key to Status.Message. Success is what it can check.)
	del, err := c.DeleteMessage(&models.DeleteMessage{RoomID: room.ID, MsgID: msg.ID})
	if err != nil || !del.Success {
		t.Fatalf("DeleteMessage = %+v, %v", del, err)
	}
	if _, err := c.GetMessage(msg.ID); err == nil {
		t.Fatal("GetMessage of a deleted message succeeded")
	}

	// A second user, created through the SDK, logs in and joins through Post.
	nu, err := c.CreateUser(&models.CreateUserRequest{Name: "Go Bot", Email: "gobot@example.org", Password: "gobot-password", Username: "gobot"})
	if err != nil || nu.User.ID == "" || nu.User.Username != "gobot" || !nu.User.Active || nu.User.CreatedAt.IsZero() || !slices.Equal(nu.User.Roles, []string{"user"}) {
		t.Fatalf("CreateUser = %+v, %v", nu, err)
	}
	c2 := rest.NewClient(u, false)
	if err := c2.Login(&models.UserCredentials{Email: "gobot@example.org", Password: "gobot-password"}); err != nil {
		t.Fatalf("Login of the new user by e-mail: %v", err)
	}
	var joinedRoom rest.ChannelResponse
	if err := c2.Post("channels.join", strings.NewReader(`{"roomId":"`+room.ID+`"}`), &joinedRoom); err != nil {
		t.Fatalf("channels.join: %v", err)
	}
	if joinedRoom.Channel.ID != room.ID {
		t.Fatalf("channels.join = %+v", joinedRoom.Channel)
	}
	j2, err := c2.GetJoinedChannels(nil)
	if err != nil || !slices.Contains(channelIDs(j2.Channels), room.ID) {
		t.Fatalf("GetJoinedChannels after join = %+v, %v", j2, err)
	}
	// The new user may not edit the admin's message.
	if _, err := c2.UpdateMessage(&models.UpdateMessage{RoomID: room.ID, MsgID: msgs[0].ID, Text: "hijacked"}); err == nil || err.Error() != "unauthorized" {
		t.Fatalf("UpdateMessage of another's message: %v, want unauthorized", err)
	}

	if err := c.LeaveChannel(&room); err != nil {
		t.Fatalf("LeaveChannel: %v", err)
	}
	j3, err := c.GetJoinedChannels(nil)
	if err != nil || slices.Contains(channelIDs(j3.Channels), room.ID) {
		t.Fatalf("GetJoinedChannels after leave = %+v, %v", j3, err)
	}

	bye, err := c.Logout()
	if err != nil || bye != "You've been logged out!" {
		t.Fatalf("Logout = %q, %v", bye, err)
	}
	// The client still sends the old token: it must be refused now.
	if _, err := c.GetPublicChannels(); err == nil || !strings.Contains(err.Error(), "You must be logged in") {
		t.Fatalf("GetPublicChannels after logout: %v", err)
	}
}

// Direct messages and private groups through the SDK's own calls: CreateDirectMessage,
// DMHistory, GetPrivateGroups, GroupHistory, GetGroupMembers. A third user reads neither.
func TestGoSDKDirectMessagesAndGroups(t *testing.T) {
	u, st := startServer(t)
	c := rest.NewClient(u, false)
	if err := c.Login(&models.UserCredentials{Email: admin, Password: admin}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	// The bot of the test seed has Rocket.Chat's fixed id.
	if cat, err := st.User("rocket.cat"); err != nil || cat.Username != "rocket.cat" {
		t.Fatalf("rocket.cat by id: %+v, %v", cat, err)
	}

	dm, err := c.CreateDirectMessage("rocket.cat")
	if err != nil || dm.ID == "" || dm.Rid != dm.ID || dm.Type != "d" || !slices.Equal(dm.Usernames, []string{"rocket.cat", admin}) {
		t.Fatalf("CreateDirectMessage = %+v, %v", dm, err)
	}
	if _, err := c.PostMessage(&models.PostMessage{Channel: "@rocket.cat", Text: "hello cat"}); err != nil {
		t.Fatalf("PostMessage to @rocket.cat: %v", err)
	}
	hist, err := c.DMHistory(&models.Channel{ID: dm.ID}, true, time.Now().Add(time.Minute), &models.Pagination{Count: 10})
	if err != nil || len(hist) != 1 || hist[0].Msg != "hello cat" || hist[0].RoomID != dm.ID {
		t.Fatalf("DMHistory = %+v, %v", hist, err)
	}

	var created rest.GroupResponse
	if err := c.Post("groups.create", strings.NewReader(`{"name":"gosdk-group","members":["rocket.cat"]}`), &created); err != nil {
		t.Fatalf("groups.create: %v", err)
	}
	group := created.Group
	if group.ID == "" || group.Type != "p" || group.Name != "gosdk-group" {
		t.Fatalf("groups.create = %+v", group)
	}
	groups, err := c.GetPrivateGroups()
	if err != nil || !slices.Contains(channelIDs(groups.Groups), group.ID) || groups.Total != 1 {
		t.Fatalf("GetPrivateGroups = %+v, %v", groups, err)
	}
	if _, err := c.PostMessage(&models.PostMessage{RoomID: group.ID, Text: "group news"}); err != nil {
		t.Fatalf("PostMessage to the group: %v", err)
	}
	gh, err := c.GroupHistory(&group, true, time.Now().Add(time.Minute), nil)
	if err != nil || len(gh) != 1 || gh[0].Msg != "group news" {
		t.Fatalf("GroupHistory = %+v, %v", gh, err)
	}
	for _, ch := range []*models.Channel{{ID: group.ID}, {Name: "gosdk-group"}} {
		members, err := c.GetGroupMembers(ch)
		var names []string
		for _, m := range members {
			names = append(names, m.UserName)
		}
		if err != nil || !slices.Equal(names, []string{"rocket.cat", admin}) {
			t.Fatalf("GetGroupMembers(%+v) = %+v, %v", ch, members, err)
		}
	}

	// A third user: neither the direct messages nor the group, which does not exist for them.
	if _, err := c.CreateUser(&models.CreateUserRequest{Name: "Eve", Email: "eve@example.org", Password: "eve-password", Username: "eve"}); err != nil {
		t.Fatal(err)
	}
	c2 := rest.NewClient(u, false)
	if err := c2.Login(&models.UserCredentials{Email: "eve@example.org", Password: "eve-password"}); err != nil {
		t.Fatal(err)
	}
	if h, err := c2.DMHistory(&models.Channel{ID: dm.ID}, true, time.Now().Add(time.Minute), nil); err == nil || len(h) != 0 {
		t.Fatalf("DMHistory by a third user = %+v, %v", h, err)
	}
	if h, err := c2.GroupHistory(&group, true, time.Now().Add(time.Minute), nil); err == nil || len(h) != 0 || !strings.Contains(err.Error(), "does not match any group") {
		t.Fatalf("GroupHistory by a non-member = %+v, %v", h, err)
	}
	if m, err := c2.GetGroupMembers(&models.Channel{ID: group.ID}); err == nil || len(m) != 0 {
		t.Fatalf("GetGroupMembers by a non-member = %+v, %v", m, err)
	}
	if g2, err := c2.GetPrivateGroups(); err != nil || len(g2.Groups) != 0 {
		t.Fatalf("GetPrivateGroups of a non-member = %+v, %v", g2, err)
	}
}

// The SDK's calls of the chat extras and users families: GetMentionedMessages (mentions
// parsed from @username), CreateToken (user-generate-access-token) and SetUserAvatar (a URL,
// which rocketlite refuses with a reason: it fetches nothing).
func TestGoSDKChatExtras(t *testing.T) {
	u, st := startServer(t)
	c := rest.NewClient(u, false)
	if err := c.Login(&models.UserCredentials{Email: admin, Password: admin}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	nu, err := c.CreateUser(&models.CreateUserRequest{Name: "Mia", Email: "mia@example.org", Password: "mia-password", Username: "mia"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	general := &models.Channel{ID: "GENERAL"}
	if _, err := c.PostMessage(&models.PostMessage{RoomID: "GENERAL", Text: "ping @mia, and @nobody"}); err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if _, err := c.PostMessage(&models.PostMessage{RoomID: "GENERAL", Text: "not for mia"}); err != nil {
		t.Fatalf("PostMessage: %v", err)
	}

	// CreateToken: the admin mints a login for mia, and the SDK logs in with it.
	tok, err := c.CreateToken("", "mia")
	if err != nil || tok.ID != nu.User.ID || tok.Token == "" {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	mia := rest.NewClient(u, false)
	if err := mia.Login(tok); err != nil {
		t.Fatalf("Login with the minted token: %v", err)
	}
	got, err := mia.GetMentionedMessages(general, &models.Pagination{Count: 10})
	if err != nil || len(got) != 1 || got[0].Msg != "ping @mia, and @nobody" {
		t.Fatalf("GetMentionedMessages = %+v, %v", got, err)
	}
	// Mia is no admin: she mints no tokens.
	if _, err := mia.CreateToken("", admin); err == nil || err.Error() != "unauthorized" {
		t.Fatalf("CreateToken by a plain user: %v, want unauthorized", err)
	}

	if _, err := c.SetUserAvatar("", "", "http://169.254.169.254/latest"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("SetUserAvatar by URL: %v, want a refusal", err)
	}
	if a, err := st.AvatarOf(admin); err != nil || a != nil {
		t.Fatalf("an avatar was stored: %+v, %v", a, err)
	}
}
