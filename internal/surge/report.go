package surge

import "time"

// SchemaVersion names the layout of Report's JSON; it changes when a field
// is renamed or removed (adding a field keeps it).
const SchemaVersion = "surge.report/v1"

// Report is what one run measured. Its JSON form (surge --json) is a stable
// schema pinned by a test: durations are in milliseconds (fields ending in
// _ms) or seconds (_seconds), rates per second unless the name says minute,
// and -1 means "not measured" (no origin or gateway admin URL was given).
type Report struct {
	Schema string `json:"schema"` // SchemaVersion
	// Mode is "gateway" (through waitroom) or "direct" (at the origin).
	Mode        string        `json:"mode"`
	Target      string        `json:"target"` // base URL the crowd was sent to
	Started     time.Time     `json:"started"`
	Elapsed     float64       `json:"elapsed_seconds"`
	Interrupted bool          `json:"interrupted"` // stopped by Ctrl-C or the duration cap before every visitor finished
	Crowd       CrowdSettings `json:"crowd"`

	Visitors VisitorCounts `json:"visitors"`

	Requests          int64   `json:"requests"`            // HTTP requests and WebSocket handshakes sent
	RequestsPerSecond float64 `json:"requests_per_second"` // Requests over Elapsed
	Orders            int64   `json:"orders"`              // orders confirmed (201)
	OrdersPerSecond   float64 `json:"orders_per_second"`   // Orders over Elapsed
	// Latency per request kind: "page" (first visit of the protected page),
	// "status" (status polls), "ws_connect" (WebSocket handshakes),
	// "page_admitted" (the reload once admitted), "order" (the purchase).
	Latency map[string]Percentiles `json:"latency"`
	// Wait is the time from arrival until the visitor saw itself admitted,
	// over admitted visitors (0 for those admitted at once).
	Wait      Percentiles     `json:"wait"`
	Admission AdmissionReport `json:"admission"`
	FIFO      FIFOReport      `json:"fifo"`
	Stock     StockReport     `json:"stock"`
	Origin    OriginReport    `json:"origin"`
	// Errors counts failures by kind, e.g. "order_http_503",
	// "page_timeout", "ws_closed", "status_bad_json".
	Errors map[string]int64 `json:"errors"`
	Client ClientReport     `json:"client"`
	// Series holds one sample per second of the run, for charts.
	Series []Second `json:"series"`
}

// CrowdSettings records the crowd that was simulated.
type CrowdSettings struct {
	Visitors        int     `json:"visitors"`
	Profile         string  `json:"profile"` // burst, ramp, poisson, opens-at
	DurationCap     float64 `json:"duration_cap_seconds"`
	WebSocketShare  float64 `json:"websocket_share"`
	AbandonShare    float64 `json:"abandon_share"`
	Quantity        int     `json:"quantity"` // tickets per order
	EventID         string  `json:"event_id"`
	Room            string  `json:"room"`
	Seed            int64   `json:"seed"`
	SourceAddresses int     `json:"source_addresses"` // local addresses WebSocket and HTTP connections were spread over
}

// VisitorCounts follows the crowd through the journey. Every visitor ends in
// exactly one of Bought, SoldOut, Abandoned, StillWaiting or Failed.
type VisitorCounts struct {
	Arrived        int64 `json:"arrived"`          // started the journey
	Queued         int64 `json:"queued"`           // were shown the queue
	Admitted       int64 `json:"admitted"`         // were admitted (at once or after waiting)
	AdmittedAtOnce int64 `json:"admitted_at_once"` // went straight to the origin without waiting
	Bought         int64 `json:"bought"`           // order confirmed
	SoldOut        int64 `json:"sold_out"`         // told the event is sold out
	Abandoned      int64 `json:"abandoned"`        // closed the tab while waiting
	StillWaiting   int64 `json:"still_waiting"`    // waiting when the run ended
	Failed         int64 `json:"failed"`           // ended on an error (see Errors)
}

// Percentiles of a set of durations, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// AdmissionReport sets the admission rate the crowd saw beside the rate the
// operator configured.
type AdmissionReport struct {
	// ConfiguredPerMinute and MaxActive come from the gateway's admin API;
	// -1 when it was not given.
	ConfiguredPerMinute int `json:"configured_per_minute"`
	MaxActive           int `json:"max_active"`
	// AchievedPerMinute is admissions of visitors who had to wait, per
	// minute, from the first such admission to the last; 0 if fewer than two.
	AchievedPerMinute float64 `json:"achieved_per_minute"`
	// ActivePeak is the most visitors holding one of the room's max_active
	// slots at once, read from the gateway's admin API every second: when
	// it reaches MaxActive, slots freeing up, not the rate, paced admission.
	// -1 when the admin API was not given.
	ActivePeak int64 `json:"active_peak"`
}

