package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Integration types, as Rocket.Chat names them.
const (
	IncomingWebhook = "webhook-incoming"
	OutgoingWebhook = "webhook-outgoing"
)

// Integration is an incoming or outgoing webhook. An incoming hook's token is stored only as
// its SHA-256 (TokenHash): the URL that carries it is shown once, at creation. An outgoing
// hook's token is not a credential to rocketlite but the shared secret rocketlite sends to the
// receiver, so it is kept as it is (the receiver compares it), as Rocket.Chat does.
type Integration struct {
	ID       string   `json:"_id"`
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
	UserID   string   `json:"userId"`   // messages are posted as this user
	Username string   `json:"username"` // its name when the hook was saved
	Channels []string `json:"channel"`  // "#room", "@user" or a room id; outgoing: rooms watched
	Alias    string   `json:"alias,omitempty"`
	Avatar   string   `json:"avatar,omitempty"`
	Emoji    string   `json:"emoji,omitempty"`
	// Incoming only.
	TokenHash string `json:"tokenHash,omitempty"`
	// Outgoing only.
	Event        string   `json:"event,omitempty"` // "sendMessage"
	URLs         []string `json:"urls,omitempty"`
	TriggerWords []string `json:"triggerWords,omitempty"`
	Token        string   `json:"token,omitempty"`

	CreatedBy UserRef   `json:"_createdBy"`
	CreatedAt time.Time `json:"_createdAt"`
	UpdatedAt time.Time `json:"_updatedAt"`
}

// HookTokenHash is what an incoming hook keeps of its token.
func HookTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenMatches compares an incoming hook's token with its stored hash in constant time.
func (i *Integration) TokenMatches(token string) bool {
	return i.TokenHash != "" && subtle.ConstantTimeCompare([]byte(HookTokenHash(token)), []byte(i.TokenHash)) == 1
}

// ErrIntegrationNotFound is the answer for an unknown integration id.
var ErrIntegrationNotFound = &Error{Kind: NotFound, Code: "invalid-integration", Message: "Integration not found"}

// CreateIntegration stores a new integration; the poster user must exist and be active.
func (s *Bolt) CreateIntegration(in *Integration) error {
	now := s.now()
	if in.ID == "" {
		in.ID = NewID()
	}
	in.CreatedAt, in.UpdatedAt = now, now
	return s.batch(func(tx *bolt.Tx) error {
		u, err := getUser(tx, in.UserID)
		if err != nil {
			return err
		}
		in.Username = u.Username
		b := tx.Bucket(bIntegrations)
		if b.Get([]byte(in.ID)) != nil {
			return Errorf(Conflict, "duplicate-integration", "An integration with this id exists")
		}
		emit(tx, Event{Kind: IntegrationsChanged})
		return putJSON(b, []byte(in.ID), in)
	})
}

// Integration returns the integration with the id.
func (s *Bolt) Integration(id string) (in *Integration, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		in, err = integrationIn(tx.Bucket(bIntegrations), id)
		return err
	})
	return in, err
}

func integrationIn(b *bolt.Bucket, id string) (*Integration, error) {
	var i Integration
	ok, err := getJSON(b, []byte(id), &i)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrIntegrationNotFound
	}
	return &i, nil
}

// Integrations lists every integration that keep accepts (nil: all), oldest first.
func (s *Bolt) Integrations(keep func(*Integration) bool) (list []*Integration, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bIntegrations).ForEach(func(_, v []byte) error {
			var i Integration
			if err := unmarshal(v, &i); err != nil {
				return err
			}
			if keep == nil || keep(&i) {
				list = append(list, &i)
			}
			return nil
		})
	})
	sort.SliceStable(list, func(a, b int) bool { return list[a].CreatedAt.Before(list[b].CreatedAt) })
	return list, err
}

// UpdateIntegration applies change to the stored integration in one transaction; a change
// that names another poster must name an existing user.
func (s *Bolt) UpdateIntegration(id string, change func(in *Integration) error) (updated *Integration, err error) {
	err = s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIntegrations)
		i, err := integrationIn(b, id)
		if err != nil {
			return err
		}
		if err := change(i); err != nil {
			return err
		}
		u, err := getUser(tx, i.UserID)
		if err != nil {
			return err
		}
		i.ID, i.Username, i.UpdatedAt = id, u.Username, s.now()
		updated = i
		emit(tx, Event{Kind: IntegrationsChanged})
		return putJSON(b, []byte(id), i)
	})
	return updated, err
}

// RemoveIntegration deletes the integration; check may refuse it (ownership).
func (s *Bolt) RemoveIntegration(id string, check func(in *Integration) error) (removed *Integration, err error) {
	err = s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bIntegrations)
		i, err := integrationIn(b, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(i); err != nil {
				return err
			}
		}
		removed = i
		emit(tx, Event{Kind: IntegrationsChanged})
		return b.Delete([]byte(id))
	})
	return removed, err
}
