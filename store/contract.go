package store

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Store is the contract between rocketlite and its database: one domain operation per
// method, each its own transaction (never a key-value seam, which would cost a network round
// trip per key on PostgreSQL). Two backends satisfy it: Bolt (one bbolt file, the embedded
// default) and pgstore.Store (PostgreSQL, shared by several nodes). Errors are this
// package's (*Error values such as ErrRoomNotFound), whatever the backend.
//
// Access rules (who may read, post, view public rooms, which permission a role grants) are
// written once, in access.go; a backend supplies the records they look at (Facts) inside its
// transaction.
//
// Every write that other clients should learn of at once hands its Events to the Publisher
// (events.go) after it committed; on PostgreSQL they also go through the events table to the
// other nodes.
type Store interface {
	// Life and operations.
	Close() error
	Now() time.Time
	Healthy() error
	SetPublisher(p Publisher)
	// Atomic runs fn with a Store whose calls all share one write transaction (seed files).
	Atomic(fn func(tx Store) error) error
	Counts() (map[string]int, error)
	Check() []error
	CheckProgress(ctx context.Context, stage func(what string)) []error
	Meta(key string) (v string, err error)
	SetMeta(key, value string) error
	SetMetaKeys(keys []string, value string) error
	// PageVersion grows with every committed change to room rid's pages (pagecache).
	PageVersion(rid string) uint64
	MessageCaps() (maxBytes, maxDepth int)

	// Users.
	CreateUser(u *User, joinDefault bool) error
	CreateUsers(users []*User, joinDefault bool) error
	CheckNewUser(username, email string) error
	User(id string) (u *User, err error)
	UserByUsername(name string) (u *User, err error)
	UserByEmail(email string) (u *User, err error)
	Users(offset, count int) (users []*User, total int, err error)
	UsersBy(cmp func(a, b *User) int, offset, count int) (users []*User, total int, err error)
	UpdateUser(id string, change func(u *User) error) (*User, error)
	DeleteUser(id string) error
	Preferences(uid string) (p json.RawMessage, err error)
	SetPreferences(uid string, change map[string]json.RawMessage) (p json.RawMessage, err error)
	AvatarOf(username string) (a *Avatar, err error)
	SetAvatar(uid string, a *Avatar) error
	ResetAvatar(uid string) error

	// Login tokens and personal access tokens.
	AddToken(u *User, h TokenHash, expires time.Time) error
	Authenticate(uid string, h TokenHash) (u *User, err error)
	UserByToken(h TokenHash) (u *User, expires time.Time, err error)
	HasLiveToken(uid string) (live bool, err error)
	RevokeToken(h TokenHash) error
	RevokeUserTokens(uid string) (n int, err error)
	RevokeAllTokens() (n int, err error)
	SweepTokens(limit int) (int, error)
	TokenCount() (n int, err error)
	UserTokenCount(uid string) (n int, err error)
	PersonalTokens(uid string) (list []*PersonalToken, err error)
	SetPersonalToken(uid, name string, h TokenHash, last string, replace bool) error
	RemovePersonalToken(uid, name string) error

	// Rooms and memberships.
	CreateRoom(r *Room, members []string, owner string) error
	CreateRooms(rooms []NewRoom) error
	Room(id string) (r *Room, err error)
	RoomByName(name string) (r *Room, err error)
	VisibleRoomByName(name string, reader *User) (r *Room, err error)
	ReadableRoom(rid string, reader *User) (r RoomWithMembers, err error)
	MayRead(rid string, reader *User) error
	MayViewPublicRooms(u *User) error
	RoomMembers(id string) (r RoomWithMembers, err error)
	RoomMemberPage(rid string, offset, count int) (out []MemberUser, total int, err error)
	RoomRoles(rid, role string) (ms []*Member, err error)
	Rooms(keep func(*Room) bool, offset, count int) (rooms []RoomWithMembers, total int, err error)
	RoomsBy(keep func(*Room) bool, cmp func(a, b *Room) int, offset, count int) (rooms []RoomWithMembers, total int, err error)
	PublicRooms(offset, count int) (rooms []RoomWithMembers, total int, err error)
	UserRooms(uid string, keep func(*Room) bool, offset, count int) (rooms []RoomWithMembers, total int, err error)
	UserRoomsBy(uid string, keep func(*Room) bool, cmp func(a, b *Room) int, offset, count int) (rooms []RoomWithMembers, total int, err error)
	UserRoomIDs(uid string) (ids []string, err error)
	Membership(rid, uid string) (m *Member, err error)
	Join(rid, uid string) (joined bool, err error)
	JoinWithCode(rid, uid, code string) (joined bool, err error)
	AddMember(rid, uid string) error
	AddMemberBy(rid, uid string, by *UserRef) error
	AddAllUsers(rid string) (added int, err error)
	Leave(rid, uid string) (left bool, err error)
	RemoveMember(rid, uid string, by UserRef) error
	UpdateRoom(id string, change func(r *Room) error) (updated *Room, err error)
	EditRoom(id string, by *User, change func(r *Room) ([]*Message, error)) (updated *Room, err error)
	SetArchived(rid string, archived bool, by *User) error
	DeleteRoom(rid string) error
	OpenDirect(creator *User, uids []string) (room RoomWithMembers, created bool, err error)
	SetRoomOpen(rid, uid string, open bool) (changed bool, err error)
	SetRoomRole(rid, uid, role string, add bool, by *User) error

	// Subscriptions and read marks.
	Subscriptions(uid, rid string) ([]Subscription, error)
	SubscriptionsSince(uid string, since time.Time) ([]Subscription, error)
	SubscriptionOf(rid, uid string) (sub *Subscription, err error)
	MarkRead(rid string, reader *User) error
	MarkUnread(rid string, reader *User, fromID string) error

	// Messages.
	PostMessage(rid string, author *User, m *Message) error
	AppendMessages(rid string, msgs []*Message) error
	Message(id string, reader *User) (m *Message, err error)
	History(rid string, reader *User, q HistoryQuery) ([]*Message, error)
	HistoryPage(rid string, reader *User, q HistoryQuery) (page Page, err error)
	Search(rid string, reader *User, text string, count int) ([]*Message, error)
	SearchPage(rid string, reader *User, q SearchQuery) (page Page, err error)
	Sync(rid string, reader *User, since time.Time) (updated []*Message, deleted []Deleted, err error)
	UpdateMessage(id string, editor *User, change func(m *Message) error) (updated *Message, err error)
	DeleteMessage(id string, deleter *User, check func(m *Message) error) (deleted *Message, err error)
	CleanHistory(rid string, after, before time.Time, inclusive bool) (removed int, err error)
	React(id string, reactor *User, emoji string, on *bool) (*Message, error)
	Star(id string, starrer *User, on bool) (*Message, error)
	Pin(id string, pinner *User, on bool, may func(rid string) error) (*Message, error)
	Marked(rid string, q MarkedQuery) (msgs []*Message, total int, err error)

	// Roles and permissions.
	Roles() (roles []*Role, err error)
	AddRole(r *Role) error
	EnsureRole(r *Role) (created bool, err error)
	DeleteRole(name string) error
	AddUserRole(uid, role string) (*User, error)
	RemoveUserRole(uid, role string) (*User, error)
	Permission(id string) (p *Permission, err error)
	Permissions() (perms []*Permission, err error)
	EnsurePermission(p *Permission) (created bool, err error)
	SetPermissionRoles(id string, change func(roles []string) []string) (updated *Permission, err error)
	SetPermissionsRoles(perms []Permission) (updated []*Permission, err error)
	HasPermission(u *User, perm, rid string) (ok bool, err error)

	// Integrations (webhooks).
	CreateIntegration(in *Integration) error
	Integration(id string) (in *Integration, err error)
	Integrations(keep func(*Integration) bool) (list []*Integration, err error)
	UpdateIntegration(id string, change func(in *Integration) error) (updated *Integration, err error)
	RemoveIntegration(id string, check func(in *Integration) error) (removed *Integration, err error)
}

