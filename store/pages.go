package store

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Page versions: what a cache of rendered history pages (handlers' page cache) checks to
// know that a page it kept is still what a read would show.
//
// The rule that makes a cached page safe: every write that changes what a room's pages show
// calls pageChanged (or allPagesChanged) inside its transaction; the version moves once that
// transaction committed and before the writer is answered. A reader takes the version
// before it reads, and a page is kept under the version its reader took. So a page kept
// under the current version was read after every acknowledged write to its room, and a
// write's 200 means no reader is served a page from before it.
//
// Versions live in memory only (a restart empties the cache with them). Rooms share a fixed
// number of counters by hash: memory stays bounded however many rooms there are, and two
// rooms that share a counter only invalidate each other's pages a little more often.

const versionStripes = 4096

type pageVersions struct {
	all   atomic.Uint64
	rooms [versionStripes]atomic.Uint64
}

var (
	versionSeed = maphash.MakeSeed()
	// versionsOf finds a database's versions from inside a transaction (tx.DB()), where the
	// write helpers have no Store.
	versionsOf sync.Map // *bolt.DB → *pageVersions
)

func (v *pageVersions) room(rid string) *atomic.Uint64 {
	return &v.rooms[maphash.String(versionSeed, rid)%versionStripes]
}

// PageVersion is the version of room rid's pages: it grows with every committed write that
// changes them (or every room's). Take it before reading a page, and keep the page under it.
func (s *Bolt) PageVersion(rid string) uint64 {
	// Both counters only grow, so their sum grows whenever either does.
	return s.versions.all.Load() + s.versions.room(rid).Load()
}

// PagesChanged moves room rid's page version now, for a change that is not a store write.
// A store write calls pageChanged in its transaction instead, so that the version moves
// after the commit.
func (s *Bolt) PagesChanged(rid string) { s.versions.room(rid).Add(1) }

// AllPagesChanged moves every room's page version now (see PagesChanged).
func (s *Bolt) AllPagesChanged() { s.versions.all.Add(1) }

// pageChanged marks that tx changes what room rid's pages show: a message added, edited or
// removed, or anything else a page renders. Call it from every such write; the version
// moves once tx committed (never on a rollback).
func pageChanged(tx *bolt.Tx, rid string) {
	if v := txVersions(tx); v != nil {
		c := v.room(rid)
		tx.OnCommit(func() { c.Add(1) })
	}
}

// allPagesChanged is pageChanged for a change that every room's pages may show (a user's
// name, when pages render authors by their current name).
func allPagesChanged(tx *bolt.Tx) {
	if v := txVersions(tx); v != nil {
		tx.OnCommit(func() { v.all.Add(1) })
	}
}

func txVersions(tx *bolt.Tx) *pageVersions {
	v, ok := versionsOf.Load(tx.DB())
	if !ok {
		return nil // a tool's own bolt handle (fill, check): no server reads its pages
	}
	return v.(*pageVersions)
}

// PageVersions is the table of page versions for a backend outside this package: it moves a
// room's version (or every room's) after a commit, and once more when another node's event
// for that room arrives.
type PageVersions struct{ v pageVersions }

// Version is the version of room rid's pages (see PageVersion).
func (p *PageVersions) Version(rid string) uint64 { return p.v.all.Load() + p.v.room(rid).Load() }

// Changed moves room rid's version.
func (p *PageVersions) Changed(rid string) { p.v.room(rid).Add(1) }

// AllChanged moves every room's version.
func (p *PageVersions) AllChanged() { p.v.all.Add(1) }
