package store

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Roles lists every role by name.
func (s *Bolt) Roles() (roles []*Role, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		roles = roles[:0]
		return tx.Bucket(bRoles).ForEach(func(k, v []byte) error {
			var r Role
			if err := unmarshal(v, &r); err != nil {
				return err
			}
			roles = append(roles, &r)
			return nil
		})
	})
	return roles, err
}

// AddRole creates a role; an existing name is a conflict.
func (s *Bolt) AddRole(r *Role) error {
	return s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRoles)
		if b.Get([]byte(r.Name)) != nil {
			return Errorf(Conflict, "duplicate-role", "Role %q already exists", r.Name)
		}
		return putJSON(b, []byte(r.Name), r)
	})
}

// EnsureRole creates the role unless it exists (seeding). It reports whether it created it.
func (s *Bolt) EnsureRole(r *Role) (created bool, err error) {
	if s.has(bRoles, r.Name) {
		return false, nil // seeding at every start: no commit when nothing is missing
	}
	err = s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRoles)
		created = b.Get([]byte(r.Name)) == nil
		if !created {
			return nil
		}
		return putJSON(b, []byte(r.Name), r)
	})
	return created, err
}

func roleExists(tx *bolt.Tx, name string) bool { return tx.Bucket(bRoles).Get([]byte(name)) != nil }

// DeleteRole removes a role that no user, membership or permission holds any more.
func (s *Bolt) DeleteRole(name string) error {
	return s.batch(func(tx *bolt.Tx) error {
		if !roleExists(tx, name) {
			return ErrRoleNotFound
		}
		inUse := Errorf(Conflict, "role-in-use", "Role %q is still in use", name)
		holders, err := usersWhere(tx, func(u *User) bool { return u.HasRole(name) })
		found := len(holders) > 0
		if err != nil || found {
			return firstErr(err, inUse)
		}
		err = tx.Bucket(bMembers).ForEach(func(k, v []byte) error {
			var m Member
			if err := unmarshal(v, &m); err != nil {
				return err
			}
			found = found || m.HasRole(name)
			return nil
		})
		if err != nil || found {
			return firstErr(err, inUse)
		}
		err = tx.Bucket(bPermissions).ForEach(func(k, v []byte) error {
			var p Permission
			if err := unmarshal(v, &p); err != nil {
				return err
			}
			found = found || slices.Contains(p.Roles, name)
			return nil
		})
		if err != nil || found {
			return firstErr(err, inUse)
		}
		return tx.Bucket(bRoles).Delete([]byte(name))
	})
}

func firstErr(err error, otherwise *Error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// AddUserRole gives the user a global role that exists; holding it already changes nothing.
func (s *Bolt) AddUserRole(uid, role string) (*User, error) {
	return s.updateUser(uid, func(u *User) error {
		if !u.HasRole(role) {
			u.Roles = append(u.Roles, role)
		}
		return nil
	}, roleMustExist(role))
}

// RemoveUserRole takes a global role from the user. Taking "admin" from the last active admin
// is a conflict.
func (s *Bolt) RemoveUserRole(uid, role string) (*User, error) {
	return s.updateUser(uid, func(u *User) error {
		u.Roles = slices.DeleteFunc(u.Roles, func(r string) bool { return r == role })
		return nil
	}, roleMustExist(role))
}

// RoomScope is the scope of room roles (owner, moderator): held on a membership, never as a
// global role, where it would grant its permissions in every room.
const RoomScope = "Subscriptions"

// ErrRoomRole refuses a room role given as a global role.
var ErrRoomRole = &Error{Kind: Invalid, Code: "invalid-role-scope", Message: "A room role (such as owner or moderator) cannot be given to a user globally"}

func roleMustExist(role string) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		var r Role
		ok, err := getJSON(tx.Bucket(bRoles), []byte(role), &r)
		if err != nil {
			return err
		}
		if !ok {
			return ErrRoleNotFound
		}
		if r.Scope == RoomScope {
			return ErrRoomRole
		}
		return nil
	}
}

func getPermission(tx *bolt.Tx, id string) (*Permission, error) {
	var p Permission
	ok, err := getJSON(tx.Bucket(bPermissions), []byte(id), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrPermNotFound
	}
	return &p, nil
}

// Permission returns one permission with its roles.
func (s *Bolt) Permission(id string) (p *Permission, err error) {
	err = s.view(func(tx *bolt.Tx) error { p, err = getPermission(tx, id); return err })
	return p, err
}

// Permissions lists every permission, by id.
func (s *Bolt) Permissions() (perms []*Permission, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		perms = perms[:0]
		return tx.Bucket(bPermissions).ForEach(func(k, v []byte) error {
			var p Permission
			if err := unmarshal(v, &p); err != nil {
				return err
			}
			perms = append(perms, &p)
			return nil
		})
	})
	return perms, err
}

// EnsurePermission creates the permission with its roles unless it exists (seeding).
func (s *Bolt) EnsurePermission(p *Permission) (created bool, err error) {
	if s.has(bPermissions, p.ID) {
		return false, nil // seeding at every start: no commit when nothing is missing
	}
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPermissions)
		created = b.Get([]byte(p.ID)) == nil
		if !created {
			return nil
		}
		for _, r := range p.Roles {
			if !roleExists(tx, r) {
				return Errorf(Invalid, "invalid-role", "Permission %q names unknown role %q", p.ID, r)
			}
		}
		p.UpdatedAt = now
		return putJSON(b, []byte(p.ID), p)
	})
	return created, err
}

