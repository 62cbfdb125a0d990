package realtime_test

import (
	"testing"

	"rocketlite/handlers"
)

// Issue 9 item 5: DDP methods that write (join, leave, read marks, status) count against the
// user's write limit, the same bucket as the REST routes, so a socket is no way around it.
func TestWriteMethodsAreRateLimited(t *testing.T) {
	e := newEnv(t, options{api: func(c *handlers.Config) {
		c.Limits = handlers.Limits{SendRate: -1, WriteRate: 1, WriteBurst: 3, LoginPerAccount: 1 << 30, LoginPerAddress: 1 << 30}
	}})
	e.user("bob")
	c := e.dial(false)
	c.login("bob")
	c.ok("leaveRoom", "GENERAL")
	c.ok("joinRoom", "GENERAL")
	c.ok("readMessages", "GENERAL")
	before, _ := e.st.Counts()
	if got := c.fails("leaveRoom", "GENERAL"); got != float64(429) {
		t.Fatalf("fourth write over DDP: %v", got)
	}
	after, _ := e.st.Counts()
	if before["messages"] != after["messages"] || before["members"] != after["members"] {
		t.Fatal("a refused leave wrote")
	}
	// Reads are not limited; the REST API shares the bucket.
	c.ok("rooms/get")
	rc := e.restLogin("bob", "bobpass")
	if _, status := e.restStatus("POST", "/api/v1/channels.leave", &rc, map[string]any{"roomId": "GENERAL"}); status != 429 {
		t.Fatalf("REST leave after the DDP writes: %d", status)
	}
}
