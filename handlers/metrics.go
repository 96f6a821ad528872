package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/kernel"
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
	// webhookRefused counts requests refused before they were known to be
	// from GitHub, by reason only: nothing the sender chose is a label.
	webhookRefused *prometheus.CounterVec
	http           *prometheus.HistogramVec
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
			Help: "Signed GitHub webhook deliveries by event (those handled, else other) and the HTTP status answered.",
		}, []string{"event", "code"}),
		webhookRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driverbuild_webhook_refused_total",
			Help: "Webhook requests refused before their signature was verified, by reason: too_large, unsigned, bad_signature, bad_header, unreadable, slow (the body took longer than GitHub waits), busy (no read slot within that time).",
		}, []string{"reason"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "driverbuild_http_request_duration_seconds",
			Help:    "REST API latency by route, method and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	m.reg.MustRegister(m.requests, m.finished, m.duration, m.webhooks, m.webhookRefused, m.http,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ReleaseAssets reports, at each scrape, how many assets each release
// holds, read from the asset index by counts: how full each shard is, as
// GitHub refuses a release's 1,001st asset. Every replica reports the
// same numbers, from the shared database; take the max, not the sum.
func (m *Metrics) ReleaseAssets(counts func(context.Context) (map[string]int, error)) {
	m.reg.MustRegister(
		releaseAssets{counts: counts, desc: prometheus.NewDesc("driverbuild_release_assets",
			"Assets each release holds, from the asset index; a shard is full at driverbuild_release_asset_limit.", []string{"release"}, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "driverbuild_release_asset_limit",
			Help: "The assets GitHub lets one release hold: a package and its .sha256 take two.",
		}, func() float64 { return kernel.ReleaseAssetLimit }),
	)
}

type releaseAssets struct {
	desc   *prometheus.Desc
	counts func(context.Context) (map[string]int, error)
}

func (c releaseAssets) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c releaseAssets) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for tag, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), tag)
	}
}

// GitHubBudget exports the API budget GitHub last reported, by bucket.
func (m *Metrics) GitHubBudget(b *ghclient.Budget) {
	m.reg.MustRegister(budgetCollector{b})
}

var (
	rateRemainingDesc = prometheus.NewDesc("driverbuild_github_rate_remaining",
		"GitHub API requests left in the current hour, by bucket (installation or app), as GitHub last said.", []string{"bucket"}, nil)
	rateLimitDesc = prometheus.NewDesc("driverbuild_github_rate_limit",
		"GitHub API requests allowed per hour, by bucket.", []string{"bucket"}, nil)
	rateResetDesc = prometheus.NewDesc("driverbuild_github_rate_reset_timestamp_seconds",
		"When the bucket's budget is renewed, in Unix seconds.", []string{"bucket"}, nil)
	deferredDesc = prometheus.NewDesc("driverbuild_github_deferred_total",
		"Optional work (index_refresh, redelivery, kernels_json) put off because the API budget was down to the reserve dispatches and the poller need.", []string{"work"}, nil)
)

type budgetCollector struct{ b *ghclient.Budget }

func (c budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rateRemainingDesc
	ch <- rateLimitDesc
	ch <- rateResetDesc
	ch <- deferredDesc
}

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for bucket, r := range c.b.Rates() {
		ch <- prometheus.MustNewConstMetric(rateRemainingDesc, prometheus.GaugeValue, float64(r.Remaining), bucket)
		ch <- prometheus.MustNewConstMetric(rateLimitDesc, prometheus.GaugeValue, float64(r.Limit), bucket)
		ch <- prometheus.MustNewConstMetric(rateResetDesc, prometheus.GaugeValue, float64(r.Reset.Unix()), bucket)
	}
	for work, n := range c.b.Deferred() {
		ch <- prometheus.MustNewConstMetric(deferredDesc, prometheus.CounterValue, float64(n), work)
	}
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

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}
