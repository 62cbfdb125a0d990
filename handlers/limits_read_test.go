package handlers

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"rocketlite/store"
)

// attachmentsOf returns an attachments list nested depth levels deep (the list is level 1).
func attachmentsOf(depth int) string {
	s := "1"
	for level := depth; level >= 1; level-- {
		if level%2 == 0 {
			s = `{"a":` + s + `}`
		} else {
			s = "[" + s + "]"
		}
	}
	return s
}

// Every route that stores a message holds it to the stored-size and nesting caps, with a 400
// that says which, and writes nothing.
func TestMessageCapsOnEveryRoute(t *testing.T) {
	ts := newTestServer(t)
	_, ca := ts.user1(t, "alice")
	big := `[{"title":"` + strings.Repeat("a", store.DefaultMaxMessageBytes) + `"}]`
	before := ts.counts()
	for _, tc := range []struct{ name, path, body, errorType string }{
		{"PostTooLarge", "/api/v1/chat.postMessage", `{"roomId":"GENERAL","text":"x","attachments":` + big + `}`, "error-message-too-large"},
		{"PostTooDeep", "/api/v1/chat.postMessage", `{"roomId":"GENERAL","text":"x","attachments":` + attachmentsOf(9) + `}`, "error-message-too-deep"},
		{"SendTooLarge", "/api/v1/chat.sendMessage", `{"message":{"rid":"GENERAL","msg":"x","attachments":` + big + `}}`, "error-message-too-large"},
		{"SendTooDeep", "/api/v1/chat.sendMessage", `{"message":{"rid":"GENERAL","msg":"x","attachments":` + attachmentsOf(40) + `}}`, "error-message-too-deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := ts.do("POST", tc.path, &ca, tc.body)
			res.wantErr1(t, 400, tc.errorType)
			if !strings.Contains(res.Obj["error"].(string), "at most") {
				t.Fatalf("error text does not give the limit: %s", res.Raw)
			}
		})
	}
	if after := ts.counts(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused message wrote: %v → %v", before, after)
	}
	// At the depth cap: accepted.
	res := ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"GENERAL","text":"x","attachments":`+attachmentsOf(8)+`}`)
	res.want(t, 200, nil)

	// chat.update: an edit that takes the record past the cap is refused, and changes nothing.
	near := `[{"title":"` + strings.Repeat("a", store.DefaultMaxMessageBytes-3000) + `"}]`
	res = ts.do("POST", "/api/v1/chat.postMessage", &ca, `{"roomId":"GENERAL","text":"x","attachments":`+near+`}`)
	res.want(t, 200, nil)
	id := res.Obj["message"].(map[string]any)["_id"].(string)
	ts.do("POST", "/api/v1/chat.update", &ca, `{"roomId":"GENERAL","msgId":"`+id+`","text":"`+strings.Repeat("é", 2000)+`"}`).
		wantErr1(t, 400, "error-message-too-large")
	ts.do("GET", "/api/v1/chat.getMessage?msgId="+id, &ca, "").want(t, 200, nil)
	if m, _ := ts.st.Message(id, ts.mustUser("alice")); m.Text != "x" || !m.EditedAt.IsZero() {
		t.Fatalf("refused edit changed the message: %q", m.Text)
	}
	ts.do("POST", "/api/v1/chat.update", &ca, `{"roomId":"GENERAL","msgId":"`+id+`","text":"short"}`).want(t, 200, nil)
}

func (ts *testServer) mustUser(name string) *store.User {
	ts.t.Helper()
	u, err := ts.st.UserByUsername(name)
	if err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// A page of history holds at most the page budget of stored records (but never less than
// one message), says it was cut with X-Page-Truncated, and the client pages on from its last
// message (API 0.1: before=<_id>; v1: offset). Messages stored above today's caps by an old
// database are served, their attachments as stored: the answer's size follows the records'.
func TestHistoryPageBudget(t *testing.T) {
	const budget = 100000
	ts := newTestServer(t, func(c *Config) { c.Reads.PageBytes = budget })
	alice, ca := ts.user1(t, "alice")
	var old []*store.Message
	deep := attachmentsOf(3001) // 6 KB, far past the depth cap: re-indented, it was ~9 MB
	for i := range 8 {
		m := &store.Message{Text: fmt.Sprintf("old %d %s", i, strings.Repeat("x", 30000)), User: alice.Ref()}
		switch i {
		case 2:
			m.Attachments = json.RawMessage(deep)
		case 5:
			m.Text = strings.Repeat("y", 3*budget) // alone larger than a page
		}
		old = append(old, m)
	}
	if err := ts.st.AppendMessages("GENERAL", old); err != nil {
		t.Fatal(err)
	}
	total, _ := ts.st.Room("GENERAL")

	seen := map[string]bool{}
	before := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		path := "/api/rooms/GENERAL/messages?count=1000"
		if before != "" {
			path += "&before=" + url.QueryEscape(before)
		}
		res := ts.do("GET", path, &ca, "")
		res.want(t, 200, map[string]any{"status": "success"})
		msgs := res.Obj["messages"].([]any)
		if len(msgs) == 0 {
			if res.Header.Get("X-Page-Truncated") != "" {
				t.Fatal("empty page marked truncated")
			}
			break
		}
		if len(msgs) > 1 && len(res.Raw) > budget+budget/2 {
			t.Fatalf("page of %d messages is %d bytes", len(msgs), len(res.Raw))
		}
		if len(msgs) == 1 && len(res.Raw) > 4*budget {
			t.Fatalf("page of one message is %d bytes", len(res.Raw))
		}
		if pages == 0 && res.Header.Get("X-Page-Truncated") != "true" {
			t.Fatalf("first page of %d messages not marked truncated", len(msgs))
		}
		for _, m := range msgs {
			id := m.(map[string]any)["_id"].(string)
			if seen[id] {
				t.Fatalf("message %s twice", id)
			}
			seen[id] = true
			before = id
		}
	}
	if int64(len(seen)) != total.Msgs {
		t.Fatalf("paging served %d of %d messages", len(seen), total.Msgs)
	}

	// v1: the same budget; paging on by offset.
	res := ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=100", &ca, "")
	res.want(t, 200, map[string]any{"success": true})
	if n := len(res.Obj["messages"].([]any)); n == 0 || n == int(total.Msgs) || res.Header.Get("X-Page-Truncated") != "true" {
		t.Fatalf("v1 page: %d messages, X-Page-Truncated %q", n, res.Header.Get("X-Page-Truncated"))
	}
	// The deeply nested old message, alone on its page, costs its size.
	res = ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=1&offset=5", &ca, "")
	res.want(t, 200, map[string]any{"success": true})
	if len(res.Raw) > 30000+len(deep)+2000 {
		t.Fatalf("a %d-byte nested attachment rendered as %d bytes", len(deep), len(res.Raw))
	}
	if !strings.Contains(res.Raw, deep) {
		t.Fatal("the nested old message was not served as stored")
	}
	// So does a projection of it.
	res = ts.do("GET", "/api/v1/channels.history?roomId=GENERAL&count=1&offset=5&fields="+url.QueryEscape(`{"attachments":1}`), &ca, "")
	res.want(t, 200, map[string]any{"success": true})
	if len(res.Raw) > len(deep)+1000 || !strings.Contains(res.Raw, deep) {
		t.Fatalf("a %d-byte nested attachment projected as %d bytes", len(deep), len(res.Raw))
	}
}

// chat.search and pages far down a room draw from a per-user token bucket: a 429 with
// Retry-After once it is empty, other users unaffected, ordinary pages never counted.
func TestScanRateLimit(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Reads.ScanRate, c.Reads.ScanBurst = 1, 3 })
	_, ca := ts.user1(t, "alice")
	_, cb := ts.user1(t, "bob")
	for range 3 {
		ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=hi", &ca, "").want(t, 200, map[string]any{"success": true})
	}
	res := ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=hi", &ca, "")
	res.wantErr1(t, 429, "error-too-many-requests")
	if res.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	ts.do("GET", fmt.Sprintf("/api/v1/channels.history?roomId=GENERAL&offset=%d", DeepOffset), &ca, "").wantErr1(t, 429, "error-too-many-requests")
	ts.do("GET", fmt.Sprintf("/api/v1/channels.history?roomId=GENERAL&offset=%d", DeepOffset-1), &ca, "").want(t, 200, nil)
	for range 5 {
		ts.do("GET", "/api/rooms/GENERAL/messages?count=1000", &ca, "").want(t, 200, nil)
	}
	// Bob's bucket is his own; deep pages take from it like searches.
	for range 3 {
		ts.do("GET", fmt.Sprintf("/api/v1/channels.history?roomId=GENERAL&offset=%d", DeepOffset), &cb, "").want(t, 200, nil)
	}
	ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=hi", &cb, "").wantErr1(t, 429, "error-too-many-requests")
	// A second later, one more.
	ts.clock.Advance(1e9)
	ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=hi", &ca, "").want(t, 200, nil)
}

// The search scan budget: a search looks at the newest SearchScan messages only.
func TestSearchScanBudget(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Reads.SearchScan = 20 })
	u, ca := ts.user1(t, "alice")
	if err := ts.st.PostMessage("GENERAL", u, &store.Message{Text: "the needle"}); err != nil {
		t.Fatal(err)
	}
	search := func() int {
		res := ts.do("GET", "/api/v1/chat.search?roomId=GENERAL&searchText=needle", &ca, "")
		res.want(t, 200, map[string]any{"success": true})
		return len(res.Obj["messages"].([]any))
	}
	if n := search(); n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
	for range 20 {
		if err := ts.st.PostMessage("GENERAL", u, &store.Message{Text: "hay"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := search(); n != 0 {
		t.Fatalf("%d results past the scan budget, want 0", n)
	}
}
