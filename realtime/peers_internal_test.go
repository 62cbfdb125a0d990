package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"rocketlite/store"
)

// signalRecorder is the transport end of store.Signaler (what PostgreSQL's NOTIFY would
// carry), for testing how the peers cut what they send.
type signalRecorder struct{ payloads [][]byte }

func (r *signalRecorder) Signal(_ context.Context, payload []byte) error {
	if len(payload) > store.MaxSignal {
		return context.DeadlineExceeded // any error: the recorder refuses what NOTIFY would
	}
	r.payloads = append(r.payloads, append([]byte(nil), payload...))
	return nil
}

func (r *signalRecorder) SetSignalHandler(func(string, []byte)) {}

// TestPeersFlushChunks: many messages go in as few signals as fit under store.MaxSignal, each
// a JSON array, none lost and in order; one message too large on its own is skipped, not sent.
func TestPeersFlushChunks(t *testing.T) {
	rec := &signalRecorder{}
	p := &peers{h: &Hub{log: zerolog.Nop()}, sig: rec}
	var msgs []peerMsg
	for i := range 500 {
		msgs = append(msgs, peerMsg{K: "p", U: strings.Repeat("u", 17) + string(rune('a'+i%26)), N: "someone", S: statusOnline})
		if i == 250 {
			msgs = append(msgs, peerMsg{K: "p", U: "huge", X: strings.Repeat("x", store.MaxSignal)})
		}
	}
	p.flush(msgs)
	if len(rec.payloads) < 2 {
		t.Fatalf("%d signals for 500 messages", len(rec.payloads))
	}
	var got []peerMsg
	for _, b := range rec.payloads {
		var part []peerMsg
		if err := json.Unmarshal(b, &part); err != nil {
			t.Fatal(err)
		}
		got = append(got, part...)
	}
	if len(got) != 500 {
		t.Fatalf("%d messages arrived, want 500 (the huge one skipped)", len(got))
	}
	want := append(append([]peerMsg(nil), msgs[:251]...), msgs[252:]...) // without the huge one
	for i, m := range got {
		if m != want[i] {
			t.Fatalf("message %d: %+v, want %+v", i, m, want[i])
		}
	}
}