// The bbolt backend satisfies the contract.
var _ Store = (*Bolt)(nil)

// FileBackend is what a store on one file (Bolt) offers beyond the contract: a consistent copy
// of the file while it serves, and the figures of its writer. Callers reach it by a type
// assertion; PostgreSQL has pg_dump and its own statistics.
type FileBackend interface {
	Backup(begin func(size int64), w io.Writer) (n int64, err error)
	BackupFileProgress(ctx context.Context, path string, overwrite bool, progress func(done, total int64)) error
	WriterStats() (commits, writes int64)
	CommitTime() time.Duration
	FileStats() (size int64, freePages int)
}

var _ FileBackend = (*Bolt)(nil)

// Describer is a backend that tells /readyz about itself (backend name, schema, pool).
type Describer interface {
	Describe() map[string]any
}

// Describe tells /readyz about the bbolt file.
func (s *Bolt) Describe() map[string]any {
	size, free := s.FileStats()
	return map[string]any{"backend": "bbolt", "schema": SchemaVersion, "size": size, "freePages": free}
}

// LoginFailures is a backend that keeps failed logins per account itself, so that the
// throttle holds across the nodes that share it (PostgreSQL). Keys are opaque bytes.
type LoginFailures interface {
	// LoginFailures returns the times of key's failures after since, the newest max of
	// them, oldest first.
	LoginFailures(key []byte, since time.Time, max int) ([]time.Time, error)
	// AddLoginFailure records a failure of key at at, forgetting its failures before expired.
	AddLoginFailure(key []byte, at, expired time.Time) error
	// ResetLoginFailures forgets key's failures (a successful login).
	ResetLoginFailures(key []byte) error
}
