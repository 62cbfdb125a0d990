package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rocketlite/store"
)

// Rooms, memberships and subscriptions of the contract.

// roomEvents records the events a store publishes (on PostgreSQL they come through the
// events table, after the write returned: wait for them).
type roomEvents struct {
	mu  sync.Mutex
	got []store.Event
}

func (r *roomEvents) Publish(events []store.Event) {
	r.mu.Lock()
	r.got = append(r.got, events...)
	r.mu.Unlock()
}

// take waits until n events arrived (failing after 5 s, or if more came), and returns their
// kinds and the events, forgetting them.
func (r *roomEvents) take(t *testing.T, what string, n int) ([]store.EventKind, []store.Event) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := slices.Clone(r.got)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			// Let a surplus show up before judging.
			time.Sleep(20 * time.Millisecond)
			r.mu.Lock()
			got = slices.Clone(r.got)
			r.got = nil
			r.mu.Unlock()
			var kinds []store.EventKind
			for _, ev := range got {
				kinds = append(kinds, ev.Kind)
			}
			if len(got) != n {
				t.Fatalf("%s: events %v, want %d", what, kinds, n)
			}
			return kinds, got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustRoom(t *testing.T, st store.Store, r *store.Room, owner string, members ...string) *store.Room {
	t.Helper()
	if err := st.CreateRoom(r, members, owner); err != nil {
		t.Fatalf("CreateRoom(%s): %v", r.Name, err)
	}
	return r
}

func usernamesOf(t *testing.T, st store.Store, rid string) []string {
	t.Helper()
	rm, err := st.RoomMembers(rid)
	if err != nil {
		t.Fatal(err)
	}
	return rm.Usernames
}

func roomNames(rooms []store.RoomWithMembers) []string {
	var out []string
	for _, r := range rooms {
		out = append(out, r.Name)
	}
	return out
}

func mustJoin(t *testing.T, st store.Store, rid, uid string) {
	t.Helper()
	if joined, err := st.Join(rid, uid); err != nil || !joined {
		t.Fatalf("Join(%s, %s) = %v, %v", rid, uid, joined, err)
	}
}

