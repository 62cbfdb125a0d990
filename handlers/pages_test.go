package handlers

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"rocketlite/store"
)

// doH is do with extra request headers (If-None-Match).
func (ts *testServer) doH(method, path string, c *creds, hdr ...string) response {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.srv.URL+path, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	if c != nil {
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := ts.srv.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
}

// newestPaths are the cached forms of a room's newest page, in both APIs.
func newestPaths(rid string) []string {
	return []string{"/api/rooms/" + rid + "/messages", "/api/v1/channels.history?roomId=" + rid}
}

func (ts *testServer) send(c *creds, rid, text string) string {
	ts.t.Helper()
	res := ts.do("POST", "/api/rooms/"+rid+"/send", c, `{"msg":"`+text+`"}`)
	if res.Status != 200 {
		ts.t.Fatalf("send: %d %s", res.Status, res.Raw)
	}
	return res.Obj["message"].(map[string]any)["_id"].(string)
}

// A cached page is shown only to readers who may read the room, checked on every request:
// a stranger to a private room, a member who was removed, a user who lost view-c-room, and
// an If-None-Match with the right ETag from any of them get the refusal, never the page or a
// 304.
func TestCachedPageNeverShownWithoutAccess(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("alice", "alicepass")
	ts.createUser("eve", "evepass")
	alice, eve := ts.login("alice", "alicepass"), ts.login("eve", "evepass")
	secret := ts.privateRoom("secret")
	if err := ts.st.AddMember(secret.ID, alice.UserID); err != nil {
		t.Fatal(err)
	}
	ts.send(&alice, secret.ID, "only for members")

	for _, p := range newestPaths(secret.ID) {
		first := ts.doH("GET", p, &alice)
		if first.Status != 200 || !strings.Contains(first.Raw, "only for members") {
			t.Fatalf("member: %d %s", first.Status, first.Raw)
		}
		if again := ts.doH("GET", p, &alice); again.Raw != first.Raw {
			t.Fatalf("second read differs:\n%s\n%s", again.Raw, first.Raw)
		}
		for _, hdr := range [][]string{nil, {"If-None-Match", first.Header.Get("ETag")}, {"If-None-Match", "*"}} {
			res := ts.doH("GET", p, &eve, hdr...)
			if res.Status != 403 || strings.Contains(res.Raw, "only for members") {
				t.Fatalf("stranger %s %v: %d %s", p, hdr, res.Status, res.Raw)
			}
		}
	}
	if ts.api.PageCacheStats().Hits == 0 {
		t.Fatal("the page was never served from the cache: the test proves nothing")
	}

	// Removed from the room after the page was cached.
	if err := ts.st.RemoveMember(secret.ID, alice.UserID, store.UserRef{ID: ts.admin.UserID, Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range newestPaths(secret.ID) {
		ts.doH("GET", p, &ts.admin) // the admin (a member) caches the page after the removal
		if res := ts.doH("GET", p, &alice); res.Status != 403 || strings.Contains(res.Raw, "only for members") {
			t.Fatalf("removed member %s: %d %s", p, res.Status, res.Raw)
		}
	}

	// A public room, read by a user who then loses view-c-room.
	pub := ts.publicRoom("open")
	ts.send(&ts.admin, pub.ID, "for viewers")
	for _, p := range newestPaths(pub.ID) {
		if res := ts.doH("GET", p, &eve); res.Status != 200 {
			t.Fatalf("viewer %s: %d %s", p, res.Status, res.Raw)
		}
	}
	if _, err := ts.st.SetPermissionRoles(store.ViewPublicRooms, func([]string) []string { return []string{"admin"} }); err != nil {
		t.Fatal(err)
	}
	for _, p := range newestPaths(pub.ID) {
		if res := ts.doH("GET", p, &ts.admin); res.Status != 200 {
			t.Fatalf("admin %s: %d", p, res.Status)
		}
		if res := ts.doH("GET", p, &eve); res.Status != 403 || strings.Contains(res.Raw, "for viewers") {
			t.Fatalf("viewer without view-c-room %s: %d %s", p, res.Status, res.Raw)
		}
	}
}

// Every write that changes a page shows in the next read of a cached page: a send, an edit, a
// delete, a join's and a leave's system message.
func TestCachedPageShowsEveryCommit(t *testing.T) {
	ts := newTestServer(t)
	ts.createUser("bob", "bobpass")
	bob := ts.login("bob", "bobpass")
	rid := ts.publicRoom("busy").ID
	read := func(t *testing.T) []string {
		t.Helper()
		var pages []string
		for _, p := range newestPaths(rid) {
			res := ts.doH("GET", p, &ts.admin)
			if res.Status != 200 {
				t.Fatalf("%s: %d %s", p, res.Status, res.Raw)
			}
			pages = append(pages, res.Raw)
		}
		return pages
	}
	wantAll := func(t *testing.T, what string, want bool) {
		t.Helper()
		for i := 0; i < 2; i++ { // the first read may fill the cache, the second is served from it
			for _, page := range read(t) {
				if strings.Contains(page, what) != want {
					t.Fatalf("page shows %q: %v, want %v:\n%s", what, !want, want, page)
				}
			}
		}
	}

	read(t)
	id := ts.send(&ts.admin, rid, "first words")
	wantAll(t, "first words", true)

	ts.do("POST", "/api/v1/chat.update", &ts.admin, `{"roomId":"`+rid+`","msgId":"`+id+`","text":"second thoughts"}`).want(t, 200, nil)
	wantAll(t, "second thoughts", true)
	wantAll(t, "first words", false)

	ts.do("POST", "/api/v1/chat.delete", &ts.admin, `{"roomId":"`+rid+`","msgId":"`+id+`"}`).want(t, 200, nil)
	wantAll(t, id, false)

	ts.do("POST", "/api/rooms/"+rid+"/join", &bob, "").want(t, 200, nil)
	wantAll(t, `"t": "uj"`, true)
	ts.do("POST", "/api/rooms/"+rid+"/leave", &bob, "").want(t, 200, nil)
	wantAll(t, `"t": "ul"`, true)

	if ts.api.PageCacheStats().Hits == 0 {
		t.Fatal("no read was served from the cache: the test proves nothing")
	}
}

// Concurrent sends and reads: after a send's 200, every read of the newest page shows it
// (however readers that began before the commit filled the cache meanwhile).
func TestCachedPageRaceSendRead(t *testing.T) {
	ts := newTestServer(t)
	rid := ts.publicRoom("race").ID
	const senders, sends, readers = 4, 40, 4
	users := make([]creds, senders)
	for i := range users {
		name := fmt.Sprintf("racer%d", i)
		ts.createUser(name, "racepass")
		users[i] = ts.login(name, "racepass")
		ts.do("POST", "/api/rooms/"+rid+"/join", &users[i], "").want(t, 200, nil)
	}
	// The page holds every message of the test (1000 > senders*sends + joins), so a message
	// missing from it is a stale page, never one pushed off the page.
	pages := []string{"/api/rooms/" + rid + "/messages?count=1000", "/api/v1/channels.history?roomId=" + rid + "&count=1000"}
	get := func(p string, c *creds) (string, error) {
		req, _ := http.NewRequest("GET", ts.srv.URL+p, nil)
		req.Header.Set("X-User-Id", c.UserID)
		req.Header.Set("X-Auth-Token", c.Token)
		res, err := ts.srv.Client().Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil && res.StatusCode != 200 {
			err = fmt.Errorf("%s: %d %s", p, res.StatusCode, b)
		}
		return string(b), err
	}
	stop := make(chan struct{})
	errs := make(chan error, senders+readers)
	var wg, rwg sync.WaitGroup
	for r := 0; r < readers; r++ { // readers that keep filling the cache, some of them stale
		rwg.Add(1)
		go func(r int) {
			defer rwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(pages[(r+i)%2], &ts.admin); err != nil {
					errs <- err
					return
				}
			}
		}(r)
	}
	for s := range senders {
		wg.Add(1)
		go func(c *creds) {
			defer wg.Done()
			for i := range sends {
				id, err := func() (string, error) {
					req, _ := http.NewRequest("POST", ts.srv.URL+"/api/rooms/"+rid+"/send", strings.NewReader(fmt.Sprintf(`{"msg":"m%d"}`, i)))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-User-Id", c.UserID)
					req.Header.Set("X-Auth-Token", c.Token)
					res, err := ts.srv.Client().Do(req)
					if err != nil {
						return "", err
					}
					defer res.Body.Close()
					b, _ := io.ReadAll(res.Body)
					if res.StatusCode != 200 {
						return "", fmt.Errorf("send: %d %s", res.StatusCode, b)
					}
					_, after, _ := strings.Cut(string(b), `"_id": "`)
					id, _, _ := strings.Cut(after, `"`)
					return id, nil
				}()
				if err != nil {
					errs <- err
					return
				}
				for _, p := range pages {
					page, err := get(p, c)
					if err != nil {
						errs <- err
						return
					}
					if !strings.Contains(page, `"_id": "`+id+`"`) {
						errs <- fmt.Errorf("%s after the 200 of message %s does not show it", p, id)
						return
					}
				}
			}
		}(&users[s])
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if ts.api.PageCacheStats().Hits == 0 {
		t.Fatal("no read was served from the cache: the test proves nothing")
	}
}

// History and room lists carry a strong ETag; If-None-Match with it (alone, weak, in a list,
// or "*") gets 304 and no body; any other tag, or the old tag after a change, gets the page.
func TestConditionalRequests(t *testing.T) {
	for _, cache := range []struct {
		name  string
		bytes int64
	}{{"Cached", 0}, {"NoCache", -1}} {
		t.Run(cache.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *Config) { c.PageCacheBytes = cache.bytes })
			ts.createUser("someone", "somepass")
			rid := ts.publicRoom("polled").ID
			ts.send(&ts.admin, rid, "hello")
			gid := ts.privateRoom("polled-group").ID
			ts.send(&ts.admin, gid, "in the group")
			paths := append(newestPaths(rid),
				"/api/v1/groups.history?roomId="+gid, "/api/v1/groups.list", "/api/v1/im.list",
				"/api/v1/rooms.get", "/api/v1/subscriptions.get",
				"/api/rooms/"+rid+"/messages?count=10&unread=true", // not the cached form
				"/api/v1/channels.history?roomId="+rid+"&offset=1",
				"/api/publicRooms", "/api/v1/channels.list", "/api/v1/channels.list.joined")
			for _, p := range paths {
				full := ts.doH("GET", p, &ts.admin)
				etag := full.Header.Get("ETag")
				if full.Status != 200 || !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, "W/") {
					t.Fatalf("%s: %d, ETag %q", p, full.Status, etag)
				}
				full.wantHeaders(t)
				if cc := full.Header.Get("Cache-Control"); cc != "private, no-cache" {
					t.Fatalf("%s: Cache-Control %q", p, cc)
				}
				if again := ts.doH("GET", p, &ts.admin); again.Header.Get("ETag") != etag || again.Raw != full.Raw {
					t.Fatalf("%s: the same answer got another ETag or body", p)
				}
				for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
					res := ts.doH("GET", p, &ts.admin, "If-None-Match", inm)
					if res.Status != 304 || res.Raw != "" || res.Header.Get("ETag") != etag {
						t.Fatalf("%s If-None-Match %s: %d %q ETag %q", p, inm, res.Status, res.Raw, res.Header.Get("ETag"))
					}
				}
				if res := ts.doH("GET", p, &ts.admin, "If-None-Match", `"0-0"`); res.Status != 200 || res.Raw != full.Raw {
					t.Fatalf("%s with another tag: %d", p, res.Status)
				}
				if res := ts.doH("GET", p, nil, "If-None-Match", etag); res.Status != 401 {
					t.Fatalf("%s without credentials: %d", p, res.Status)
				}
			}
			// A change: the history's and the room lists' old tags no longer match.
			old := map[string]string{}
			for _, p := range paths {
				old[p] = ts.doH("GET", p, &ts.admin).Header.Get("ETag")
			}
			ts.send(&ts.admin, rid, "news")
			ts.send(&ts.admin, gid, "group news")
			ts.do("POST", "/api/v1/channels.create", &ts.admin, `{"name":"another"}`).want(t, 200, nil)
			ts.do("POST", "/api/v1/groups.create", &ts.admin, `{"name":"another-group"}`).want(t, 200, nil)
			ts.do("POST", "/api/v1/im.create", &ts.admin, `{"username":"someone"}`).want(t, 200, nil)
			for _, p := range paths {
				res := ts.doH("GET", p, &ts.admin, "If-None-Match", old[p])
				if res.Status != 200 || res.Header.Get("ETag") == old[p] {
					t.Fatalf("%s after a change: %d, ETag %q (old %q)", p, res.Status, res.Header.Get("ETag"), old[p])
				}
			}
		})
	}
}

