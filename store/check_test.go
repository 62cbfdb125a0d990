package store

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// populated opens a store with users, rooms, memberships, messages and tokens.
func populated(t *testing.T) (*Bolt, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, r := range []string{"admin", "user"} {
		if err := s.AddRole(&Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.EnsurePermission(&Permission{ID: "backup", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	gen := &Room{ID: "GENERAL", Name: "general", Default: true}
	if err := s.CreateRoom(gen, nil, ""); err != nil {
		t.Fatal(err)
	}
	ann, bob := &User{Username: "ann", Email: "ann@x.org", Active: true}, &User{Username: "bob", Active: true}
	if err := s.CreateUsers([]*User{ann, bob}, true); err != nil {
		t.Fatal(err)
	}
	priv := &Room{Name: "secret", Type: Private}
	if err := s.CreateRoom(priv, []string{bob.ID}, ann.ID); err != nil {
		t.Fatal(err)
	}
	m := &Message{Text: "hello"}
	if err := s.PostMessage("GENERAL", ann, m); err != nil {
		t.Fatal(err)
	}
	if err := s.PostMessage(priv.ID, bob, &Message{Text: "psst"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToken(ann, TokenHash{1, 2, 3}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if errs := s.Check(); errs != nil {
		t.Fatalf("a sound store fails the check: %v", errs)
	}
	return s, map[string]string{"ann": ann.ID, "bob": bob.ID, "priv": priv.ID, "msg": m.ID}
}

func TestCheckFindsBrokenInvariants(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(tx *bolt.Tx, ids map[string]string) error
		want    string
	}{
		{"UserWithoutNameIndex", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bUsersByName).Delete([]byte("ann"))
		}, "users_by_name"},
		{"DanglingEmailIndex", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bUsersByEmail).Put([]byte("ghost@x.org"), []byte("nobody"))
		}, "missing user"},
		{"DanglingRoomName", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bRoomsByName).Put([]byte("ghost"), []byte("NOROOM"))
		}, "missing room"},
		{"MessageOfMissingRoom", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bRooms).Delete([]byte(ids["priv"]))
		}, "does not exist"},
		{"MessageWithoutIDIndex", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bMessageIDs).Delete([]byte(ids["msg"]))
		}, "message_ids"},
		{"DanglingTimeIndex", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bMessageTS).Put(tsKey("GENERAL", 5, 999), nil)
		}, "missing message"},
		{"RoomCountWrong", func(tx *bolt.Tx, ids map[string]string) error {
			r, _ := getRoom(tx, "GENERAL")
			r.Msgs += 3
			return putRoom(tx, r)
		}, "msgs is"},
		{"TokenWithoutExpiryIndex", func(tx *bolt.Tx, ids map[string]string) error {
			c := tx.Bucket(bTokensByExp).Cursor()
			k, _ := c.First()
			return tx.Bucket(bTokensByExp).Delete(k)
		}, "tokens_by_expiry"},
		{"DanglingUserTokenIndex", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bTokensByUser).Put(join2(ids["bob"], make([]byte, 32)), nil)
		}, "tokens_by_user"},
		{"MemberWithoutUserRooms", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bUserRooms).Delete(join2(ids["bob"], []byte(ids["priv"])))
		}, "user_rooms"},
		{"UserRoomsWithoutMember", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bUserRooms).Put(join2(ids["ann"], []byte("NOROOM")), nil)
		}, "membership is missing"},
		{"PermissionOfUnknownRole", func(tx *bolt.Tx, ids map[string]string) error {
			return putJSON(tx.Bucket(bPermissions), []byte("x"), &Permission{ID: "x", Roles: []string{"ghost"}})
		}, "ghost"},
		{"GarbledRecord", func(tx *bolt.Tx, ids map[string]string) error {
			return tx.Bucket(bUsers).Put([]byte(ids["bob"]), []byte("{not json"))
		}, "users/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ids := populated(t)
			if err := s.db.Update(func(tx *bolt.Tx) error { return tc.breakIt(tx, ids) }); err != nil {
				t.Fatal(err)
			}
			errs := s.Check()
			if len(errs) == 0 {
				t.Fatal("the check found nothing")
			}
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Fatalf("no error mentions %q: %v", tc.want, all)
			}
		})
	}
}

func TestCheckAllowsMessagesOfDeletedUsers(t *testing.T) {
	s, ids := populated(t)
	if err := s.DeleteUser(ids["bob"]); err != nil {
		t.Fatal(err)
	}
	if errs := s.Check(); errs != nil {
		t.Fatal(errs)
	}
}

