package handlers

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riptides/driverbuild/store"
)

// Metrics are the service's Prometheus metrics, served at GET /metrics.
// They count what this process saw; sum them across replicas.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
	http     *prometheus.HistogramVec
}

// NewMetrics makes the metrics on a registry of their own, with the Go
// runtime's and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driverbuild_build_requests_total",
			Help: "POST /build requests by outcome: cached, dispatched, deduplicated, cooldown, mismatch, invalid, unavailable, error.",
		}, []string{"outcome"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driverbuild_builds_finished_total",
			Help: "Builds ended by this process, by status and reason.",
		}, []string{"status", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "driverbuild_build_duration_seconds",
			Help:    "From the request that created a build to its end: how long the first node on a new kernel waits.",
			Buckets: []float64{30, 60, 120, 180, 300, 480, 600, 900, 1200, 1800},
		}, []string{"status"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driverbuild_webhook_deliveries_total",
			Help: "GitHub webhook deliveries by event and the HTTP status answered.",
		}, []string{"event", "code"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "driverbuild_http_request_duration_seconds",
			Help:    "REST API latency by route, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	m.reg.MustRegister(m.requests, m.finished, m.duration, m.webhooks, m.http,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// BuildFinished counts a build that ended.
func (m *Metrics) BuildFinished(b store.Build) {
	m.finished.WithLabelValues(string(b.Status), string(b.Reason)).Inc()
	m.duration.WithLabelValues(string(b.Status)).Observe(b.FinishedAt.Sub(b.CreatedAt).Seconds())
}

// instrument times a REST route.
func (m *Metrics) instrument(route string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerDuration(m.http.MustCurryWith(prometheus.Labels{"route": route}), h)
}

// Webhooks counts the deliveries h answers.
func (m *Metrics) Webhooks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		event := r.Header.Get("X-GitHub-Event")
		if len(event) > 64 {
			event = "invalid" // the header is the sender's: bound the label set
		}
		m.webhooks.WithLabelValues(event, strconv.Itoa(sw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