// A page from the cache is byte for byte the page a server without cache renders.
func TestCachedPageSameBytes(t *testing.T) {
	ts := newTestServer(t)
	rid := ts.publicRoom("same").ID
	for i := range 30 {
		ts.send(&ts.admin, rid, fmt.Sprintf("message %d", i))
	}
	plain := New(Config{Store: ts.st, Hasher: ts.hasher, Log: ts.api.log, PageCacheBytes: -1, Limits: ts.api.cfg.Limits})
	for _, p := range append(newestPaths(rid), "/api/rooms/"+rid+"/messages?count=7", "/api/v1/channels.history?roomId="+rid+"&count=3") {
		ts.doH("GET", p, &ts.admin)
		cached := ts.doH("GET", p, &ts.admin)
		req, _ := http.NewRequest("GET", p, nil)
		req.Header.Set("X-User-Id", ts.admin.UserID)
		req.Header.Set("X-Auth-Token", ts.admin.Token)
		rec := httptest.NewRecorder()
		plain.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != cached.Raw || rec.Header().Get("ETag") != cached.Header.Get("ETag") {
			t.Fatalf("%s: cached and uncached answers differ:\n%s\n%s", p, cached.Raw, rec.Body.String())
		}
	}
	if ts.api.PageCacheStats().Hits < 4 {
		t.Fatalf("hits %d: the pages were not served from the cache", ts.api.PageCacheStats().Hits)
	}
}

