// Package metrics keeps rocketlite's counters and writes them in Prometheus's text format. It
// wraps github.com/VictoriaMetrics/metrics, chosen for size: it adds about 0.2 MB to the
// binary, where the Prometheus client adds about 2.5 MB (the Pi build is capped at 15 MB).
//
// Counters on the request path are created once per route and status and then only
// incremented (no allocation per request). Values that other packages already keep (the
// store's commits, the webhook dispatcher's deliveries, live sockets) are read at scrape time
// through Source functions, so those packages need not import this one.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

func init() {
	// TYPE and HELP lines, so that every Prometheus-format parser types the series.
	vm.ExposeMetadata(true)
}

// Registry is one server's metrics.
type Registry struct {
	set     *vm.Set
	mu      sync.Mutex
	sources []func(w io.Writer)
	logins  map[string]*vm.Counter
	posted  map[string]*vm.Counter
}

// New returns an empty registry.
func New() *Registry {
	r := &Registry{set: vm.NewSet(), logins: map[string]*vm.Counter{}, posted: map[string]*vm.Counter{}}
	for _, res := range []string{"success", "failure", "throttled"} {
		r.logins[res] = r.set.NewCounter(fmt.Sprintf(`rocketlite_logins_total{result=%q}`, res))
	}
	return r
}

// Route is the counters of one route.
type Route struct {
	r        *Registry
	name     string
	duration *vm.PrometheusHistogram
	mu       sync.Mutex
	byStatus map[int]*vm.Counter
}

// Route returns the counters of a route, named as "METHOD /path/:param" (a pattern, never a
// concrete path: the number of series stays bounded).
func (r *Registry) Route(name string) *Route {
	return &Route{r: r, name: name, byStatus: map[int]*vm.Counter{},
		duration: r.set.GetOrCreatePrometheusHistogram(fmt.Sprintf(`rocketlite_http_request_duration_seconds{route=%q}`, name))}
}

// Observe counts one answered request.
func (rt *Route) Observe(status int, d time.Duration) {
	rt.mu.Lock()
	c := rt.byStatus[status]
	if c == nil {
		c = rt.r.set.GetOrCreateCounter(fmt.Sprintf(`rocketlite_http_requests_total{route=%q,status="%d"}`, rt.name, status))
		rt.byStatus[status] = c
	}
	rt.mu.Unlock()
	c.Inc()
	rt.duration.Update(d.Seconds())
}

// Login counts a login attempt by result: success, failure or throttled.
func (r *Registry) Login(result string) {
	if c := r.logins[result]; c != nil {
		c.Inc()
	}
}

// Posted counts a message posted through an API: v0, v1, webhook, realtime.
func (r *Registry) Posted(api string) {
	r.mu.Lock()
	c := r.posted[api]
	if c == nil {
		c = r.set.GetOrCreateCounter(fmt.Sprintf(`rocketlite_messages_posted_total{api=%q}`, api))
		r.posted[api] = c
	}
	r.mu.Unlock()
	c.Inc()
}

// Source adds a function that writes more series at every scrape (WriteCounter, WriteGauge).
func (r *Registry) Source(f func(w io.Writer)) {
	r.mu.Lock()
	r.sources = append(r.sources, f)
	r.mu.Unlock()
}

// Sample is one series of a family: its labels (`{result="failed"}`, or "") and value.
type Sample struct {
	Labels string
	Value  float64
}

// WriteFamily writes a family of several labelled series with one TYPE line (typ is
// "counter" or "gauge"): the Write* helpers below give every series its own.
func WriteFamily(w io.Writer, family, typ string, samples ...Sample) {
	vm.WriteMetadataIfNeeded(w, family, typ)
	for _, s := range samples {
		fmt.Fprintf(w, "%s%s %g\n", family, s.Labels, s.Value)
	}
}

// WriteCounter writes one counter series (name may carry labels).
func WriteCounter(w io.Writer, name string, v uint64) { vm.WriteCounterUint64(w, name, v) }

// WriteCounterFloat writes one counter series with a fractional value (seconds).
func WriteCounterFloat(w io.Writer, name string, v float64) { vm.WriteCounterFloat64(w, name, v) }

// WriteGauge writes one gauge series.
func WriteGauge(w io.Writer, name string, v float64) { vm.WriteGaugeFloat64(w, name, v) }

// WritePrometheus writes every series: the registry's, its sources', and the Go runtime's
// and the process's.
func (r *Registry) WritePrometheus(w io.Writer) {
	r.set.WritePrometheus(w)
	r.mu.Lock()
	sources := append([]func(io.Writer){}, r.sources...)
	r.mu.Unlock()
	for _, f := range sources {
		f(w)
	}
	vm.WriteProcessMetrics(w)
}

// Handler serves the text format at any path (the metrics listener serves nothing else).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WritePrometheus(w)
	})
}