func init() {
	add("RoomCreateAndLookup", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		r := mustRoom(t, st, &store.Room{Name: "Lobby", Topic: "hello"}, ann.ID, bob.ID, ann.ID)
		if r.ID == "" || r.Type != store.Public || !r.CreatedAt.Equal(clock.T) || !r.UpdatedAt.Equal(clock.T) {
			t.Fatalf("created room %+v", r)
		}
		for _, get := range []func() (*store.Room, error){
			func() (*store.Room, error) { return st.Room(r.ID) },
			func() (*store.Room, error) { return st.RoomByName("lobby") },
			func() (*store.Room, error) { return st.RoomByName("LOBBY") },
		} {
			got, err := get()
			if err != nil || got.ID != r.ID || got.Name != "Lobby" || got.Topic != "hello" || !got.CreatedAt.Equal(clock.T) || got.Msgs != 0 {
				t.Fatalf("lookup = %+v, %v", got, err)
			}
		}
		if got := usernamesOf(t, st, r.ID); !slices.Equal(got, []string{"ann", "bob"}) {
			t.Fatalf("members %v", got)
		}
		m, err := st.Membership(r.ID, ann.ID)
		if err != nil || m == nil || !slices.Equal(m.Roles, []string{store.RoleOwner}) || m.Username != "ann" || !m.Joined.Equal(clock.T) {
			t.Fatalf("owner's membership %+v, %v", m, err)
		}
		if m, err := st.Membership(r.ID, bob.ID); err != nil || m == nil || len(m.Roles) != 0 {
			t.Fatalf("member's membership %+v, %v", m, err)
		}
		if m, err := st.Membership(r.ID, "nobody"); err != nil || m != nil {
			t.Fatalf("a stranger's membership %+v, %v", m, err)
		}
		if ids, err := st.UserRoomIDs(bob.ID); err != nil || !slices.Equal(ids, []string{r.ID}) {
			t.Fatalf("UserRoomIDs = %v, %v", ids, err)
		}
		if ids, err := st.UserRoomIDs("nobody"); err != nil || len(ids) != 0 {
			t.Fatalf("UserRoomIDs of a stranger = %v, %v", ids, err)
		}
		_, err = st.Room("nope")
		wantErr(t, "Room of an unknown id", err, store.NotFound, "invalid-room")
		_, err = st.RoomByName("nope")
		wantErr(t, "RoomByName of an unknown name", err, store.NotFound, "invalid-room")
		_, err = st.RoomByName("")
		wantErr(t, "RoomByName of no name", err, store.NotFound, "invalid-room")
		_, err = st.RoomMembers("nope")
		wantErr(t, "RoomMembers of an unknown room", err, store.NotFound, "invalid-room")
		// Keys that no record can have (a NUL byte, invalid UTF-8: PostgreSQL's text refuses
		// both) find nothing, as any unknown key.
		for _, bad := range []string{"a\x00b", "\xff"} {
			_, err = st.Room(bad)
			wantErr(t, "Room of an impossible id", err, store.NotFound, "invalid-room")
			_, err = st.RoomByName(bad)
			wantErr(t, "RoomByName of an impossible name", err, store.NotFound, "invalid-room")
			_, err = st.Join(bad, ann.ID)
			wantErr(t, "Join of an impossible id", err, store.NotFound, "invalid-room")
			_, err = st.Join(r.ID, bad)
			wantErr(t, "Join of an impossible user", err, store.NotFound, "invalid-user")
			if m, err := st.Membership(r.ID, bad); err != nil || m != nil {
				t.Fatalf("Membership of an impossible user = %+v, %v", m, err)
			}
			if ids, err := st.UserRoomIDs(bad); err != nil || len(ids) != 0 {
				t.Fatalf("UserRoomIDs of an impossible user = %v, %v", ids, err)
			}
			if subs, err := st.Subscriptions(ann.ID, bad); err != nil || len(subs) != 0 {
				t.Fatalf("Subscriptions of an impossible room = %v, %v", subs, err)
			}
			wantErr(t, "MarkUnread from an impossible message", st.MarkUnread(r.ID, ann, bad), store.Invalid, "error-no-message-for-unread")
		}
		// A chosen id is kept.
		mustRoom(t, st, &store.Room{ID: "FIXED", Name: "fixed", Type: store.Private}, "")
		if got, err := st.Room("FIXED"); err != nil || got.Type != store.Private {
			t.Fatalf("fixed id: %+v, %v", got, err)
		}
	})

	add("RoomCreateRefusals", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ann := mustUser(t, st, "ann1", "ann")
		mustRoom(t, st, &store.Room{ID: "R1", Name: "Lobby"}, "")
		for _, c := range []struct {
			what  string
			rooms []store.NewRoom
			code  string
		}{
			{"a name taken in another case", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}}, {Room: &store.Room{Name: "LOBBY"}}}, "duplicate-name"},
			{"a name twice in the batch", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}}, {Room: &store.Room{Name: "Fresh1"}}}, "duplicate-name"},
			{"a taken id", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}}, {Room: &store.Room{ID: "R1", Name: "fresh2"}}}, "invalid-id"},
			{"an id twice in the batch", []store.NewRoom{{Room: &store.Room{ID: "X", Name: "fresh1"}}, {Room: &store.Room{ID: "X", Name: "fresh2"}}}, "invalid-id"},
			{"an invalid id", []store.NewRoom{{Room: &store.Room{ID: "a\x00b", Name: "fresh1"}}}, "invalid-id"},
			{"no name", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}}, {Room: &store.Room{Type: store.Private}}}, "invalid-name"},
			{"a member who does not exist", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}, Members: []string{ann.ID, "ghost"}}}, "invalid-user"},
			{"an owner who does not exist", []store.NewRoom{{Room: &store.Room{Name: "fresh1"}, Owner: "ghost"}}, "invalid-user"},
			{"a topic too long", []store.NewRoom{{Room: &store.Room{Name: "fresh1", Topic: strings.Repeat("x", 1<<20)}}}, "invalid-topic"},
		} {
			wantErr(t, c.what, st.CreateRooms(c.rooms), store.Invalid, c.code)
			for _, name := range []string{"fresh1", "fresh2"} {
				if _, err := st.RoomByName(name); store.KindOf(err) != store.NotFound {
					t.Fatalf("%s: room %s of a refused batch exists: %v", c.what, name, err)
				}
			}
			if ids, err := st.UserRoomIDs(ann.ID); err != nil || len(ids) != 0 {
				t.Fatalf("%s: a membership of a refused batch exists: %v (err %v)", c.what, ids, err)
			}
		}
		// A batch that passes creates all of its rooms.
		if err := st.CreateRooms([]store.NewRoom{{Room: &store.Room{Name: "fresh1"}, Owner: ann.ID}, {Room: &store.Room{Name: "fresh2", Type: store.Private}, Members: []string{ann.ID}}}); err != nil {
			t.Fatal(err)
		}
		rooms, total, err := st.UserRooms(ann.ID, func(*store.Room) bool { return true }, 0, 0)
		if err != nil || total != 2 || !slices.Equal(roomNames(rooms), []string{"fresh1", "fresh2"}) {
			t.Fatalf("UserRooms = %v %d, %v", roomNames(rooms), total, err)
		}
	})

	add("RoomAccessAndJoins", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		priv := mustRoom(t, st, &store.Room{Name: "secret", Type: store.Private}, "", ann.ID)
		pub := mustRoom(t, st, &store.Room{Name: "open"}, "", ann.ID)
		if err := st.MayRead(priv.ID, ann); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "MayRead of a private room by a stranger", st.MayRead(priv.ID, bob), store.Forbidden, "")
		wantErr(t, "MayRead of no room", st.MayRead("nope", ann), store.NotFound, "invalid-room")
		_, err := st.ReadableRoom(priv.ID, bob)
		wantErr(t, "ReadableRoom of a private room by a stranger", err, store.Forbidden, "")
		if rm, err := st.ReadableRoom(priv.ID, ann); err != nil || !slices.Equal(rm.Usernames, []string{"ann"}) || rm.Name != "secret" {
			t.Fatalf("ReadableRoom = %+v, %v", rm, err)
		}
		// A private room's name is not confirmed to a stranger.
		_, err = st.VisibleRoomByName("SECRET", bob)
		wantErr(t, "VisibleRoomByName of a private room by a stranger", err, store.NotFound, "invalid-room")
		if r, err := st.VisibleRoomByName("SECRET", ann); err != nil || r.ID != priv.ID {
			t.Fatalf("VisibleRoomByName by a member = %+v, %v", r, err)
		}
		if r, err := st.VisibleRoomByName("open", bob); err != nil || r.ID != pub.ID {
			t.Fatalf("VisibleRoomByName of a public room = %+v, %v", r, err)
		}
		_, err = st.Join(priv.ID, bob.ID)
		wantErr(t, "joining a private room", err, store.Forbidden, "")
		if joined, err := st.Join(priv.ID, ann.ID); err != nil || joined {
			t.Fatalf("a member joining their private room: %v %v", joined, err)
		}
		_, err = st.Join("nope", bob.ID)
		wantErr(t, "joining no room", err, store.NotFound, "invalid-room")
		_, err = st.Join(pub.ID, "ghost")
		wantErr(t, "a user who does not exist joining", err, store.NotFound, "invalid-user")
		mustJoin(t, st, pub.ID, bob.ID)
		if joined, err := st.Join(pub.ID, bob.ID); err != nil || joined {
			t.Fatalf("joining twice: %v %v", joined, err)
		}
		r, err := st.Room(pub.ID)
		if err != nil || r.Msgs != 1 || r.Seq != 1 {
			t.Fatalf("after a join: msgs %d seq %d, %v", r.Msgs, r.Seq, err)
		}
		if got := usernamesOf(t, st, pub.ID); !slices.Equal(got, []string{"ann", "bob"}) {
			t.Fatalf("members %v", got)
		}
		if left, err := st.Leave(pub.ID, bob.ID); err != nil || !left {
			t.Fatalf("leave: %v %v", left, err)
		}
		if left, err := st.Leave(pub.ID, bob.ID); err != nil || left {
			t.Fatalf("leaving twice: %v %v", left, err)
		}
		_, err = st.Leave("nope", bob.ID)
		wantErr(t, "leaving no room", err, store.NotFound, "invalid-room")
		if r, _ := st.Room(pub.ID); r.Msgs != 2 || r.Seq != 2 {
			t.Fatalf("after a leave: msgs %d seq %d", r.Msgs, r.Seq)
		}
		if m, err := st.Membership(pub.ID, bob.ID); err != nil || m != nil {
			t.Fatalf("still a member after leaving: %+v (err %v)", m, err)
		}
		// AddMember takes any room type; twice changes nothing.
		for range 2 {
			if err := st.AddMember(priv.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
		}
		if r, _ := st.Room(priv.ID); r.Msgs != 1 {
			t.Fatalf("AddMember twice: msgs %d", r.Msgs)
		}
		if err := st.MayRead(priv.ID, bob); err != nil {
			t.Fatalf("an added member may not read: %v", err)
		}
		wantErr(t, "AddMember to no room", st.AddMember("nope", bob.ID), store.NotFound, "invalid-room")
		wantErr(t, "AddMember of no user", st.AddMember(priv.ID, "ghost"), store.NotFound, "invalid-user")
		// AddMemberBy by someone else is one message too ("au").
		carl := mustUser(t, st, "carl1", "carl")
		by := ann.Ref()
		for range 2 {
			if err := st.AddMemberBy(priv.ID, carl.ID, &by); err != nil {
				t.Fatal(err)
			}
		}
		if r, _ := st.Room(priv.ID); r.Msgs != 2 {
			t.Fatalf("AddMemberBy twice: msgs %d", r.Msgs)
		}
	})

	add("RoomViewPermissionAndJoinCode", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		mustRoles(t, st, &store.Role{Name: "user"}, &store.Role{Name: "guest"}, &store.Role{Name: "admin"})
		mustPerm(t, st, store.ViewPublicRooms, "user", "admin")
		mustPerm(t, st, store.JoinWithoutJoinCode, "admin")
		ann, guest := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "gus1", "gus")
		if _, err := st.UpdateUser(guest.ID, func(u *store.User) error { u.Roles = []string{"guest"}; return nil }); err != nil {
			t.Fatal(err)
		}
		guest.Roles = []string{"guest"}
		pub := mustRoom(t, st, &store.Room{Name: "open"}, "", ann.ID)
		if err := st.MayViewPublicRooms(ann); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "MayViewPublicRooms without view-c-room", st.MayViewPublicRooms(guest), store.Denied, "")
		wantErr(t, "MayRead of a public room without view-c-room", st.MayRead(pub.ID, guest), store.Denied, "")
		_, err := st.VisibleRoomByName("open", guest)
		wantErr(t, "VisibleRoomByName without view-c-room", err, store.NotFound, "invalid-room")
		_, err = st.Join(pub.ID, guest.ID)
		wantErr(t, "joining without view-c-room", err, store.Denied, "")
		coded := mustRoom(t, st, &store.Room{Name: "coded", JoinCode: "sesame"}, "")
		bob := mustUser(t, st, "bob1", "bob")
		_, err = st.JoinWithCode(coded.ID, bob.ID, "wrong")
		wantErr(t, "a wrong join code", err, store.Invalid, "error-code-invalid")
		_, err = st.Join(coded.ID, bob.ID)
		wantErr(t, "no join code", err, store.Invalid, "error-code-invalid")
		if joined, err := st.JoinWithCode(coded.ID, bob.ID, "sesame"); err != nil || !joined {
			t.Fatalf("the right join code: %v %v", joined, err)
		}
		root := mustUser(t, st, "root1", "root")
		if _, err := st.UpdateUser(root.ID, func(u *store.User) error { u.Roles = []string{"admin"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if joined, err := st.Join(coded.ID, root.ID); err != nil || !joined {
			t.Fatalf("join-without-join-code: %v %v", joined, err)
		}
	})

	add("RoomLists", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		u, other := mustUser(t, st, "u1", "u"), mustUser(t, st, "o1", "other")
		// Joins give the rooms messages: a and d one each, b two.
		for _, c := range []struct {
			name, typ string
			joins     int
		}{{"c", store.Public, 0}, {"a", store.Public, 1}, {"b", store.Public, 2}, {"d", store.Public, 1}, {"hidden", store.Private, 0}} {
			r := mustRoom(t, st, &store.Room{Name: c.name, Type: c.typ}, "", u.ID)
			for i := range c.joins {
				if i == 0 {
					mustJoin(t, st, r.ID, other.ID)
				} else if _, err := st.Leave(r.ID, other.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		public := func(r *store.Room) bool { return r.Type == store.Public }
		for _, c := range []struct {
			offset, count int
			want          []string
		}{
			{0, 0, []string{"b", "a", "d", "c"}},
			{1, 2, []string{"a", "d"}},
			{3, 10, []string{"c"}},
			{4, 0, nil},
			{99, 1, nil},
		} {
			for name, list := range map[string]func() ([]store.RoomWithMembers, int, error){
				"Rooms":       func() ([]store.RoomWithMembers, int, error) { return st.Rooms(public, c.offset, c.count) },
				"PublicRooms": func() ([]store.RoomWithMembers, int, error) { return st.PublicRooms(c.offset, c.count) },
			} {
				rooms, total, err := list()
				if err != nil || total != 4 || !slices.Equal(roomNames(rooms), c.want) {
					t.Fatalf("%s offset %d count %d: %v total %d, %v; want %v", name, c.offset, c.count, roomNames(rooms), total, err, c.want)
				}
				for _, r := range rooms {
					want := []string{"u"}
					if r.Name == "a" || r.Name == "d" {
						want = []string{"other", "u"}
					}
					if !slices.Equal(r.Usernames, want) {
						t.Fatalf("%s: %s has %v", name, r.Name, r.Usernames)
					}
				}
			}
		}
		byName := func(a, b *store.Room) int { return strings.Compare(b.Name, a.Name) }
		if rooms, total, err := st.RoomsBy(func(*store.Room) bool { return true }, byName, 1, 2); err != nil || total != 5 ||
			!slices.Equal(roomNames(rooms), []string{"d", "c"}) {
			t.Fatalf("RoomsBy = %v %d, %v", roomNames(rooms), total, err)
		}
		// The user's rooms: by name, paged, kept by keep.
		for _, c := range []struct {
			offset, count int
			want          []string
		}{
			{0, 0, []string{"a", "d"}},
			{1, 1, []string{"d"}},
			{2, 0, nil},
		} {
			rooms, total, err := st.UserRooms(other.ID, public, c.offset, c.count)
			if err != nil || total != 2 || !slices.Equal(roomNames(rooms), c.want) {
				t.Fatalf("UserRooms offset %d count %d: %v total %d, %v", c.offset, c.count, roomNames(rooms), total, err)
			}
		}
		if rooms, total, err := st.UserRoomsBy(u.ID, func(r *store.Room) bool { return r.Name != "c" }, byName, 0, 0); err != nil || total != 4 ||
			!slices.Equal(roomNames(rooms), []string{"hidden", "d", "b", "a"}) {
			t.Fatalf("UserRoomsBy = %v %d, %v", roomNames(rooms), total, err)
		}
		if rooms, total, err := st.UserRooms("nobody", public, 0, 0); err != nil || total != 0 || len(rooms) != 0 {
			t.Fatalf("UserRooms of a stranger = %v %d, %v", roomNames(rooms), total, err)
		}
	})

	add("RoomMemberPageAndRoles", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		rec := &roomEvents{}
		st.SetPublisher(rec) // from the start: on PostgreSQL, events reach it after their commit
		mustRoles(t, st, &store.Role{Name: store.RoleOwner, Scope: store.RoomScope}, &store.Role{Name: store.RoleModerator, Scope: store.RoomScope})
		ann, bob, cy := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob"), mustUser(t, st, "cy1", "cy")
		if _, err := st.UpdateUser(cy.ID, func(u *store.User) error { u.Active = false; u.Name = "Cy Young"; return nil }); err != nil {
			t.Fatal(err)
		}
		r := mustRoom(t, st, &store.Room{Name: "r"}, bob.ID, cy.ID, ann.ID)
		page, total, err := st.RoomMemberPage(r.ID, 1, 5)
		if err != nil || total != 3 || len(page) != 2 || page[0].Username != "bob" || page[1] != (store.MemberUser{ID: cy.ID, Username: "cy", Name: "Cy Young"}) ||
			!page[0].Active || page[0].Name != "bob" || page[0].ID != bob.ID {
			t.Fatalf("RoomMemberPage = %+v %d, %v", page, total, err)
		}
		if page, total, err := st.RoomMemberPage(r.ID, 0, 0); err != nil || total != 3 || len(page) != 3 || page[0].Username != "ann" {
			t.Fatalf("RoomMemberPage all = %+v %d, %v", page, total, err)
		}
		if page, total, err := st.RoomMemberPage(r.ID, 5, 1); err != nil || total != 3 || len(page) != 0 {
			t.Fatalf("RoomMemberPage past the end = %+v %d, %v", page, total, err)
		}
		_, _, err = st.RoomMemberPage("nope", 0, 0)
		wantErr(t, "RoomMemberPage of no room", err, store.NotFound, "invalid-room")

		rec.take(t, "setup", 4)
		if err := st.SetRoomRole(r.ID, cy.ID, store.RoleModerator, true, bob); err != nil {
			t.Fatal(err)
		}
		if kinds, evs := rec.take(t, "SetRoomRole", 2); kinds[0] != store.MemberChanged || kinds[1] != store.MessageAdded ||
			!slices.Equal(evs[0].Member.Roles, []string{store.RoleModerator}) || evs[0].UserID != cy.ID || evs[0].Member.UserID != cy.ID ||
			evs[1].Message.Type != "subscription-role-added" || evs[1].Message.Role != store.RoleModerator || evs[1].Message.User.ID != bob.ID ||
			evs[1].Message.Text != "cy" {
			t.Fatalf("SetRoomRole events %v %+v", kinds, evs[1].Message)
		}
		if m, _ := st.Membership(r.ID, cy.ID); !m.HasRole(store.RoleModerator) {
			t.Fatalf("membership %+v", m)
		}
		wantErr(t, "a role held already", st.SetRoomRole(r.ID, cy.ID, store.RoleModerator, true, bob), store.Invalid, "error-user-already-moderator")
		wantErr(t, "taking a role not held", st.SetRoomRole(r.ID, ann.ID, store.RoleOwner, false, bob), store.Invalid, "error-user-not-owner")
		wantErr(t, "taking the last owner", st.SetRoomRole(r.ID, bob.ID, store.RoleOwner, false, bob), store.Invalid, "error-remove-last-owner")
		wantErr(t, "an unknown role", st.SetRoomRole(r.ID, ann.ID, "king", true, bob), store.NotFound, "invalid-role")
		wantErr(t, "a stranger", st.SetRoomRole(r.ID, "nobody", store.RoleModerator, true, bob), store.Invalid, "error-user-not-in-room")
		wantErr(t, "no room", st.SetRoomRole("nope", ann.ID, store.RoleModerator, true, bob), store.NotFound, "invalid-room")
		if err := st.SetRoomRole(r.ID, ann.ID, store.RoleOwner, true, bob); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRoomRole(r.ID, bob.ID, store.RoleOwner, false, bob); err != nil {
			t.Fatalf("taking an owner who is not the last: %v", err)
		}
		rec.take(t, "two role changes", 4)
		names := func(ms []*store.Member) (out []string) {
			for _, m := range ms {
				out = append(out, m.Username+"="+strings.Join(m.Roles, ","))
			}
			return out
		}
		if ms, err := st.RoomRoles(r.ID, ""); err != nil || !slices.Equal(names(ms), []string{"ann=owner", "cy=moderator"}) || ms[0].UserID != ann.ID || ms[0].RoomID != r.ID {
			t.Fatalf("RoomRoles any = %v, %v", names(ms), err)
		}
		if ms, err := st.RoomRoles(r.ID, store.RoleModerator); err != nil || !slices.Equal(names(ms), []string{"cy=moderator"}) {
			t.Fatalf("RoomRoles moderator = %v, %v", names(ms), err)
		}
		if ms, err := st.RoomRoles(r.ID, "leader"); err != nil || len(ms) != 0 {
			t.Fatalf("RoomRoles leader = %v, %v", names(ms), err)
		}
		_, err = st.RoomRoles("nope", "")
		wantErr(t, "RoomRoles of no room", err, store.NotFound, "invalid-room")
		if r, _ := st.Room(r.ID); r.Msgs != 3 {
			t.Fatalf("three role messages, msgs %d", r.Msgs)
		}
	})

	add("RoomEditAndArchive", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		rec := &roomEvents{}
		st.SetPublisher(rec) // from the start: on PostgreSQL, events reach it after their commit
		ann := mustUser(t, st, "ann1", "ann")
		r := mustRoom(t, st, &store.Room{Name: "Lobby"}, ann.ID)
		mustRoom(t, st, &store.Room{Name: "other"}, "")
		rec.take(t, "setup", 1)
		clock.Advance(time.Minute)
		got, err := st.EditRoom(r.ID, ann, func(r *store.Room) ([]*store.Message, error) {
			r.Topic, r.Name = "new topic", "Hall"
			return []*store.Message{{Type: "room_changed_topic", Text: "new topic"}}, nil
		})
		if err != nil || got.Name != "Hall" || got.Topic != "new topic" || !got.UpdatedAt.Equal(clock.T) || got.Msgs != 1 || !got.LastMessage.Equal(clock.T) {
			t.Fatalf("EditRoom = %+v, %v", got, err)
		}
		kinds, evs := rec.take(t, "EditRoom", 2)
		if kinds[0] != store.MessageAdded || kinds[1] != store.RoomChanged || evs[0].Message.User.ID != ann.ID || !evs[0].Message.TS.Equal(clock.T) ||
			evs[1].Before.Name != "Lobby" || evs[1].Room.Name != "Hall" {
			t.Fatalf("EditRoom events %v", kinds)
		}
		if _, err := st.RoomByName("lobby"); store.KindOf(err) != store.NotFound {
			t.Fatalf("the old name still finds the room: %v", err)
		}
		if got, err := st.RoomByName("HALL"); err != nil || got.ID != r.ID || got.Topic != "new topic" {
			t.Fatalf("RoomByName after a rename = %+v, %v", got, err)
		}
		// A change of case only keeps the name.
		if _, err := st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name = "HALL"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got, err := st.RoomByName("hall"); err != nil || got.Name != "HALL" {
			t.Fatalf("after a change of case = %+v, %v", got, err)
		}
		_, err = st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name = "OTHER"; return nil })
		wantErr(t, "a rename to a taken name", err, store.Invalid, "duplicate-name")
		_, err = st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name, r.Topic = "x", strings.Repeat("t", 1<<20); return nil })
		wantErr(t, "an invalid change", err, store.Invalid, "invalid-topic")
		refusal := store.Errorf(store.Invalid, "refused", "no")
		if _, err := st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name = "y"; return refusal }); err != refusal {
			t.Fatalf("change's own refusal: %v", err)
		}
		if got, _ := st.Room(r.ID); got.Name != "HALL" || got.Topic != "new topic" {
			t.Fatalf("refused changes were kept: %+v", got)
		}
		_, err = st.UpdateRoom("nope", func(*store.Room) error { return nil })
		wantErr(t, "UpdateRoom of no room", err, store.NotFound, "invalid-room")
		rec.take(t, "case change", 1)

		if err := st.SetArchived(r.ID, true, ann); err != nil {
			t.Fatal(err)
		}
		if kinds, evs := rec.take(t, "SetArchived", 2); kinds[0] != store.MessageAdded || evs[0].Message.Type != "room-archived" || evs[0].Message.Text != "ann" || !evs[1].Room.Archived {
			t.Fatalf("SetArchived events %v", kinds)
		}
		wantErr(t, "archiving twice", st.SetArchived(r.ID, true, ann), store.Invalid, "error-room-archived")
		if err := st.SetArchived(r.ID, false, ann); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unarchiving twice", st.SetArchived(r.ID, false, ann), store.Invalid, "error-room-not-archived")
		wantErr(t, "archiving no room", st.SetArchived("nope", true, ann), store.NotFound, "invalid-room")
		if got, _ := st.Room(r.ID); got.Archived || got.Msgs != 3 {
			t.Fatalf("after archive and unarchive: %+v", got)
		}
	})

	add("RoomKickAndOpen", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		rec := &roomEvents{}
		st.SetPublisher(rec) // from the start: on PostgreSQL, events reach it after their commit
		u, boss := mustUser(t, st, "u1", "u"), mustUser(t, st, "boss1", "boss")
		r := mustRoom(t, st, &store.Room{Name: "r"}, boss.ID, u.ID)
		rec.take(t, "setup", 2)
		if changed, err := st.SetRoomOpen(r.ID, u.ID, false); err != nil || !changed {
			t.Fatalf("close: %v %v", changed, err)
		}
		if kinds, evs := rec.take(t, "SetRoomOpen", 1); kinds[0] != store.MemberChanged || !evs[0].Member.Hidden || evs[0].UserID != u.ID {
			t.Fatalf("SetRoomOpen events %v", kinds)
		}
		if m, _ := st.Membership(r.ID, u.ID); !m.Hidden {
			t.Fatal("not hidden")
		}
		if changed, err := st.SetRoomOpen(r.ID, u.ID, false); err != nil || changed {
			t.Fatalf("close twice: %v %v", changed, err)
		}
		if changed, err := st.SetRoomOpen(r.ID, u.ID, true); err != nil || !changed {
			t.Fatalf("open: %v %v", changed, err)
		}
		rec.take(t, "open", 1)
		_, err := st.SetRoomOpen("nope", u.ID, true)
		wantErr(t, "SetRoomOpen of no room", err, store.NotFound, "invalid-room")
		if err := st.RemoveMember(r.ID, u.ID, boss.Ref()); err != nil {
			t.Fatal(err)
		}
		if kinds, evs := rec.take(t, "RemoveMember", 2); kinds[0] != store.MessageAdded || kinds[1] != store.MemberRemoved ||
			evs[0].Message.Type != "ru" || evs[0].Message.Text != "u" || evs[0].Message.User.ID != boss.ID || evs[1].UserID != u.ID {
			t.Fatalf("RemoveMember events %v", kinds)
		}
		wantErr(t, "a second removal", st.RemoveMember(r.ID, u.ID, boss.Ref()), store.Invalid, "error-user-not-in-room")
		_, err = st.SetRoomOpen(r.ID, u.ID, true)
		wantErr(t, "opening by a non-member", err, store.Invalid, "error-user-not-in-room")
		wantErr(t, "RemoveMember of no room", st.RemoveMember("nope", u.ID, boss.Ref()), store.NotFound, "invalid-room")
		if got := usernamesOf(t, st, r.ID); !slices.Equal(got, []string{"boss"}) {
			t.Fatalf("members %v", got)
		}
		if _, err := st.SubscriptionOf(r.ID, u.ID); err != store.ErrNotInRoom {
			t.Fatalf("a kicked user's subscription: %v", err)
		}
	})

	add("RoomJoinLeaveEvents", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		rec := &roomEvents{}
		st.SetPublisher(rec)
		r := mustRoom(t, st, &store.Room{Name: "r"}, ann.ID, bob.ID)
		if kinds, evs := rec.take(t, "CreateRoom", 2); kinds[0] != store.MemberAdded || kinds[1] != store.MemberAdded ||
			evs[0].UserID != ann.ID || evs[1].UserID != bob.ID || evs[0].Room.ID != r.ID {
			t.Fatalf("CreateRoom events %v", kinds)
		}
		carl := mustUser(t, st, "carl1", "carl")
		before := st.PageVersion(r.ID)
		mustJoin(t, st, r.ID, carl.ID)
		if after := st.PageVersion(r.ID); after <= before {
			t.Fatalf("a join did not move the page version: %d → %d", before, after)
		}
		kinds, evs := rec.take(t, "Join", 2)
		if kinds[0] != store.MemberAdded || kinds[1] != store.MessageAdded || evs[0].UserID != carl.ID {
			t.Fatalf("Join events %v", kinds)
		}
		m := evs[1].Message
		if m.Type != "uj" || m.Text != "carl" || m.User.ID != carl.ID || m.User.Username != "carl" || m.RoomID != r.ID || m.Seq != 1 || m.ID == "" ||
			!m.TS.Equal(clock.T) || !m.UpdatedAt.Equal(clock.T) || evs[1].Room.Seq != 1 || evs[1].Room.Msgs != 1 || !evs[1].Room.LastMessage.Equal(clock.T) {
			t.Fatalf("join message %+v in room %+v", m, evs[1].Room)
		}
		before = st.PageVersion(r.ID)
		if _, err := st.Leave(r.ID, carl.ID); err != nil {
			t.Fatal(err)
		}
		if after := st.PageVersion(r.ID); after <= before {
			t.Fatalf("a leave did not move the page version: %d → %d", before, after)
		}
		if kinds, evs := rec.take(t, "Leave", 2); kinds[0] != store.MessageAdded || kinds[1] != store.MemberRemoved || evs[0].Message.Type != "ul" || evs[0].Message.Seq != 2 {
			t.Fatalf("Leave events %v", kinds)
		}
		by := ann.Ref()
		if err := st.AddMemberBy(r.ID, carl.ID, &by); err != nil {
			t.Fatal(err)
		}
		if kinds, evs := rec.take(t, "AddMemberBy", 2); kinds[0] != store.MemberAdded || kinds[1] != store.MessageAdded ||
			evs[1].Message.Type != "au" || evs[1].Message.Text != "carl" || evs[1].Message.User.ID != ann.ID {
			t.Fatalf("AddMemberBy events %v", kinds)
		}
		// Refusals announce nothing.
		if _, err := st.Leave(r.ID, "nobody"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Join(r.ID, carl.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		rec.take(t, "no-op leave and join", 0)
	})

	add("RoomAddAllUsers", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		rec := &roomEvents{}
		st.SetPublisher(rec) // from the start: on PostgreSQL, events reach it after their commit
		ann, bob, cy := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob"), mustUser(t, st, "cy1", "cy")
		if _, err := st.UpdateUser(cy.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		r := mustRoom(t, st, &store.Room{Name: "all", Type: store.Private}, "", ann.ID)
		rec.take(t, "setup", 2)
		if n, err := st.AddAllUsers(r.ID); err != nil || n != 1 {
			t.Fatalf("AddAllUsers = %d, %v", n, err)
		}
		if kinds, evs := rec.take(t, "AddAllUsers", 2); kinds[0] != store.MemberAdded || kinds[1] != store.MessageAdded || evs[0].UserID != bob.ID ||
			evs[1].Message.Type != "uj" || evs[1].Message.Text != "bob" || evs[1].Message.Seq != 1 {
			t.Fatalf("AddAllUsers events %v", kinds)
		}
		if got := usernamesOf(t, st, r.ID); !slices.Equal(got, []string{"ann", "bob"}) {
			t.Fatalf("members %v", got)
		}
		dan, eve := mustUser(t, st, "dan1", "dan"), mustUser(t, st, "eve1", "eve")
		if n, err := st.AddAllUsers(r.ID); err != nil || n != 2 {
			t.Fatalf("AddAllUsers again = %d, %v", n, err)
		}
		_, evs := rec.take(t, "AddAllUsers again", 4)
		if evs[0].UserID != dan.ID || evs[1].Message.Text != "dan" || evs[1].Message.Seq != 2 || evs[1].Room.Seq != 2 ||
			evs[2].UserID != eve.ID || evs[3].Message.Text != "eve" || evs[3].Message.Seq != 3 || evs[3].Room.Seq != 3 {
			t.Fatalf("AddAllUsers events in order: %+v", evs)
		}
		if got, _ := st.Room(r.ID); got.Msgs != 3 || got.Seq != 3 {
			t.Fatalf("room after AddAllUsers: %+v", got)
		}
		if n, err := st.AddAllUsers(r.ID); err != nil || n != 0 {
			t.Fatalf("AddAllUsers a third time = %d, %v", n, err)
		}
		_, err := st.AddAllUsers("nope")
		wantErr(t, "AddAllUsers of no room", err, store.NotFound, "invalid-room")
	})

	add("RoomDirect", func(t *testing.T, open Opener) {
		st := open(t, store.Options{MaxRoomsPerCreator: 1})
		a, b, c := mustUser(t, st, "a1", "a"), mustUser(t, st, "b1", "b"), mustUser(t, st, "c1", "c")
		room, created, err := st.OpenDirect(a, []string{b.ID, b.ID})
		if err != nil || !created || room.ID != store.DirectRoomID([]string{a.ID, b.ID}) || room.Type != store.Direct ||
			!slices.Equal(room.Usernames, []string{"a", "b"}) || room.Creator == nil || room.Creator.ID != a.ID {
			t.Fatalf("OpenDirect = %+v %v, %v", room, created, err)
		}
		// A second direct room goes past the cap of one room per creator.
		_, _, err = st.OpenDirect(a, []string{c.ID})
		wantErr(t, "a room past the cap", err, store.Invalid, "too-many-rooms")
		// The same room is found again whatever the cap, by either member; a member who left
		// comes back.
		if _, err := st.Leave(room.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		again, created, err := st.OpenDirect(b, []string{a.ID})
		if err != nil || created || again.ID != room.ID || !slices.Equal(again.Usernames, []string{"a", "b"}) {
			t.Fatalf("OpenDirect again = %+v %v, %v", again, created, err)
		}
		if _, err := st.UpdateUser(c.ID, func(u *store.User) error { u.Active = false; return nil }); err != nil {
			t.Fatal(err)
		}
		_, _, err = st.OpenDirect(b, []string{c.ID})
		wantErr(t, "a deactivated user", err, store.Invalid, "error-invalid-user")
		_, _, err = st.OpenDirect(b, []string{"ghost"})
		wantErr(t, "a user who does not exist", err, store.NotFound, "invalid-user")
		many := []string{}
		for i := range store.MaxDirectMembers {
			many = append(many, "x"+string(rune('a'+i)))
		}
		_, _, err = st.OpenDirect(b, many)
		wantErr(t, "too many members", err, store.Invalid, "error-invalid-params")
		// A room of another type with that id is not taken for the direct room.
		mustRoom(t, st, &store.Room{ID: store.DirectRoomID([]string{b.ID, c.ID}), Name: "squat"}, "")
		if _, err := st.UpdateUser(c.ID, func(u *store.User) error { u.Active = true; return nil }); err != nil {
			t.Fatal(err)
		}
		_, _, err = st.OpenDirect(b, []string{c.ID})
		wantErr(t, "an id taken by another room", err, store.Invalid, "invalid-id")
		// A direct room has no name to find it by.
		if _, err := st.RoomByName(""); store.KindOf(err) != store.NotFound {
			t.Fatalf("RoomByName of a direct room's empty name: %v", err)
		}
	})

	add("RoomsPerCreatorCap", func(t *testing.T, open Opener) {
		st := open(t, store.Options{MaxRoomsPerCreator: 2})
		admin, u := mustUser(t, st, "root1", "root"), mustUser(t, st, "ann1", "ann")
		if _, err := st.UpdateUser(admin.ID, func(u *store.User) error { u.Roles = []string{"admin"}; return nil }); err != nil {
			t.Fatal(err)
		}
		room := func(name string, by *store.User) store.NewRoom {
			ref := by.Ref()
			return store.NewRoom{Room: &store.Room{Name: name, Type: store.Public, Creator: &ref}}
		}
		wantErr(t, "three rooms in one batch under a cap of 2", st.CreateRooms([]store.NewRoom{room("a1", u), room("a2", u), room("a3", u)}), store.Invalid, "too-many-rooms")
		if err := st.CreateRooms([]store.NewRoom{room("a1", u), room("a2", u)}); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "a third room", st.CreateRooms([]store.NewRoom{room("a3", u)}), store.Invalid, "too-many-rooms")
		if err := st.CreateRooms([]store.NewRoom{room("r1", admin), room("r2", admin), room("r3", admin)}); err != nil {
			t.Fatalf("an admin is capped: %v", err)
		}
		// A room without a creator counts for nobody; a creator who is no user is not capped.
		if err := st.CreateRoom(&store.Room{Name: "free", Type: store.Public}, nil, u.ID); err != nil {
			t.Fatal(err)
		}
		ghost := &store.User{ID: "ghost", Username: "ghost"}
		if err := st.CreateRooms([]store.NewRoom{room("g1", ghost), room("g2", ghost), room("g3", ghost)}); err != nil {
			t.Fatal(err)
		}
	})

	add("RoomSubscriptions", func(t *testing.T, open Opener) {
		clock := NewClock()
		st := open(t, store.Options{Now: clock.Now})
		rec := &roomEvents{}
		st.SetPublisher(rec) // from the start: on PostgreSQL, events reach it after their commit
		ann, bob := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob")
		if _, err := st.UpdateUser(bob.ID, func(u *store.User) error { u.Name = "Bob B"; return nil }); err != nil {
			t.Fatal(err)
		}
		r := mustRoom(t, st, &store.Room{Name: "r"}, ann.ID)
		clock.Advance(time.Minute)
		dm, _, err := st.OpenDirect(ann, []string{bob.ID})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := st.SubscriptionOf(r.ID, ann.ID)
		if err != nil || sub.Room.ID != r.ID || sub.Member.Username != "ann" || sub.Unread != 0 || sub.Alert() || !sub.ReadAt.IsZero() ||
			!sub.UpdatedAt.Equal(clock.T.Add(-time.Minute)) || sub.Usernames != nil {
			t.Fatalf("SubscriptionOf = %+v, %v", sub, err)
		}
		_, err = st.SubscriptionOf(r.ID, bob.ID)
		wantErr(t, "SubscriptionOf a non-member", err, store.Invalid, "error-user-not-in-room")
		_, err = st.SubscriptionOf("nope", bob.ID)
		wantErr(t, "SubscriptionOf no room", err, store.NotFound, "invalid-room")
		subs, err := st.Subscriptions(ann.ID, "")
		if err != nil || len(subs) != 2 {
			t.Fatalf("Subscriptions = %+v, %v", subs, err)
		}
		var direct *store.Subscription
		for i := range subs {
			if subs[i].Room.ID == dm.ID {
				direct = &subs[i]
			}
		}
		if direct == nil || !slices.Equal(direct.Usernames, []string{"ann", "bob"}) || !slices.Equal(direct.Names, []string{"ann", "Bob B"}) {
			t.Fatalf("direct subscription %+v", direct)
		}
		if subs, err := st.Subscriptions(ann.ID, r.ID); err != nil || len(subs) != 1 || subs[0].Room.ID != r.ID {
			t.Fatalf("Subscriptions of one room = %+v, %v", subs, err)
		}
		for _, c := range []struct{ uid, rid string }{{bob.ID, r.ID}, {ann.ID, "nope"}, {"nobody", ""}} {
			if subs, err := st.Subscriptions(c.uid, c.rid); err != nil || len(subs) != 0 {
				t.Fatalf("Subscriptions(%s, %s) = %+v, %v", c.uid, c.rid, subs, err)
			}
		}
		if subs, err := st.SubscriptionsSince(ann.ID, clock.T.Add(-time.Second)); err != nil || len(subs) != 1 || subs[0].Room.ID != dm.ID {
			t.Fatalf("SubscriptionsSince = %+v, %v", subs, err)
		}
		// Reading moves the subscription; a reader of a public room who is no member may mark
		// it read, which changes no subscription.
		clock.Advance(time.Minute)
		rec.take(t, "setup", 4)
		if err := st.MarkRead(r.ID, ann); err != nil {
			t.Fatal(err)
		}
		if kinds, evs := rec.take(t, "MarkRead", 1); kinds[0] != store.ReadMarked || evs[0].UserID != ann.ID || evs[0].Room.ID != r.ID {
			t.Fatalf("MarkRead events %v", kinds)
		}
		sub, err = st.SubscriptionOf(r.ID, ann.ID)
		if err != nil || !sub.ReadAt.Equal(clock.T) || !sub.Member.LS.Equal(clock.T) || !sub.UpdatedAt.Equal(clock.T) {
			t.Fatalf("after MarkRead %+v, %v", sub, err)
		}
		if subs, err := st.SubscriptionsSince(ann.ID, clock.T.Add(-time.Second)); err != nil || len(subs) != 1 || subs[0].Room.ID != r.ID {
			t.Fatalf("SubscriptionsSince after MarkRead = %+v, %v", subs, err)
		}
		if err := st.MarkRead(r.ID, bob); err != nil {
			t.Fatalf("MarkRead of a public room by a non-member: %v", err)
		}
		rec.take(t, "MarkRead by a non-member", 1)
		priv := mustRoom(t, st, &store.Room{Name: "p", Type: store.Private}, ann.ID)
		rec.take(t, "CreateRoom", 1)
		wantErr(t, "MarkRead of a private room by a stranger", st.MarkRead(priv.ID, bob), store.Forbidden, "")
		wantErr(t, "MarkRead of no room", st.MarkRead("nope", bob), store.NotFound, "invalid-room")
		wantErr(t, "MarkUnread of a room without messages", st.MarkUnread(r.ID, ann, ""), store.Invalid, "error-no-message-for-unread")
		wantErr(t, "MarkUnread by a non-member", st.MarkUnread(r.ID, bob, ""), store.Invalid, "error-user-not-in-room")
		wantErr(t, "MarkUnread of a private room by a stranger", st.MarkUnread(priv.ID, bob, ""), store.Forbidden, "")
		wantErr(t, "MarkUnread of no room", st.MarkUnread("nope", bob, ""), store.NotFound, "invalid-room")
		time.Sleep(50 * time.Millisecond)
		rec.take(t, "refused marks", 0)
	})
}

