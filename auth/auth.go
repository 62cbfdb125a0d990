// Package auth handles passwords (bcrypt) and login tokens (random, stored only as SHA-256).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/store"
)

// MaxPasswordBytes is bcrypt's input limit; longer passwords are refused rather than cut.
const MaxPasswordBytes = 72

// Hasher hashes and checks passwords at a fixed bcrypt cost.
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
		h.dummy, _ = bcrypt.GenerateFromPassword([]byte("rocketlite dummy password"), cost)
	}()
	return h, nil
}

// Cost is the bcrypt cost in use.
func (h *Hasher) Cost() int { return h.cost }

// Hash returns the bcrypt hash of password.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", store.Errorf(store.Invalid, "password-too-long", "Password is longer than %d bytes", MaxPasswordBytes)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	return string(b), err
}

// Check reports whether password matches hash. With hash == "" it compares against the dummy
// hash and returns false, taking the same time as a real check.
func (h *Hasher) Check(hash, password string) bool {
	if hash == "" {
		<-h.ready
		bcrypt.CompareHashAndPassword(h.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
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
func Sweep(ctx context.Context, s *store.Store, interval time.Duration, onErr func(error), onSwept func(int)) {
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
func SweepOnce(ctx context.Context, s *store.Store, onErr func(error), onSwept func(int)) {
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
