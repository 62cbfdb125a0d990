package store

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillRoom writes n messages into a new room "R" in one transaction (setup only).
func fillRoom(b *testing.B, s *Store, u *User, n int) {
	b.Helper()
	if err := s.CreateRoom(&Room{ID: "R", Name: "r", Type: Public}, nil, ""); err != nil {
		b.Fatal(err)
	}
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		chunk := min(n-done, 50000)
		err := s.update(func(tx *bolt.Tx) error {
			r, err := getRoom(tx, "R")
			if err != nil {
				return err
			}
			for i := range chunk {
				m := &Message{Text: fmt.Sprintf("message %d", done+i), TS: ts.Add(time.Duration(done+i) * time.Millisecond), User: u.Ref()}
				if err := appendMessage(tx, r, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += chunk
	}
}

// BenchmarkHistoryPage reads the newest page of 50, and a page in the middle by id and by date,
// in rooms of different sizes: the cost must not grow with the room.
func BenchmarkHistoryPage(b *testing.B) {
	for _, n := range []int{100, 10000, 300000} {
		s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		u := &User{Username: "u", Active: true}
		if err := s.CreateUser(u, false); err != nil {
			b.Fatal(err)
		}
		fillRoom(b, s, u, n)
		mid, err := s.History("R", u.ID, HistoryQuery{Count: 1, Offset: n/2 - 1})
		if err != nil || len(mid) != 1 {
			b.Fatal(err)
		}
		for _, q := range []struct {
			name string
			q    HistoryQuery
		}{
			{"newest", HistoryQuery{Count: 50}},
			{"beforeID", HistoryQuery{Count: 50, BeforeID: mid[0].ID}},
			{"beforeDate", HistoryQuery{Count: 50, Before: mid[0].TS}},
		} {
			b.Run(fmt.Sprintf("%s/msgs=%d", q.name, n), func(b *testing.B) {
				for b.Loop() {
					msgs, err := s.History("R", u.ID, q.q)
					if err != nil || len(msgs) != 50 {
						b.Fatalf("%d %v", len(msgs), err)
					}
				}
			})
		}
		s.Close()
	}
}

// BenchmarkPostMessageParallel measures sends from many goroutines sharing group commits.
func BenchmarkPostMessageParallel(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := &User{Username: "u", Active: true}
	if err := s.CreateUser(u, false); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateRoom(&Room{ID: "R", Name: "r", Type: Public}, nil, ""); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.PostMessage("R", u.Ref(), &Message{Text: "hello"}); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	if r, _ := s.Room("R"); r.Msgs != n.Load() {
		b.Fatalf("room has %d messages, sent %d", r.Msgs, n.Load())
	}
}