func init() {
	add("RoomUnreadCounting", func(t *testing.T, open Opener) {
		// Unread counts come from the room's count and the member's mark: the author's own
		// messages and system messages are not unread; a member who joins later has read what
		// came before; mentions count only members named; reading clears both.
		st := open(t, store.Options{})
		ann, bob, cy := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob"), mustUser(t, st, "cy1", "cy")
		r := mustRoom(t, st, &store.Room{Name: "r"}, ann.ID, bob.ID)
		post := func(u *store.User, text string) *store.Message {
			t.Helper()
			m := &store.Message{Text: text}
			if err := st.PostMessage(r.ID, u, m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		sub := func(u *store.User) *store.Subscription {
			t.Helper()
			sub, err := st.SubscriptionOf(r.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			return sub
		}
		first := post(ann, "one")
		post(ann, "@bob two @cy")
		mustJoin(t, st, r.ID, cy.ID)
		post(bob, "three @ann @bob")
		if got := sub(bob); got.Unread != 0 || got.Member.Mentions != 1 || !got.Alert() {
			t.Fatalf("bob: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if got := sub(ann); got.Unread != 1 || got.Member.Mentions != 1 {
			t.Fatalf("ann: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if got := sub(cy); got.Unread != 1 || got.Member.Mentions != 0 {
			t.Fatalf("cy joined later: unread %d mentions %d", got.Unread, got.Member.Mentions)
		}
		if err := st.MarkRead(r.ID, ann); err != nil {
			t.Fatal(err)
		}
		if got := sub(ann); got.Unread != 0 || got.Member.Mentions != 0 || got.Alert() || got.Member.LS.IsZero() {
			t.Fatalf("ann after read: %+v", got)
		}
		// Unread from the room's last user message, or from a message on (system messages
		// are not counted); the history's unread view starts there.
		if err := st.MarkUnread(r.ID, ann, ""); err != nil {
			t.Fatal(err)
		}
		if got := sub(ann); got.Unread != 1 {
			t.Fatalf("ann after MarkUnread: unread %d", got.Unread)
		}
		if err := st.MarkUnread(r.ID, ann, first.ID); err != nil {
			t.Fatal(err)
		}
		if got := sub(ann); got.Unread != 3 {
			t.Fatalf("ann after MarkUnread from the first message: unread %d", got.Unread)
		}
		msgs, err := st.History(r.ID, ann, store.HistoryQuery{Count: 10, Unread: true})
		if err != nil || len(msgs) != 4 || msgs[len(msgs)-1].ID != first.ID {
			t.Fatalf("unread history: %d messages, %v", len(msgs), err)
		}
		wantErr(t, "MarkUnread from another room's message", st.MarkUnread(r.ID, ann, "nope"), store.NotFound, "invalid-message")
		// In a direct-message room every message counts as a mention of the others.
		dm, _, err := st.OpenDirect(ann, []string{bob.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PostMessage(dm.ID, ann, &store.Message{Text: "psst"}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.SubscriptionOf(dm.ID, bob.ID); err != nil || got.Unread != 1 || got.Member.Mentions != 1 {
			t.Fatalf("direct: %+v, %v", got, err)
		}
		// An archived room refuses posts.
		if err := st.SetArchived(r.ID, true, ann); err != nil {
			t.Fatal(err)
		}
		if err := st.PostMessage(r.ID, ann, &store.Message{Text: "x"}); err != store.ErrRoomArchived {
			t.Fatalf("post to archived: %v", err)
		}
	})

	add("RoomSystemMessagesInHistory", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		u, boss := mustUser(t, st, "u1", "u"), mustUser(t, st, "boss1", "boss")
		r := mustRoom(t, st, &store.Room{Name: "r"}, boss.ID, u.ID)
		if err := st.RemoveMember(r.ID, u.ID, boss.Ref()); err != nil {
			t.Fatal(err)
		}
		mustJoin(t, st, r.ID, u.ID)
		msgs, err := st.History(r.ID, boss, store.HistoryQuery{Count: 10})
		if err != nil || len(msgs) != 2 || msgs[1].Type != "ru" || msgs[1].Text != "u" || msgs[1].User.ID != boss.ID ||
			msgs[0].Type != "uj" || msgs[0].User.ID != u.ID {
			t.Fatalf("history %+v, %v", msgs, err)
		}
		// System messages are not found by search.
		if found, err := st.Search(r.ID, boss, "u", 10); err != nil || len(found) != 0 {
			t.Fatalf("search found %d system messages, %v", len(found), err)
		}
	})

	add("RoomDelete", func(t *testing.T, open Opener) {
		st := open(t, store.Options{})
		rec := &roomEvents{}
		st.SetPublisher(rec)
		ann, bob, cy := mustUser(t, st, "ann1", "ann"), mustUser(t, st, "bob1", "bob"), mustUser(t, st, "cy1", "cy")
		r := mustRoom(t, st, &store.Room{Name: "doomed"}, bob.ID, ann.ID)
		keep := mustRoom(t, st, &store.Room{Name: "kept"}, ann.ID)
		if err := st.PostMessage(r.ID, ann, &store.Message{Text: "bye"}); err != nil {
			t.Fatal(err)
		}
		if err := st.PostMessage(keep.ID, ann, &store.Message{Text: "stay"}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkRead(r.ID, cy); err != nil { // a reader who is no member
			t.Fatal(err)
		}
		rec.take(t, "setup", 6)
		before := st.PageVersion(r.ID)
		if err := st.DeleteRoom(r.ID); err != nil {
			t.Fatal(err)
		}
		if after := st.PageVersion(r.ID); after <= before {
			t.Fatalf("page version %d → %d", before, after)
		}
		kinds, evs := rec.take(t, "DeleteRoom", 4)
		if kinds[0] != store.MessageDeleted || kinds[1] != store.MemberRemoved || kinds[2] != store.MemberRemoved || kinds[3] != store.RoomDeleted ||
			evs[1].UserID != ann.ID || evs[2].UserID != bob.ID || evs[3].Room.ID != r.ID {
			t.Fatalf("DeleteRoom events %v", kinds)
		}
		_, err := st.Room(r.ID)
		wantErr(t, "a deleted room", err, store.NotFound, "invalid-room")
		_, err = st.RoomByName("doomed")
		wantErr(t, "a deleted room's name", err, store.NotFound, "invalid-room")
		if ids, err := st.UserRoomIDs(bob.ID); err != nil || len(ids) != 0 {
			t.Fatalf("a member of a deleted room is still in %v, %v", ids, err)
		}
		if subs, err := st.Subscriptions(ann.ID, ""); err != nil || len(subs) != 1 || subs[0].Room.ID != keep.ID {
			t.Fatalf("subscriptions after the deletion: %+v, %v", subs, err)
		}
		if msgs, err := st.History(keep.ID, ann, store.HistoryQuery{Count: 10}); err != nil || len(msgs) != 1 {
			t.Fatalf("the other room's history: %d, %v", len(msgs), err)
		}
		wantErr(t, "deleting twice", st.DeleteRoom(r.ID), store.NotFound, "invalid-room")
		// The name is free again, and the new room starts empty.
		again := mustRoom(t, st, &store.Room{Name: "Doomed"}, "", cy.ID)
		if msgs, err := st.History(again.ID, cy, store.HistoryQuery{Count: 10}); err != nil || len(msgs) != 0 {
			t.Fatalf("history of the new room: %d, %v", len(msgs), err)
		}
		if errs := st.Check(); len(errs) != 0 {
			t.Fatalf("check after the deletion: %v", errs)
		}
	})
}

func init() {
	add("RoomTypeAndRankChanges", func(t *testing.T, open Opener) {
		// The public list follows a room's type and its message count as they change.
		st := open(t, store.Options{})
		ann := mustUser(t, st, "ann1", "ann")
		mustRoom(t, st, &store.Room{Name: "a"}, ann.ID)
		b := mustRoom(t, st, &store.Room{Name: "b"}, ann.ID)
		public := func() []string {
			t.Helper()
			rooms, total, err := st.PublicRooms(0, 0)
			if err != nil || total != len(rooms) {
				t.Fatalf("PublicRooms: %d of %d, %v", len(rooms), total, err)
			}
			return roomNames(rooms)
		}
		if got := public(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("public %v", got)
		}
		if err := st.PostMessage(b.ID, ann, &store.Message{Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		if got := public(); !slices.Equal(got, []string{"b", "a"}) {
			t.Fatalf("after a post to b: %v", got)
		}
		if _, err := st.UpdateRoom(b.ID, func(r *store.Room) error { r.Type = store.Private; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := public(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("after b went private: %v", got)
		}
		if _, err := st.UpdateRoom(b.ID, func(r *store.Room) error { r.Type, r.Name = store.Public, "c"; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := public(); !slices.Equal(got, []string{"c", "a"}) {
			t.Fatalf("after b came back as c: %v", got)
		}
		if r, err := st.RoomByName("c"); err != nil || r.ID != b.ID || r.Type != store.Public || r.Msgs != 1 {
			t.Fatalf("RoomByName(c) = %+v, %v", r, err)
		}
	})
}
