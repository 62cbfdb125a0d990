package store

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func openTest(t *testing.T, now func() time.Time) *Bolt {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSetPermissionsRolesAllOrNothing(t *testing.T) {
	s := openTest(t, nil)
	for _, r := range []string{"admin", "user"} {
		if _, err := s.EnsureRole(&Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"a", "b"} {
		if _, err := s.EnsurePermission(&Permission{ID: p, Roles: []string{"admin"}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, in := range map[string][]Permission{
		"UnknownPermission": {{ID: "a", Roles: []string{"user"}}, {ID: "zz", Roles: nil}},
		"UnknownRole":       {{ID: "a", Roles: []string{"user"}}, {ID: "b", Roles: []string{"king"}}},
	} {
		if _, err := s.SetPermissionsRoles(in); KindOf(err) == 0 {
			t.Fatalf("%s: err %v", name, err)
		}
		if p, _ := s.Permission("a"); !reflect.DeepEqual(p.Roles, []string{"admin"}) {
			t.Fatalf("%s: a changed to %v", name, p.Roles)
		}
	}
	got, err := s.SetPermissionsRoles([]Permission{{ID: "a", Roles: []string{"user", "admin", "user"}}, {ID: "b", Roles: []string{}}})
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0].Roles, []string{"admin", "user"}) || len(got[1].Roles) != 0 {
		t.Fatalf("SetPermissionsRoles = %+v, %v", got, err)
	}
}

func TestHasLiveToken(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := openTest(t, func() time.Time { return now })
	const a0ID = "AAAAAAAAAAAAAAAAA"
	a := &User{ID: a0ID, Username: "a", Active: true}
	ab := &User{ID: a0ID + "b", Username: "ab", Active: true} // id "…b" has "…" as a prefix
	if err := s.CreateUsers([]*User{a, ab}, false); err != nil {
		t.Fatal(err)
	}
	if live, err := s.HasLiveToken(a.ID); err != nil || live {
		t.Fatalf("no token: %v %v", live, err)
	}
	if err := s.AddToken(a, TokenHash{1}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.HasLiveToken(a.ID); !live {
		t.Fatal("token not seen")
	}
	if live, _ := s.HasLiveToken(ab.ID); live {
		t.Fatal("another user's token seen")
	}
	now = now.Add(2 * time.Hour)
	if live, _ := s.HasLiveToken(a.ID); live {
		t.Fatal("expired token counted")
	}
}

func TestRemoveMemberAndSetRoomOpen(t *testing.T) {
	s := openTest(t, nil)
	u := &User{Username: "u", Active: true}
	by := &User{Username: "boss", Active: true}
	if err := s.CreateUsers([]*User{u, by}, false); err != nil {
		t.Fatal(err)
	}
	r := &Room{Name: "r"}
	if err := s.CreateRoom(r, []string{u.ID}, by.ID); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.SetRoomOpen(r.ID, u.ID, false); err != nil || !changed {
		t.Fatalf("close: %v %v", changed, err)
	}
	if m, _ := s.Membership(r.ID, u.ID); !m.Hidden {
		t.Fatal("not hidden")
	}
	if changed, err := s.SetRoomOpen(r.ID, u.ID, false); err != nil || changed {
		t.Fatalf("close twice: %v %v", changed, err)
	}
	if err := s.RemoveMember(r.ID, u.ID, by.Ref()); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(r.ID, u.ID, by.Ref()); err != ErrNotInRoom {
		t.Fatalf("second removal: %v", err)
	}
	if _, err := s.SetRoomOpen(r.ID, u.ID, true); err != ErrNotInRoom {
		t.Fatalf("open by non-member: %v", err)
	}
	if err := s.RemoveMember("nope", u.ID, by.Ref()); err != ErrRoomNotFound {
		t.Fatalf("unknown room: %v", err)
	}
	msgs, err := s.History(r.ID, by, HistoryQuery{Count: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Type != "ru" || msgs[0].Text != "u" || msgs[0].User.ID != by.ID {
		t.Fatalf("history %+v %v", msgs, err)
	}
	if rm, _ := s.RoomMembers(r.ID); !reflect.DeepEqual(rm.Usernames, []string{"boss"}) {
		t.Fatalf("members %v", rm.Usernames)
	}
}