// Pages of many rooms stay within the cache's bound (least recently read dropped first).
func TestPageCacheBound(t *testing.T) {
	const bound = 64 << 10
	ts := newTestServer(t, func(c *Config) { c.PageCacheBytes = bound })
	for i := range 60 {
		rid := ts.publicRoom(fmt.Sprintf("room%d", i)).ID
		for j := range 5 {
			ts.send(&ts.admin, rid, fmt.Sprintf("message %d of room %d", j, i))
		}
		for _, p := range newestPaths(rid) {
			ts.doH("GET", p, &ts.admin).want(t, 200, nil)
		}
		if s := ts.api.PageCacheStats(); s.Bytes > bound || s.Max != bound {
			t.Fatalf("after %d rooms: %+v", i+1, s)
		}
	}
	if s := ts.api.PageCacheStats(); s.Evictions == 0 || s.Entries < 10 {
		t.Fatalf("%+v: the bound was never reached or nothing stayed", s)
	}
}

// A projected channels.history (fields) is not the cached page: it is rendered as asked, and
// it does not replace the full page in the cache.
func TestCachedPageNotForProjection(t *testing.T) {
	ts := newTestServer(t)
	rid := ts.publicRoom("fields").ID
	ts.send(&ts.admin, rid, "projected")
	full := "/api/v1/channels.history?roomId=" + rid
	ts.doH("GET", full, &ts.admin)
	res := ts.doH("GET", listURL("/api/v1/channels.history", "roomId", rid, "fields", `{"msg":1}`), &ts.admin)
	if res.Status != 200 || !strings.Contains(res.Raw, "projected") || strings.Contains(res.Raw, `"ts"`) {
		t.Fatalf("projection: %d %s", res.Status, res.Raw)
	}
	if res := ts.doH("GET", full, &ts.admin); !strings.Contains(res.Raw, `"ts"`) {
		t.Fatalf("full page after a projection: %s", res.Raw)
	}
}

// A page cut by its byte budget says so from the cache too (the headers the render set are
// kept with the page).
func TestCachedPageKeepsTruncation(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.Reads.PageBytes = 600 })
	rid := ts.publicRoom("long").ID
	for i := range 10 {
		ts.send(&ts.admin, rid, fmt.Sprintf("message %d %s", i, strings.Repeat("x", 100)))
	}
	for _, p := range newestPaths(rid) {
		first := ts.doH("GET", p, &ts.admin)
		cached := ts.doH("GET", p, &ts.admin)
		if first.Header.Get("X-Page-Truncated") != "true" || cached.Header.Get("X-Page-Truncated") != "true" || cached.Raw != first.Raw {
			t.Fatalf("%s: truncated %q then %q", p, first.Header.Get("X-Page-Truncated"), cached.Header.Get("X-Page-Truncated"))
		}
	}
	if ts.api.PageCacheStats().Hits < 2 {
		t.Fatal("not served from the cache")
	}
}
