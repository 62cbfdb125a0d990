package store

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Authors by their current name. A message stores its author's id and the username they had
// when they wrote it. After a rename the old name is free, and someone else may take it: a
// reader shown the stored name would take that other person for the author. Rocket.Chat
// rewrites u.username in every message of the user on a rename; here a rename would have to
// scan every message of the database (nothing indexes messages by author), so messages are
// shown with their author's (and editor's) current username and name, looked up by id when
// they are read. The lookups go through a small cache, so that a page of history costs a map
// lookup per message.
//
// Staleness: a write that changes a user's username or name, deletes a user or creates one
// calls namesChanged inside its transaction; once it committed, the cache forgets those
// users and its generation moves. A reader takes the generation before its read
// transaction begins and adds what it looked up only if the generation has not moved, so it
// never stores a name older than a committed rename. namesChanged also moves every room's page
// version (pages.go), so the handlers' cache of rendered pages drops what showed the old name.
//
// A deleted author keeps the name the message was written under (there is no current one),
// as in Rocket.Chat when it keeps a deleted user's messages.

// maxAuthorNames bounds the cache; past it, it starts again empty (a page refills it with a
// lookup per author).
const maxAuthorNames = 8192

type authorCache struct {
	gen  atomic.Uint64
	mu   sync.RWMutex // guards byID, and orders gen's moves against insertions
	byID map[string]authorName
}

type authorName struct {
	username, name string
	gone           bool // no such user any more: the message keeps its stored name
}

// generation is what a reader takes before its read transaction begins.
func (c *authorCache) generation() uint64 { return c.gen.Load() }

// forget drops the users' entries (all entries if ids is empty) and moves the generation.
func (c *authorCache) forget(ids []string) {
	c.mu.Lock()
	c.gen.Add(1)
	if len(ids) == 0 {
		c.byID = nil
	}
	for _, id := range ids {
		delete(c.byID, id)
	}
	c.mu.Unlock()
}

// namesChanged marks that tx changes how the users ids are shown as authors (a new username
// or name, a deletion, a creation): once tx committed, they are looked up again.
func (s *Bolt) namesChanged(tx *bolt.Tx, ids ...string) {
	ids = append([]string(nil), ids...)
	tx.OnCommit(func() { s.authors.forget(ids) })
	// Cached pages (handlers' page cache) rendered the old names, in any room.
	allPagesChanged(tx)
}

// lookupAuthor reads user id's current names in tx.
func lookupAuthor(tx *bolt.Tx, id string) authorName {
	u, err := getUser(tx, id)
	if err != nil {
		return authorName{gone: true}
	}
	return authorName{username: u.Username, name: u.Name}
}

// show sets r to the user's current names. A message keeps the display name field empty if
// it was written without one (system messages).
func (a authorName) show(r *UserRef) {
	if a.gone {
		return
	}
	r.Username = a.username
	if r.Name != "" {
		r.Name = a.name
	}
}

// showAuthor sets m's author and editor to their current names; name gives them by id.
func showAuthor(m *Message, name func(id string) authorName) {
	if m.User.ID != "" {
		a := name(m.User.ID)
		// A join or leave message names its author in its text too (API 0.1: msg = the
		// username), and must not name someone else either.
		if !a.gone && (m.Type == "uj" || m.Type == "ul") && m.Text == m.User.Username {
			m.Text = a.username
		}
		a.show(&m.User)
	}
	if m.EditedBy != nil && m.EditedBy.ID != "" {
		ed := *m.EditedBy // the record may share it with a copy kept elsewhere (an event)
		name(ed.ID).show(&ed)
		m.EditedBy = &ed
	}
}

// showAuthors is showAuthor for messages read in the read transaction tx; gen is the cache
// generation taken before tx began.
func (s *Bolt) showAuthors(tx *bolt.Tx, gen uint64, msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	c := &s.authors
	var found map[string]authorName // looked up in tx
	name := func(id string) authorName {
		if a, ok := found[id]; ok {
			return a
		}
		c.mu.RLock()
		a, ok := c.byID[id]
		c.mu.RUnlock()
		if ok {
			return a
		}
		a = lookupAuthor(tx, id)
		if found == nil {
			found = make(map[string]authorName)
		}
		found[id] = a
		return a
	}
	for _, m := range msgs {
		showAuthor(m, name)
	}
	if len(found) == 0 {
		return
	}
	c.mu.Lock()
	if c.gen.Load() == gen {
		if c.byID == nil || len(c.byID)+len(found) > maxAuthorNames {
			c.byID = make(map[string]authorName, len(found))
		}
		for id, a := range found {
			c.byID[id] = a
		}
	}
	c.mu.Unlock()
}

// showAuthorsTx is showAuthor for a message of a write transaction: it reads the names in tx,
// which may hold a rename that is not committed yet, so it bypasses the cache.
func showAuthorsTx(tx *bolt.Tx, m *Message) {
	showAuthor(m, func(id string) authorName { return lookupAuthor(tx, id) })
}
