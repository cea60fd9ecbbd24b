package ticketd

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are ticketd's Prometheus series. surge reads them by name, so the
// names and labels are part of the contract.
type metrics struct {
	reg *prometheus.Registry

	// orders counts order attempts by result: created, sold_out, pass_used,
	// rejected (refused before the database: bad pass, wrong room, bad body,
	// unknown event).
	orders *prometheus.CounterVec
	// passRejections counts refused passes by token.Reason, plus "missing".
	passRejections *prometheus.CounterVec
	// cur and max back the ticketd_http_inflight and _max gauges.
	cur, max atomic.Int64
	// db is the latency of database calls by op (order, events, event,
	// order_get, create_event).
	db *prometheus.HistogramVec
	// soldOut counts events that sold out (an order took the last ticket).
	soldOut prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_orders_total", Help: "Order attempts by result (created, sold_out, pass_used, rejected).",
		}, []string{"result"}),
		passRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ticketd_pass_rejections_total", Help: "Refused admission passes by reason.",
		}, []string{"reason"}),
		db: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ticketd_db_seconds", Help: "Database call latency by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"op"}),
		soldOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ticketd_sold_out_total", Help: "Events that sold out (an order took the last ticket).",
		}),
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ticketd_http_inflight", Help: "HTTP requests being served now.",
	}, func() float64 { return float64(m.cur.Load()) })
	inflightMax := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ticketd_http_inflight_max", Help: "Most HTTP requests served at once since start.",
	}, func() float64 { return float64(m.max.Load()) })
	m.reg.MustRegister(m.orders, m.passRejections, inflight, inflightMax, m.db, m.soldOut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every result and reason exists from the start, so rates work at once.
	for _, r := range []string{"created", "sold_out", "pass_used", "rejected"} {
		m.orders.WithLabelValues(r)
	}
	for _, r := range []string{"missing", "malformed", "algorithm", "signature", "unknown_key", "expired", "not_yet_valid", "issuer", "wrong_room"} {
		m.passRejections.WithLabelValues(r)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// track counts the request in flight and keeps the high-water mark.
func (m *metrics) track(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := m.cur.Add(1)
		defer m.cur.Add(-1)
		for old := m.max.Load(); n > old && !m.max.CompareAndSwap(old, n); old = m.max.Load() {
		}
		next.ServeHTTP(w, r)
	})
}

// timeDB observes how long a database call took.
func (m *metrics) timeDB(op string, start time.Time) {
	m.db.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