func TestTextBackstop(t *testing.T) {
	s, ids := populated(t)
	before, _ := s.Counts()
	for name, err := range map[string]error{
		"ControlInUsername": s.CreateUser(&User{Username: "a\x07b", Active: true}, false),
		"BadUTF8InName":     s.CreateUser(&User{Username: "ok", Name: "\xff", Active: true}, false),
		"EmptyUsername":     s.CreateUser(&User{Username: "", Active: true}, false),
		"ControlInRoom":     s.CreateRoom(&Room{Name: "r\x00"}, nil, ""),
		"HugeTopic":         s.CreateRoom(&Room{Name: "r", Topic: strings.Repeat("t", maxTextBytes+1)}, nil, ""),
		"BadUTF8InMessage":  s.PostMessage("GENERAL", &User{ID: ids["ann"], Username: "ann"}, &Message{Text: "\xc3\x28"}),
		"EscapeInMessage":   s.PostMessage("GENERAL", &User{ID: ids["ann"], Username: "ann"}, &Message{Text: "\x1b[2J"}),
		"RenameToControl": func() error {
			_, err := s.UpdateUser(ids["ann"], func(u *User) error { u.Username = "a\nb"; return nil })
			return err
		}(),
		"TopicWithBell": func() error {
			_, err := s.UpdateRoom("GENERAL", func(r *Room) error { r.Topic = "ding\a"; return nil })
			return err
		}(),
	} {
		if KindOf(err) != Invalid {
			t.Errorf("%s: %v, want an Invalid error", name, err)
		}
	}
	after, _ := s.Counts()
	for b, n := range before {
		if after[b] != n {
			t.Errorf("bucket %s: %d → %d keys", b, n, after[b])
		}
	}
	// Multi-line text stays fine.
	if err := s.PostMessage("GENERAL", &User{ID: ids["ann"], Username: "ann"}, &Message{Text: "line 1\n\tline 2\r\n"}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupFile(t *testing.T) {
	s, _ := populated(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupFile(out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	b := openChecked(t, out)
	want, _ := s.Counts()
	got, _ := b.Counts()
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("bucket %s: %d keys in the backup, %d in the store", k, got[k], n)
		}
	}
	if err := s.BackupFile(filepath.Join(dir, "no", "such", "dir", "b.db")); err == nil {
		t.Fatal("a backup into a missing directory succeeded")
	}
}

func TestFailedCommitFlipsHealthy(t *testing.T) {
	s, _ := populated(t)
	if s.Healthy() != nil {
		t.Fatal("unhealthy from the start")
	}
	// A full file is the operator's to fix, not a fault of the disk.
	if err := s.commitFailed(errMaxSize()); err != ErrDatabaseFull || s.Healthy() != nil {
		t.Fatalf("full: %v, healthy %v", err, s.Healthy())
	}
	if err := s.commitFailed(os.ErrPermission); err == nil || s.Healthy() == nil {
		t.Fatal("a failed commit left the store healthy")
	}
	if err := s.SetMeta("k", "v"); err != nil {
		t.Fatal(err)
	}
	if s.Healthy() != nil {
		t.Fatal("a later good commit did not clear the fault")
	}
}

func errMaxSize() error { return berrors.ErrMaxSizeReached }

// TestBackupDoesNotStopWriters holds a backup in the middle of its stream and writes: the write
// commits at once, and the copy is the snapshot from before it.
func TestBackupDoesNotStopWriters(t *testing.T) {
	s, ids := populated(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Backup(nil, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(pr, head); err != nil {
		t.Fatal(err)
	}
	// The backup's read transaction is open, blocked on the pipe.
	m := &Message{Text: "written during the backup"}
	wrote := make(chan error, 1)
	go func() { wrote <- s.PostMessage("GENERAL", &User{ID: ids["ann"], Username: "ann"}, m) }()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write waited for the backup")
	}
	out := filepath.Join(t.TempDir(), "snap.db")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(head)
	if _, err := io.Copy(f, pr); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b := openChecked(t, out)
	ann, err := s.User(ids["ann"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Message(m.ID, ann); err != ErrMsgNotFound {
		t.Fatalf("the copy holds a message written after it began: %v", err)
	}
	if _, err := s.Message(m.ID, ann); err != nil {
		t.Fatalf("the live store lost the message: %v", err)
	}
}

// openChecked opens a copy read-only and fails the test unless it passes the check.
func openChecked(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if errs := b.Check(); errs != nil {
		t.Fatal(errs)
	}
	return b
}
