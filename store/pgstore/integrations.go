package pgstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"rocketlite/store"
)

// posterName returns the username of the user an integration posts as (ErrUserNotFound if
// there is none), keeping the user's row from being deleted until the transaction ends.
func posterName(t *Tx, uid string) (string, error) {
	var name string
	err := t.QueryRow(t.Ctx, `SELECT username FROM users WHERE id = $1 FOR KEY SHARE`, uid).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", store.ErrUserNotFound
	}
	return name, err
}

func putIntegration(t *Tx, in *store.Integration, insert bool) (bool, error) {
	doc, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	sql := `UPDATE integrations SET created_ns = $2, doc = $3 WHERE id = $1`
	if insert {
		sql = `INSERT INTO integrations (id, created_ns, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`
	}
	tag, err := t.Exec(t.Ctx, sql, in.ID, in.CreatedAt.UnixNano(), doc)
	return tag.RowsAffected() == 1, err
}

func getIntegration(ctx context.Context, db q, id string, lock bool) (*store.Integration, error) {
	sql := `SELECT doc FROM integrations WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var in store.Integration
	ok, err := getJSON(ctx, db, &in, sql, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, store.ErrIntegrationNotFound
	}
	return &in, nil
}

// CreateIntegration stores a new integration; the poster user must exist.
func (s *Store) CreateIntegration(in *store.Integration) error {
	now := s.now()
	if in.ID == "" {
		in.ID = store.NewID()
	}
	in.CreatedAt, in.UpdatedAt = now, now
	return s.write(func(t *Tx) error {
		name, err := posterName(t, in.UserID)
		if err != nil {
			return err
		}
		in.Username = name
		created, err := putIntegration(t, in, true)
		if err == nil && !created {
			err = store.Errorf(store.Conflict, "duplicate-integration", "An integration with this id exists")
		}
		t.Emit(store.Event{Kind: store.IntegrationsChanged}) // dropped with the transaction if err
		return err
	})
}

// Integration returns the integration with the id.
func (s *Store) Integration(id string) (in *store.Integration, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error { in, err = getIntegration(ctx, tx, id, false); return err })
	return in, err
}

// Integrations lists every integration that keep accepts (nil: all), oldest first.
func (s *Store) Integrations(keep func(*store.Integration) bool) (list []*store.Integration, err error) {
	err = s.read(func(ctx context.Context, tx pgx.Tx) error {
		list, err = collectDocs[store.Integration](ctx, tx, `SELECT doc FROM integrations ORDER BY created_ns, id COLLATE "C"`)
		return err
	})
	if err != nil || keep == nil {
		return list, err
	}
	kept := list[:0]
	for _, in := range list {
		if keep(in) {
			kept = append(kept, in)
		}
	}
	return kept, nil
}

// UpdateIntegration applies change to the stored integration in one transaction; a change
// that names another poster must name an existing user.
func (s *Store) UpdateIntegration(id string, change func(in *store.Integration) error) (updated *store.Integration, err error) {
	err = s.write(func(t *Tx) error {
		in, err := getIntegration(t.Ctx, t, id, true)
		if err != nil {
			return err
		}
		if err := change(in); err != nil {
			return err
		}
		name, err := posterName(t, in.UserID)
		if err != nil {
			return err
		}
		in.ID, in.Username, in.UpdatedAt = id, name, s.now()
		updated = in
		t.Emit(store.Event{Kind: store.IntegrationsChanged})
		_, err = putIntegration(t, in, false)
		return err
	})
	return updated, err
}

// RemoveIntegration deletes the integration; check may refuse it (ownership).
func (s *Store) RemoveIntegration(id string, check func(in *store.Integration) error) (removed *store.Integration, err error) {
	err = s.write(func(t *Tx) error {
		in, err := getIntegration(t.Ctx, t, id, true)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(in); err != nil {
				return err
			}
		}
		removed = in
		t.Emit(store.Event{Kind: store.IntegrationsChanged})
		_, err = t.Exec(t.Ctx, `DELETE FROM integrations WHERE id = $1`, id)
		return err
	})
	return removed, err
}
