package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// Roles and permissions. A role's row is the lock that keeps "role exists" true for the
// transaction that relies on it: a writer that gives a role (to a permission, a user or a
// membership) reads it FOR SHARE, DeleteRole takes it FOR UPDATE before it looks for holders,
// so a grant racing a deletion either lands before the holders are counted or finds no role.

// Roles lists every role by name (in byte order, as bbolt's keys).
func (s *Store) Roles() (roles []*store.Role, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		roles, err = collectDocs[store.Role](ctx, tx, `SELECT doc FROM roles ORDER BY name COLLATE "C"`)
		return err
	})
	return roles, err
}

// collectDocs decodes the doc column of every row sql returns.
func collectDocs[T any](ctx context.Context, db q, sql string, args ...any) ([]*T, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*T, error) {
		var doc []byte
		if err := row.Scan(&doc); err != nil {
			return nil, err
		}
		v := new(T)
		return v, json.Unmarshal(doc, v)
	})
}

// AddRole creates a role; an existing name is a conflict.
func (s *Store) AddRole(r *store.Role) error {
	return s.write(func(t *Tx) error {
		created, err := insertRole(t, r)
		if err == nil && !created {
			err = store.Errorf(store.Conflict, "duplicate-role", "Role %q already exists", r.Name)
		}
		return err
	})
}

func insertRole(t *Tx, r *store.Role) (created bool, err error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	tag, err := t.Exec(t.Ctx, `INSERT INTO roles (name, doc) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, r.Name, doc)
	return tag.RowsAffected() == 1, err
}

// EnsureRole creates the role unless it exists (seeding). It reports whether it created it.
func (s *Store) EnsureRole(r *store.Role) (created bool, err error) {
	err = s.write(func(t *Tx) error { created, err = insertRole(t, r); return err })
	return created, err
}

// DeleteRole removes a role that no user, membership or permission holds any more.
func (s *Store) DeleteRole(name string) error {
	return s.write(func(t *Tx) error {
		var found bool
		err := t.QueryRow(t.Ctx, `SELECT true FROM roles WHERE name = $1 FOR UPDATE`, name).Scan(&found)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrRoleNotFound
		}
		if err != nil {
			return err
		}
		// users.roles is the record's roles (users.go keeps it, Check verifies it); a
		// membership's room roles are only in its record.
		err = t.QueryRow(t.Ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE $1 = ANY (roles))
			OR EXISTS (SELECT 1 FROM members WHERE (doc->'roles')::jsonb ? $1)
			OR EXISTS (SELECT 1 FROM permissions WHERE $1 = ANY (roles))`, name).Scan(&found)
		if err != nil {
			return err
		}
		if found {
			return store.Errorf(store.Conflict, "role-in-use", "Role %q is still in use", name)
		}
		_, err = t.Exec(t.Ctx, `DELETE FROM roles WHERE name = $1`, name)
		return err
	})
}

// shareRoles returns those of names that exist, keeping their rows locked (FOR SHARE) until
// the transaction ends.
func shareRoles(t *Tx, names []string) (map[string]*store.Role, error) {
	have := make(map[string]*store.Role, len(names))
	if len(names) == 0 {
		return have, nil
	}
	rows, err := t.Query(t.Ctx, `SELECT doc FROM roles WHERE name = ANY ($1) FOR SHARE`, names)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Role, error) {
		var doc []byte
		if err := row.Scan(&doc); err != nil {
			return nil, err
		}
		var r store.Role
		return &r, json.Unmarshal(doc, &r)
	})
	for _, r := range list {
		have[r.Name] = r
	}
	return have, err
}

// shareRole is shareRoles for one name: nil if the role does not exist.
func shareRole(t *Tx, name string) (*store.Role, error) {
	have, err := shareRoles(t, []string{name})
	return have[name], err
}

// globalRoleMustExist is bbolt's roleMustExist: the role exists (and stays, until the
// transaction ends) and is not a room role.
func globalRoleMustExist(t *Tx, name string) error {
	r, err := shareRole(t, name)
	switch {
	case err != nil:
		return err
	case r == nil:
		return store.ErrRoleNotFound
	case r.Scope == store.RoomScope:
		return store.ErrRoomRole
	}
	return nil
}

// AddUserRole gives the user a global role that exists; holding it already changes nothing.
func (s *Store) AddUserRole(uid, role string) (updated *store.User, err error) {
	return s.changeUserRoles(uid, role, func(u *store.User) error {
		if !u.HasRole(role) {
			u.Roles = append(u.Roles, role)
		}
		return nil
	})
}

// RemoveUserRole takes a global role from the user. Taking "admin" from the last active admin
// is a conflict.
func (s *Store) RemoveUserRole(uid, role string) (updated *store.User, err error) {
	return s.changeUserRoles(uid, role, func(u *store.User) error {
		u.Roles = slices.DeleteFunc(u.Roles, func(r string) bool { return r == role })
		return nil
	})
}

// changeUserRoles is UpdateUser after checking, in the same transaction, that role is a
// global role (bbolt checks it before it reads the user).
func (s *Store) changeUserRoles(uid, role string, change func(u *store.User) error) (updated *store.User, err error) {
	err = s.write(func(t *Tx) error {
		if err := globalRoleMustExist(t, role); err != nil {
			return err
		}
		var err error
		updated, err = updateUser(t, uid, change)
		return err
	})
	return updated, err
}

