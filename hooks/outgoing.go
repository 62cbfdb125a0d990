// Package hooks delivers outgoing webhooks: on a new message in a watched room (optionally
// only one that starts with a trigger word) it POSTs Rocket.Chat's outgoing payload to the
// hook's URLs, and posts a JSON answer's text back into the room as the hook's user.
//
// Delivery is asynchronous and bounded so that it never slows a send: a message is queued
// with a non-blocking send (a full queue drops it and counts the drop), a fixed number of
// workers deliver with a timeout, and a failure is retried a few times with exponential
// backoff. A webhook is an outbound request that an admin's typo can aim anywhere, so URLs
// that resolve to loopback, private, link-local or unspecified addresses are refused at
// connect time (after DNS, so a name that later resolves elsewhere is caught too) unless the
// operator allows them.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/store"
)

// Poster posts a hook's reply (a JSON object such as {"text": "…"}) into room rid as the
// hook's user, through the same checks, caps and send limit as chat.postMessage.
type Poster interface {
	PostHookReply(h *store.Integration, rid string, reply []byte) error
}

// Config tunes a Dispatcher; zero values mean the defaults.
type Config struct {
	Store  store.Store
	Poster Poster
	Log    zerolog.Logger
	// AllowPrivate lets hooks reach loopback and private addresses (--allow-private-webhooks).
	AllowPrivate bool
	QueueSize    int           // messages waiting for delivery (default 1000)
	Workers      int           // concurrent deliveries (default 2)
	Timeout      time.Duration // per attempt (default 10 s)
	Retries      int           // attempts after the first (default 3)
	Backoff      time.Duration // wait before the first retry, doubled each time (default 1 s)
}

// Stats counts deliveries by result.
type Stats struct {
	Delivered, Failed, Retried, Dropped, Replies, Refused int64
}

// Dispatcher delivers outgoing webhooks.
type Dispatcher struct {
	cfg    Config
	client *http.Client
	hooks  atomic.Pointer[[]*store.Integration]
	reload chan struct{} // a webhook changed (Publish): read them again
	queue  chan *store.Message
	ctx    context.Context // ends with Close: workers stop and in-flight deliveries are abandoned
	cancel context.CancelFunc
	wg     sync.WaitGroup

	delivered, failed, retried, dropped, replies, refused atomic.Int64
}

// New starts a dispatcher's workers; Close stops them.
func New(cfg Config) *Dispatcher {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	d := &Dispatcher{cfg: cfg, queue: make(chan *store.Message, cfg.QueueSize), reload: make(chan struct{}, 1)}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: d.control}
	d.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			Proxy:               nil, // a proxy would hide the address the check must see
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		},
		// A redirect is followed only to an address the same check allows (the dialer's).
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	d.Reload()
	d.wg.Add(1)
	go d.reloader()
	for range cfg.Workers {
		d.wg.Add(1)
		go d.worker()
	}
	return d
}

// Close stops the workers and abandons deliveries in flight; queued messages are not
// delivered (the server is stopping: a receiver must not hold the shutdown).
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	return Stats{Delivered: d.delivered.Load(), Failed: d.failed.Load(), Retried: d.retried.Load(),
		Dropped: d.dropped.Load(), Replies: d.replies.Load(), Refused: d.refused.Load()}
}

// Reload reads the enabled outgoing hooks again (after a change through the API or CLI).
func (d *Dispatcher) Reload() {
	list, err := d.cfg.Store.Integrations(func(in *store.Integration) bool {
		return in.Type == store.OutgoingWebhook && in.Enabled
	})
	if err != nil {
		d.cfg.Log.Error().Err(err).Msg("outgoing webhooks: cannot read the integrations")
		return
	}
	d.hooks.Store(&list)
}

// Publish reads the hooks again when an event says a webhook changed (store.IntegrationsChanged:
// a change made through this node, or on PostgreSQL through any node or a command beside the
// running nodes). It never blocks: the dispatcher's own goroutine reads them, once more for
// any changes that come while it does.
func (d *Dispatcher) Publish(events []store.Event) {
	for _, ev := range events {
		if ev.Kind == store.IntegrationsChanged {
			select {
			case d.reload <- struct{}{}:
			default: // a reload is pending already: it will see this change too
			}
			return
		}
	}
}

func (d *Dispatcher) reloader() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.reload:
			d.Reload()
		}
	}
}

// MessagePosted queues a committed message for the hooks that watch its room. It never
// blocks: with the queue full, the message is dropped for the hooks and counted.
func (d *Dispatcher) MessagePosted(m *store.Message) {
	if hs := d.hooks.Load(); hs == nil || len(*hs) == 0 || m.Type != "" || m.Bot != nil {
		// System messages and messages that hooks posted trigger nothing (no hook loops).
		return
	}
	c := *m
	select {
	case d.queue <- &c:
	default:
		d.dropped.Add(1)
	}
}

func (d *Dispatcher) worker() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case m := <-d.queue:
			d.handle(m)
		}
	}
}

