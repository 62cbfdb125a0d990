package store

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Avatars and preferences live beside the user record, not in it: the user record is decoded
// on every authenticated request, and neither is needed there.

// Avatar is a user's uploaded picture.
type Avatar struct {
	ContentType string `json:"type"`
	Data        []byte `json:"data"`
	ETag        string `json:"etag"` // changes with every upload
}

// SetAvatar stores a user's picture (the caller checked its type and size).
func (s *Bolt) SetAvatar(uid string, a *Avatar) error {
	a.ETag = NewID()
	return s.batch(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, uid); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bAvatars), []byte(uid), a)
	})
}

// ResetAvatar removes a user's picture: the generated one is served again.
func (s *Bolt) ResetAvatar(uid string) error {
	return s.batch(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, uid); err != nil {
			return err
		}
		return tx.Bucket(bAvatars).Delete([]byte(uid))
	})
}

// AvatarOf returns the picture of the user called username: nil if they have none, and
// ErrUserNotFound if there is no such user.
func (s *Bolt) AvatarOf(username string) (a *Avatar, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bUsersByName).Get(lower(username))
		if id == nil {
			return ErrUserNotFound
		}
		var av Avatar
		ok, err := getJSON(tx.Bucket(bAvatars), id, &av)
		if ok {
			a = &av
		}
		return err
	})
	return a, err
}

// Preferences returns the user's stored preferences (a JSON object; {} if none).
func (s *Bolt) Preferences(uid string) (p json.RawMessage, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, uid); err != nil {
			return err
		}
		if v := tx.Bucket(bPrefs).Get([]byte(uid)); v != nil {
			p = append(json.RawMessage(nil), v...)
		}
		return nil
	})
	if p == nil {
		p = json.RawMessage("{}")
	}
	return p, err
}

// SetPreferences merges change into the user's preferences and returns them all.
func (s *Bolt) SetPreferences(uid string, change map[string]json.RawMessage) (p json.RawMessage, err error) {
	err = s.batch(func(tx *bolt.Tx) error {
		if _, err := getUser(tx, uid); err != nil {
			return err
		}
		cur := map[string]json.RawMessage{}
		if _, err := getJSON(tx.Bucket(bPrefs), []byte(uid), &cur); err != nil {
			return err
		}
		for k, v := range change {
			cur[k] = v
		}
		data, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		p = data
		return tx.Bucket(bPrefs).Put([]byte(uid), data)
	})
	return p, err
}

// dropUserExtras deletes a deleted user's picture and preferences.
func dropUserExtras(tx *bolt.Tx, uid string) error {
	if err := tx.Bucket(bAvatars).Delete([]byte(uid)); err != nil {
		return err
	}
	return tx.Bucket(bPrefs).Delete([]byte(uid))
}
