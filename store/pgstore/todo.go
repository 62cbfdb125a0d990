package pgstore

// The operations not written yet for PostgreSQL: each answers errNotYet. Whoever writes one
// moves it out of this file into its domain's file (users.go, rooms.go, messages.go, rbac.go).

import (
	"time"

	"rocketlite/store"
)

var errNotYet = &store.Error{Kind: store.Invalid, Code: "not-implemented", Message: "Not available on PostgreSQL yet"}

func (s *Store) PostMessage(rid string, author *store.User, m *store.Message) error {
	return errNotYet
}

func (s *Store) AppendMessages(rid string, msgs []*store.Message) error {
	return errNotYet
}

func (s *Store) Message(id string, reader *store.User) (m *store.Message, err error) {
	return nil, errNotYet
}

func (s *Store) History(rid string, reader *store.User, q store.HistoryQuery) ([]*store.Message, error) {
	return nil, errNotYet
}

func (s *Store) HistoryPage(rid string, reader *store.User, q store.HistoryQuery) (page store.Page, err error) {
	return store.Page{}, errNotYet
}

func (s *Store) Search(rid string, reader *store.User, text string, count int) ([]*store.Message, error) {
	return nil, errNotYet
}

func (s *Store) SearchPage(rid string, reader *store.User, q store.SearchQuery) (page store.Page, err error) {
	return store.Page{}, errNotYet
}

func (s *Store) Sync(rid string, reader *store.User, since time.Time) (updated []*store.Message, deleted []store.Deleted, err error) {
	return nil, nil, errNotYet
}

func (s *Store) UpdateMessage(id string, editor *store.User, change func(m *store.Message) error) (updated *store.Message, err error) {
	return nil, errNotYet
}

func (s *Store) DeleteMessage(id string, deleter *store.User, check func(m *store.Message) error) (deleted *store.Message, err error) {
	return nil, errNotYet
}

func (s *Store) CleanHistory(rid string, after, before time.Time, inclusive bool) (removed int, err error) {
	return 0, errNotYet
}

func (s *Store) React(id string, reactor *store.User, emoji string, on *bool) (*store.Message, error) {
	return nil, errNotYet
}

func (s *Store) Star(id string, starrer *store.User, on bool) (*store.Message, error) {
	return nil, errNotYet
}

func (s *Store) Pin(id string, pinner *store.User, on bool, may func(rid string) error) (*store.Message, error) {
	return nil, errNotYet
}

func (s *Store) Marked(rid string, q store.MarkedQuery) (msgs []*store.Message, total int, err error) {
	return nil, 0, errNotYet
}
