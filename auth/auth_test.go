package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestDigestPasswords(t *testing.T) {
	h, err := NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("s3cret"))
	digest := hex.EncodeToString(sum[:])
	if Digest("s3cret") != digest {
		t.Fatalf("Digest = %s, want %s", Digest("s3cret"), digest)
	}
	// What is stored is bcrypt of the digest, as in Rocket.Chat's services.password.bcrypt.
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(digest)) != nil {
		t.Fatal("hash is not bcrypt(sha256 hex of the password)")
	}
	for _, tc := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"Plain", true, h.Check(hash, "s3cret")},
		{"Digest", true, h.CheckDigest(hash, digest)},
		{"DigestUpper", true, h.CheckDigest(hash, strings.ToUpper(digest))},
		{"WrongPlain", false, h.Check(hash, "s3cret ")},
		{"DigestAsPlain", false, h.Check(hash, digest)},
		{"PlainAsDigest", false, h.CheckDigest(hash, "s3cret")},
		{"NoHash", false, h.Check("", "s3cret")},
		{"EmptyDigest", false, h.CheckDigest(hash, "")},
	} {
		if tc.got != tc.ok {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.ok)
		}
	}
	if _, err := h.Hash(strings.Repeat("x", MaxPasswordBytes+1)); err == nil {
		t.Error("Hash accepted a password longer than MaxPasswordBytes")
	}
	for s, want := range map[string]bool{digest: true, strings.ToUpper(digest): true, digest[:63]: false, digest[:63] + "g": false, "": false} {
		if ValidDigest(s) != want {
			t.Errorf("ValidDigest(%q) = %v", s, !want)
		}
	}
}
