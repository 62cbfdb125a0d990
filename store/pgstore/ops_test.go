package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
	"rocketlite/store/pgstore/pgtest"
)

// checkFixture fills a store with rows as the domain operations write them (a user, a room
// with a member and two messages, roles, a permission, an integration) and checks that Check
// finds it sound.
func checkFixture(t *testing.T) *Store {
	t.Helper()
	st := openTest(t, "", store.Options{})
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := st.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	doc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ann := &store.User{ID: "ann1", Username: "Ann", Name: "Ann", Email: "Ann@x.org", Roles: []string{"user"}, Active: true, CreatedAt: now, Hash: "x"}
	if err := st.CreateUser(ann, false); err != nil {
		t.Fatal(err)
	}
	room := &store.Room{ID: "GENERAL", Name: "general", Type: store.Public, Msgs: 2, Seq: 2, CreatedAt: now}
	exec(`INSERT INTO rooms (id, name, name_key, type, msgs, seq, created_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		room.ID, room.Name, nameKey(room), room.Type, room.Msgs, room.Seq, now, doc(room))
	exec(`INSERT INTO members (room_id, user_id, doc) VALUES ($1, $2, $3)`, room.ID, ann.ID,
		doc(&store.Member{Username: ann.Username, Joined: now}))
	for seq, id := range []string{"m1", "m2"} {
		m := &store.Message{ID: id, RoomID: room.ID, Seq: uint64(seq + 1), Text: "Hi @Ann", TS: now, User: ann.Ref(), UpdatedAt: now,
			Mentions: []store.UserRef{{ID: ann.ID, Username: ann.Username}, {ID: store.MentionAll, Username: "all"}}, Starred: []string{ann.ID}}
		b := &pgx.Batch{}
		if err := queueInsert(b, m, doc(m)); err != nil {
			t.Fatal(err)
		}
		if err := st.pool.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{"admin", "user"} {
		if err := st.AddRole(&store.Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.EnsurePermission(&store.Permission{ID: "view-c-room", Roles: []string{"admin", "user"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsurePermission(&store.Permission{ID: "nobody"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateIntegration(&store.Integration{ID: "hook1", Type: store.IncomingWebhook, UserID: ann.ID}); err != nil {
		t.Fatal(err)
	}
	if errs := st.Check(); errs != nil {
		t.Fatalf("a sound store fails the check: %v", errs)
	}
	return st
}

func TestCheckFindsBrokenInvariants(t *testing.T) {
	st := checkFixture(t)
	for _, tc := range []struct {
		name, breakIt, want string
	}{
		{"UserIDMismatch", `UPDATE users SET doc = json_build_object('id', 'other', 'username', 'Ann', 'email', 'Ann@x.org', 'active', true, 'roles', json_build_array('user'))`, `record has id "other"`},
		{"UsernameColumnStale", `UPDATE users SET username = 'anne'`, `username column is "anne"`},
		{"UsernameKeyStale", `UPDATE users SET username_key = 'Ann'`, `username_key is "Ann", want "ann"`},
		{"EmailKeyStale", `UPDATE users SET email_key = 'x'`, `email_key is "x", want "ann@x.org"`},
		{"UserRolesColumnStale", `UPDATE users SET roles = '{admin}'`, "roles column is [admin], record says [user]"},
		{"UserRecordUndecodable", `UPDATE users SET doc = '{"id":"ann1","username":"Ann","email":"Ann@x.org","active":true,"roles":"user"}'`, "users/ann1: json: cannot unmarshal"},
		{"EmailColumnStale", `UPDATE users SET email = ''`, "email column"},
		{"ActiveColumnStale", `UPDATE users SET active = false`, "active column is false"},
		{"RoomTypeStale", `UPDATE rooms SET type = 'p'`, "type column"},
		{"RoomNameStale", `UPDATE rooms SET name = 'other'`, "name column"},
		{"RoomNameKeyStale", `UPDATE rooms SET name_key = 'GENERAL'`, `name_key is "GENERAL", want "general"`},
		{"RoomRecordUndecodable", `UPDATE rooms SET doc = '{"id":"GENERAL","t":"c","name":"general","msgs":"two"}'`, "rooms/GENERAL: json: cannot unmarshal"},
		{"RoomMsgsColumnStale", `UPDATE rooms SET msgs = 3`, "msgs column is 3"},
		{"RoomCountWrong", `DELETE FROM messages WHERE seq = 2`, "msgs is 2, but it holds 1 messages"},
		{"RoomSeqStale", `UPDATE rooms SET seq = 5`, "seq column is 5"},
		{"MessagePastSeq", `UPDATE messages SET seq = 9 WHERE seq = 2`, "sequence 9 is past"},
		{"MessageOfMissingRoom", `UPDATE messages SET room_id = 'NOROOM', doc = json_build_object('_id', id, 'rid', 'NOROOM', 'u', json_build_object('_id', 'ann1', 'username', 'Ann')) WHERE seq = 2`, `room "NOROOM" does not exist`},
		{"MessageRoomMismatch", `UPDATE messages SET doc = json_build_object('_id', id, 'rid', 'X', 'ts', ts, '_updatedAt', updated_at, 'msg', 'Hi @Ann', 'u', json_build_object('_id', 'ann1', 'username', 'Ann')) WHERE seq = 1`, "room is GENERAL, record says X"},
		{"MessageIDMismatch", `UPDATE messages SET id = 'mx' WHERE seq = 1`, "message mx (GENERAL/1): id is mx, record says m1"},
		{"MessageTextStale", `UPDATE messages SET text = 'Hi @Ann' WHERE seq = 1`, "text is Hi @Ann, record says hi @ann"},
		{"MessageTypeStale", `UPDATE messages SET type = 'uj' WHERE seq = 1`, "type is uj, record says"},
		{"MessageThreadStale", `UPDATE messages SET tmid = 'm1', tcount = 2 WHERE seq = 2`, "tmid is m1, record says ; tcount is 2, record says 0"},
		{"MessagePinStale", `UPDATE messages SET pinned = true WHERE seq = 1`, "pinned is true"},
		{"MessageTimeStale", `UPDATE messages SET ts = ts + interval '1 second' WHERE seq = 1`, "ts is"},
		{"MessageMarkMissing", `DELETE FROM message_users WHERE seq = 1 AND kind = 's'`, "marks is [m:ann1], record says [m:ann1 s:ann1]"},
		{"MessageMarkExtra", `INSERT INTO message_users VALUES ('GENERAL', 'm', 'bob', 2)`, "marks is [m:ann1 m:bob s:ann1]"},
		{"DanglingMark", `INSERT INTO message_users VALUES ('GENERAL', 's', 'bob', 7)`, "message mark GENERAL/7/s/bob: the message does not exist"},
		{"MessageRecordUndecodable", `UPDATE messages SET doc = '{"_id":"m1","msg":7}' WHERE seq = 1`, "messages/GENERAL/1: json: cannot unmarshal"},
		{"AuthorIncomplete", `UPDATE messages SET doc = json_build_object('_id', id, 'rid', room_id, 'u', json_build_object('_id', 'ann1')) WHERE seq = 1`, "author reference is incomplete"},
		{"AuthorColumnStale", `UPDATE messages SET author_id = 'bob' WHERE seq = 1`, "author_id is bob, record says ann1"},
		{"MemberOfMissingUser", `DELETE FROM users`, "user does not exist"},
		{"MemberNameStale", `UPDATE members SET doc = '{"u":"annie"}'`, `record names "annie", the user is "Ann"`},
		{"RoleNameMismatch", `UPDATE roles SET doc = '{"name":"boss"}' WHERE name = 'admin'`, `roles/admin: record has name "boss"`},
		{"PermissionIDMismatch", `UPDATE permissions SET doc = '{"_id":"x","roles":["admin","user"]}' WHERE id = 'view-c-room'`, `record has id "x"`},
		{"PermissionRolesColumnStale", `UPDATE permissions SET roles = '{admin}' WHERE id = 'view-c-room'`, "roles column is {admin}"},
		{"PermissionRolesNullDoc", `UPDATE permissions SET doc = '{"_id":"view-c-room","roles":null}' WHERE id = 'view-c-room'`, "roles column is {admin,user}"},
		{"PermissionOfUnknownRole", `INSERT INTO permissions (id, roles, doc) VALUES ('x', '{ghost}', '{"_id":"x","roles":["ghost"]}')`, `permission x: role "ghost" does not exist`},
		{"IntegrationIDMismatch", `UPDATE integrations SET doc = '{"_id":"h"}'`, `integrations/hook1: record has id "h"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Broken inside a transaction that is rolled back: one fixture for every case.
			var all []string
			rollback := errors.New("rollback")
			err := st.Atomic(func(tx store.Store) error {
				if _, err := tx.(*Store).tx.Exec(context.Background(), tc.breakIt); err != nil {
					return err
				}
				for _, e := range tx.Check() {
					all = append(all, e.Error())
				}
				return rollback
			})
			if err != rollback {
				t.Fatal(err)
			}
			if len(all) == 0 {
				t.Fatal("the check found nothing")
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Fatalf("no error mentions %q: %v", tc.want, all)
			}
		})
	}
	if errs := st.Check(); errs != nil {
		t.Fatalf("the fixture was changed: %v", errs)
	}
}

