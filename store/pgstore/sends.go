package pgstore

// Group commit of sends. A send locks its room's row (the room's seq, msgs and counted move
// with it), and PostgreSQL holds a row lock until the commit is on disk: sends to one room,
// one transaction each, could go no faster than one WAL flush apiece (1-2 ms on an ordinary
// disk, so a few hundred a second), however many clients wait. So this node's concurrent
// sends share transactions, as the bbolt store's share commits: a sender goroutine takes
// every send waiting for its share of the rooms, runs them in one transaction (their rooms
// locked once, in id order, so that two batches cannot deadlock), commits once and answers
// them all. Each send is
// still checked, numbered, counted and announced exactly as on its own; one the access rules
// refuse gets its error while the others commit. Should the transaction fail (a message id
// taken, say), every send of it is run again on its own, so that each gets its own answer.

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// maxSendBatch bounds the sends of one transaction.
const maxSendBatch = 256

// sendLanes is the number of senders, each with its own share of the rooms (by hash): sends
// to rooms of different lanes commit side by side (and share the WAL flushes), and a room
// whose lock is held long (another node's batch, a clean-up) holds up its lane only.
const sendLanes = 4

var laneSeed = maphash.MakeSeed()

func laneOf(rid string) int { return int(maphash.String(laneSeed, rid) % sendLanes) }

type sender struct {
	mu      sync.Mutex
	pending []*sendReq
	running bool
}

// sendReq is one PostMessage waiting for its transaction.
type sendReq struct {
	rid      string
	author   *store.User
	m        *store.Message
	id, tmid string
	now      time.Time
	data     []byte // m's record as checked against the caps
	err      error
	done     chan struct{}
}

// reset gives m what the store sets on a send, before (every attempt of) its transaction.
func (r *sendReq) reset() {
	m := r.m
	m.ID, m.RoomID, m.TS, m.UpdatedAt, m.User, m.TMID, m.Seq = r.id, r.rid, r.now, r.now, r.author.Ref(), r.tmid, 0
}

// submit queues req and waits for its answer; the first send to find no sender running
// starts one.
func (sd *sender) submit(s *Store, req *sendReq) error {
	req.done = make(chan struct{})
	sd.mu.Lock()
	sd.pending = append(sd.pending, req)
	if !sd.running {
		sd.running = true
		go sd.run(s)
	}
	sd.mu.Unlock()
	<-req.done
	return req.err
}

// run posts the waiting sends, a batch per transaction, until none wait.
func (sd *sender) run(s *Store) {
	for {
		sd.mu.Lock()
		n := min(len(sd.pending), maxSendBatch)
		if n == 0 {
			sd.running = false
			sd.mu.Unlock()
			return
		}
		batch := sd.pending[:n:n]
		sd.pending = append([]*sendReq(nil), sd.pending[n:]...)
		sd.mu.Unlock()
		for _, req := range postSafely(s, batch, sd.takeFor) {
			close(req.done)
		}
	}
}

// takeFor takes from the queue, in their order, up to max sends to the rooms in locked.
func (sd *sender) takeFor(locked map[string]bool, max int) []*sendReq {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	var took []*sendReq
	kept := sd.pending[:0]
	for _, req := range sd.pending {
		if len(took) < max && locked[req.rid] {
			took = append(took, req)
		} else {
			kept = append(kept, req)
		}
	}
	clear(sd.pending[len(kept):])
	sd.pending = kept
	return took
}

// postSafely is postBatch that turns a panic (a bug) into every send's error: the senders
// waiting on the batch get an answer, and the sender goes on with the next one. It returns
// the sends of the batch, with those it took on the way (more).
func postSafely(s *Store, batch []*sendReq, more func(locked map[string]bool, max int) []*sendReq) (all []*sendReq) {
	all = batch
	defer func() {
		if p := recover(); p != nil {
			for _, req := range all {
				req.err = fmt.Errorf("pgstore: send failed: %v", p)
			}
		}
	}()
	s.postBatchMore(&all, more)
	return all
}

// batchAccessSQL is roomAccessSQL for several (room, user) pairs at once, the rooms locked in
// id order.
const batchAccessSQL = `SELECT p.i, r.doc, m.doc, m.sub_mark,
		(SELECT seq FROM reads WHERE room_id = r.id AND user_id = p.uid),
		(SELECT roles FROM permissions WHERE id = 'view-c-room'),
		(SELECT roles FROM permissions WHERE id = 'post-readonly')
	FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS p (rid, uid, i)
	JOIN rooms r ON r.id = p.rid
	LEFT JOIN members m ON m.room_id = r.id AND m.user_id = p.uid
	ORDER BY r.id, p.i
	FOR UPDATE OF r`

// postBatch posts reqs in one transaction and sets each one's err.
func (s *Store) postBatch(reqs []*sendReq) { s.postBatchMore(&reqs, nil) }

