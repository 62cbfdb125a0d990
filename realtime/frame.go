package realtime

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/gobwas/ws"
)

// frame is one outgoing message, encoded once for every socket that gets it. A server's
// websocket frames are not masked, so the bytes on the wire are the same for every
// subscriber: a delivery is a copy of wire into the socket's write buffer, never a new
// encoding. (One REST send to a room of 1,000 subscribers is 1,000 deliveries.)
type frame struct {
	kind frameKind
	// wire is the whole websocket frame, header then payload; payload() is the DDP message
	// (or SockJS's own text for kindRaw, the close body for kindClose).
	wire []byte
	n    int // header length

	// The payload as a JSON string, for SockJS's a[…] frames; made when first needed.
	sjOnce sync.Once
	sj     []byte
}

type frameKind uint8

const (
	kindDDP      frameKind = iota // a DDP message
	kindRaw                       // a text frame sent as it is on both transports (SockJS's o, h)
	kindControl                   // a control frame sent as it is (pong)
	kindClose                     // a close frame: the socket ends once it is written
	kindShutdown                  // shutdown: c[…] on SockJS, a close frame, then wait for the reply
)

func (f *frame) payload() []byte { return f.wire[f.n:] }

// sockjsString is the payload as a JSON string, an element of SockJS's a[…] array.
func (f *frame) sockjsString() []byte {
	f.sjOnce.Do(func() {
		f.sj, _ = json.Marshal(string(f.payload()))
	})
	return f.sj
}

// wireFrame builds a websocket frame of op around payload.
func wireFrame(kind frameKind, op ws.OpCode, payload []byte) *frame {
	b := appendHeader(make([]byte, 0, ws.MaxHeaderSize+len(payload)), op, len(payload))
	return &frame{kind: kind, wire: append(b, payload...), n: len(b)}
}

// ddpFrame is one DDP message (already JSON).
func ddpFrame(msg []byte) *frame { return wireFrame(kindDDP, ws.OpText, msg) }

// rawFrame is a text frame that SockJS does not wrap ("o", "h").
func rawFrame(s string) *frame { return wireFrame(kindRaw, ws.OpText, []byte(s)) }

func closeFrameOf(kind frameKind, code ws.StatusCode, reason string) *frame {
	return wireFrame(kind, ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

// appendHeader appends the header of an unmasked final frame of op with n bytes of payload.
func appendHeader(b []byte, op ws.OpCode, n int) []byte {
	w := bytes.NewBuffer(b)
	_ = ws.WriteHeader(w, ws.Header{Fin: true, OpCode: op, Length: int64(n)}) // a buffer takes all
	return w.Bytes()
}