// FIFOReport compares admission order with arrival order (tickets).
type FIFOReport struct {
	Checked int64 `json:"checked"` // admitted visitors whose ticket was known
	// Inversions counts pairs provably admitted out of ticket order (see
	// CountCertainInversions, with SlackMS); 0 for a FIFO room.
	Inversions int64 `json:"inversions"`
	// SlackMS is the staleness allowed to "waiting" messages (Config.FIFOSlack).
	SlackMS float64 `json:"slack_ms"`
	// ObservedInversions counts pairs out of order by the time the client
	// saw the admission (CountInversions); includes pairs that merely were
	// noticed in the other order.
	ObservedInversions int64 `json:"observed_inversions"`
	// PositionIncreases counts status messages whose position was higher
	// than the previous one the same visitor saw; 0 is the contract.
	PositionIncreases int64 `json:"position_increases"`
}

// StockReport sets the origin's stock against the orders the crowd was
// confirmed. Stock figures are -1 when the origin was not readable.
type StockReport struct {
	Total            int64 `json:"total"`
	RemainingBefore  int64 `json:"remaining_before"`
	RemainingAfter   int64 `json:"remaining_after"`
	TicketsConfirmed int64 `json:"tickets_confirmed"` // sum of quantities of confirmed orders
	// Oversell is tickets sold beyond the stock: confirmed tickets above the
	// stock at the start, or a negative remaining. Must be 0; -1 when the
	// origin was not readable.
	Oversell int64 `json:"oversell"`
	// Unconfirmed is stock that left the origin without the crowd seeing a
	// confirmation (timeouts, or other buyers during the run).
	Unconfirmed int64 `json:"unconfirmed"`
}

// OriginReport is what the origin itself says (ticketd's /metrics).
type OriginReport struct {
	// InflightMax is ticketd_http_inflight_max at the end of the run: the
	// most requests the origin had in flight at once since it started. -1
	// when not readable.
	InflightMax int64 `json:"inflight_max"`
	// InflightMaxBefore is the same metric before the run: when it equals
	// InflightMax, the peak happened before this run (restart ticketd
	// between runs to measure each on its own).
	InflightMaxBefore int64 `json:"inflight_max_before"`
	// InflightSampledMax is the highest ticketd_http_inflight seen by the
	// once-a-second sampler during this run; -1 when not readable.
	InflightSampledMax int64 `json:"inflight_sampled_max"`
	// OrdersByResult is ticketd_orders_total{result} counted during the run.
	OrdersByResult map[string]int64 `json:"orders_by_result"`
	// Status5xx is responses with a 5xx status the crowd got from the
	// origin (directly, or proxied through the gateway).
	Status5xx int64 `json:"status_5xx"`
}

// ClientReport is surge's own footprint, sampled once a second: what it
// costs to simulate the crowd on this machine.
type ClientReport struct {
	PeakGoroutines int64 `json:"peak_goroutines"`
	PeakHeapBytes  int64 `json:"peak_heap_bytes"` // Go heap in use
	PeakRSSBytes   int64 `json:"peak_rss_bytes"`  // resident memory; 0 where /proc is not available
	PeakWaiting    int64 `json:"peak_waiting"`    // most visitors waiting at once at a sample
}

// Second is one second of the run.
type Second struct {
	T          int     `json:"t"`         // seconds since the start
	Arrivals   int64   `json:"arrivals"`  // visitors who arrived
	Waiting    int64   `json:"waiting"`   // visitors waiting at the end of the second
	Admitted   int64   `json:"admitted"`  // visitors who saw themselves admitted
	Orders     int64   `json:"orders"`    // orders confirmed
	Requests   int64   `json:"requests"`  // requests sent
	Errors     int64   `json:"errors"`    // errors of any kind
	OriginMean float64 `json:"origin_ms"` // mean latency of requests that reached the origin (page reloads and orders), ms
	OriginMax  float64 `json:"origin_max_ms"`
	Inflight   int64   `json:"origin_inflight"` // ticketd_http_inflight sampled at the end of the second; -1 when not readable
}

// Comparison is surge compare's result: the same crowd straight at the
// origin and through the gateway.
type Comparison struct {
	Schema  string  `json:"schema"`
	Direct  *Report `json:"direct"`
	Gateway *Report `json:"gateway"`
}

// stockCheck fills a StockReport from the origin's stock before and after
// the run and the tickets the crowd was confirmed. known is false when the
// origin could not be read; then the stock figures and Oversell are -1.
func stockCheck(known bool, total, before, after, confirmed int64) StockReport {
	if !known {
		return StockReport{Total: -1, RemainingBefore: -1, RemainingAfter: -1, TicketsConfirmed: confirmed, Oversell: -1}
	}
	s := StockReport{Total: total, RemainingBefore: before, RemainingAfter: after, TicketsConfirmed: confirmed}
	// Oversell shows up either as more confirmations than there was stock,
	// or as a remaining below zero; take whichever the origin gave away.
	s.Oversell = max(0, confirmed-before, -after)
	if sold := before - after; sold > confirmed {
		s.Unconfirmed = sold - confirmed
	}
	return s
}
