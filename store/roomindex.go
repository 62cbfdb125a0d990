package store

// Two derived indexes of rooms, kept by putRoom and rebuilt at open when missing (a file of
// an older build):
//
//   - rooms_by_creator: creator id ∥ 0x00 ∥ room id, for the cap on rooms per creator;
//   - public_rooms_by_msgs: be64(^msgs) ∥ name ∥ 0x00 ∥ room id, every public room in the
//     order publicRooms and channels.list show them (most messages first, ties by name), so
//     a page of that list reads the page, not every room.
//
// Code that deletes a room must call dropRoomIndexes.

import (
	"bytes"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

var (
	bRoomsByCreator = []byte("rooms_by_creator")
	bPublicByMsgs   = []byte("public_rooms_by_msgs")

	// derivedBuckets can be rebuilt from the rooms: Open does so when one is missing, and
	// Check does not require them (a read-only check of an older file has none).
	derivedBuckets = [][]byte{bRoomsByCreator, bPublicByMsgs}
)

func publicRankKey(r *Room) []byte {
	k := make([]byte, 0, 8+len(r.Name)+1+len(r.ID))
	k = append(k, be64(^uint64(r.Msgs))...)
	k = append(k, r.Name...)
	k = append(k, 0)
	return append(k, r.ID...)
}

// putRoom saves r and keeps the derived indexes in step with it.
func putRoom(tx *bolt.Tx, r *Room) error {
	rb := tx.Bucket(bRooms)
	if old := rb.Get([]byte(r.ID)); old != nil {
		// Every send saves its room: decodeRoom reads the stored record in a third of the
		// time json.Unmarshal takes for just the ranked fields (name, type, msgs).
		var o Room
		if err := decodeRoom(old, &o); err != nil {
			return err
		}
		if o.Type == r.Type && o.Name == r.Name && o.Msgs == r.Msgs {
			return putJSON(rb, []byte(r.ID), r)
		}
		if o.Type == Public {
			if err := tx.Bucket(bPublicByMsgs).Delete(publicRankKey(&Room{ID: r.ID, Name: o.Name, Msgs: o.Msgs})); err != nil {
				return err
			}
		}
	} else if r.Creator != nil && r.Creator.ID != "" {
		if err := tx.Bucket(bRoomsByCreator).Put(join2(r.Creator.ID, []byte(r.ID)), nil); err != nil {
			return err
		}
	}
	if r.Type == Public {
		if err := tx.Bucket(bPublicByMsgs).Put(publicRankKey(r), nil); err != nil {
			return err
		}
	}
	return putJSON(rb, []byte(r.ID), r)
}

// dropRoomIndexes removes r, as stored, from the derived indexes (for code deleting a room).
func dropRoomIndexes(tx *bolt.Tx, r *Room) error {
	if r.Creator != nil && r.Creator.ID != "" {
		if err := tx.Bucket(bRoomsByCreator).Delete(join2(r.Creator.ID, []byte(r.ID))); err != nil {
			return err
		}
	}
	if r.Type == Public {
		return tx.Bucket(bPublicByMsgs).Delete(publicRankKey(r))
	}
	return nil
}

// buildRoomIndexes fills the derived indexes that Open has just created, from the rooms.
func buildRoomIndexes(tx *bolt.Tx, fresh map[string]bool) error {
	byCreator, byMsgs := tx.Bucket(bRoomsByCreator), tx.Bucket(bPublicByMsgs)
	return tx.Bucket(bRooms).ForEach(func(k, v []byte) error {
		var r Room
		if err := unmarshal(v, &r); err != nil {
			return err
		}
		r.ID = string(k)
		if fresh[string(bRoomsByCreator)] && r.Creator != nil && r.Creator.ID != "" {
			if err := byCreator.Put(join2(r.Creator.ID, k), nil); err != nil {
				return err
			}
		}
		if fresh[string(bPublicByMsgs)] && r.Type == Public {
			return byMsgs.Put(publicRankKey(&r), nil)
		}
		return nil
	})
}

// ErrTooManyRooms refuses a room past the cap on rooms per creator.
func errTooManyRooms(max int) error {
	return Errorf(Invalid, "too-many-rooms", "You have created %d rooms, the most allowed; an admin can raise the limit (--max-rooms-per-user)", max)
}

// checkRoomCap refuses a new room by creator uid when they have created max rooms already
// (max 0: no cap). Admins are exempt: the operator sets the server up, and bulk/createRoom
// creates up to a thousand rooms a call. The count walks at most max index keys.
func checkRoomCap(tx *bolt.Tx, uid string, max int) error {
	if max <= 0 {
		return nil
	}
	u, err := getUser(tx, uid)
	if err != nil || u.HasRole("admin") {
		return nil // a creator that is no user is checked elsewhere
	}
	p := prefix(uid)
	n := 0
	c := tx.Bucket(bRoomsByCreator).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if n++; n >= max {
			return errTooManyRooms(max)
		}
	}
	return nil
}

// PublicRooms returns a page of the public rooms, most messages first (ties by name), with
// their members' names, and how many public rooms there are: offset skipped, at most count
// (count 0: all the rest). A page reads its own rooms only, whatever the number of rooms.
func (s *Bolt) PublicRooms(offset, count int) (rooms []RoomWithMembers, total int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bPublicByMsgs)
		if idx == nil { // a read-only open of an older file
			rooms, total, err = roomsIn(tx, func(r *Room) bool { return r.Type == Public }, nil, offset, count)
			return err
		}
		total = idx.Stats().KeyN
		var page []*Room
		c := idx.Cursor()
		i := 0
		for k, _ := c.First(); k != nil && (count == 0 || len(page) < count); k, _ = c.Next() {
			if i++; i <= offset {
				continue
			}
			if len(k) < 9 {
				continue
			}
			id := k[bytes.LastIndexByte(k, 0)+1:]
			r, err := getRoom(tx, string(id))
			if err != nil {
				return err
			}
			if binary.BigEndian.Uint64(k[:8]) != ^uint64(r.Msgs) {
				continue // cannot happen while putRoom keeps the index
			}
			page = append(page, r)
		}
		rooms, err = pageWithMembers(tx, page, 0, 0)
		return err
	})
	return rooms, total, err
}
