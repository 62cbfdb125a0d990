package store

import (
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

func lower(s string) []byte { return []byte(strings.ToLower(s)) }

// ms truncates t to the millisecond precision every API shows.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// CreateUser stores a new user; see CreateUsers.
func (s *Bolt) CreateUser(u *User, joinDefault bool) error {
	return s.CreateUsers([]*User{u}, joinDefault)
}

func checkNewUser(byName, byEmail *bolt.Bucket, username, email string) error {
	if byName.Get(lower(username)) != nil {
		return Errorf(Invalid, "username-taken", "Username %q is already in use", username)
	}
	if email != "" && byEmail.Get(lower(email)) != nil {
		return Errorf(Invalid, "email-taken", "E-mail %q is already in use", email)
	}
	return nil
}

// CheckNewUser returns the error CreateUser would give for a username or e-mail already taken,
// from a read: a caller checks it before the costly work (a bcrypt hash). CreateUser checks
// again in its write transaction, which alone decides a race.
func (s *Bolt) CheckNewUser(username, email string) error {
	return s.view(func(tx *bolt.Tx) error {
		return checkNewUser(tx.Bucket(bUsersByName), tx.Bucket(bUsersByEmail), username, email)
	})
}

// CreateUsers stores all users in one transaction, or none of them. Each user gets a new ID
// (unless set), the roles given or else "admin" for the very first user and "user" after it,
// and, with joinDefault, a membership (and a "uj" message) in every default room. Usernames
// and e-mails are unique, case-insensitively, across the store and inside the batch.
func (s *Bolt) CreateUsers(users []*User, joinDefault bool) error {
	now := ms(s.now())
	// A fixed id (a seed's _id) may be one that messages name already, from a user deleted
	// since: they will show the new user's name. (Taken before the batch, which may run the
	// function twice and sets the ids it makes.)
	var fixed []string
	// The ids and roles as given: fn may run twice (a dry run first, see batch), and must not
	// take what its first run set for what the caller gave. (It did, and users registering at
	// once on an empty store all became admins: each dry run saw no user yet.)
	givenIDs, givenRoles := make([]string, len(users)), make([][]string, len(users))
	for i, u := range users {
		if u.ID != "" {
			fixed = append(fixed, u.ID)
		}
		givenIDs[i], givenRoles[i] = u.ID, u.Roles
	}
	return s.batch(func(tx *bolt.Tx) error {
		for i, u := range users {
			u.ID, u.Roles = givenIDs[i], givenRoles[i]
		}
		ub := tx.Bucket(bUsers)
		byName, byEmail := tx.Bucket(bUsersByName), tx.Bucket(bUsersByEmail)
		firstEver := isEmpty(ub)
		var defaults []*Room
		if joinDefault {
			var err error
			if defaults, err = defaultRooms(tx); err != nil {
				return err
			}
		}
		for i, u := range users {
			if err := validUser(u); err != nil {
				return err
			}
			if err := checkNewUser(byName, byEmail, u.Username, u.Email); err != nil {
				return err
			}
			if u.ID == "" {
				u.ID = NewID()
			} else if !validKeyPart(u.ID) || ub.Get([]byte(u.ID)) != nil {
				return Errorf(Invalid, "invalid-id", "User id %q is invalid or taken", u.ID)
			}
			FillNewUser(u, firstEver && i == 0, now)
			if err := putUser(tx, u); err != nil {
				return err
			}
			if err := byName.Put(lower(u.Username), []byte(u.ID)); err != nil {
				return err
			}
			if u.Email != "" {
				if err := byEmail.Put(lower(u.Email), []byte(u.ID)); err != nil {
					return err
				}
			}
			for _, r := range defaults {
				if _, err := addMember(tx, r, u, nil, true, now); err != nil {
					return err
				}
			}
		}
		if len(fixed) > 0 {
			s.namesChanged(tx, fixed...)
		}
		return nil
	})
}

func isEmpty(b *bolt.Bucket) bool {
	k, _ := b.Cursor().First()
	return k == nil
}

func putUser(tx *bolt.Tx, u *User) error { return putJSON(tx.Bucket(bUsers), []byte(u.ID), u) }

func getUser(tx *bolt.Tx, id string) (*User, error) {
	data := tx.Bucket(bUsers).Get([]byte(id))
	if data == nil {
		return nil, ErrUserNotFound
	}
	u := new(User)
	if err := decodeUser(data, u); err != nil {
		return nil, err
	}
	return u, nil
}

func userByIndex(tx *bolt.Tx, bucket []byte, key string) (*User, error) {
	id := tx.Bucket(bucket).Get(lower(key))
	if id == nil {
		return nil, ErrUserNotFound
	}
	return getUser(tx, string(id))
}

// User returns the user with the id.
func (s *Bolt) User(id string) (u *User, err error) {
	err = s.view(func(tx *bolt.Tx) error { u, err = getUser(tx, id); return err })
	return u, err
}

// UserByUsername looks a user up by name, ignoring case.
func (s *Bolt) UserByUsername(name string) (u *User, err error) {
	err = s.view(func(tx *bolt.Tx) error { u, err = userByIndex(tx, bUsersByName, name); return err })
	return u, err
}

// UserByEmail looks a user up by e-mail, ignoring case.
func (s *Bolt) UserByEmail(email string) (u *User, err error) {
	err = s.view(func(tx *bolt.Tx) error { u, err = userByIndex(tx, bUsersByEmail, email); return err })
	return u, err
}

// Users lists users in id order, skipping offset and returning at most count (0: all), and
// the total number of users.
func (s *Bolt) Users(offset, count int) (users []*User, total int, err error) {
	return s.UsersBy(nil, offset, count)
}

// UsersBy is Users sorted by cmp before the page is cut. With a cmp it reads every user
// (the page cannot be found without them); without, it walks to the page in key order.
func (s *Bolt) UsersBy(cmp func(a, b *User) int, offset, count int) (users []*User, total int, err error) {
	if cmp != nil {
		return s.usersSorted(cmp, offset, count)
	}
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		total = keyN(b)
		i := 0
		return b.ForEach(func(k, v []byte) error {
			i++
			if i <= offset || (count > 0 && len(users) >= count) {
				return nil
			}
			var u User
			if err := unmarshal(v, &u); err != nil {
				return err
			}
			users = append(users, &u)
			return nil
		})
	})
	return users, total, err
}

