// Package auth handles passwords (bcrypt) and login tokens (random, stored only as SHA-256).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/store"
)

// MaxPasswordBytes is bcrypt's input limit; longer passwords are refused rather than cut.
const MaxPasswordBytes = 72

// Hasher hashes and checks passwords at a fixed bcrypt cost.
//
// What bcrypt hashes is not the password itself but its digest (Digest: the lower-case hex
// SHA-256 of the password), exactly as Rocket.Chat stores services.password.bcrypt. So a
// client may log in with the plain password (the server takes the digest) or with the digest
// alone ({"digest": …, "algorithm": "sha-256"}, what Rocket.Chat's own clients send), and
// both verify against the one stored hash; hashes taken from a Rocket.Chat database work as
// they are. Every caller (login, seeding, user creation) goes through Hash and Check, so no
// caller can store or compare the other form by mistake.
type Hasher struct {
	cost  int
	ready chan struct{} // closed once dummy is set
	dummy []byte
}

// NewHasher returns a Hasher for cost (clamped to bcrypt's range). It prepares a dummy hash of
// the same cost so that a login for an unknown user costs as much as one for a known user.
// The dummy is made in the background: at cost 10 it took about half of the server's time
// from start to first answer, and only a login for an unknown user needs it (that one waits).
func NewHasher(cost int) (*Hasher, error) {
	cost = max(min(cost, bcrypt.MaxCost), bcrypt.MinCost)
	h := &Hasher{cost: cost, ready: make(chan struct{})}
	go func() {
		defer close(h.ready)
		// Cannot fail: the cost is in range and the password is short.
		h.dummy, _ = bcrypt.GenerateFromPassword([]byte(Digest("rocketlite dummy password")), cost)
	}()
	return h, nil
}

// Cost is the bcrypt cost in use.
func (h *Hasher) Cost() int { return h.cost }

// Digest is the form of a password that bcrypt hashes: the lower-case hex SHA-256 of it.
func Digest(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

// ValidDigest reports whether s looks like a Digest (64 hex digits, either case).
func ValidDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Hash returns the bcrypt hash of the password's Digest. Passwords stay capped at
// MaxPasswordBytes, bcrypt's own limit, so that a password set here also works on a server
// that hashes the plain text.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", store.Errorf(store.Invalid, "password-too-long", "Password is longer than %d bytes", MaxPasswordBytes)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(Digest(password)), h.cost)
	return string(b), err
}

// Check reports whether password matches hash. With hash == "" it compares against the dummy
// hash and returns false, taking the same time as a real check.
func (h *Hasher) Check(hash, password string) bool {
	if len(password) > MaxPasswordBytes {
		// No such password can have been set (Hash refuses it): same work, same answer.
		h.CheckDigest("", Digest(password))
		return false
	}
	return h.CheckDigest(hash, Digest(password))
}

// CheckDigest reports whether digest (see Digest; either case) matches hash, with the same
// dummy comparison as Check for hash == "".
func (h *Hasher) CheckDigest(hash, digest string) bool {
	d := []byte(strings.ToLower(digest))
	if hash == "" {
		<-h.ready
		bcrypt.CompareHashAndPassword(h.dummy, d)
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), d) == nil
}

// NewToken returns a new login token: 43 characters of [A-Za-z0-9_-] from 256 random bits.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is the form in which a token is stored and looked up.
func HashToken(token string) store.TokenHash { return sha256.Sum256([]byte(token)) }

// Sweep deletes expired tokens every interval until ctx ends. It deletes in small
// transactions so that it never holds the single bbolt writer for long.
func Sweep(ctx context.Context, s store.Store, interval time.Duration, onErr func(error), onSwept func(int)) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			SweepOnce(ctx, s, onErr, onSwept)
		}
	}
}

// SweepOnce deletes every token expired now, in chunks.
func SweepOnce(ctx context.Context, s store.Store, onErr func(error), onSwept func(int)) {
	const chunk = 500
	total := 0
	for ctx.Err() == nil {
		n, err := s.SweepTokens(chunk)
		if err != nil {
			if onErr != nil {
				onErr(err)
			}
			return
		}
		total += n
		if n < chunk {
			break
		}
	}
	if onSwept != nil && total > 0 {
		onSwept(total)
	}
}
