package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"rocketlite/auth"
	"rocketlite/seed"
	"rocketlite/store"
)

// fill prepares a database for load runs without a server: seed, admin, bench users, the
// bench room, and c.n messages appended in transactions of c.chunk.
func fill(c config, out io.Writer) error {
	if c.n < 0 || c.users < 0 || c.chunk < 1 {
		return errors.New("-n and -users must not be negative, -chunk must be positive")
	}
	start := time.Now()
	st, err := store.Open(c.fillDB, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close() // after the explicit Close below, a no-op error
	// The server's default cost, so that a login costs what it costs in production.
	h, err := auth.NewHasher(10)
	if err != nil {
		return err
	}
	if _, err := seed.ApplyDefault(st, h); err != nil {
		return err
	}
	if c.password == "" {
		if _, total, err := st.Users(0, 1); err != nil || total == 0 {
			return errors.New("-password is required to create the admin of a new database")
		}
	}
	if _, _, err := seed.EnsureAdmin(st, h, c.user, c.password); err != nil {
		return err
	}
	admin, err := st.UserByUsername(c.user)
	if err != nil {
		return fmt.Errorf("admin %q: %w", c.user, err)
	}

	// One hash serves every bench user: bcrypt salts it, but any valid hash of the password
	// verifies, and hashing N times would only slow the fill down.
	hash, err := h.Hash(c.userPassword)
	if err != nil {
		return err
	}
	var fresh []*store.User
	for i := 1; i <= c.users; i++ {
		name := "bench" + strconv.Itoa(i)
		if _, err := st.UserByUsername(name); err == nil {
			continue
		}
		fresh = append(fresh, &store.User{Username: name, Name: name, Hash: hash, Active: true})
	}
	if len(fresh) > 0 {
		if err := st.CreateUsers(fresh, false); err != nil {
			return err
		}
	}

	room, err := st.RoomByName(c.room)
	if store.KindOf(err) == store.NotFound {
		room = &store.Room{Name: c.room, Type: store.Public}
		err = st.CreateRoom(room, nil, admin.ID)
	}
	if err != nil {
		return err
	}

	author := admin.Ref()
	base := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Duration(c.n) * time.Millisecond)
	msgs := make([]*store.Message, 0, c.chunk)
	for done := 0; done < c.n; {
		msgs = msgs[:0]
		for i := 0; i < c.chunk && done+i < c.n; i++ {
			k := done + i
			// Distinct, increasing times (1 ms apart, ending now), as a busy room has.
			text := "fill message " + strconv.Itoa(k+1) + ": the quick brown fox jumps over the lazy dog"
			for len(text) < c.textSize {
				text += " the quick brown fox jumps over the lazy dog"
			}
			msgs = append(msgs, &store.Message{
				Text: text,
				User: author, TS: base.Add(time.Duration(k) * time.Millisecond),
			})
		}
		if err := st.AppendMessages(room.ID, msgs); err != nil {
			return err
		}
		done += len(msgs)
	}
	room, err = st.Room(room.ID)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if c.compact {
		// Chunked loading rewrites pages of the random message-id index in every chunk and
		// leaves thousands of free pages, which every later commit would write out as the
		// freelist. A room grown by real sends reuses its free pages; compacting is closer to it.
		if err := compact(c.fillDB); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "filled %s: room %q id=%s msgs=%d, users created=%d, in %s\n",
		c.fillDB, room.Name, room.ID, room.Msgs, len(fresh), time.Since(start).Round(time.Millisecond))
	return nil
}

// compact rewrites the file densely (bbolt.Compact) and replaces it.
func compact(path string) error {
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, src, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// printTxID prints the id of the last committed transaction of a stopped server's database:
// the difference between two calls is the number of commits in between, which with the
// load tool's count of writes gives the writes per commit.
func printTxID(path string, out io.Writer) error {
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	tx, err := st.DB().Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	fmt.Fprintf(out, "txid=%d\n", tx.ID())
	return nil
}
