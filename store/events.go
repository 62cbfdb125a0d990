package store

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Events: every write that other clients should learn of at once (a message, a join, a
// rename, a read mark, a permission change) records an Event inside its transaction, and the
// store hands the transaction's events to its Publisher only after the commit returned, in
// commit order, before the writer is acknowledged. So a subscriber never sees a change that a
// crash could still lose, every room's events come in the room's order, and whatever feeds the
// hub (this process's commits today, another node's log later) sees the same stream.
//
// Emitting an event for a new write is one line inside its transaction function:
//
//	emit(tx, Event{Kind: RoomChanged, Room: r})
//
// The events of a transaction that rolls back are dropped with it; a batched write that is
// run again emits again.

// EventKind says what changed.
type EventKind uint8

// Kinds of events. Room is the room after the change; UserID the member or user concerned.
const (
	MessageAdded       EventKind = iota + 1 // Message (Room: its room after the insert)
	MessageEdited                           // Message
	MessageDeleted                          // Message (as it was)
	MemberAdded                             // Room, UserID: joined, invited or created with the room
	MemberRemoved                           // Room, UserID: left or kicked
	MemberChanged                           // Room, UserID, Member: room roles, open/hidden
	RoomChanged                             // Room, Before: renamed, topic, description, purpose, read-only, type
	RoomDeleted                             // Room
	ReadMarked                              // Room, UserID: the read mark moved
	UserChanged                             // User (without its hash): roles, name, active, status
	UserDeleted                             // UserID
	PermissionsChanged                      // Permissions
	TokenRevoked                            // UserID, Token: a login token was revoked or expired
	// IntegrationsChanged: a webhook was created, changed or removed (no record: a node's
	// outgoing-hook dispatcher reads them again, whichever node or command changed them).
	IntegrationsChanged
)

// Event is one committed change. Its records are copies owned by the event.
type Event struct {
	Kind        EventKind
	Room        *Room
	Before      *Room // a RoomChanged's room as it was
	UserID      string
	Message     *Message
	Member      *Member
	User        *User
	Permissions []*Permission
	Token       TokenHash
}

// Publisher receives the events of every committed write transaction, in commit order. It is
// called from the committing goroutine before the writers hear of the commit, so it must not
// block and must not write to the store.
type Publisher interface {
	Publish(events []Event)
}

// Signaler carries what is not stored — which users have sockets open, who is typing — between
// the processes that share one database. Only the PostgreSQL backend has it: a file has one
// process.
type Signaler interface {
	// Signal sends payload (text of at most MaxSignal bytes) to the other nodes, best effort:
	// a node that is not listening at that moment misses it.
	Signal(ctx context.Context, payload []byte) error
	// SetSignalHandler makes h receive the other nodes' payloads with their sender's name,
	// from the listener's goroutine (h must not block). After the listener (re)connected,
	// when payloads may have been missed, h is called with node "" and no payload.
	SetSignalHandler(h func(node string, payload []byte))
}

// MaxSignal is the largest payload Signal takes (PostgreSQL's NOTIFY takes under 8000 bytes,
// with the sender's name).
const MaxSignal = 7000

// Publishers hands the events to each publisher in turn (the realtime hub, the outgoing-hook
// dispatcher).
type Publishers []Publisher

// Publish calls each publisher's Publish.
func (ps Publishers) Publish(events []Event) {
	for _, p := range ps {
		p.Publish(events)
	}
}

// SetPublisher makes p receive the events of the commits from now on (nil: none).
func (s *Bolt) SetPublisher(p Publisher) {
	if p == nil {
		s.publisher.Store(nil)
		return
	}
	s.publisher.Store(&p)
}

// Owned returns ev with copies of the records it points to (a user's without the password
// hash), so that the transaction that emitted it may go on changing its own.
func (ev Event) Owned() Event {
	if ev.Room != nil {
		r := *ev.Room
		ev.Room = &r
	}
	if ev.Before != nil {
		r := *ev.Before
		ev.Before = &r
	}
	if ev.Message != nil {
		m := *ev.Message
		ev.Message = &m
	}
	if ev.User != nil {
		u := *ev.User
		u.Hash = ""
		ev.User = &u
	}
	if ev.Member != nil {
		m := *ev.Member
		ev.Member = &m
	}
	return ev
}

// pending holds the events of write transactions not yet committed. bbolt has one write
// transaction at a time per file, but several stores (tests) may be open at once.
var pending sync.Map // *bolt.Tx → *[]Event

// emit records ev in the write transaction tx. The records ev points to must not change
// afterwards; copies are taken here for the ones transactions keep mutating.
func emit(tx *bolt.Tx, ev Event) {
	ev = ev.Owned()
	v, _ := pending.LoadOrStore(tx, new([]Event))
	p := v.(*[]Event)
	*p = append(*p, ev)
}

// dropEvents forgets the events of a transaction that rolled back.
func dropEvents(tx *bolt.Tx) { pending.Delete(tx) }

// takeEvents removes and returns the events of tx.
func takeEvents(tx *bolt.Tx) []Event {
	v, ok := pending.LoadAndDelete(tx)
	if !ok {
		return nil
	}
	return *v.(*[]Event)
}

// publish hands the events of a committed transaction to the publisher.
func (s *Bolt) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	if p := s.publisher.Load(); p != nil {
		(*p).Publish(events)
	}
}
