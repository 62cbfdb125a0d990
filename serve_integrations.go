package main

// Wiring of what serves integrations beside the REST API: the outgoing-webhook dispatcher
// (hooks/), and later the metrics and profiling listeners.

import (
	"flag"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"rocketlite/handlers"
	"rocketlite/hooks"
	"rocketlite/store"
)

type integrationsConfig struct {
	allowPrivateWebhooks bool
	webhookQueue         int
	webhookTimeout       time.Duration
	webhookRetries       int
}

func integrationFlags(fs *flag.FlagSet, c *integrationsConfig) {
	fs.BoolVar(&c.allowPrivateWebhooks, "allow-private-webhooks", false, "let outgoing webhooks reach loopback and private addresses")
	fs.IntVar(&c.webhookQueue, "webhook-queue", 1000, "messages waiting for outgoing webhook delivery; past it they are dropped and counted")
	fs.DurationVar(&c.webhookTimeout, "webhook-timeout", 10*time.Second, "time one outgoing webhook delivery may take")
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

// startIntegrations connects the outgoing-webhook dispatcher to the API; stop ends it.
func startIntegrations(c *integrationsConfig, st *store.Store, api *handlers.API, log zerolog.Logger) (stop func()) {
	retries := c.webhookRetries
	if retries == 0 {
		retries = -1 // hooks.Config: zero is the default, negative is none
	}
	d := hooks.New(hooks.Config{Store: st, Poster: api, Log: log.With().Str("from", "webhooks").Logger(),
		AllowPrivate: c.allowPrivateWebhooks, QueueSize: c.webhookQueue, Timeout: c.webhookTimeout, Retries: retries})
	api.SetOutgoing(d)
	return d.Close
}
