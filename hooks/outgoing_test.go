package hooks_test

// The dispatcher against a real store and the real API (replies are posted through it), with
// receivers that are httptest servers on loopback.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"rocketlite/auth"
	"rocketlite/handlers"
	"rocketlite/hooks"
	"rocketlite/seed"
	"rocketlite/store"
)

type fixture struct {
	st    store.Store
	api   *handlers.API
	admin *store.User
	bot   *store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "hooks.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := auth.NewHasher(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seed.ApplyDefault(st, h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := seed.EnsureAdmin(st, h, "admin", "adminpass"); err != nil {
		t.Fatal(err)
	}
	admin, _ := st.UserByUsername("admin")
	bot := &store.User{Username: "echo", Name: "echo", Roles: []string{"bot"}, Active: true, Type: "bot"}
	if err := st.CreateUser(bot, true); err != nil {
		t.Fatal(err)
	}
	api := handlers.New(handlers.Config{Store: st, Hasher: h, Log: zerolog.Nop(),
		Limits: handlers.Limits{SendRate: -1}})
	return &fixture{st: st, api: api, admin: admin, bot: bot}
}

func (f *fixture) hook(t *testing.T, url string, words ...string) *store.Integration {
	t.Helper()
	in := &store.Integration{Type: store.OutgoingWebhook, Name: "echo", Enabled: true, UserID: f.bot.ID,
		Channels: []string{"#general"}, Event: "sendMessage", URLs: []string{url}, TriggerWords: words,
		Token: "shared-secret", CreatedBy: f.admin.Ref()}
	if err := f.st.CreateIntegration(in); err != nil {
		t.Fatal(err)
	}
	return in
}

// waitFor polls cond: a hang guard for asynchronous delivery, not a speed check.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) send(t *testing.T, d *hooks.Dispatcher, text string) *store.Message {
	t.Helper()
	m := &store.Message{Text: text}
	if err := f.st.PostMessage("GENERAL", f.admin, m); err != nil {
		t.Fatal(err)
	}
	d.MessagePosted(m)
	return m
}

