package pgstore

import (
	"fmt"
	"testing"

	"rocketlite/store"
)

// roomsFixture: nUsers users, each a member of every one of nRooms public rooms.
func roomsFixture(b *testing.B, nUsers, nRooms int) (*Store, []*store.User, []store.NewRoom) {
	b.Helper()
	st := openTest(b, "", store.Options{})
	users := make([]*store.User, nUsers)
	ids := make([]string, nUsers)
	for i := range users {
		users[i] = &store.User{Username: fmt.Sprintf("user%04d", i), Active: true, Hash: "h", Roles: []string{"user"}}
	}
	if err := st.CreateUsers(users, false); err != nil {
		b.Fatal(err)
	}
	for i, u := range users {
		ids[i] = u.ID
	}
	rooms := make([]store.NewRoom, nRooms)
	for i := range rooms {
		rooms[i] = store.NewRoom{Room: &store.Room{Name: fmt.Sprintf("room%04d", i)}, Members: ids}
	}
	if err := st.CreateRooms(rooms); err != nil {
		b.Fatal(err)
	}
	return st, users, rooms
}

// BenchmarkPGMarkRead: 64 readers marking one room read (a client opening a room).
func BenchmarkPGMarkRead(b *testing.B) {
	st, users, rooms := roomsFixture(b, 64, 1)
	rid := rooms[0].Room.ID
	next := make(chan *store.User, len(users))
	for _, u := range users {
		next <- u
	}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		u := <-next
		for pb.Next() {
			if err := st.MarkRead(rid, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPGSubscriptions: the subscriptions of a member of 200 rooms (a client's start).
func BenchmarkPGSubscriptions(b *testing.B) {
	st, users, _ := roomsFixture(b, 2, 200)
	b.ResetTimer()
	for b.Loop() {
		if subs, err := st.Subscriptions(users[0].ID, ""); err != nil || len(subs) != 200 {
			b.Fatal(len(subs), err)
		}
	}
}

// BenchmarkPGPublicRooms: the first 20 of 500 public rooms of 20 members each.
func BenchmarkPGPublicRooms(b *testing.B) {
	st, _, _ := roomsFixture(b, 20, 500)
	b.ResetTimer()
	for b.Loop() {
		if rooms, total, err := st.PublicRooms(0, 20); err != nil || len(rooms) != 20 || total != 500 || len(rooms[0].Usernames) != 20 {
			b.Fatal(len(rooms), total, err)
		}
	}
}

// BenchmarkPGJoinLeave: a join and a leave (each with its message) of one room, in turn.
func BenchmarkPGJoinLeave(b *testing.B) {
	st, users, _ := roomsFixture(b, 1, 0)
	r := &store.Room{Name: "door"}
	if err := st.CreateRoom(r, nil, ""); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Join(r.ID, users[0].ID); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Leave(r.ID, users[0].ID); err != nil {
			b.Fatal(err)
		}
	}
}