// UpdateUser applies change to the stored user and saves it, keeping the name and e-mail
// indexes unique. Changing the password hash or deactivating the user revokes all of the
// user's tokens. Removing "admin" from the last active admin, or deactivating them, fails.
func (s *Bolt) UpdateUser(id string, change func(u *User) error) (*User, error) {
	return s.updateUser(id, change)
}

// updateUser is UpdateUser with extra checks run first in the same transaction.
func (s *Bolt) updateUser(id string, change func(u *User) error, checks ...func(tx *bolt.Tx) error) (updated *User, err error) {
	now := ms(s.now())
	err = s.batch(func(tx *bolt.Tx) error {
		for _, check := range checks {
			if err := check(tx); err != nil {
				return err
			}
		}
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if err := change(u); err != nil {
			return err
		}
		u.ID = old.ID
		u.UpdatedAt = now
		if err := validUser(u); err != nil {
			return err
		}
		if err := reindex(tx, bUsersByName, old.Username, u.Username, id, ErrUsernameTaken); err != nil {
			return err
		}
		if err := reindex(tx, bUsersByEmail, old.Email, u.Email, id, ErrEmailTaken); err != nil {
			return err
		}
		wasAdmin := old.Active && old.HasRole("admin")
		if wasAdmin && !(u.Active && u.HasRole("admin")) {
			n, err := countActiveAdmins(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastAdmin
			}
		}
		if u.Hash != old.Hash || (old.Active && !u.Active) {
			if err := revokeUserTokens(tx, id); err != nil {
				return err
			}
		}
		if u.Username != old.Username {
			if err := renameInMemberships(tx, u); err != nil {
				return err
			}
		}
		if u.Username != old.Username || u.Name != old.Name {
			s.namesChanged(tx, id) // messages show authors by their current names
		}
		updated = u
		emit(tx, Event{Kind: UserChanged, User: u, UserID: u.ID})
		return putUser(tx, u)
	})
	return updated, err
}

