package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"rocketlite/store"
	"rocketlite/store/migratetest"
)

// filled returns a bbolt store filled with every kind of record, and its file.
func filled(t *testing.T) (*store.Bolt, *migratetest.Fixture, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.db")
	clock := &migratetest.Clock{T: migratetest.Start}
	st, err := store.Open(path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, migratetest.Fill(t, st, clock, 10), path
}

func exportAll(t *testing.T, st *store.Bolt) ([]store.Record, map[store.RecordKind]int) {
	t.Helper()
	var recs []store.Record
	n := map[store.RecordKind]int{}
	if err := st.Export(context.Background(), func(r store.Record) error {
		recs = append(recs, r)
		n[r.Kind()]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return recs, n
}

// TestExportEveryKind: a filled file exports every kind, in RecordKinds' order, as many of
// each as ExportCounts counts in the buckets.
func TestExportEveryKind(t *testing.T) {
	st, f, _ := filled(t)
	for _, err := range st.Check() {
		t.Errorf("the filled file is not sound: %v", err)
	}
	recs, n := exportAll(t, st)
	want, err := st.ExportCounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range store.RecordKinds {
		if n[k] == 0 || n[k] != want[k] {
			t.Errorf("%s: exported %d, counted %d (want equal and > 0)", k, n[k], want[k])
		}
	}
	pos := map[store.RecordKind]int{}
	for i, k := range store.RecordKinds {
		pos[k] = i
	}
	last := 0
	var prev *store.Message
	for _, r := range recs {
		if pos[r.Kind()] < last {
			t.Fatalf("%s after a kind that comes later", r.Kind())
		}
		last = pos[r.Kind()]
		switch r := r.(type) {
		case store.MetaRecord:
			if r.Key == "schema" {
				t.Errorf("the file's layout version was exported")
			}
		case store.MessageRecord:
			m := r.Message
			if prev != nil && prev.RoomID == m.RoomID && m.Seq <= prev.Seq {
				t.Errorf("message %s (seq %d) after seq %d", m.ID, m.Seq, prev.Seq)
			}
			if m.Seq == 0 || m.RoomID == "" {
				t.Errorf("message %s without its key's seq or room", m.ID)
			}
			prev = m
		case store.UserRecord:
			if r.User.Hash == "" {
				t.Errorf("user %s exported without its password hash", r.User.Username)
			}
		case store.MemberRecord:
			if r.Member.RoomID == "" || r.Member.UserID == "" {
				t.Errorf("membership without its key's room and user: %+v", r.Member)
			}
			if r.Member.UserID == f.Users["bob"].ID && r.Member.RoomID == f.Rooms["lobby"] {
				rm, _ := st.Room(r.Member.RoomID)
				if got := int(rm.Counted - r.Mark); got != f.BobUnread {
					t.Errorf("bob's mark in lobby leaves %d unread, want %d", got, f.BobUnread)
				}
			}
		case store.TombstoneRecord:
			if r.RoomID != f.Rooms["lobby"] || r.Deleted.ID == "" || r.Deleted.At.IsZero() {
				t.Errorf("tombstone %+v", r)
			}
		}
	}
}

// TestExportMemberWithoutMark: a membership from a file written before read marks has nothing
// unread, as the bbolt store reads it; its exported mark is the room's count.
func TestExportMemberWithoutMark(t *testing.T) {
	st, f, path := filled(t)
	emptyMarks := func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("sub_marks"))
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error { keys = append(keys, k); return nil })
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
	if err := st.DB().Update(emptyMarks); err != nil {
		t.Fatal(err)
	}
	sub, err := st.SubscriptionOf(f.Rooms["lobby"], f.Users["bob"].ID)
	if err != nil || sub.Unread != 0 {
		t.Fatalf("bbolt reads %d unread (%v) without marks", sub.Unread, err)
	}
	check := func(st *store.Bolt) {
		t.Helper()
		recs, _ := exportAll(t, st)
		seen := 0
		for _, r := range recs {
			if m, ok := r.(store.MemberRecord); ok {
				rm, err := st.Room(m.Member.RoomID)
				if err != nil {
					t.Fatal(err)
				}
				if m.Mark != rm.Counted {
					t.Errorf("member %s of %s: mark %d, want the room's %d", m.Member.UserID, rm.Name, m.Mark, rm.Counted)
				}
				seen++
			}
		}
		if seen == 0 {
			t.Fatal("no membership exported")
		}
	}
	check(st)
	// A file of a build before read marks has no sub_marks bucket at all (until a server
	// starts on it); a read-only open does not create it.
	if err := st.DB().Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("sub_marks")) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	ro, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	check(ro)
}

// TestExportStops: an error of the callback, a record that does not decode, and a cancelled
// context each end the export with that error.
func TestExportStops(t *testing.T) {
	st, f, _ := filled(t)
	boom := errors.New("boom")
	n := 0
	err := st.Export(context.Background(), func(r store.Record) error {
		if n++; r.Kind() == store.KindUser {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("callback error: Export = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Export(ctx, func(store.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: Export = %v", err)
	}
	if err := st.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("users")).Put([]byte(f.Users["bob"].ID), []byte(`{"id": 5`))
	}); err != nil {
		t.Fatal(err)
	}
	err = st.Export(context.Background(), func(store.Record) error { return nil })
	if err == nil || !containsAll(err.Error(), "users record", f.Users["bob"].ID) {
		t.Fatalf("broken record: Export = %v, want it named", err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
