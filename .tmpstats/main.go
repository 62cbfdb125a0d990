package main

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	db, err := bolt.Open(os.Args[1], 0o600, &bolt.Options{ReadOnly: len(os.Args) < 3})
	if err != nil {
		panic(err)
	}
	db.View(func(tx *bolt.Tx) error {
		fmt.Println("tx size", tx.Size())
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			s := b.Stats()
			fmt.Printf("%-18s keys=%-8d leafPages=%-7d leafInuse=%-10d branchPages=%d depth=%d\n", name, s.KeyN, s.LeafPageN, s.LeafInuse, s.BranchPageN, s.Depth)
			return nil
		})
	})
	st := db.Stats()
	fmt.Println("free pages", st.FreePageN, "pending", st.PendingPageN, "freelist bytes", st.FreelistInuse)
}
