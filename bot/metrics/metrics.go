// Package metrics gives operators Prometheus metrics at /metrics: what
// happened to pushes, how fast they were answered, what the outbox sent
// and how far behind it is, and what the sweeper and the spool replayer
// had to catch. It implements bot.Meter.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's registry. It is safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	pushes  *prometheus.CounterVec
	answer  prometheus.Histogram
	swept   *prometheus.CounterVec
	sends   *prometheus.CounterVec
	gauges  *gauges
	handler http.Handler
}

// New builds the registry, with Go's and the process's own metrics.
func New(log *slog.Logger) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nuanjia_pushes_total",
			Help: "Pushes from WeChat by outcome: answered, success, late, retry, spooled, refused, failed.",
		}, []string{"outcome"}),
		answer: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nuanjia_answer_seconds",
			Help: "Time from a push's arrival to its HTTP answer; WeChat gives up at 5 s.",
			// Fine below 100 ms where a healthy webhook lives, and around
			// the 4 s deadline where trouble shows.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 4, 4.5, 5},
		}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nuanjia_caught_pushes_total",
			Help: "Pushes handled after the fact: by the sweeper (left unhandled by a crash) or the spool replayer.",
		}, []string{"source"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nuanjia_outbox_sends_total",
			Help: "Outbox send attempts by channel and result (sent, or the WeChat error kind).",
		}, []string{"channel", "result"}),
		gauges: &gauges{log: log},
	}
	m.reg.MustRegister(m.pushes, m.answer, m.swept, m.sends, m.gauges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Push counts a push by outcome and records how long its answer took.
func (m *Metrics) Push(outcome string, took time.Duration) {
	m.pushes.WithLabelValues(outcome).Inc()
	m.answer.Observe(took.Seconds())
}

// Swept counts pushes handled by the sweeper or the spool replayer.
func (m *Metrics) Swept(source string, n int) { m.swept.WithLabelValues(source).Add(float64(n)) }

// Sent counts an outbox send attempt.
func (m *Metrics) Sent(channel, result string) { m.sends.WithLabelValues(channel, result).Inc() }

// Gauge adds a value read at each scrape, such as the outbox's depth. read
// gets a short deadline; when it fails the gauge is left out of that
// scrape (a frozen database must not hang /metrics).
func (m *Metrics) Gauge(name, help string, read func(ctx context.Context) (float64, error)) {
	m.gauges.add(prometheus.NewDesc(name, help, nil, nil), read)
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler { return m.handler }

// gaugeReadTimeout bounds each gauge's read at a scrape.
const gaugeReadTimeout = time.Second

// gauges is a collector of values read on demand.
type gauges struct {
	log   *slog.Logger
	mu    sync.Mutex
	descs []*prometheus.Desc
	reads []func(ctx context.Context) (float64, error)
}

func (g *gauges) add(d *prometheus.Desc, read func(ctx context.Context) (float64, error)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.descs, g.reads = append(g.descs, d), append(g.reads, read)
}

// Describe sends nothing: the gauges are added after registration, which
// makes this an unchecked collector.
func (g *gauges) Describe(chan<- *prometheus.Desc) {}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	descs, reads := append([]*prometheus.Desc(nil), g.descs...), append([]func(context.Context) (float64, error)(nil), g.reads...)
	g.mu.Unlock()
	for i, read := range reads {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeReadTimeout)
		v, err := read(ctx)
		cancel()
		if err != nil {
			g.log.Warn("metric not read", "metric", descs[i].String(), "error", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(descs[i], prometheus.GaugeValue, v)
	}
}