func TestOutgoingDeliversAndPostsReply(t *testing.T) {
	f := newFixture(t)
	got := make(chan map[string]any, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		json.NewDecoder(r.Body).Decode(&p)
		got <- p
		io.WriteString(w, `{"text":"pong: `+p["text"].(string)+`"}`)
	}))
	defer recv.Close()
	h := f.hook(t, recv.URL+"/bot?secret=x", "!ping")
	d := hooks.New(hooks.Config{Store: f.st, Poster: f.api, Log: zerolog.Nop(), AllowPrivate: true})
	defer d.Close()

	f.send(t, d, "no trigger here") // not delivered
	m := f.send(t, d, "!ping hello")
	p := <-got
	for k, want := range map[string]any{"token": "shared-secret", "channel_id": "GENERAL", "channel_name": "general",
		"user_id": f.admin.ID, "user_name": "admin", "text": "!ping hello", "trigger_word": "!ping", "message_id": m.ID} {
		if p[k] != want {
			t.Fatalf("payload %s = %v, want %v (%v)", k, p[k], want, p)
		}
	}
	if ts, _ := p["timestamp"].(string); !strings.HasSuffix(ts, "Z") {
		t.Fatalf("timestamp %v", p["timestamp"])
	}
	waitFor(t, "the reply", func() bool { return d.Stats().Replies == 1 })
	msgs, err := f.st.History("GENERAL", f.admin, store.HistoryQuery{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := msgs[0]; r.Text != "pong: !ping hello" || r.User.ID != f.bot.ID || r.Bot == nil || r.Bot.I != h.ID {
		t.Fatalf("reply %+v", r)
	}
	// The reply (a bot message) triggers nothing: no loop.
	d.MessagePosted(msgs[0])
	if s := d.Stats(); s.Delivered != 1 || len(got) != 0 {
		t.Fatalf("stats %+v, extra payloads %d", s, len(got))
	}
}

// TestOutgoingReloadsOnIntegrationsChanged: a hook created after the dispatcher started (by
// another node or a command: nothing calls Reload) is read again from the store's event.
func TestOutgoingReloadsOnIntegrationsChanged(t *testing.T) {
	f := newFixture(t)
	got := make(chan struct{}, 100)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- struct{}{} }))
	defer recv.Close()
	d := hooks.New(hooks.Config{Store: f.st, Poster: f.api, Log: zerolog.Nop(), AllowPrivate: true})
	defer d.Close()
	f.st.SetPublisher(store.Publishers{d})
	defer f.st.SetPublisher(nil)
	f.hook(t, recv.URL)
	waitFor(t, "a delivery to the hook created meanwhile", func() bool {
		f.send(t, d, "hello")
		select {
		case <-got:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
}

func TestOutgoingRetriesThenGivesUp(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer flaky.Close()
	f.hook(t, flaky.URL)
	d := hooks.New(hooks.Config{Store: f.st, Poster: f.api, Log: zerolog.Nop(), AllowPrivate: true,
		Backoff: time.Millisecond, Retries: 3})
	defer d.Close()
	f.send(t, d, "hello")
	waitFor(t, "a delivery after two retries", func() bool { return d.Stats().Delivered == 1 })
	if s := d.Stats(); s.Retried != 2 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}

	// A receiver that is gone: the retries run out and the failure is counted.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	f2 := newFixture(t)
	f2.hook(t, deadURL)
	d2 := hooks.New(hooks.Config{Store: f2.st, Poster: f2.api, Log: zerolog.Nop(), AllowPrivate: true,
		Backoff: time.Millisecond, Retries: 2})
	defer d2.Close()
	f2.send(t, d2, "hello")
	waitFor(t, "the failure", func() bool { return d2.Stats().Failed == 1 })
	if s := d2.Stats(); s.Retried != 2 || s.Delivered != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutgoingSlowReceiverNeverBlocksSends(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer slow.Close()
	defer close(release)
	f.hook(t, slow.URL)
	d := hooks.New(hooks.Config{Store: f.st, Poster: f.api, Log: zerolog.Nop(), AllowPrivate: true,
		QueueSize: 3, Workers: 1})
	defer d.Close()
	// One in the worker, three queued, the rest dropped: every send returns while the receiver
	// holds the first delivery.
	for i := 0; i < 10; i++ {
		f.send(t, d, "msg")
	}
	waitFor(t, "the drops", func() bool { return d.Stats().Dropped >= 6 })
	if s := d.Stats(); s.Delivered != 0 {
		t.Fatalf("delivered while the receiver hangs: %+v", s)
	}
}

func TestOutgoingRefusesPrivateAddressesAtConnect(t *testing.T) {
	f := newFixture(t)
	var hit atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer recv.Close()
	// Stored directly (the API refuses the address when the hook is saved): the dialer must
	// refuse it too, as it would a name that resolves to it.
	f.hook(t, strings.Replace(recv.URL, "127.0.0.1", "localhost", 1))
	d := hooks.New(hooks.Config{Store: f.st, Poster: f.api, Log: zerolog.Nop(), Backoff: time.Millisecond})
	defer d.Close()
	f.send(t, d, "hello")
	waitFor(t, "the refusal", func() bool { return d.Stats().Refused == 1 })
	if hit.Load() {
		t.Fatal("the loopback receiver was reached")
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct {
		url     string
		private bool
		ok      bool
	}{
		{"https://example.org/hook", false, true},
		{"http://93.184.216.34:8080/x", false, true},
		{"http://127.0.0.1/x", false, false},
		{"http://[::1]/x", false, false},
		{"http://10.1.2.3/x", false, false},
		{"http://192.168.1.1/x", false, false},
		{"http://169.254.169.254/latest", false, false},
		{"http://localhost:8080/", false, false},
		{"http://app.localhost/", false, false},
		{"http://127.0.0.1/x", true, true},
		{"ftp://example.org/", true, false},
		{"example.org/hook", true, false},
	} {
		if err := hooks.CheckURL(c.url, c.private); (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v", c.url, c.private, err)
		}
	}
}
