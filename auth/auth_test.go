package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"rocketlite/store"
)

func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	seen := map[string]bool{}
	for range 1000 {
		tok := NewToken()
		if !re.MatchString(tok) || seen[tok] {
			t.Fatalf("token %q (repeated: %v)", tok, seen[tok])
		}
		seen[tok] = true
	}
	if HashToken("abc") != store.TokenHash(sha256.Sum256([]byte("abc"))) {
		t.Fatal("HashToken is not SHA-256")
	}
}

func TestHasher(t *testing.T) {
	h, err := NewHasher(1) // clamped up to bcrypt's minimum
	if err != nil || h.Cost() != bcrypt.MinCost {
		t.Fatalf("cost %d, %v", h.Cost(), err)
	}
	hash, err := h.Hash("secret")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(hash)); c != bcrypt.MinCost {
		t.Fatalf("hash cost %d", c)
	}
	if !h.Check(hash, "secret") || h.Check(hash, "Secret") || h.Check(hash, "") {
		t.Fatal("Check gives the wrong answer")
	}
	// No hash (unknown user): compared against the dummy, always false.
	if h.Check("", "rocketlite dummy password") || h.Check("", "") {
		t.Fatal("Check without a hash succeeded")
	}
	// bcrypt ignores bytes past 72: a password that merely starts with the right one is wrong.
	long := strings.Repeat("p", MaxPasswordBytes)
	longHash, err := h.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Check(longHash, long) || h.Check(longHash, long+"x") {
		t.Fatal("Check of a 72-byte password and a longer one")
	}
	if _, err := h.Hash(strings.Repeat("x", MaxPasswordBytes+1)); store.KindOf(err) != store.Invalid {
		t.Fatalf("over-long password: %v", err)
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// SweepOnce deletes every expired token, in chunks, and reports the total once.
func TestSweepOnce(t *testing.T) {
	clk := &clock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	// No cap on tokens per user: the sweep, not a login, must remove these.
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{Now: clk.Now, MaxTokensPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := &store.User{Username: "u", Active: true}
	if err := st.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	const expired, live = 1203, 7 // more than two chunks of 500
	var wg sync.WaitGroup
	errs := make(chan error, expired+live)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < expired+live; i += 8 {
				exp := clk.Now().Add(time.Minute)
				if i >= expired {
					exp = clk.Now().Add(time.Hour)
				}
				errs <- st.AddToken(u, HashToken(NewToken()), exp)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	clk.mu.Lock()
	clk.now = clk.now.Add(30 * time.Minute)
	clk.mu.Unlock()
	var swept []int
	SweepOnce(context.Background(), st, func(err error) { t.Fatal(err) }, func(n int) { swept = append(swept, n) })
	if len(swept) != 1 || swept[0] != expired {
		t.Fatalf("swept %v, want [%d]", swept, expired)
	}
	if n, _ := st.TokenCount(); n != live {
		t.Fatalf("%d tokens left, want %d", n, live)
	}
	// Nothing expired: no report.
	SweepOnce(context.Background(), st, func(err error) { t.Fatal(err) }, func(n int) { t.Fatalf("reported %d", n) })
}

// Sweep runs until its context ends.
func TestSweepStops(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Sweep(ctx, st, time.Millisecond, func(err error) { t.Error(err) }, nil); close(done) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	<-done
}

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
