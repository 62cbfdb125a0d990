package pgstore

// The operations not written yet for PostgreSQL: each answers errNotYet. Whoever writes one
// moves it out of this file into its domain's file (users.go, rooms.go, messages.go, rbac.go).

import (
	"encoding/json"
	"time"

	"rocketlite/store"
)

var errNotYet = &store.Error{Kind: store.Invalid, Code: "not-implemented", Message: "Not available on PostgreSQL yet"}

func (s *Store) CreateUser(u *store.User, joinDefault bool) error {
	return errNotYet
}

func (s *Store) CreateUsers(users []*store.User, joinDefault bool) error {
	return errNotYet
}

func (s *Store) CheckNewUser(username, email string) error {
	return errNotYet
}

func (s *Store) User(id string) (u *store.User, err error) {
	return nil, errNotYet
}

func (s *Store) UserByUsername(name string) (u *store.User, err error) {
	return nil, errNotYet
}

func (s *Store) UserByEmail(email string) (u *store.User, err error) {
	return nil, errNotYet
}

func (s *Store) Users(offset, count int) (users []*store.User, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) UsersBy(cmp func(a, b *store.User) int, offset, count int) (users []*store.User, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) UpdateUser(id string, change func(u *store.User) error) (*store.User, error) {
	return nil, errNotYet
}

func (s *Store) DeleteUser(id string) error {
	return errNotYet
}

func (s *Store) Preferences(uid string) (p json.RawMessage, err error) {
	return nil, errNotYet
}

func (s *Store) SetPreferences(uid string, change map[string]json.RawMessage) (p json.RawMessage, err error) {
	return nil, errNotYet
}

func (s *Store) AvatarOf(username string) (a *store.Avatar, err error) {
	return nil, errNotYet
}

func (s *Store) SetAvatar(uid string, a *store.Avatar) error {
	return errNotYet
}

func (s *Store) ResetAvatar(uid string) error {
	return errNotYet
}

func (s *Store) AddToken(u *store.User, h store.TokenHash, expires time.Time) error {
	return errNotYet
}

func (s *Store) Authenticate(uid string, h store.TokenHash) (u *store.User, err error) {
	return nil, errNotYet
}

func (s *Store) UserByToken(h store.TokenHash) (u *store.User, expires time.Time, err error) {
	return nil, time.Time{}, errNotYet
}

func (s *Store) HasLiveToken(uid string) (live bool, err error) {
	return false, errNotYet
}

func (s *Store) RevokeToken(h store.TokenHash) error {
	return errNotYet
}

func (s *Store) RevokeUserTokens(uid string) (n int, err error) {
	return 0, errNotYet
}

func (s *Store) RevokeAllTokens() (n int, err error) {
	return 0, errNotYet
}

func (s *Store) SweepTokens(limit int) (int, error) {
	return 0, errNotYet
}

func (s *Store) TokenCount() (n int, err error) {
	return 0, errNotYet
}

func (s *Store) UserTokenCount(uid string) (n int, err error) {
	return 0, errNotYet
}

func (s *Store) PersonalTokens(uid string) (list []*store.PersonalToken, err error) {
	return nil, errNotYet
}

func (s *Store) SetPersonalToken(uid, name string, h store.TokenHash, last string, replace bool) error {
	return errNotYet
}

func (s *Store) RemovePersonalToken(uid, name string) error {
	return errNotYet
}

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

func (s *Store) AddUserRole(uid, role string) (*store.User, error) {
	return nil, errNotYet
}

func (s *Store) RemoveUserRole(uid, role string) (*store.User, error) {
	return nil, errNotYet
}