func (d *Dispatcher) handle(m *store.Message) {
	hs := d.hooks.Load()
	if hs == nil {
		return
	}
	var room *store.Room
	for _, h := range *hs {
		if room == nil {
			r, err := d.cfg.Store.Room(m.RoomID)
			if err != nil {
				return // the room went away meanwhile
			}
			room = r
		}
		if !watches(h, room) {
			continue
		}
		word, ok := triggered(h, m.Text)
		if !ok {
			continue
		}
		payload, _ := json.Marshal(map[string]any{
			"token": h.Token, "bot": false, "channel_id": room.ID, "channel_name": room.Name,
			"message_id": m.ID, "timestamp": m.TS.UTC().Format("2006-01-02T15:04:05.000Z"),
			"user_id": m.User.ID, "user_name": m.User.Username, "text": m.Text,
			"trigger_word": word, "isEdited": false, "tmid": nil,
		})
		for _, u := range h.URLs {
			reply, ok := d.deliver(u, payload)
			if !ok || len(reply) == 0 {
				continue
			}
			if err := d.cfg.Poster.PostHookReply(h, room.ID, reply); err != nil {
				d.cfg.Log.Warn().Str("integration", h.ID).Err(err).Msg("outgoing webhook: reply not posted")
				continue
			}
			d.replies.Add(1)
		}
	}
}

// watches says whether the hook watches the room: "#name", the room's id, or every public
// room with "all_public_channels".
func watches(h *store.Integration, r *store.Room) bool {
	for _, ch := range h.Channels {
		switch {
		case ch == r.ID, strings.HasPrefix(ch, "#") && strings.EqualFold(ch[1:], r.Name):
			return true
		case ch == "all_public_channels" && r.Type == store.Public:
			return true
		}
	}
	return false
}

// triggered says whether text fires the hook, and with which trigger word (none configured:
// every message fires it, with an empty word).
func triggered(h *store.Integration, text string) (string, bool) {
	if len(h.TriggerWords) == 0 {
		return "", true
	}
	first, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	for _, w := range h.TriggerWords {
		if w != "" && first == w {
			return w, true
		}
	}
	return "", false
}

// maxReply bounds what is read of a receiver's answer.
const maxReply = 64 << 10

// deliver POSTs payload to u, retrying with backoff; it returns the receiver's JSON answer
// (nil if none) and whether the delivery succeeded.
func (d *Dispatcher) deliver(u string, payload []byte) ([]byte, bool) {
	wait := d.cfg.Backoff
	for attempt := 0; ; attempt++ {
		reply, retry, err := d.attempt(u, payload)
		if err == nil {
			d.delivered.Add(1)
			return reply, true
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			d.refused.Add(1)
			d.cfg.Log.Warn().Str("url", redact(u)).Msg("outgoing webhook refused: " + refused.Error())
			return nil, false
		}
		if !retry || attempt >= d.cfg.Retries {
			d.failed.Add(1)
			d.cfg.Log.Warn().Str("url", redact(u)).Err(err).Int("attempts", attempt+1).Msg("outgoing webhook failed")
			return nil, false
		}
		d.retried.Add(1)
		select {
		case <-d.ctx.Done():
			return nil, false
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (d *Dispatcher) attempt(u string, payload []byte) (reply []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rocketlite-webhook")
	res, err := d.client.Do(req)
	if err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return nil, false, refused
		}
		return nil, true, err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxReply))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		body = bytes.TrimSpace(body)
		if len(body) > 0 && body[0] == '{' && json.Valid(body) {
			return body, false, nil
		}
		return nil, false, nil
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return nil, true, fmt.Errorf("status %d", res.StatusCode)
	default:
		return nil, false, fmt.Errorf("status %d", res.StatusCode)
	}
}

// redact keeps a URL's scheme, host and path for the log: its query may carry a secret.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(bad URL)"
	}
	p.RawQuery, p.User, p.Fragment = "", nil, ""
	return p.String()
}

type refusedError struct{ addr string }

func (e *refusedError) Error() string {
	return e.addr + " is a loopback or private address (start with --allow-private-webhooks to allow it)"
}

// control runs for every connection the client makes, after DNS: the last word on where a
// webhook may go.
func (d *Dispatcher) control(_, address string, _ syscall.RawConn) error {
	if d.cfg.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if privateAddr(ip) {
		return &refusedError{addr: host}
	}
	return nil
}

func privateAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		// 100.64.0.0/10 (carrier-grade NAT) is as internal as 10/8.
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip)
}

// CheckURL checks a hook's URL when it is saved: http or https, a host, and (unless
// allowPrivate) no loopback or private address literal or "localhost". Names are checked
// again after DNS at every delivery.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http or https URL", raw)
	}
	if len(raw) > 2000 {
		return errors.New("a URL must be at most 2000 characters")
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return fmt.Errorf("%s is a loopback address (start with --allow-private-webhooks to allow it)", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil && privateAddr(ip) {
		return fmt.Errorf("%s is a loopback or private address (start with --allow-private-webhooks to allow it)", host)
	}
	return nil
}
