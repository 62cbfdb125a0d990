package pgstore

import (
	"context"
	"strings"

	"rocketlite/store"
)

// Signals (store.Signaler) are NOTIFY payloads on a channel of their own, "<node> <payload>":
// no table, no transaction, so they cost one round trip and are gone if nobody listens. The
// realtime hubs use them for what is not stored: presence of open sockets, typing.

var _ store.Signaler = (*Store)(nil)

var errSignalSize = store.Errorf(store.Invalid, "signal-too-large", "A signal to the other nodes takes at most %d bytes", store.MaxSignal)

// Signal sends payload to the other nodes of this schema.
func (s *Store) Signal(ctx context.Context, payload []byte) error {
	if len(payload) > store.MaxSignal {
		return errSignalSize
	}
	_, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.sigChannel, s.node+" "+string(payload))
	return s.result(err)
}

// SetSignalHandler makes h receive the other nodes' signals (nil: none).
func (s *Store) SetSignalHandler(h func(node string, payload []byte)) {
	if h == nil {
		s.signal.Store(nil)
		return
	}
	s.signal.Store(&h)
}

// received hands on a notification of the signal channel, unless this node sent it.
func (s *Store) received(text string) {
	node, payload, ok := strings.Cut(text, " ")
	if !ok || node == s.node || node == "" {
		return
	}
	s.signalled(node, []byte(payload))
}

func (s *Store) signalled(node string, payload []byte) {
	if h := s.signal.Load(); h != nil {
		(*h)(node, payload)
	}
}
