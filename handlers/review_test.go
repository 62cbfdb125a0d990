package handlers

// Regression tests of the review (one per finding fixed).

import (
	"strings"
	"testing"
)

// A non-member "leaving" a private room must not get the room's document (members, topic)
// back: channels.leave answered it with the room as it is, to anyone.
func TestV1LeavePrivateRoomNotMember(t *testing.T) {
	ts := newTestServer(t)
	owner, _ := ts.user1(t, "owner")
	_, cOut := ts.user1(t, "outsider")
	secret := ts.privateRoom1(t, "secret", owner)
	before := ts.counts()
	res := ts.do("POST", "/api/v1/channels.leave", &cOut, `{"roomId":"`+secret.ID+`"}`)
	res.wantErr1(t, 403, "")
	if strings.Contains(res.Raw, "owner") {
		t.Fatalf("the answer shows the private room's members: %s", res.Raw)
	}
	ts.unchanged1(t, before)
	// A member leaving still gets the room as it now is, without them.
	_, cIn := ts.user1(t, "insider")
	in := mustUser1(t, ts, "insider")
	if err := ts.st.AddMember(secret.ID, in.ID); err != nil {
		t.Fatal(err)
	}
	res = ts.do("POST", "/api/v1/channels.leave", &cIn, `{"roomId":"`+secret.ID+`"}`)
	res.want(t, 200, map[string]any{"success": true})
	names := res.Obj["channel"].(map[string]any)["usernames"].([]any)
	if len(names) != 1 || names[0] != "owner" {
		t.Fatalf("usernames after leave = %v", names)
	}
}
