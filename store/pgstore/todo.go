package pgstore

// The operations not written yet for PostgreSQL: each answers errNotYet. Whoever writes one
// moves it out of this file into its domain's file (users.go, rooms.go, messages.go, rbac.go).

import (
	"context"
	"time"

	"rocketlite/store"
)

var errNotYet = &store.Error{Kind: store.Invalid, Code: "not-implemented", Message: "Not available on PostgreSQL yet"}

func (s *Store) Check() []error {
	return nil
}

func (s *Store) CheckProgress(ctx context.Context, stage func(what string)) []error {
	return nil
}

func (s *Store) CreateRoom(r *store.Room, members []string, owner string) error {
	return errNotYet
}

func (s *Store) CreateRooms(rooms []store.NewRoom) error {
	return errNotYet
}

func (s *Store) Room(id string) (r *store.Room, err error) {
	return nil, errNotYet
}

func (s *Store) RoomByName(name string) (r *store.Room, err error) {
	return nil, errNotYet
}

func (s *Store) VisibleRoomByName(name string, reader *store.User) (r *store.Room, err error) {
	return nil, errNotYet
}

func (s *Store) ReadableRoom(rid string, reader *store.User) (r store.RoomWithMembers, err error) {
	return store.RoomWithMembers{}, errNotYet
}

func (s *Store) MayRead(rid string, reader *store.User) error {
	return errNotYet
}

func (s *Store) MayViewPublicRooms(u *store.User) error {
	return errNotYet
}

func (s *Store) RoomMembers(id string) (r store.RoomWithMembers, err error) {
	return store.RoomWithMembers{}, errNotYet
}

func (s *Store) RoomMemberPage(rid string, offset, count int) (out []store.MemberUser, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) RoomRoles(rid, role string) (ms []*store.Member, err error) {
	return nil, errNotYet
}

func (s *Store) Rooms(keep func(*store.Room) bool, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) RoomsBy(keep func(*store.Room) bool, cmp func(a, b *store.Room) int, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) PublicRooms(offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) UserRooms(uid string, keep func(*store.Room) bool, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) UserRoomsBy(uid string, keep func(*store.Room) bool, cmp func(a, b *store.Room) int, offset, count int) (rooms []store.RoomWithMembers, total int, err error) {
	return nil, 0, errNotYet
}

func (s *Store) UserRoomIDs(uid string) (ids []string, err error) {
	return nil, errNotYet
}

func (s *Store) Membership(rid, uid string) (m *store.Member, err error) {
	return nil, errNotYet
}

func (s *Store) Join(rid, uid string) (joined bool, err error) {
	return false, errNotYet
}

func (s *Store) JoinWithCode(rid, uid, code string) (joined bool, err error) {
	return false, errNotYet
}

func (s *Store) AddMember(rid, uid string) error {
	return errNotYet
}

func (s *Store) AddMemberBy(rid, uid string, by *store.UserRef) error {
	return errNotYet
}

func (s *Store) AddAllUsers(rid string) (added int, err error) {
	return 0, errNotYet
}

func (s *Store) Leave(rid, uid string) (left bool, err error) {
	return false, errNotYet
}

func (s *Store) RemoveMember(rid, uid string, by store.UserRef) error {
	return errNotYet
}

func (s *Store) UpdateRoom(id string, change func(r *store.Room) error) (updated *store.Room, err error) {
	return nil, errNotYet
}

func (s *Store) EditRoom(id string, by *store.User, change func(r *store.Room) ([]*store.Message, error)) (updated *store.Room, err error) {
	return nil, errNotYet
}

func (s *Store) SetArchived(rid string, archived bool, by *store.User) error {
	return errNotYet
}

func (s *Store) DeleteRoom(rid string) error {
	return errNotYet
}

func (s *Store) OpenDirect(creator *store.User, uids []string) (room store.RoomWithMembers, created bool, err error) {
	return store.RoomWithMembers{}, false, errNotYet
}

func (s *Store) SetRoomOpen(rid, uid string, open bool) (changed bool, err error) {
	return false, errNotYet
}

func (s *Store) SetRoomRole(rid, uid, role string, add bool, by *store.User) error {
	return errNotYet
}

func (s *Store) Subscriptions(uid, rid string) ([]store.Subscription, error) {
	return nil, errNotYet
}

func (s *Store) SubscriptionsSince(uid string, since time.Time) ([]store.Subscription, error) {
	return nil, errNotYet
}

func (s *Store) SubscriptionOf(rid, uid string) (sub *store.Subscription, err error) {
	return nil, errNotYet
}

func (s *Store) MarkRead(rid string, reader *store.User) error {
	return errNotYet
}

func (s *Store) MarkUnread(rid string, reader *store.User, fromID string) error {
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

func (s *Store) CreateIntegration(in *store.Integration) error {
	return errNotYet
}

func (s *Store) Integration(id string) (in *store.Integration, err error) {
	return nil, errNotYet
}

func (s *Store) Integrations(keep func(*store.Integration) bool) (list []*store.Integration, err error) {
	return nil, errNotYet
}

func (s *Store) UpdateIntegration(id string, change func(in *store.Integration) error) (updated *store.Integration, err error) {
	return nil, errNotYet
}

func (s *Store) RemoveIntegration(id string, check func(in *store.Integration) error) (removed *store.Integration, err error) {
	return nil, errNotYet
}
