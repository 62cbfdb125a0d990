package auth

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestCheckUnknownUserUsesDummy: with no hash (unknown user) Check waits for the dummy hash
// made in the background, compares against it and refuses.
func TestCheckUnknownUserUsesDummy(t *testing.T) {
	h, err := NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if h.Check("", "rocketlite dummy password") {
		t.Fatal("Check without a hash accepted a password")
	}
	if len(h.dummy) == 0 {
		t.Fatal("no dummy hash after Check")
	}
	hash, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check(hash, "secret") || h.Check(hash, "wrong") {
		t.Fatal("Check of a real hash is wrong")
	}
}
