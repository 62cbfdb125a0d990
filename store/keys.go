package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// idAlphabet is Meteor's Random.id alphabet (no look-alike characters).
const idAlphabet = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"

// NewID returns a 17-character Meteor-style id drawn from crypto/rand.
func NewID() string { return randomString(17) }

// NewSecret returns a 48-character secret of letters and digits only (about 277 bits): an
// incoming webhook's token, which some clients refuse to carry if it has other characters.
func NewSecret() string { return randomString(48) }

func randomString(size int) string {
	// 55 symbols: reject bytes >= 220 (4*55) so every symbol is equally likely.
	var arr [48]byte // on the stack: NewID runs for every message
	out := arr[:size]
	var buf [32]byte
	n := 0
	for n < len(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		for _, b := range buf {
			if b < 220 && n < len(out) {
				out[n] = idAlphabet[b%55]
				n++
			}
		}
	}
	return string(out)
}

// join2 builds the composite key a ∥ 0x00 ∥ b. The separator keeps room "A"'s keys from
// being a prefix match of room "AB"'s.
func join2(a string, b []byte) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func prefix(a string) []byte { return join2(a, nil) }

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func msgKey(rid string, seq uint64) []byte { return join2(rid, be64(seq)) }

func tsKey(rid string, ms int64, seq uint64) []byte {
	k := join2(rid, be64(uint64(ms)))
	return append(k, be64(seq)...)
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	return true, json.Unmarshal(data, v)
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// validKeyPart reports whether s can be part of a composite key (non-empty, no 0x00).
func validKeyPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

func equalFold(a, b string) bool { return string(lower(a)) == string(lower(b)) }
