package main

// The web client in a real headless Chromium (Debian's chromium, driven with chromedp), against
// the whole program on loopback. Under plain `go test` a machine without Chromium skips these;
// with CI=true a missing browser fails them (.ci/run installs it).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"rocketlite/store"
)

type browser struct {
	t     *testing.T
	alloc context.Context
	base  string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is missing: .ci/run installs the Debian package chromium")
		}
		t.Skip("chromium is missing (apt-get install chromium): the browser tests are skipped")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true)}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// The first context starts the browser; each tab then gets a browser context of its own.
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, alloc: root, base: base}
}

// tab opens a page in a browser context of its own (its own storage: another person).
func (b *browser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.alloc, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	// A page that opens a JavaScript dialog (alert) is a failure: the client never does.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatal(err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.t.Errorf("a JavaScript dialog opened: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx
}

func (b *browser) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second) // a hang guard, not a speed check
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func eval[T any](b *browser, ctx context.Context, js string) T {
	b.t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds; it returns how long that took. The limit
// is a hang guard: the times are printed, never asserted.
func (b *browser) wait(ctx context.Context, what, cond string) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > 20*time.Second {
			b.t.Fatalf("waited 20s for %s (%s): %v", what, cond, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (b *browser) login(ctx context.Context, user, password string) {
	b.t.Helper()
	b.do(ctx, chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.ID("login-user")),
		chromedp.SendKeys(chromedp.ID("login-user"), user), chromedp.SendKeys(chromedp.ID("login-pass"), password),
		chromedp.Click(chromedp.CSS("#login-form button")))
	b.wait(ctx, user+"'s room list", `!document.getElementById("app").hidden && document.querySelector("#rooms li")`)
}

// send types text into the composer and presses Enter.
func (b *browser) send(ctx context.Context, text string) {
	b.t.Helper()
	b.do(ctx, chromedp.Click(chromedp.ID("text")), chromedp.SendKeys(chromedp.ID("text"), text+"\r"))
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// hasMessage is a JavaScript condition: a message whose text is exactly text is shown (and is
// no longer pending).
func hasMessage(text string) string {
	return `[...document.querySelectorAll("#messages .msg:not(.pending) .body")].some(e => e.textContent === ` + jsString(text) + `)`
}

func (b *browser) openRoom(ctx context.Context, name string) {
	b.t.Helper()
	b.wait(ctx, "room "+name+" in the list", `[...document.querySelectorAll("#rooms li .name")].some(e => e.textContent === `+jsString(name)+`)`)
	eval[bool](b, ctx, `(() => { const li = [...document.querySelectorAll("#rooms li")].find(l => l.querySelector(".name").textContent === `+jsString(name)+`); li.click(); return true })()`)
	b.wait(ctx, "room "+name+" open", `document.getElementById("room-name").textContent.endsWith(`+jsString(name)+`)`)
}

// screenshot writes a PNG of the page when ROCKETLITE_SCREENSHOTS names a folder (the current
// ones are in docs/screenshots), else into the test's temporary folder.
func (b *browser) screenshot(ctx context.Context, name string) {
	b.t.Helper()
	dir := os.Getenv("ROCKETLITE_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// webServer starts the program with an admin and a second user, bob.
func webServer(t *testing.T, args ...string) (*server, string, string) {
	t.Helper()
	s := start(t, append([]string{"--db", filepath.Join(t.TempDir(), "web.db"), "--admin-password", "adminpass"}, args...)...)
	login := s.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"adminpass"}`, "application/json")
	login.want(t, 200, "")
	data := login.obj["data"].(map[string]any)
	uid, tok := data["userId"].(string), data["authToken"].(string)
	s.curl("POST", "/api/v1/users.create", uid, tok, `{"username":"bob","name":"Bob","email":"bob@example.org","password":"bobpass"}`, "application/json").want(t, 200, "")
	return s, uid, tok
}

func TestWebTwoUsersLive(t *testing.T) {
	s, _, _ := webServer(t)
	b := newBrowser(t, s.base)
	alice, bob := b.tab(), b.tab()
	b.login(alice, "admin", "adminpass")
	b.login(bob, "bob", "bobpass")

	// Alice creates a private room and invites Bob; it appears in Bob's list without a reload.
	b.do(alice, chromedp.Click(chromedp.ID("new-room")), chromedp.WaitVisible(chromedp.ID("dialog")),
		chromedp.SendKeys(chromedp.CSS(`#dialog input[name="name"]`), "lab"),
		chromedp.SetValue(chromedp.CSS(`#dialog select[name="kind"]`), "private group"),
		chromedp.SendKeys(chromedp.CSS(`#dialog input[name="members"]`), "bob"),
		chromedp.Click(chromedp.ID("dialog-ok")))
	b.wait(alice, "the new room open", `document.getElementById("room-name").textContent.includes("lab")`)
	d := b.wait(bob, "the new room in bob's list", `[...document.querySelectorAll("#rooms li .name")].some(e => e.textContent === "lab")`)
	t.Logf("room in bob's list after %v", d)

	// Bob stays in general: a message in lab raises lab's unread count, a mention its badge.
	b.openRoom(bob, "general")
	b.send(alice, "hello bob")
	b.wait(bob, "lab unread", `[...document.querySelectorAll("#rooms li")].some(l => l.querySelector(".name").textContent === "lab" && l.querySelector(".badge") && l.classList.contains("unread"))`)
	b.send(alice, "@bob look at this")
	b.wait(bob, "the mention badge", `[...document.querySelectorAll("#rooms li")].some(l => l.querySelector(".name").textContent === "lab" && l.querySelector(".badge.mention"))`)
	b.openRoom(bob, "lab")
	b.wait(bob, "the unread count cleared", `![...document.querySelectorAll("#rooms li")].some(l => l.querySelector(".name").textContent === "lab" && l.querySelector(".badge"))`)

	// Both ways, live.
	start := time.Now()
	b.send(bob, "hi alice")
	b.wait(alice, "bob's message at alice", hasMessage("hi alice"))
	t.Logf("bob → alice in %v", time.Since(start))
	start = time.Now()
	b.send(alice, "line one\nsecond")
	_ = start
	b.wait(bob, "alice's message at bob", hasMessage("hello bob"))

	// A reaction and a thread reply, both ways.
	b.do(bob, chromedp.Evaluate[chromedp.Void](`(() => { const m = [...document.querySelectorAll("#messages .msg")].find(e => e.querySelector(".body").textContent === "hello bob"); m.querySelector(".tools button[title=React]").click(); })()`))
	b.wait(alice, "bob's reaction at alice", `[...document.querySelectorAll("#messages .msg")].some(e => e.querySelector(".body").textContent === "hello bob" && /👍 1/.test((e.querySelector(".reactions") || {}).textContent || ""))`)
	b.do(alice, chromedp.Evaluate[chromedp.Void](`(() => { const m = [...document.querySelectorAll("#messages .msg")].find(e => e.querySelector(".body").textContent === "hi alice"); m.querySelector(".tools button[title='Reply in thread']").click(); })()`))
	b.wait(alice, "the thread panel", `!document.getElementById("thread").hidden`)
	b.do(alice, chromedp.SendKeys(chromedp.ID("thread-text"), "a reply in the thread\r"))
	b.wait(bob, "the reply count at bob", `[...document.querySelectorAll("#messages .msg")].some(e => e.querySelector(".body").textContent === "hi alice" && /1 reply/.test((e.querySelector(".thread-link") || {}).textContent || ""))`)
	if eval[bool](b, bob, hasMessage("a reply in the thread")) {
		t.Fatal("a thread reply is shown in the room's main list")
	}

	// An edit and a delete made in alice's page reach bob's.
	b.do(alice, chromedp.Evaluate[chromedp.Void](`(() => { const m = [...document.querySelectorAll("#messages .msg")].find(e => e.querySelector(".body").textContent === "hello bob"); m.querySelector(".tools .edit").click(); })()`),
		chromedp.WaitVisible(chromedp.ID("dialog")),
		chromedp.SetValue(chromedp.CSS(`#dialog textarea[name="text"]`), "hello bob (edited text)"),
		chromedp.Click(chromedp.ID("dialog-ok")))
	b.wait(bob, "the edit at bob", hasMessage("hello bob (edited text)"))
	b.wait(bob, "the edited mark", `[...document.querySelectorAll("#messages .msg")].some(e => e.querySelector(".body").textContent === "hello bob (edited text)" && e.querySelector(".edited"))`)
	b.do(alice, chromedp.Evaluate[chromedp.Void](`(() => { const m = [...document.querySelectorAll("#messages .msg")].find(e => e.querySelector(".body").textContent === "hello bob (edited text)"); m.querySelector(".tools .delete").click(); })()`),
		chromedp.WaitVisible(chromedp.ID("dialog")), chromedp.Click(chromedp.ID("dialog-ok")))
	b.wait(bob, "the delete at bob", `!(`+hasMessage("hello bob (edited text)")+`)`)
	b.wait(alice, "the delete at alice", `!(`+hasMessage("hello bob (edited text)")+`)`)
}

func TestWebRendersMessagesAsText(t *testing.T) {
	s, uid, tok := webServer(t)
	hostile := []string{`<img src=x onerror=alert(1)>`, `<script>alert(2)</script>`, `[x](javascript:alert(3))`, `javascript:alert(4)`}
	for _, h := range hostile {
		s.curl("POST", "/api/v1/chat.postMessage", uid, tok, fmt.Sprintf(`{"channel":"#general","text":%q}`, h), "application/json").want(t, 200, "")
	}
	b := newBrowser(t, s.base)
	tab := b.tab()
	b.login(tab, "admin", "adminpass")
	b.openRoom(tab, "general")
	for _, h := range hostile {
		b.wait(tab, "the message as text", hasMessage(h))
	}
	if n := eval[int](b, tab, `document.querySelectorAll("#messages .body img, #messages .body script, #messages .body iframe").length`); n != 0 {
		t.Fatalf("%d elements made from message text", n)
	}
	if n := eval[int](b, tab, `[...document.querySelectorAll("#messages a")].filter(a => !a.href.startsWith("http")).length`); n != 0 {
		t.Fatalf("%d links that are not http(s)", n)
	}
	// The page's headers: a strict policy, no framing.
	res, err := chromedpHeaders(s.base)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.csp, "default-src 'self'") || !strings.Contains(res.csp, "script-src 'self'") || res.frame != "DENY" {
		t.Fatalf("headers: %+v", res)
	}
}

// TestWebInfiniteScroll loads older pages of a 10,000-message room by scrolling up, and checks
// that what is shown is the newest messages in order with no gap and no duplicate.
func TestWebInfiniteScroll(t *testing.T) {
	db := filepath.Join(t.TempDir(), "scroll.db")
	start(t, "--db", db, "--admin-password", "adminpass").stop() // the seed and the admin
	func() {
		st, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		admin, err := st.UserByUsername("admin")
		if err != nil {
			t.Fatal(err)
		}
		author := admin.Ref()
		msgs := make([]*store.Message, 0, 1000)
		for chunk := 0; chunk < 10; chunk++ {
			msgs = msgs[:0]
			for i := 0; i < 1000; i++ {
				msgs = append(msgs, &store.Message{Text: fmt.Sprintf("m%05d", chunk*1000+i), User: author})
			}
			if err := st.AppendMessages("GENERAL", msgs); err != nil {
				t.Fatal(err)
			}
		}
	}()
	s := start(t, "--db", db)
	b := newBrowser(t, s.base)
	tab := b.tab()
	begin := time.Now()
	b.login(tab, "admin", "adminpass")
	b.openRoom(tab, "general")
	b.wait(tab, "the newest message", hasMessage("m09999"))
	t.Logf("first screen of a 10,000-message room after %v (login included)", time.Since(begin))
	for pages := 0; pages < 8; pages++ {
		before := eval[int](b, tab, `document.querySelectorAll("#messages .msg").length`)
		b.do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("messages").scrollTop = 0; document.getElementById("messages").dispatchEvent(new Event("scroll"))`))
		b.wait(tab, "an older page", `document.querySelectorAll("#messages .msg").length > `+fmt.Sprint(before))
	}
	texts := eval[[]string](b, tab, `[...document.querySelectorAll("#messages .msg .body")].map(e => e.textContent)`)
	if len(texts) < 400 {
		t.Fatalf("only %d messages after 8 older pages", len(texts))
	}
	first := 10000 - len(texts)
	for i, s := range texts {
		if want := fmt.Sprintf("m%05d", first+i); s != want {
			t.Fatalf("message %d is %q, want %q (a gap or a duplicate)", i, s, want)
		}
	}
}

// TestWebPermissionChangeRefusesAtOnce: the admin unticks create-c for the role user in the
// matrix; bob's next attempt to create a channel is refused in his page.
func TestWebPermissionChangeRefusesAtOnce(t *testing.T) {
	s, _, _ := webServer(t)
	b := newBrowser(t, s.base)
	admin, bob := b.tab(), b.tab()
	b.login(admin, "admin", "adminpass")
	b.login(bob, "bob", "bobpass")
	b.do(admin, chromedp.Click(chromedp.ID("admin-open")), chromedp.Click(chromedp.CSS(`.tabs button[data-tab="perms"]`)))
	b.wait(admin, "the matrix", `document.querySelector('#perm-matrix input[data-perm="create-c"][data-role="user"]')`)
	if !eval[bool](b, admin, `document.querySelector('#perm-matrix input[data-perm="create-c"][data-role="user"]').checked`) {
		t.Fatal("create-c is not granted to user by default")
	}
	b.screenshot(admin, "admin-permissions")
	b.do(admin, chromedp.Click(chromedp.CSS(`#perm-matrix input[data-perm="create-c"][data-role="user"]`)))
	b.wait(admin, "the grant removed", `!document.querySelector('#perm-matrix input[data-perm="create-c"][data-role="user"]').checked && !document.getElementById("admin-error").textContent`)
	// The server says so too (the page did not only untick a box).
	b.do(bob, chromedp.Click(chromedp.ID("new-room")), chromedp.WaitVisible(chromedp.ID("dialog")),
		chromedp.SendKeys(chromedp.CSS(`#dialog input[name="name"]`), "bobs-channel"),
		chromedp.Click(chromedp.ID("dialog-ok")))
	b.wait(bob, "the refusal", `document.getElementById("room-error").textContent.length > 0`)
	if eval[bool](b, bob, `[...document.querySelectorAll("#rooms li .name")].some(e => e.textContent === "bobs-channel")`) {
		t.Fatal("the channel was created")
	}
}

// TestWebReconnectKeepsTyping restarts the server under an open page: what was typed stays,
// an unsent message goes out once, and what arrived meanwhile shows.
func TestWebReconnectKeepsTyping(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	db := filepath.Join(t.TempDir(), "re.db")
	s := start(t, "--db", db, "--addr", addr, "--admin-password", "adminpass")
	b := newBrowser(t, s.base)
	tab := b.tab()
	b.login(tab, "admin", "adminpass")
	b.openRoom(tab, "general")
	b.wait(tab, "live", `document.getElementById("conn").classList.contains("on")`)
	s.stop()
	b.wait(tab, "the page sees the server gone", `!document.getElementById("conn").classList.contains("on")`)
	b.do(tab, chromedp.Click(chromedp.ID("text")), chromedp.SendKeys(chromedp.ID("text"), "typed while down"))
	// Sent while the server is down: it stays in the outbox, shown as pending.
	b.do(tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("composer").requestSubmit()`))
	b.wait(tab, "the pending message", `[...document.querySelectorAll("#messages .msg.pending .body")].some(e => e.textContent === "typed while down")`)
	b.do(tab, chromedp.SendKeys(chromedp.ID("text"), "a draft"))

	s2 := start(t, "--db", db, "--addr", addr)
	login := s2.curl("POST", "/api/v1/login", "", "", `{"user":"admin","password":"adminpass"}`, "application/json")
	data := login.obj["data"].(map[string]any)
	s2.curl("POST", "/api/v1/chat.postMessage", data["userId"].(string), data["authToken"].(string), `{"channel":"#general","text":"arrived meanwhile"}`, "application/json").want(t, 200, "")
	b.wait(tab, "live again", `document.getElementById("conn").classList.contains("on")`)
	b.wait(tab, "the message that arrived meanwhile", hasMessage("arrived meanwhile"))
	b.wait(tab, "the outbox sent", hasMessage("typed while down"))
	if v := eval[string](b, tab, `document.getElementById("text").value`); v != "a draft" {
		t.Fatalf("the composer holds %q", v)
	}
	// Sent exactly once.
	h := s2.curl("GET", "/api/v1/channels.history?roomName=general&count=50", data["userId"].(string), data["authToken"].(string), "", "")
	if n := strings.Count(h.raw, `"typed while down"`); n != 1 {
		t.Fatalf("the outbox message is stored %d times", n)
	}
}

// TestWebScreenshots writes the main screens at desktop and phone width, light and dark.
func TestWebScreenshots(t *testing.T) {
	s, uid, tok := webServer(t)
	var first string
	for _, m := range []string{"Good morning! The *sensor* on pi-3 reads `21.4 °C`", "@bob can you check the backup at https://example.org/status", "Looks fine to me."} {
		res := s.curl("POST", "/api/v1/chat.postMessage", uid, tok, fmt.Sprintf(`{"channel":"#general","text":%q}`, m), "application/json")
		res.want(t, 200, "")
		if first == "" {
			first = res.obj["message"].(map[string]any)["_id"].(string)
		}
	}
	s.curl("POST", "/api/v1/chat.react", uid, tok, `{"messageId":"`+first+`","emoji":":thumbsup:"}`, "application/json").want(t, 200, "")
	s.curl("POST", "/api/v1/chat.postMessage", uid, tok, `{"channel":"#general","text":"Logged it in the lab book.","tmid":"`+first+`"}`, "application/json").want(t, 200, "")
	b := newBrowser(t, s.base)
	for _, c := range []struct {
		name       string
		w, h       int64
		theme      string
		mobileList bool
	}{{"desktop-light", 1280, 800, "light", false}, {"desktop-dark", 1280, 800, "dark", false},
		{"phone-light", 390, 844, "light", false}, {"phone-dark", 390, 844, "dark", true}} {
		tab := b.tab()
		b.do(tab, chromedp.EmulateViewport(c.w, c.h))
		b.login(tab, "admin", "adminpass")
		b.do(tab, chromedp.Evaluate[chromedp.Void](`localStorage.setItem("rl.theme", "`+c.theme+`"); document.documentElement.dataset.theme = "`+c.theme+`"`))
		b.openRoom(tab, "general")
		b.wait(tab, "messages", hasMessage("Looks fine to me."))
		if c.mobileList {
			b.do(tab, chromedp.Click(chromedp.ID("back")))
		}
		b.screenshot(tab, c.name)
	}
	login := newBrowser(t, s.base).tab()
	b.do(login, chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.ID("login-user")))
	b.screenshot(login, "login")
}

type pageHeaders struct{ csp, frame string }

func chromedpHeaders(base string) (pageHeaders, error) {
	res, err := http.Get(base + "/")
	if err != nil {
		return pageHeaders{}, err
	}
	res.Body.Close()
	return pageHeaders{csp: res.Header.Get("Content-Security-Policy"), frame: res.Header.Get("X-Frame-Options")}, nil
}
