package pgstore

import (
	"context"
	"reflect"
	"testing"
	"time"

	"rocketlite/store"
)

// duringRoleDeletion runs op while another transaction is deleting role: that transaction has
// locked the role's row (as DeleteRole does before it looks for holders) and counted none.
// op must wait for it, and the deletion then commits; op's error is returned. A grant that did
// not wait would have given a role that is gone.
func duringRoleDeletion(t *testing.T, st *Store, role string, op func() error) error {
	t.Helper()
	ctx := context.Background()
	conn, err := st.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT FROM roles WHERE name = $1 FOR UPDATE`, role); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- op() }()
	// Wait until op blocks on the deleting transaction (it must not finish before).
	pid := conn.Conn().PgConn().PID()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting bool
		if err := st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the grant did not wait for the role's deletion (returned %v)", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the grant neither waited nor finished")
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE name = $1`, role); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// TestGrantWaitsForRoleDeletion: giving a role that is being deleted waits, then finds no
// role; nothing is left naming it.
func TestGrantWaitsForRoleDeletion(t *testing.T) {
	st := openTest(t, "", store.Options{})
	for _, r := range []string{"admin", "spare"} {
		if err := st.AddRole(&store.Role{Name: r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.EnsurePermission(&store.Permission{ID: "p", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	err := duringRoleDeletion(t, st, "spare", func() error {
		_, err := st.SetPermissionRoles("p", func(r []string) []string { return append(r, "spare") })
		return err
	})
	if store.KindOf(err) != store.NotFound {
		t.Fatalf("SetPermissionRoles of a role deleted meanwhile: %v", err)
	}
	if p, _ := st.Permission("p"); !reflect.DeepEqual(p.Roles, []string{"admin"}) {
		t.Fatalf("p = %v", p.Roles)
	}
	if err := st.AddRole(&store.Role{Name: "spare"}); err != nil {
		t.Fatal(err)
	}
	err = duringRoleDeletion(t, st, "spare", func() error {
		_, err := st.EnsurePermission(&store.Permission{ID: "q", Roles: []string{"spare"}})
		return err
	})
	if store.KindOf(err) != store.Invalid {
		t.Fatalf("EnsurePermission naming a role deleted meanwhile: %v", err)
	}
	if err := st.AddRole(&store.Role{Name: "spare"}); err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "u1", Username: "ann", Roles: []string{"admin"}, Active: true, Hash: "x"}
	if err := st.CreateUser(u, false); err != nil {
		t.Fatal(err)
	}
	err = duringRoleDeletion(t, st, "spare", func() error { _, err := st.AddUserRole(u.ID, "spare"); return err })
	if store.KindOf(err) != store.NotFound {
		t.Fatalf("AddUserRole of a role deleted meanwhile: %v", err)
	}
	if got, _ := st.User(u.ID); !reflect.DeepEqual(got.Roles, []string{"admin"}) {
		t.Fatalf("roles %v", got.Roles)
	}
	// A room role: the membership must not hold it once it is gone.
	if err := st.AddRole(&store.Role{Name: "spare", Scope: store.RoomScope}); err != nil {
		t.Fatal(err)
	}
	room := &store.Room{Name: "team", Type: store.Private}
	if err := st.CreateRoom(room, nil, u.ID); err != nil {
		t.Fatal(err)
	}
	err = duringRoleDeletion(t, st, "spare", func() error { return st.SetRoomRole(room.ID, u.ID, "spare", true, u) })
	if store.KindOf(err) != store.NotFound {
		t.Fatalf("SetRoomRole of a role deleted meanwhile: %v", err)
	}
	if m, _ := st.Membership(room.ID, u.ID); !reflect.DeepEqual(m.Roles, []string{"owner"}) {
		t.Fatalf("room roles %v", m.Roles)
	}
	if errs := st.Check(); errs != nil {
		t.Fatal(errs)
	}
}
