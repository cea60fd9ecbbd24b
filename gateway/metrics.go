package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/crowd"
	"github.com/waitroom/waitroom/gateway/hub"
)

// metrics are the gateway's Prometheus metrics, on a registry of its own.
// Room figures (waiting, active, admitted, abandoned) are the shared values
// from Redis as the hub last read them, so every instance reports the same
// numbers for a room: sum() them in a query only for per-instance metrics.
type metrics struct {
	reg           *prometheus.Registry
	joins         *prometheus.CounterVec
	proxyDuration prometheus.Histogram
	originErrors  prometheus.Counter
	// originClass[c] counts origin responses with status c xx (1..5),
	// resolved once so the proxy path does no label lookup.
	originClass    [6]prometheus.Counter
	busyJoin       prometheus.Counter // protected requests answered "busy"
	busyStatus     prometheus.Counter // status polls answered 429 "busy"
	passRejections *prometheus.CounterVec
	failClosed     prometheus.Counter
	revokes        prometheus.Counter
	// admissionsHeard counts visitors another instance admitted, as this
	// one heard on the admitted channel.
	admissionsHeard *prometheus.CounterVec
	// tollsAsked counts the toll challenges this instance handed out.
	tollsAsked *prometheus.CounterVec
	// epochChanges counts the times this instance found Redis had
	// forgotten a room (a new line epoch).
	epochChanges *prometheus.CounterVec
}

func newMetrics(b *board.Board, h *hub.Hub, health *crowd.Health) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitroom_joins_total", Help: "Join requests handled by this instance (protected requests without a pass).",
		}, []string{"room"}),
		proxyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "waitroom_proxy_duration_seconds", Help: "Time to proxy a request to the origin and copy its response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		originErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waitroom_origin_errors_total", Help: "Origin round trips that failed (answered with 502).",
		}),
		passRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitroom_pass_rejections_total", Help: "Pass cookies refused, by reason.",
		}, []string{"reason"}),
		failClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waitroom_fail_closed_total", Help: "Visitors answered 503 because Redis was unreachable (fail mode closed).",
		}),
		revokes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "waitroom_revokes_total", Help: "Sessions ended by the origin's Waitroom-Command: revoke.",
		}),
		tollsAsked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitroom_toll_challenges_total", Help: "Toll challenges this instance handed to visitors asking for a new place.",
		}, []string{"room"}),
		epochChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitroom_line_epoch_changes_total", Help: "Times this instance found that Redis had forgotten a room's line (a new line epoch: a restart without persistence, a failover to a replica that had not caught up).",
		}, []string{"room"}),
		admissionsHeard: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waitroom_admissions_heard_total", Help: "Visitors admitted by another instance's admission step, as this instance heard on the admitted channel (their sockets here are told at once).",
		}, []string{"room"}),
	}
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_origin_responses_total", Help: "Responses the origin sent to proxied requests, by status class (2xx, 3xx, 4xx, 5xx; 1xx is a protocol switch).",
	}, []string{"class"})
	for c := 1; c <= 5; c++ {
		m.originClass[c] = responses.WithLabelValues(string(rune('0'+c)) + "xx")
	}
	busy := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_busy_total", Help: "Visitors answered at once without a Redis lookup because the crowd gate was full or Redis slow: kind=join (a protected request, queue page or 429 without a position) or kind=status (a status poll, 429 busy).",
	}, []string{"kind"})
	m.busyJoin, m.busyStatus = busy.WithLabelValues("join"), busy.WithLabelValues("status")
	m.reg.MustRegister(responses, busy, m.joins, m.proxyDuration, m.originErrors, m.passRejections, m.failClosed, m.revokes, m.admissionsHeard, m.tollsAsked, m.epochChanges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waitroom_websockets", Help: "Open visitor WebSockets on this instance."},
			func() float64 { return float64(h.Count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waitroom_redis_up", Help: "1 when Redis answers, 0 while in fail mode."},
			func() float64 {
				if health.Up() {
					return 1
				}
				return 0
			}),
		roomCollector{b},
	)
	return m
}

// originResponse counts one origin response by its status class.
func (m *metrics) originResponse(code int) {
	if c := code / 100; c >= 1 && c <= 5 {
		m.originClass[c].Inc()
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	descWaiting   = prometheus.NewDesc("waitroom_waiting", "Visitors waiting in the room (queued and pre-queued).", []string{"room"}, nil)
	descActive    = prometheus.NewDesc("waitroom_active", "Visitors holding a live admission or session.", []string{"room"}, nil)
	descAdmitted  = prometheus.NewDesc("waitroom_admitted_total", "Visitors admitted since the room was created or reset.", []string{"room"}, nil)
	descAbandoned = prometheus.NewDesc("waitroom_abandoned_total", "Queued visitors skipped as abandoned.", []string{"room"}, nil)
	descRate      = prometheus.NewDesc("waitroom_admit_per_minute", "The room's configured admission rate.", []string{"room"}, nil)
	descRefused   = prometheus.NewDesc("waitroom_joins_refused_total", "New places refused by the room's per-client limits (every instance).", []string{"room"}, nil)
	descTolls     = prometheus.NewDesc("waitroom_tolls_paid_total", "Toll solutions spent on new places (every instance).", []string{"room"}, nil)
)

// roomCollector reports the room figures of the board's last read.
type roomCollector struct{ b *board.Board }

func (c roomCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWaiting
	ch <- descActive
	ch <- descAdmitted
	ch <- descAbandoned
	ch <- descRate
	ch <- descRefused
	ch <- descTolls
}

func (c roomCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.b.Latest()
	if snap == nil {
		return
	}
	for name, f := range snap.Rooms {
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(f.Waiting), name)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(f.Active), name)
		ch <- prometheus.MustNewConstMetric(descAdmitted, prometheus.CounterValue, float64(f.AdmittedTotal), name)
		ch <- prometheus.MustNewConstMetric(descAbandoned, prometheus.CounterValue, float64(f.AbandonedTotal), name)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, float64(f.AdmitPerMinute), name)
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(f.RefusedTotal), name)
		ch <- prometheus.MustNewConstMetric(descTolls, prometheus.CounterValue, float64(f.TollsTotal), name)
	}
}
