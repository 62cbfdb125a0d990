package store

import bolt "go.etcd.io/bbolt"

// RevokeUserTokens logs a user out everywhere and returns how many tokens it deleted.
func (s *Bolt) RevokeUserTokens(uid string) (n int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, uid); err != nil {
			return err
		}
		p := prefix(uid)
		c := tx.Bucket(bTokensByUser).Cursor()
		n = 0
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			n++
		}
		return revokeUserTokens(tx, uid)
	})
	return n, err
}

// RevokeAllTokens logs every user out (after restoring a backup, whose tokens include ones
// that were logged out since) and returns how many tokens it deleted. The three token
// buckets are emptied together in one transaction.
func (s *Bolt) RevokeAllTokens() (n int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		n = tx.Bucket(bTokens).Stats().KeyN
		for _, b := range [][]byte{bTokens, bTokensByExp, bTokensByUser} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// keyN is the number of keys in b. Stats reads the pages only, so inside a write transaction
// (Atomic) it misses what the transaction wrote: there the keys are counted one by one.
func keyN(b *bolt.Bucket) int {
	if !b.Tx().Writable() {
		return b.Stats().KeyN
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}
