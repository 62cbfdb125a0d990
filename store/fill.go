package store

import bolt "go.etcd.io/bbolt"

// AppendMessages appends msgs to room rid in one write transaction of its own, saving the
// room once. It is for bulk loading (the bench tool's -fill-db, benchmarks), not for
// requests: it bypasses the group-commit writer and checks no access. Each message keeps its
// User and its TS if set (else the store's clock) and gets the room's next sequence numbers.
func (s *Bolt) AppendMessages(rid string, msgs []*Message) error {
	now := ms(s.now())
	return s.update(func(tx *bolt.Tx) error {
		r, err := getRoom(tx, rid)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.TS.IsZero() {
				m.TS = now
			}
			if err := putMessage(tx, r, m); err != nil {
				return err
			}
		}
		return putRoom(tx, r)
	})
}