func getPermission(ctx context.Context, db q, id string, lock bool) (*store.Permission, error) {
	sql := `SELECT doc FROM permissions WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var p store.Permission
	ok, err := getJSON(ctx, db, &p, sql, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrPermNotFound
	}
	return &p, nil
}

// Permission returns one permission with its roles.
func (s *Store) Permission(id string) (p *store.Permission, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error { p, err = getPermission(ctx, tx, id, false); return err })
	return p, err
}

// Permissions lists every permission, by id (in byte order, as bbolt's keys).
func (s *Store) Permissions() (perms []*store.Permission, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		perms, err = collectDocs[store.Permission](ctx, tx, `SELECT doc FROM permissions ORDER BY id COLLATE "C"`)
		return err
	})
	return perms, err
}

// putPermission writes p, its roles column (which every access check reads) from p.Roles.
func putPermission(t *Tx, p *store.Permission, insert bool) (bool, error) {
	doc, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	roles := p.Roles
	if roles == nil {
		roles = []string{} // a permission stored with "roles": null grants nothing
	}
	sql := `UPDATE permissions SET roles = $2, doc = $3 WHERE id = $1`
	if insert {
		sql = `INSERT INTO permissions (id, roles, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`
	}
	tag, err := t.Exec(t.Ctx, sql, p.ID, roles, doc)
	return tag.RowsAffected() == 1, err
}

// EnsurePermission creates the permission with its roles unless it exists (seeding). Its
// roles must exist; they are stored as given (seeding writes them in order already).
func (s *Store) EnsurePermission(p *store.Permission) (created bool, err error) {
	err = s.write(func(t *Tx) error {
		created = false
		var exists bool
		if err := t.QueryRow(t.Ctx, `SELECT EXISTS (SELECT 1 FROM permissions WHERE id = $1)`, p.ID).Scan(&exists); err != nil || exists {
			return err // seeding at every start: nothing to write when nothing is missing
		}
		have, err := shareRoles(t, p.Roles)
		if err != nil {
			return err
		}
		for _, r := range p.Roles {
			if have[r] == nil {
				return store.Errorf(store.Invalid, "invalid-role", "Permission %q names unknown role %q", p.ID, r)
			}
		}
		np := *p
		np.UpdatedAt = t.Now()
		if created, err = putPermission(t, &np, true); err != nil || !created {
			return err // created meanwhile by another node: it exists, as EnsurePermission wants
		}
		p.UpdatedAt = np.UpdatedAt
		return nil
	})
	return created, err
}

// SetPermissionRoles changes the roles of an existing permission with change, which gets the
// current role list and returns the new one. Every role must exist.
func (s *Store) SetPermissionRoles(id string, change func(roles []string) []string) (updated *store.Permission, err error) {
	err = s.write(func(t *Tx) error {
		p, err := getPermission(t.Ctx, t, id, true)
		if err != nil {
			return err
		}
		updated, err = setPermissionRoles(t, p, change(slices.Clone(p.Roles)))
		return err
	})
	return updated, err
}

// SetPermissionsRoles replaces the roles of several permissions in one transaction: all of
// them change, or (an unknown permission or role) none.
func (s *Store) SetPermissionsRoles(perms []store.Permission) (updated []*store.Permission, err error) {
	err = s.write(func(t *Tx) error {
		updated = updated[:0]
		ids := make([]string, len(perms))
		for i, in := range perms {
			ids[i] = in.ID
		}
		// One read for all of them (locked: the last writer must not undo another's change
		// to a permission it does not name).
		have := map[string]*store.Permission{}
		list, err := collectDocs[store.Permission](t.Ctx, t, `SELECT doc FROM permissions WHERE id = ANY ($1) ORDER BY id COLLATE "C" FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		for _, p := range list {
			have[p.ID] = p
		}
		for _, in := range perms {
			p := have[in.ID]
			if p == nil {
				return store.ErrPermNotFound
			}
			if p, err = setPermissionRoles(t, p, in.Roles); err != nil {
				return err
			}
			cp := *p
			have[in.ID] = &cp // a permission named twice: the second sees the first's result
			updated = append(updated, p)
		}
		return nil
	})
	return updated, err
}

// setPermissionRoles stores roles (sorted, without repeats) as p's roles. Every role must
// exist, and access-permissions keeps admin.
func setPermissionRoles(t *Tx, p *store.Permission, roles []string) (*store.Permission, error) {
	roles = slices.Compact(slices.Sorted(slices.Values(roles)))
	have, err := shareRoles(t, roles)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if have[r] == nil {
			return nil, &store.Error{Kind: store.NotFound, Code: store.ErrRoleNotFound.Code, Message: fmt.Sprintf("Role %q not found", r)}
		}
	}
	if err := store.KeepsAdminAccess(p.ID, roles); err != nil {
		return nil, err
	}
	if roles == nil {
		roles = []string{}
	}
	p.Roles, p.UpdatedAt = roles, t.Now()
	cp := *p
	t.Emit(store.Event{Kind: store.PermissionsChanged, Permissions: []*store.Permission{&cp}})
	_, err = putPermission(t, p, false)
	return p, err
}

// HasPermission reports whether the user holds perm through a global role or, when rid is
// not empty, through a room role of their membership there.
func (s *Store) HasPermission(u *store.User, perm, rid string) (ok bool, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		ok, err = store.HasPermissionIn(readFacts(ctx, tx), u, perm, rid)
		return err
	})
	return ok, err
}
