package handlers

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"rocketlite/auth"
	"rocketlite/rbac"
	"rocketlite/store"
)

// The two privileged routes of the wiki (API.md §2): bulk/register and bulk/createRoom.
// Both check every record before anything is written and write in one transaction.

// MaxBulkRecords is the most users or rooms one bulk call may carry.
const MaxBulkRecords = 1000

// maxDisplayName bounds a user's display name in bytes.
const maxDisplayName = 200

// bulkRecords reads the list field of a bulk body: 1 to MaxBulkRecords JSON values.
func bulkRecords(in body, field, route string) ([]json.RawMessage, error) {
	var recs []json.RawMessage
	if _, err := in.decode(field, &recs); err != nil {
		return nil, badRequest("invalid-param", "%s must be a list of records", field)
	}
	if len(recs) == 0 || len(recs) > MaxBulkRecords {
		return nil, badRequest("invalid-batch-size", "%s needs from 1 to %d records in %q, got %d",
			route, MaxBulkRecords, field, len(recs))
	}
	return recs, nil
}

type userRecord struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Username string `json:"username"`
	Pass     string `json:"pass"`
}

// parseUserRecord reads one bulk/register record; ok is false for a record that is not valid.
// name is the display name and, unless username is given, the username too (faithful).
func parseUserRecord(raw json.RawMessage) (r userRecord, ok bool) {
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &r) != nil {
		return r, false
	}
	if r.Username == "" {
		r.Username = r.Name
	}
	ok = store.ValidName(r.Username) &&
		r.Name != "" && len(r.Name) <= maxDisplayName && utf8.ValidString(r.Name) && !hasControl(r.Name, false) &&
		store.ValidEmail(r.Email) &&
		r.Pass != "" && len(r.Pass) <= auth.MaxPasswordBytes
	return r, ok
}

// bulkRegister creates up to 1000 users (API.md §2 bulk/register). Order: permission, every
// record's shape, duplicates inside the batch, names and e-mails already stored, then the
// bcrypt hashes (outside any transaction, over every core), then one write transaction.
func (a *API) bulkRegister(c *call) (any, error) {
	if err := rbac.Require(a.st, c.user, rbac.BulkRegisterUser); err != nil {
		return nil, err
	}
	raws, err := bulkRecords(c.in, "users", "bulk/register")
	if err != nil {
		return nil, err
	}
	recs := make([]userRecord, len(raws))
	for i, raw := range raws {
		var ok bool
		if recs[i], ok = parseUserRecord(raw); !ok {
			// The 2015 server's text, with its 0-based record number.
			return nil, badRequest("invalid-user-record", "[restapi] bulk/register -> record #%d is invalid", i)
		}
	}
	names, emails := map[string]int{}, map[string]int{}
	for i, r := range recs {
		if j, dup := names[strings.ToLower(r.Username)]; dup {
			return nil, badRequest("username-taken", "bulk/register -> record #%d repeats the username %q of record #%d", i, r.Username, j)
		}
		if j, dup := emails[strings.ToLower(r.Email)]; dup {
			return nil, badRequest("email-taken", "bulk/register -> record #%d repeats the e-mail %q of record #%d", i, r.Email, j)
		}
		names[strings.ToLower(r.Username)], emails[strings.ToLower(r.Email)] = i, i
	}
	for i, r := range recs {
		if found, err := exists(a.st.UserByUsername(r.Username)); err != nil || found {
			return nil, firstErr(err, badRequest("username-taken", "bulk/register -> record #%d: username %q is already in use", i, r.Username))
		}
		if found, err := exists(a.st.UserByEmail(r.Email)); err != nil || found {
			return nil, firstErr(err, badRequest("email-taken", "bulk/register -> record #%d: e-mail %q is already in use", i, r.Email))
		}
	}

	a.extendWriteDeadline(c, len(recs))
	passwords := make([]string, len(recs))
	for i, r := range recs {
		passwords[i] = r.Pass
	}
	hashes, err := a.hashAll(c, passwords)
	if err != nil {
		return nil, err
	}
	users := make([]*store.User, len(recs))
	for i, r := range recs {
		users[i] = &store.User{Username: r.Username, Name: r.Name, Email: r.Email, Hash: hashes[i],
			Roles: []string{"user"}, Active: true, Type: "user"}
	}
	// The store checks names and e-mails again inside the transaction: a user created by
	// someone else while we hashed makes the whole call fail, still writing nothing.
	if err := a.st.CreateUsers(users, true); err != nil {
		return nil, err
	}
	ids := make([]Obj, len(users))
	for i, u := range users {
		ids[i] = J("uid", u.ID)
	}
	return J("status", "success", "ids", ids), nil
}

// exists turns a lookup's result into whether it found its thing; errors other than
// NotFound pass through.
func exists[T any](_ T, err error) (bool, error) {
	if store.KindOf(err) == store.NotFound {
		return false, nil
	}
	return err == nil, err
}

func firstErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// extendWriteDeadline gives a bulk call the time its bcrypt work needs: the server's
// WriteTimeout (60 s) is meant for ordinary requests, and 1000 hashes at cost 10 take tens
// of seconds on a small machine. The estimate is generous (100 ms per hash at cost 10 on
// one core, doubling with each cost step) so that a slow board still gets its answer.
func (a *API) extendWriteDeadline(c *call, n int) {
	perHash := 100 * time.Millisecond
	if cost := a.cfg.Hasher.Cost(); cost >= 10 {
		perHash <<= cost - 10
	} else {
		perHash >>= 10 - cost
	}
	d := time.Minute + time.Duration(n)*perHash/time.Duration(hashWorkers(n))
	// ErrNotSupported (a writer without deadlines) leaves the server's own timeout in place.
	_ = http.NewResponseController(c.w).SetWriteDeadline(time.Now().Add(d))
}