// TestCheckReportIsBounded: a badly broken database lists at most maxCheckErrors problems.
func TestCheckReportIsBounded(t *testing.T) {
	st := checkFixture(t)
	if _, err := st.pool.Exec(context.Background(), `INSERT INTO permissions (id, roles, doc)
		SELECT 'p' || i, '{ghost}', json_build_object('_id', 'p' || i, 'roles', json_build_array('ghost')) FROM generate_series(1, 150) i`); err != nil {
		t.Fatal(err)
	}
	if errs := st.Check(); len(errs) != maxCheckErrors {
		t.Fatalf("%d problems reported, want %d", len(errs), maxCheckErrors)
	}
}

// TestCheckProgressStagesAndCancel: the stages are reported in order, and a cancelled
// context stops the check with its cause.
func TestCheckProgressStagesAndCancel(t *testing.T) {
	st := checkFixture(t)
	var stages []string
	if errs := st.CheckProgress(context.Background(), func(what string) { stages = append(stages, what) }); errs != nil {
		t.Fatal(errs)
	}
	if got := strings.Join(stages, ","); got != "checking users,checking rooms,checking messages,checking memberships,checking permissions,checking integrations" {
		t.Fatalf("stages %s", got)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stopped by the test")
	errs := st.CheckProgress(ctx, func(what string) {
		if what == "checking messages" {
			cancel(stop)
		}
	})
	if len(errs) != 1 || !errors.Is(errs[0], stop) {
		t.Fatalf("cancelled check = %v", errs)
	}
}

// TestCheckUnavailable: a check whose connection is lost says so (503), not "sound".
func TestCheckUnavailable(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	st, err := Open(ctx, dsn, Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := conn.Conn().PgConn().PID()
	conn.Release()
	if _, err := st.pool.Exec(ctx, `SELECT 1`); err != nil { // the one connection, idle again
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid); err != nil {
		t.Fatal(err)
	}
	errs := st.Check()
	if len(errs) != 1 || store.KindOf(errs[0]) != store.Unavailable {
		t.Fatalf("check on a lost connection = %v", errs)
	}
}

// TestCheckNanosecondTimes: messages appended with times finer than the column keeps
// (microseconds) are sound; a time off by a whole microsecond is not.
func TestCheckNanosecondTimes(t *testing.T) {
	st := checkFixture(t)
	ann, err := st.User("ann1")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC)
	if err := st.AppendMessages("GENERAL", []*store.Message{{Text: "fine", TS: ts, User: ann.Ref()}}); err != nil {
		t.Fatal(err)
	}
	if errs := st.Check(); errs != nil {
		t.Fatalf("sub-microsecond times: %v", errs)
	}
	if _, err := st.pool.Exec(context.Background(), `UPDATE messages SET ts = ts - interval '1 microsecond' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	if errs := st.Check(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "ts is") {
		t.Fatalf("a time a microsecond off: %v", errs)
	}
}