// postBatchMore is postBatch that, once it holds its rooms' locks, also takes the sends to
// those rooms that queued meanwhile (more), appending them to *all. When another node holds
// a room's lock, the sends that arrive while this batch waits for it would otherwise wait for
// a whole turn of both nodes more; taken now, they share the turn.
func (s *Store) postBatchMore(all *[]*sendReq, more func(locked map[string]bool, max int) []*sendReq) {
	err := s.write(func(t *Tx) error {
		records := map[string]*store.Room{}
		access, err := prepareSends(t, *all, records)
		if err != nil {
			return err
		}
		if more != nil && len(*all) < maxSendBatch {
			locked := map[string]bool{}
			for _, a := range access {
				if a != nil {
					locked[a.room.ID] = true
				}
			}
			if extra := more(locked, maxSendBatch-len(*all)); len(extra) > 0 {
				*all = append(*all, extra...)
				xa, err := prepareSends(t, extra, records)
				if err != nil {
					return err
				}
				access = append(access, xa...)
			}
		}
		reqs := *all
		type posted struct {
			req  *sendReq
			room store.Room // the room right after this send, for its events
			bump int
		}
		var done []posted
		marks := map[[2]string]int64{}
		var rooms []*store.Room // in the order first posted to
		seen := map[*store.Room]bool{}
		b := &pgx.Batch{}
		for i, req := range reqs {
			a := access[i]
			if a == nil {
				req.err = store.ErrRoomNotFound
				continue
			}
			if err := store.MayReadRoom(a, a.room, req.author); err != nil {
				if store.KindOf(err) == 0 {
					return err
				}
				req.err = err
				continue
			}
			if err := store.MayWriteRoom(a, a.room, req.author); err != nil {
				if store.KindOf(err) == 0 {
					return err
				}
				req.err = err
				continue
			}
			enc := req.data
			if len(req.m.Mentions) > 0 {
				if enc, err = store.CheckMessageCaps(req.m, s.maxMsgBytes, s.maxMsgDepth); err != nil {
					if store.KindOf(err) == 0 {
						return err
					}
					req.err = err
					continue
				}
			}
			r := a.room
			if !seen[r] {
				seen[r] = true
				rooms = append(rooms, r)
			}
			if err := putMessage(t, b, r, req.m, enc); err != nil {
				return err
			}
			bump := countArrival(b, a, req.author, req.m, req.now, marks)
			done = append(done, posted{req, *r, bump})
		}
		// One update per author and room, not per send: an author sending a burst would
		// otherwise leave a dead row version per send in the batch.
		for _, k := range slices.SortedFunc(maps.Keys(marks), func(x, y [2]string) int {
			return cmp.Or(strings.Compare(x[0], y[0]), strings.Compare(x[1], y[1]))
		}) {
			queueMark(b, k[0], k[1], marks[k])
		}
		for _, r := range rooms {
			if err := saveRoomCounts(b, r); err != nil {
				return err
			}
		}
		// Without mentions to count, the events are known before the batch runs: they go in
		// it, and the rooms' locks are held one round trip less.
		if !slices.ContainsFunc(done, func(p posted) bool { return p.bump >= 0 }) {
			for _, p := range done {
				t.Emit(store.Event{Kind: store.MessageAdded, Room: &p.room, Message: p.req.m})
			}
			if err := t.queueEvents(b); err != nil {
				return err
			}
			_, err := runSend(t, b)
			return err
		}
		members, err := runSend(t, b)
		if err != nil {
			return err
		}
		for _, p := range done {
			for _, mb := range members[p.bump] {
				t.Emit(store.Event{Kind: store.MemberChanged, Room: &p.room, UserID: mb.UserID, Member: mb})
			}
			t.Emit(store.Event{Kind: store.MessageAdded, Room: &p.room, Message: p.req.m})
		}
		return nil
	})
	if err == nil {
		return
	}
	reqs := *all
	if len(reqs) == 1 || store.KindOf(err) == store.Unavailable {
		// The database is not there: sends one by one would each wait out the timeout.
		for _, req := range reqs {
			req.err = err
		}
		return
	}
	// The transaction rolled back for one of them, or for all: each goes again on its own.
	for _, req := range reqs {
		req.err = s.postOne(req)
	}
}

// prepareSends readies reqs for their transaction: it resets them, resolves their mentions,
// and reads and locks their rooms (batchAccess).
func prepareSends(t *Tx, reqs []*sendReq, rooms map[string]*store.Room) ([]*access, error) {
	msgs := make([]*store.Message, len(reqs))
	rids, uids := make([]string, len(reqs)), make([]string, len(reqs))
	for i, req := range reqs {
		req.reset()
		req.err = nil
		msgs[i], rids[i], uids[i] = req.m, req.rid, req.author.ID
	}
	if err := resolveAllMentions(t.Ctx, t, msgs); err != nil {
		return nil, err
	}
	return batchAccess(t, rids, uids, rooms)
}

// batchAccess reads and locks the rooms of the pairs (rids[i], uids[i]) with what the access
// rules need (roomAccess); a pair whose room does not exist is nil. Pairs of one room share
// its record in rooms (by id), so that their sends number on from one another, also over
// several calls in one transaction.
func batchAccess(t *Tx, rids, uids []string, rooms map[string]*store.Room) ([]*access, error) {
	rows, err := t.Query(t.Ctx, batchAccessSQL, rids, uids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*access, len(rids))
	for rows.Next() {
		var i int64
		var roomDoc, memberDoc []byte
		var subMark, readSeq *int64
		var view, postRO *[]string
		if err := rows.Scan(&i, &roomDoc, &memberDoc, &subMark, &readSeq, &view, &postRO); err != nil {
			return nil, err
		}
		i--
		if i < 0 || int(i) >= len(rids) {
			return nil, errors.New("pgstore: batch access out of range")
		}
		a := &access{facts: facts{t.Ctx, t}, uid: uids[i],
			perms: map[string]*[]string{store.ViewPublicRooms: view, store.PostReadOnly: postRO}}
		if r, ok := rooms[rids[i]]; ok {
			a.room = r
		} else {
			a.room = new(store.Room)
			if err := json.Unmarshal(roomDoc, a.room); err != nil {
				return nil, err
			}
			rooms[rids[i]] = a.room
		}
		if err := a.setMember(memberDoc, subMark, readSeq); err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, rows.Err()
}
