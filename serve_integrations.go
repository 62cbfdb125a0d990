package main

// Wiring of what serves integrations beside the REST API: the outgoing-webhook dispatcher
// (hooks/), and the metrics and profiling listeners. Both listeners are off by default and
// never share the public listener: they say how the server works inside (and pprof can cost
// CPU), so they belong on loopback or a management network.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/handlers"
	"rocketlite/hooks"
	"rocketlite/metrics"
	"rocketlite/store"
)

type integrationsConfig struct {
	metricsAddr, pprofAddr string

	allowPrivateWebhooks bool
	webhookQueue         int
	webhookTimeout       time.Duration
	webhookRetries       int
}

func integrationFlags(fs *flag.FlagSet, c *integrationsConfig) {
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9458 (default: off)")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go's net/http/pprof profiles on this address, e.g. 127.0.0.1:6060 (default: off)")
	fs.BoolVar(&c.allowPrivateWebhooks, "allow-private-webhooks", false, "let outgoing webhooks reach loopback and private addresses")
	fs.IntVar(&c.webhookQueue, "webhook-queue", 1000, "messages waiting for outgoing webhook delivery; past it they are dropped and counted")
	durationFlag(fs, &c.webhookTimeout, "webhook-timeout", 10*time.Second, "time one outgoing webhook delivery may take")
	fs.IntVar(&c.webhookRetries, "webhook-retries", 3, "retries of a failed outgoing webhook delivery, with doubling waits from 1s")
}

func (c *integrationsConfig) check() error {
	switch {
	case c.webhookQueue < 1:
		return usageError{fmt.Sprintf("--webhook-queue %d: must be at least 1", c.webhookQueue)}
	case c.webhookTimeout <= 0:
		return usageError{"--webhook-timeout must be positive"}
	case c.webhookRetries < 0 || c.webhookRetries > 10:
		return usageError{fmt.Sprintf("--webhook-retries %d: must be from 0 to 10", c.webhookRetries)}
	}
	return nil
}

// newMetrics returns the registry when --metrics-addr asks for one (nil: nothing counted).
func (c *integrationsConfig) newMetrics() *metrics.Registry {
	if c.metricsAddr == "" {
		return nil
	}
	return metrics.New()
}

// sideListeners are the metrics and pprof listeners, bound with the main one before anything
// is written (a port in use must stop a first start before it creates the database).
type sideListeners struct{ metrics, pprof net.Listener }

func (c *integrationsConfig) listen() (*sideListeners, error) {
	s := &sideListeners{}
	var err error
	if c.metricsAddr != "" {
		if s.metrics, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return nil, usageError{fmt.Sprintf("--metrics-addr %s: %v", c.metricsAddr, err)}
		}
	}
	if c.pprofAddr != "" {
		if s.pprof, err = net.Listen("tcp", c.pprofAddr); err != nil {
			s.Close()
			return nil, usageError{fmt.Sprintf("--pprof-addr %s: %v", c.pprofAddr, err)}
		}
	}
	return s, nil
}

// Close closes the listeners that were not handed to a server.
func (s *sideListeners) Close() {
	for _, ln := range []net.Listener{s.metrics, s.pprof} {
		if ln != nil {
			ln.Close()
		}
	}
}

// startIntegrations connects the outgoing-webhook dispatcher to the API and serves the
// metrics and pprof listeners that are asked for; stop ends them all.
func startIntegrations(c *integrationsConfig, sides *sideListeners, st store.Store, hub store.Publisher, api *handlers.API, reg *metrics.Registry, log zerolog.Logger) (stop func()) {
	retries := c.webhookRetries
	if retries == 0 {
		retries = -1 // hooks.Config: zero is the default, negative is none
	}
	d := hooks.New(hooks.Config{Store: st, Poster: api, Log: log.With().Str("from", "webhooks").Logger(),
		AllowPrivate: c.allowPrivateWebhooks, QueueSize: c.webhookQueue, Timeout: c.webhookTimeout, Retries: retries})
	api.SetOutgoing(d)
	// The dispatcher hears the commits too: an outgoing hook changed on another node, or by
	// `rocketlite hook` beside the running nodes, reaches it as an event (IntegrationsChanged).
	st.SetPublisher(store.Publishers{hub, d})
	var servers []*http.Server
	stop = func() {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			s.Shutdown(ctx)
			cancel()
		}
		st.SetPublisher(hub)
		d.Close()
	}
	if reg != nil && sides.metrics != nil {
		reg.Source(storeSource(st))
		reg.Source(func(w io.Writer) {
			s := d.Stats()
			metrics.WriteFamily(w, "rocketlite_webhook_deliveries_total", "counter",
				metrics.Sample{Labels: `{result="delivered"}`, Value: float64(s.Delivered)},
				metrics.Sample{Labels: `{result="failed"}`, Value: float64(s.Failed)},
				metrics.Sample{Labels: `{result="retried"}`, Value: float64(s.Retried)},
				metrics.Sample{Labels: `{result="dropped"}`, Value: float64(s.Dropped)},
				metrics.Sample{Labels: `{result="refused"}`, Value: float64(s.Refused)})
			metrics.WriteCounter(w, "rocketlite_webhook_replies_total", uint64(s.Replies))
		})
		servers = append(servers, serveSide(sides.metrics, reg.Handler(), log, "metrics"))
		sides.metrics = nil
	}
	if sides.pprof != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		servers = append(servers, serveSide(sides.pprof, mux, log, "pprof"))
		sides.pprof = nil
	}
	return stop
}

// serveSide serves h on a side listener (metrics, pprof).
func serveSide(ln net.Listener, h http.Handler, log zerolog.Logger, what string) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Str("what", what).Msg("side listener stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg(what + " listening")
	return srv
}

// storeSource writes the store's figures at each scrape.
func storeSource(st store.Store) func(w io.Writer) {
	fb, _ := st.(store.FileBackend)
	return func(w io.Writer) {
		if fb != nil {
			commits, writes := fb.WriterStats()
			metrics.WriteCounter(w, "rocketlite_commits_total", uint64(commits))
			metrics.WriteCounter(w, "rocketlite_commit_writes_total", uint64(writes))
			metrics.WriteCounterFloat(w, "rocketlite_commit_seconds_total", fb.CommitTime().Seconds())
			size, free := fb.FileStats()
			metrics.WriteGauge(w, "rocketlite_db_size_bytes", float64(size))
			metrics.WriteGauge(w, "rocketlite_db_free_pages", float64(free))
		}
		if n, err := st.TokenCount(); err == nil {
			metrics.WriteGauge(w, "rocketlite_tokens", float64(n))
		}
	}
}
