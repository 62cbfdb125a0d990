package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
)

// facts answers the access rules of package store (store.Facts) inside one transaction.
type facts struct {
	ctx context.Context
	db  q
}

func (f facts) Grants(perm string, roles []string) (granted, exists bool, err error) {
	var have []string
	err = f.db.QueryRow(f.ctx, `SELECT roles FROM permissions WHERE id = $1`, perm).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	for _, r := range roles {
		if slices.Contains(have, r) {
			return true, true, nil
		}
	}
	return false, true, nil
}

func (f facts) IsMember(rid, uid string) (bool, error) {
	var ok bool
	err := f.db.QueryRow(f.ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE room_id = $1 AND user_id = $2)`, rid, uid).Scan(&ok)
	return ok, err
}

func (f facts) MemberRoles(rid, uid string) ([]string, bool, error) {
	var doc []byte
	err := f.db.QueryRow(f.ctx, `SELECT doc FROM members WHERE room_id = $1 AND user_id = $2`, rid, uid).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var m struct {
		Roles []string `json:"roles"`
	}
	return m.Roles, true, json.Unmarshal(doc, &m)
}

// Facts answers the access rules in a read transaction.
func readFacts(ctx context.Context, tx pgx.Tx) facts { return facts{ctx, tx} }