func reindex(tx *bolt.Tx, bucket []byte, oldKey, newKey, id string, taken *Error) error {
	// Compare the index keys themselves: strings.EqualFold also folds pairs such as "ſ"/"s"
	// that lower() keeps apart, which would leave the index on the old key.
	if equalFold(oldKey, newKey) {
		return nil
	}
	b := tx.Bucket(bucket)
	if newKey != "" {
		if b.Get(lower(newKey)) != nil {
			return taken
		}
		if err := b.Put(lower(newKey), []byte(id)); err != nil {
			return err
		}
	}
	if oldKey != "" {
		return b.Delete(lower(oldKey))
	}
	return nil
}

func renameInMemberships(tx *bolt.Tx, u *User) error {
	members := tx.Bucket(bMembers)
	c := tx.Bucket(bUserRooms).Cursor()
	p := prefix(u.ID)
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		rid := string(k[len(p):])
		mk := join2(rid, []byte(u.ID))
		var m Member
		if ok, err := getJSON(members, mk, &m); err != nil || !ok {
			return err
		}
		m.Username = u.Username
		if err := putJSON(members, mk, &m); err != nil {
			return err
		}
	}
	return nil
}

func countActiveAdmins(tx *bolt.Tx) (int, error) {
	admins, err := usersWhere(tx, func(u *User) bool { return u.Active && u.HasRole("admin") })
	return len(admins), err
}

// DeleteUser removes a user, their tokens and memberships. Their messages stay (authored by a
// name that no longer logs in), as in Rocket.Chat. The last active admin cannot be deleted.
func (s *Bolt) DeleteUser(id string) error {
	return s.batch(func(tx *bolt.Tx) error {
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if u.Active && u.HasRole("admin") {
			n, err := countActiveAdmins(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastAdmin
			}
		}
		if err := revokeUserTokens(tx, id); err != nil {
			return err
		}
		if err := dropUserExtras(tx, id); err != nil {
			return err
		}
		rids, err := userRoomIDs(tx, id)
		if err != nil {
			return err
		}
		for _, rid := range rids {
			if err := removeMember(tx, rid, id); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bUsersByName).Delete(lower(u.Username)); err != nil {
			return err
		}
		if u.Email != "" {
			if err := tx.Bucket(bUsersByEmail).Delete(lower(u.Email)); err != nil {
				return err
			}
		}
		s.namesChanged(tx, id)
		emit(tx, Event{Kind: UserDeleted, UserID: id})
		return tx.Bucket(bUsers).Delete([]byte(id))
	})
}

func (s *Bolt) usersSorted(cmp func(a, b *User) int, offset, count int) (users []*User, total int, err error) {
	var all []*User
	err = s.view(func(tx *bolt.Tx) (err error) {
		all, err = usersWhere(tx, func(*User) bool { return true })
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortStableFunc(all, cmp)
	total = len(all)
	all = all[min(offset, len(all)):]
	if count > 0 && count < len(all) {
		all = all[:count]
	}
	return all, total, nil
}

// FillNewUser gives a user being created what every store sets: the admin role to the first
// user of an empty store and the user role to others (unless roles were given), the type and
// the times.
func FillNewUser(u *User, first bool, now time.Time) {
	if len(u.Roles) == 0 {
		if first {
			u.Roles = []string{"admin"}
		} else {
			u.Roles = []string{"user"}
		}
	}
	if u.Type == "" {
		u.Type = "user"
	}
	u.CreatedAt, u.UpdatedAt = now, now
}
