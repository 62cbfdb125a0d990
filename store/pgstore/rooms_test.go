package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rocketlite/store"
)

// sqlUser stores an active user directly, for the rooms tests of this package that must not
// depend on the users code.
func sqlUser(t *testing.T, st *Store, id, name string, roles ...string) *store.User {
	t.Helper()
	if roles == nil {
		roles = []string{"user"}
	}
	u := &store.User{ID: id, Username: name, Name: strings.ToUpper(name), Roles: roles, Active: true, Type: "user", CreatedAt: st.Now()}
	// insertUsers (users.go) keeps the key columns in step, as every user write must.
	if err := insertUsers(context.Background(), st.pool, []*store.User{u}); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRoomRecordsInStep: the columns that queries and indexes use follow the room's doc
// through creation, joins (which append messages) and renames.
func TestRoomRecordsInStep(t *testing.T) {
	st := openTest(t, "", store.Options{})
	alice := sqlUser(t, st, "alice1", "alice")
	bob := sqlUser(t, st, "bob1", "bob")
	r := &store.Room{Name: "General", Type: store.Public, Creator: &store.UserRef{ID: alice.ID, Username: alice.Username}}
	if err := st.CreateRoom(r, nil, alice.ID); err != nil {
		t.Fatal(err)
	}
	if joined, err := st.Join(r.ID, bob.ID); err != nil || !joined {
		t.Fatalf("join = %v, %v", joined, err)
	}
	if _, err := st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name = "Lobby"; return nil }); err != nil {
		t.Fatal(err)
	}
	var name, key, typ, creator string
	var msgs, seq int64
	var doc []byte
	if err := st.pool.QueryRow(context.Background(), `SELECT name, name_key, type, creator_id, msgs, seq, doc FROM rooms WHERE id = $1`, r.ID).
		Scan(&name, &key, &typ, &creator, &msgs, &seq, &doc); err != nil {
		t.Fatal(err)
	}
	var got store.Room
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	if name != "Lobby" || key != "lobby" || typ != "c" || creator != alice.ID || msgs != 1 || seq != 1 ||
		got.Name != name || got.Msgs != msgs || int64(got.Seq) != seq {
		t.Fatalf("columns %q %q %q %q %d %d, doc %+v", name, key, typ, creator, msgs, seq, got)
	}
	var msgRoom, msgID string
	var msgSeq int64
	if err := st.pool.QueryRow(context.Background(), `SELECT room_id, id, seq FROM messages WHERE author_id = $1`, bob.ID).
		Scan(&msgRoom, &msgID, &msgSeq); err != nil || msgRoom != r.ID || msgSeq != 1 || msgID == "" {
		t.Fatalf("join message %q %q %d, %v", msgRoom, msgID, msgSeq, err)
	}
	// The old name is free again; the new one is taken whatever its case.
	if err := st.CreateRoom(&store.Room{Name: "general"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRoom(&store.Room{Name: "LOBBY"}, nil, ""); store.KindOf(err) != store.Invalid {
		t.Fatalf("a taken name in another case: %v", err)
	}
}

// TestRoomNameCaseFolding: names are unique as Go folds case, not as the database's locale
// does (lower() under the C locale folds ASCII only).
func TestRoomNameCaseFolding(t *testing.T) {
	st := openTest(t, "", store.Options{})
	if err := st.CreateRoom(&store.Room{Name: "Ärger"}, nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRoom(&store.Room{Name: "äRGER"}, nil, ""); store.KindOf(err) != store.Invalid {
		t.Fatalf("a name differing in the case of a non-ASCII letter was taken: %v", err)
	}
	if r, err := st.RoomByName("ÄRGER"); err != nil || r.Name != "Ärger" {
		t.Fatalf("RoomByName = %+v, %v", r, err)
	}
}

// TestConcurrentJoinsAndRoomCreation: joins racing on one room all land, each with its own
// message sequence number, and two nodes opening the same new direct-message room at once
// both get it.
func TestConcurrentJoinsAndRoomCreation(t *testing.T) {
	dsn := ""
	st := openTest(t, dsn, store.Options{})
	var users []*store.User
	for i := range 16 {
		users = append(users, sqlUser(t, st, "u"+string(rune('a'+i)), "user"+string(rune('a'+i))))
	}
	r := &store.Room{Name: "busy"}
	if err := st.CreateRoom(r, nil, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(users)*2)
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Join(r.ID, u.ID); err != nil {
				errs <- err
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := st.OpenDirect(users[0], []string{users[1].ID}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := st.Room(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	var n, maxSeq int64
	if err := st.pool.QueryRow(context.Background(), `SELECT count(*), max(seq) FROM messages WHERE room_id = $1`, r.ID).Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if got.Msgs != 16 || got.Seq != 16 || n != 16 || maxSeq != 16 {
		t.Fatalf("room msgs %d seq %d; %d rows up to seq %d", got.Msgs, got.Seq, n, maxSeq)
	}
	rm, err := st.RoomMembers(store.DirectRoomID([]string{users[0].ID, users[1].ID}))
	if err != nil || !slices.Equal(rm.Usernames, []string{"usera", "userb"}) {
		t.Fatalf("direct room = %+v, %v", rm, err)
	}
}

// TestImpossibleKeys: a lookup by a key PostgreSQL's text cannot hold (a NUL byte, invalid
// UTF-8; bbolt keys can) answers not found, not a database error (a 500).
func TestImpossibleKeys(t *testing.T) {
	st := openTest(t, "", store.Options{})
	ann := sqlUser(t, st, "ann1", "ann")
	r := &store.Room{Name: "r"}
	if err := st.CreateRoom(r, nil, ann.ID); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a\x00b", "\xff"} {
		if _, err := st.Room(bad); err != store.ErrRoomNotFound {
			t.Fatalf("Room(%q): %v", bad, err)
		}
		if _, err := st.RoomByName(bad); err != store.ErrRoomNotFound {
			t.Fatalf("RoomByName(%q): %v", bad, err)
		}
		if _, err := st.Join(r.ID, bad); err != store.ErrUserNotFound {
			t.Fatalf("Join(%q): %v", bad, err)
		}
		if m, err := st.Membership(r.ID, bad); err != nil || m != nil {
			t.Fatalf("Membership(%q): %v %v", bad, m, err)
		}
		if ids, err := st.UserRoomIDs(bad); err != nil || ids != nil {
			t.Fatalf("UserRoomIDs(%q): %v %v", bad, ids, err)
		}
		if subs, err := st.Subscriptions(bad, ""); err != nil || subs != nil {
			t.Fatalf("Subscriptions(%q): %v %v", bad, subs, err)
		}
		err := st.CreateRooms([]store.NewRoom{{Room: &store.Room{ID: bad, Name: "x"}}})
		if store.KindOf(err) != store.Invalid {
			t.Fatalf("CreateRooms with id %q: %v", bad, err)
		}
		err = st.CreateRooms([]store.NewRoom{{Room: &store.Room{Name: "y"}, Members: []string{bad}}})
		if store.KindOf(err) != store.Invalid {
			t.Fatalf("CreateRooms with member %q: %v", bad, err)
		}
	}
}

// TestReadMarkOfDeletedRoom: MarkRead does not lock the room, so the room may be deleted
// between its read and the read mark's insert: that is ErrRoomNotFound, not a database error.
func TestReadMarkOfDeletedRoom(t *testing.T) {
	st := openTest(t, "", store.Options{})
	if err := st.write(func(t *Tx) error { return writeMarks(t, "gone", "u1", 1, 0, st.Now()) }); err != store.ErrRoomNotFound {
		t.Fatalf("read mark of a room deleted meanwhile: %v", err)
	}
}

// TestRoomKeyRaces: a name or id that another transaction takes between a write's check and
// its insert (the checks cannot see uncommitted rows) gives the checks' own errors, not a
// database error: the unique indexes decide, and their violation is translated.
func TestRoomKeyRaces(t *testing.T) {
	st := openTest(t, "", store.Options{})
	r := &store.Room{Name: "mine"}
	if err := st.CreateRoom(r, nil, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, id, name string
		write          func() error
		code           string
	}{
		{"a new room's name", "T1", "taken1", func() error { return st.CreateRoom(&store.Room{Name: "TAKEN1"}, nil, "") }, "duplicate-name"},
		{"a new room's id", "T2", "other2", func() error { return st.CreateRoom(&store.Room{ID: "T2", Name: "free2"}, nil, "") }, "invalid-id"},
		{"a rename", "T3", "taken3", func() error {
			_, err := st.UpdateRoom(r.ID, func(r *store.Room) error { r.Name = "Taken3"; return nil })
			return err
		}, "duplicate-name"},
	} {
		ctx := context.Background()
		tx, err := st.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rooms (id, name, name_key, type, created_at, doc) VALUES ($1, $2, $2, 'c', now(), '{}')`, c.id, c.name); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.write() }()
		// The write waits on the uncommitted row's index entry; once that commits, it fails.
		time.Sleep(200 * time.Millisecond)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err = <-done
		var se *store.Error
		if !errors.As(err, &se) || se.Kind != store.Invalid || se.Code != c.code {
			t.Fatalf("%s taken meanwhile: %v, want %s", c.what, err, c.code)
		}
	}
	if got, err := st.Room(r.ID); err != nil || got.Name != "mine" {
		t.Fatalf("the refused rename changed the room: %+v, %v", got, err)
	}
}

// TestOpenDirectRace: a direct-message room that another node creates between this one's
// lookup and its insert is found, not created twice and not an error.
func TestOpenDirectRace(t *testing.T) {
	st := openTest(t, "", store.Options{})
	a, b := sqlUser(t, st, "a1", "a"), sqlUser(t, st, "b1", "b")
	rid := store.DirectRoomID([]string{a.ID, b.ID})
	doc, err := json.Marshal(&store.Room{ID: rid, Type: store.Direct, Creator: &store.UserRef{ID: b.ID, Username: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := st.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO rooms (id, type, creator_id, created_at, doc) VALUES ($1, 'd', $2, now(), $3)`, rid, b.ID, doc); err != nil {
		t.Fatal(err)
	}
	type result struct {
		room    store.RoomWithMembers
		created bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		room, created, err := st.OpenDirect(a, []string{b.ID})
		done <- result{room, created, err}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.created || got.room.Creator.ID != b.ID || !slices.Equal(got.room.Usernames, []string{"a", "b"}) {
		t.Fatalf("OpenDirect racing another node's = %+v %v, %v", got.room, got.created, got.err)
	}
}