// bulkProgressEvery is how often a bulk registration logs how many passwords it has hashed.
var bulkProgressEvery = 5 * time.Second

// hashWorkers is how many goroutines hash n passwords: one per usable core (GOMAXPROCS is
// NumCPU unless a container limit or the environment lowers it).
func hashWorkers(n int) int { return max(1, min(n, runtime.GOMAXPROCS(0))) }

// hashAll bcrypt-hashes the passwords over every core, before any transaction opens, so that
// the single bbolt writer is never held while bcrypt runs. It stops early if the client left.
func (a *API) hashAll(c *call, passwords []string) ([]string, error) {
	hashes := make([]string, len(passwords))
	errs := make([]error, len(passwords))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	// A thousand hashes take minutes on a small board: the log says how far the call is.
	started := time.Now()
	log := a.log.With().Str("id", requestID(c.r)).Int("total", len(passwords)).Int("bcryptCost", a.cfg.Hasher.Cost()).Logger()
	log.Info().Msg("bulk registration: hashing passwords")
	stop, every := make(chan struct{}), bulkProgressEvery
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				log.Info().Int64("hashed", done.Load()).Dur("elapsed", time.Since(started)).Msg("bulk registration: still hashing")
			}
		}
	}()
	for range hashWorkers(len(passwords)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(passwords) || c.ctx().Err() != nil {
					return
				}
				hashes[i], errs[i] = a.cfg.Hasher.Hash(passwords[i])
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	log.Info().Int64("hashed", done.Load()).Dur("elapsed", time.Since(started)).Msg("bulk registration: hashing done")
	if c.ctx().Err() != nil {
		return nil, store.Errorf(store.Invalid, "cancelled", "The request was cancelled")
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return hashes, nil
}

type roomRecord struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// parseRoomRecord reads one bulk/createRoom record: a valid name and at least two distinct
// members (usernames, compared without case).
func parseRoomRecord(raw json.RawMessage) (r roomRecord, ok bool) {
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &r) != nil || !store.ValidName(r.Name) {
		return r, false
	}
	seen := map[string]bool{}
	members := r.Members[:0]
	for _, m := range r.Members {
		if m == "" {
			return r, false
		}
		if !seen[strings.ToLower(m)] {
			seen[strings.ToLower(m)] = true
			members = append(members, m)
		}
	}
	r.Members = members
	return r, len(members) >= 2
}

// bulkCreateRoom creates up to 1000 public rooms (API.md §2 bulk/createRoom), the caller an
// owner of each. It needs bulk-create-c and create-c, as the 2015 server did (its
// createChannel method checked create-c).
func (a *API) bulkCreateRoom(c *call) (any, error) {
	if err := rbac.Require(a.st, c.user, rbac.BulkCreateC, rbac.CreateC); err != nil {
		return nil, err
	}
	raws, err := bulkRecords(c.in, "rooms", "bulk/createRoom")
	if err != nil {
		return nil, err
	}
	recs := make([]roomRecord, len(raws))
	for i, raw := range raws {
		var ok bool
		if recs[i], ok = parseRoomRecord(raw); !ok {
			return nil, badRequest("invalid-room-record", "[methods] bulk/createRoom -> record #%d is invalid", i)
		}
	}
	names := map[string]int{}
	for i, r := range recs {
		if j, dup := names[strings.ToLower(r.Name)]; dup {
			return nil, badRequest("duplicate-name", "bulk/createRoom -> record #%d repeats the room name %q of record #%d", i, r.Name, j)
		}
		names[strings.ToLower(r.Name)] = i
	}
	ids := map[string]string{} // lower-cased username → user id
	rooms := make([]store.NewRoom, len(recs))
	creator := store.UserRef{ID: c.user.ID, Username: c.user.Username}
	for i, r := range recs {
		if found, err := exists(a.st.RoomByName(r.Name)); err != nil || found {
			return nil, firstErr(err, badRequest("duplicate-name", "bulk/createRoom -> record #%d: a room named %q already exists", i, r.Name))
		}
		nr := store.NewRoom{Room: &store.Room{Name: r.Name, Type: store.Public, Creator: &creator}, Owner: c.user.ID}
		for _, m := range r.Members {
			id, ok := ids[strings.ToLower(m)]
			if !ok {
				u, err := a.st.UserByUsername(m)
				if store.KindOf(err) == store.NotFound {
					return nil, badRequest("invalid-user", "bulk/createRoom -> record #%d: member %q does not exist", i, m)
				} else if err != nil {
					return nil, err
				}
				id = u.ID
				ids[strings.ToLower(m)] = id
			}
			nr.Members = append(nr.Members, id)
		}
		rooms[i] = nr
	}
	if err := a.st.CreateRooms(rooms); err != nil {
		return nil, err
	}
	out := make([]Obj, len(rooms))
	for i, nr := range rooms {
		out[i] = J("rid", nr.Room.ID)
	}
	return J("status", "success", "ids", out), nil
}