// SetPermissionRoles changes the roles of an existing permission with change, which gets the
// current role list and returns the new one. Every role must exist.
func (s *Bolt) SetPermissionRoles(id string, change func(roles []string) []string) (updated *Permission, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		p, err := getPermission(tx, id)
		if err != nil {
			return err
		}
		updated, err = setPermissionRoles(tx, p, change(slices.Clone(p.Roles)), now)
		return err
	})
	return updated, err
}

// setPermissionRoles stores roles (sorted, without repeats) as p's roles. Every role must
// exist, and access-permissions keeps admin.
func setPermissionRoles(tx *bolt.Tx, p *Permission, roles []string, now time.Time) (*Permission, error) {
	roles = slices.Compact(slices.Sorted(slices.Values(roles)))
	for _, r := range roles {
		if !roleExists(tx, r) {
			return nil, &Error{Kind: NotFound, Code: ErrRoleNotFound.Code, Message: fmt.Sprintf("Role %q not found", r)}
		}
	}
	if err := keepsAdminAccess(p.ID, roles); err != nil {
		return nil, err
	}
	if roles == nil {
		roles = []string{}
	}
	p.Roles, p.UpdatedAt = roles, now
	cp := *p
	emit(tx, Event{Kind: PermissionsChanged, Permissions: []*Permission{&cp}})
	return p, putJSON(tx.Bucket(bPermissions), []byte(p.ID), p)
}

// accessPermissions is the permission that guards every role and permission change.
const accessPermissions = "access-permissions"

// keepsAdminAccess refuses a role list for permission id that takes access-permissions from
// the admin role: the last-admin rule would mean nothing if the admins could no longer manage
// roles and permissions, and no route could grant it back.
func keepsAdminAccess(id string, roles []string) error {
	if id == accessPermissions && !slices.Contains(roles, "admin") {
		return ErrAdminAccess
	}
	return nil
}

// HasPermission reports whether the user holds perm through a global role or, when rid is
// not empty, through a room role of their membership there. It reads the store each time, so
// a grant or revoke counts from the next call on.
func (s *Bolt) HasPermission(u *User, perm, rid string) (ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error { ok, err = hasPermission(tx, u, perm, rid); return err })
	return ok, err
}

// hasPermission is HasPermission inside a transaction (for checks that must see the same
// state as the write they guard).
func hasPermission(tx *bolt.Tx, u *User, perm, rid string) (bool, error) {
	return HasPermissionIn(boltFacts{tx}, u, perm, rid)
}

// boltFacts answers the access rules (access.go) from a bbolt transaction.
type boltFacts struct{ tx *bolt.Tx }

func (f boltFacts) Grants(perm string, roles []string) (granted, exists bool, err error) {
	v := f.tx.Bucket(bPermissions).Get([]byte(perm))
	if v == nil {
		return false, false, nil
	}
	ok, err := grants(v, roles)
	return ok, true, err
}

func (f boltFacts) IsMember(rid, uid string) (bool, error) {
	return f.tx.Bucket(bMembers).Get(join2(rid, []byte(uid))) != nil, nil
}

func (f boltFacts) MemberRoles(rid, uid string) ([]string, bool, error) {
	mv := f.tx.Bucket(bMembers).Get(join2(rid, []byte(uid)))
	if mv == nil {
		return nil, false, nil
	}
	var m rolesOnly
	if err := unmarshal(mv, &m); err != nil {
		return nil, true, err
	}
	return m.Roles, true, nil
}

type rolesOnly struct {
	Roles []string `json:"roles"`
}

// grants reports whether the stored permission record v lists any of roles. It runs on every
// read of a public room (view-c-room), so it reads the record as putJSON wrote it, whose
// "roles" array holds plain names (NameRE: no escapes), without decoding or allocating;
// anything else goes to json.Unmarshal. TestGrantsMatchesJSON compares the two.
func grants(v []byte, roles []string) (bool, error) {
	if ok, handled := grantsFast(v, roles); handled {
		return ok, nil
	}
	var p rolesOnly
	if err := unmarshal(v, &p); err != nil {
		return false, err
	}
	for _, r := range p.Roles {
		if slices.Contains(roles, r) {
			return true, nil
		}
	}
	return false, nil
}

func grantsFast(v []byte, roles []string) (ok, handled bool) {
	const key = `{"_id":"`
	if !bytes.HasPrefix(v, []byte(key)) {
		return false, false
	}
	i := bytes.IndexByte(v[len(key):], '"') // _id is a plain name: no escapes
	if i < 0 {
		return false, false
	}
	rest := v[len(key)+i+1:]
	if !bytes.HasPrefix(rest, []byte(`,"roles":[`)) {
		return false, false
	}
	arr := rest[len(`,"roles":[`):]
	end := bytes.IndexByte(arr, ']')
	if end < 0 || bytes.IndexByte(arr[:end], '\\') >= 0 {
		return false, false
	}
	for arr = arr[:end]; len(arr) > 0; {
		if arr[0] != '"' {
			return false, false
		}
		j := bytes.IndexByte(arr[1:], '"')
		if j < 0 {
			return false, false
		}
		name := arr[1 : 1+j]
		for _, r := range roles {
			if string(name) == r {
				ok = true
			}
		}
		arr = arr[j+2:]
		if len(arr) > 0 {
			if arr[0] != ',' {
				return false, false
			}
			arr = arr[1:]
		}
	}
	return ok, true
}

// has reports whether bucket holds key, in a read transaction: the Ensure functions skip
// their write (a commit of two fsyncs each) when there is nothing to create.
func (s *Bolt) has(bucket []byte, key string) (ok bool) {
	_ = s.view(func(tx *bolt.Tx) error { ok = tx.Bucket(bucket).Get([]byte(key)) != nil; return nil })
	return ok
}
