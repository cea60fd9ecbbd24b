package surge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/gateway/toll"
)

// Progress is a snapshot of a running crowd, handed to the progress
// callback once a second.
type Progress struct {
	Elapsed  time.Duration
	Visitors int // size of the crowd
	Arrived  int64
	Waiting  int64
	Admitted int64
	Orders   int64
	Requests int64
	Errors   int64
	Done     bool // the run's last report, when its visitors are done
}

// requestKinds are the request kinds latency is reported for.
var requestKinds = []string{"page", "ws_connect", "status", "page_admitted", "order"}

// run is one crowd in flight.
type run struct {
	cfg    Config
	cl     *clients
	oc     originClient
	signer *passSigner
	room   string
	start  time.Time

	origin, eventPage, orderURL, statusURL, wsURL string
	booth                                         *toll.Booth // stands in for visitors' phones paying tolls (nil: solved here)
	orderBody                                     []byte

	lat     map[string]*histogram
	wait    histogram
	records []record
	waiting atomic.Int64
	// activePeak is the room's most active visitors seen (gateway admin
	// API, each second); -1 when not read.
	activePeak atomic.Int64
	count      struct {
		arrived, queued, admitted, atOnce, bought, soldOut, abandoned, stillWaiting, failed atomic.Int64
		requests, orders, tickets, status5xx, positionUp, errors                            atomic.Int64
	}
	client struct {
		goroutines, heap, rss, waiting atomic.Int64
	}
	errMu  sync.Mutex
	errs   map[string]int64
	series []slot
}

// slot is one second of the run, filled concurrently.
type slot struct {
	arrivals, admitted, orders, requests, errors atomic.Int64
	originSum, originN, originMax                atomic.Int64
	waiting, inflight                            atomic.Int64
}

func (s *slot) origin(d time.Duration) {
	s.originSum.Add(int64(d))
	s.originN.Add(1)
	for {
		m := s.originMax.Load()
		if int64(d) <= m || s.originMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (r *run) since() time.Duration { return time.Since(r.start) }

// second returns the slot of the second at offset t (the last slot takes
// anything later, e.g. visitors finishing while the run stops).
func (r *run) second(t time.Duration) *slot {
	i := int(t / time.Second)
	if i < 0 {
		i = 0
	}
	if i >= len(r.series) {
		i = len(r.series) - 1
	}
	return &r.series[i]
}

func (r *run) requests() {
	r.count.requests.Add(1)
	r.second(r.since()).requests.Add(1)
}

func (r *run) fail(kind string) {
	r.count.errors.Add(1)
	r.second(r.since()).errors.Add(1)
	r.errMu.Lock()
	r.errs[kind]++
	r.errMu.Unlock()
}

// reachesOrigin reports whether a request of this kind is served by the
// origin (the "origin latency" of the charts).
func (r *run) reachesOrigin(kind string) bool {
	if r.cfg.Direct != "" {
		return kind == "page" || kind == "order"
	}
	return kind == "page_admitted" || kind == "order"
}

// Run sends the crowd described by c and reports what it measured. It
// returns when every visitor has finished, when c.Duration has passed, or
// when ctx is cancelled (Ctrl-C); in the last two cases the report covers
// what happened so far and Report.Interrupted is set. progress, if not nil,
// is called about once a second from one goroutine.
func Run(ctx context.Context, c Config, progress func(Progress)) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r, err := newRun(c)
	if err != nil {
		return nil, err
	}
	defer r.close()
	rep := newReport(r.cfg)

	prep, cancelPrep := context.WithTimeout(ctx, 15*time.Second)
	defer cancelPrep()
	before, err := r.readBefore(prep, rep)
	if err != nil {
		return nil, err
	}
	r.prepare()
	at := arrivals(r.cfg)
	if r.cfg.SetOpensAt {
		if err := r.openAhead(ctx, prep); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()
	r.start = time.Now()
	rep.Started = r.start.UTC()
	end, interrupted := r.crowd(runCtx, at, progress)

	r.readAfter(rep, before)
	r.fill(rep, end, interrupted)
	return rep, nil
}

// newRun sets up a run of c: the pass signer, the crowd's clients and the
// client that reads the origin's and the gateway's own figures. close
// releases the clients.
func newRun(c Config) (*run, error) {
	signer, err := newPassSigner(c)
	if err != nil {
		return nil, err
	}
	if len(c.SourceAddrs) > 0 && !hostIsLoopback(c.base()) {
		return nil, fmt.Errorf("--source-addrs: loopback source addresses only reach a loopback target, not %s", c.base())
	}
	r := &run{cfg: c, cl: newClients(c), signer: signer, errs: map[string]int64{}}
	if len(c.CookieSecret) >= 32 {
		r.booth = gateway.TollBooth(c.CookieSecret)
	}
	r.oc = originClient{hc: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	// Straight at the origin, the origin's figures are read there too.
	if c.Direct != "" && c.Origin == "" {
		r.cfg.Origin = c.Direct
	}
	return r, nil
}

func (r *run) close() {
	r.oc.hc.CloseIdleConnections()
	r.cl.close()
}

// newReport is the report of a run of c before anything is measured: the
// crowd's settings, and -1 in the figures that may never be read.
func newReport(c Config) *Report {
	return &Report{
		Schema: SchemaVersion, Mode: c.Mode(), Target: c.base(),
		Crowd: CrowdSettings{
			Visitors: c.Visitors, Profile: string(c.Profile), DurationCap: c.Duration.Seconds(),
			WebSocketShare: c.WebSocketShare, AbandonShare: c.AbandonShare, Quantity: c.Quantity,
			EventID: c.EventID, Seed: c.Seed, SourceAddresses: len(c.SourceAddrs),
		},
		Admission: AdmissionReport{ConfiguredPerMinute: -1, MaxActive: -1, ActivePeak: -1},
		Origin:    OriginReport{InflightMax: -1, InflightMaxBefore: -1, InflightSampledMax: -1},
	}
}

// baseline is what a run reads before the crowd, to compare with after.
type baseline struct {
	event      Event // the event's stock, when stockKnown
	stockKnown bool
	orders     map[string]float64 // the origin's ticketd_orders_total series
}

// readBefore reads the event's stock and the origin's counters, picks the
// room (the configured one, else the event's, else "default") and reads
// the room's rate and size from the gateway admin API. Without the stock
// or the room's settings a run's figures cannot be checked, so those
// failures stop it; the counters are best effort.
func (r *run) readBefore(ctx context.Context, rep *Report) (baseline, error) {
	c := r.cfg
	b := baseline{orders: map[string]float64{}}
	if c.Origin != "" {
		ev, err := r.oc.event(ctx, c.Origin, c.EventID)
		if err != nil {
			return b, fmt.Errorf("reading event %s from the origin: %w", c.EventID, err)
		}
		b.event, b.stockKnown = ev, true
	}
	r.room = c.Room
	if r.room == "" {
		r.room = b.event.Room
	}
	if r.room == "" {
		r.room = "default"
	}
	rep.Crowd.Room = r.room
	if c.Origin != "" {
		b.orders, _ = r.oc.metrics(ctx, c.Origin, "ticketd_orders_total", "ticketd_http_inflight_max")
		if v, ok := b.orders["ticketd_http_inflight_max"]; ok {
			rep.Origin.InflightMaxBefore = int64(v)
		}
	}
	r.activePeak.Store(-1)
	if c.GatewayAdmin != "" && c.Direct == "" {
		rc, err := r.oc.room(ctx, c.GatewayAdmin, c.GatewayAdminToken, r.room)
		if err != nil {
			return b, fmt.Errorf("reading room %s from the gateway admin API: %w", r.room, err)
		}
		rep.Admission.ConfiguredPerMinute, rep.Admission.MaxActive = rc.AdmitPerMinute, rc.MaxActive
		r.activePeak.Store(rc.Active)
	}
	return b, nil
}

// prepare builds the run's URLs for its room and sizes its records and
// series to the crowd and the duration.
func (r *run) prepare() {
	c := r.cfg
	base := strings.TrimRight(c.base(), "/")
	u, _ := url.Parse(base)
	r.origin = u.Scheme + "://" + u.Host
	r.eventPage = base + "/events/" + url.PathEscape(c.EventID)
	r.orderURL = base + "/api/events/" + url.PathEscape(c.EventID) + "/orders"
	r.statusURL = base + "/_waitroom/api/status?" + url.Values{"room": {r.room}}.Encode()
	r.wsURL = wsURL(base, r.room)
	r.orderBody, _ = json.Marshal(map[string]int{"quantity": c.Quantity})
	r.lat = map[string]*histogram{}
	for _, k := range requestKinds {
		r.lat[k] = &histogram{}
	}
	r.records = make([]record, c.Visitors)
	r.series = make([]slot, int(math.Ceil(c.Duration.Seconds()))+1)
	for i := range r.series {
		r.series[i].inflight.Store(-1) // not sampled
	}
}

// openAhead sets the room's opening c.OpensAt after the crowd's start and
// waits until that start. A live change reaches every gateway instance
// within a second (SPEC), so the opening is set that much earlier: the
// first arrival already meets the pre-queue on every instance.
func (r *run) openAhead(ctx, prep context.Context) error {
	const propagation = 1200 * time.Millisecond
	c := r.cfg
	opens := time.Now().Add(propagation + c.OpensAt)
	if err := r.oc.setOpensAt(prep, c.GatewayAdmin, c.GatewayAdminToken, r.room, opens); err != nil {
		return fmt.Errorf("setting the room's opening time: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(opens.Add(-c.OpensAt))):
		return nil
	}
}

// crowd sends the visitors, one goroutine each started at its arrival
// offset in at, while the sampler records each second. It returns when
// every started visitor is done (ctx ends the unfinished journeys), with
// the run's length and whether ctx cut it short of what it set out to do.
func (r *run) crowd(ctx context.Context, at []time.Duration, progress func(Progress)) (end time.Duration, interrupted bool) {
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		r.sample(ctx, done, progress)
	}()

	var wg sync.WaitGroup
	scheduled := 0
	tm := time.NewTimer(time.Hour)
	tm.Stop()
schedule:
	for i, a := range at {
		if d := time.Until(r.start.Add(a)); d > 0 {
			tm.Reset(d)
			select {
			case <-ctx.Done():
				break schedule
			case <-tm.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		scheduled++
		go func(i int) {
			defer wg.Done()
			newVisitor(r, i).journey(ctx)
		}(i)
	}
	wg.Wait()
	end = r.since()
	interrupted = ctx.Err() != nil && (scheduled < r.cfg.Visitors || r.count.stillWaiting.Load() > 0)
	close(done)
	sampler.Wait()
	return end, interrupted
}

// readAfter reads the stock and the origin's own figures once the crowd
// is through, and the room's active count once more. These are best
// effort: a figure that cannot be read stays unknown in the report.
func (r *run) readAfter(rep *Report, before baseline) {
	c := r.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var after Event
	stockKnown := before.stockKnown
	if stockKnown {
		var err error
		if after, err = r.oc.event(ctx, c.Origin, c.EventID); err != nil {
			stockKnown = false
		}
	}
	rep.Stock = stockCheck(stockKnown, before.event.Total, before.event.Remaining, after.Remaining, r.count.tickets.Load())
	if r.activePeak.Load() >= 0 {
		if rc, err := r.oc.room(ctx, c.GatewayAdmin, c.GatewayAdminToken, r.room); err == nil && rc.Active > r.activePeak.Load() {
			r.activePeak.Store(rc.Active)
		}
	}
	if c.Origin != "" {
		m, err := r.oc.metrics(ctx, c.Origin, "ticketd_http_inflight_max", "ticketd_orders_total")
		if err == nil {
			if v, ok := m["ticketd_http_inflight_max"]; ok {
				rep.Origin.InflightMax = int64(v)
			}
			rep.Origin.OrdersByResult = ordersDelta(before.orders, m)
		}
	}
}

// ordersDelta turns ticketd_orders_total{result="x"} before/after into
// counts during the run by result.
func ordersDelta(before, after map[string]float64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if !strings.HasPrefix(k, "ticketd_orders_total") {
			continue
		}
		res := k
		if i := strings.Index(k, `result="`); i >= 0 {
			res = k[i+len(`result="`):]
			res = res[:strings.IndexByte(res, '"')]
		}
		if d := int64(v - before[k]); d != 0 {
			out[res] += d
		}
	}
	return out
}

// sample records the waiting count (and the origin's in-flight requests)
// at the end of each second and reports progress.
func (r *run) sample(ctx context.Context, done <-chan struct{}, progress func(Progress)) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-done:
			if progress != nil {
				p := r.progress()
				p.Done = true
				progress(p)
			}
			return
		case <-tk.C:
		}
		t := r.since() - time.Millisecond
		s := r.second(t)
		w := r.waiting.Load()
		s.waiting.Store(w)
		r.footprint(w)
		if r.activePeak.Load() >= 0 && ctx.Err() == nil {
			qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if rc, err := r.oc.room(qctx, r.cfg.GatewayAdmin, r.cfg.GatewayAdminToken, r.room); err == nil && rc.Active > r.activePeak.Load() {
				r.activePeak.Store(rc.Active)
			}
			cancel()
		}
		if r.cfg.Origin != "" && ctx.Err() == nil {
			qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if m, err := r.oc.metrics(qctx, r.cfg.Origin, "ticketd_http_inflight"); err == nil {
				if v, ok := m["ticketd_http_inflight"]; ok {
					s.inflight.Store(int64(v))
				}
			}
			cancel()
		}
		if progress != nil {
			progress(r.progress())
		}
	}
}

// progress is the run's counts now.
func (r *run) progress() Progress {
	return Progress{
		Elapsed: r.since(), Visitors: r.cfg.Visitors,
		Arrived: r.count.arrived.Load(), Waiting: r.waiting.Load(), Admitted: r.count.admitted.Load(),
		Orders: r.count.orders.Load(), Requests: r.count.requests.Load(), Errors: r.count.errors.Load(),
	}
}

// footprint samples surge's own cost.
func (r *run) footprint(waiting int64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := func(a *atomic.Int64, v int64) {
		if v > a.Load() {
			a.Store(v)
		}
	}
	peak(&r.client.goroutines, int64(runtime.NumGoroutine()))
	peak(&r.client.heap, int64(ms.HeapInuse))
	peak(&r.client.rss, rssBytes())
	peak(&r.client.waiting, waiting)
}

// rssBytes reads this process's resident memory from /proc (Linux); 0
// elsewhere.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// fill computes the report's figures from the counters and records.
func (r *run) fill(rep *Report, end time.Duration, interrupted bool) {
	secs := end.Seconds()
	rep.Elapsed = round3(secs)
	rep.Interrupted = interrupted
	r.fillCounts(rep, secs)
	r.fillAdmission(rep)
	r.fillSeries(rep, secs)
}

// fillCounts copies the run's totals, latencies, errors and surge's own
// footprint into the report.
func (r *run) fillCounts(rep *Report, secs float64) {
	rep.Visitors = VisitorCounts{
		Arrived: r.count.arrived.Load(), Queued: r.count.queued.Load(), Admitted: r.count.admitted.Load(),
		AdmittedAtOnce: r.count.atOnce.Load(), Bought: r.count.bought.Load(), SoldOut: r.count.soldOut.Load(),
		Abandoned: r.count.abandoned.Load(), StillWaiting: r.count.stillWaiting.Load(), Failed: r.count.failed.Load(),
	}
	rep.Requests = r.count.requests.Load()
	rep.Orders = r.count.orders.Load()
	if secs > 0 {
		rep.RequestsPerSecond = round3(float64(rep.Requests) / secs)
		rep.OrdersPerSecond = round3(float64(rep.Orders) / secs)
	}
	rep.Latency = map[string]Percentiles{}
	for k, h := range r.lat {
		if h.n.Load() > 0 {
			rep.Latency[k] = h.percentiles()
		}
	}
	rep.Wait = r.wait.percentiles()
	r.footprint(0)
	rep.Client = ClientReport{
		PeakGoroutines: r.client.goroutines.Load(), PeakHeapBytes: r.client.heap.Load(),
		PeakRSSBytes: r.client.rss.Load(), PeakWaiting: r.client.waiting.Load(),
	}
	rep.Origin.Status5xx = r.count.status5xx.Load()
	r.errMu.Lock()
	rep.Errors = r.errs
	r.errMu.Unlock()
}

// fillAdmission computes FIFO and the achieved rate over the visitors
// whose admission was seen. The rate counts only visitors who queued
// first: one let in at once says nothing about the admission pace.
func (r *run) fillAdmission(rep *Report) {
	var adm []Admission
	var firstQ, lastQ time.Duration = -1, -1
	var nq int64
	for _, rec := range r.records {
		if rec.admitted < 0 {
			continue
		}
		if rec.lastQueued >= 0 {
			nq++
			if firstQ < 0 || rec.admitted < firstQ {
				firstQ = rec.admitted
			}
			lastQ = max(lastQ, rec.admitted)
		}
		if rec.ticket > 0 {
			adm = append(adm, Admission{Ticket: rec.ticket, LastQueued: rec.lastQueued, Admitted: rec.admitted, Gap: rec.gap})
		}
	}
	if nq >= 2 && lastQ > firstQ {
		rep.Admission.AchievedPerMinute = round3(float64(nq-1) / (lastQ - firstQ).Minutes())
	}
	rep.Admission.ActivePeak = r.activePeak.Load()
	rep.FIFO = FIFOReport{
		Checked:            int64(len(adm)),
		Inversions:         CountCertainInversions(adm, r.cfg.FIFOSlack),
		SlackMS:            ms(r.cfg.FIFOSlack),
		ObservedInversions: CountInversions(adm),
		PositionIncreases:  r.count.positionUp.Load(),
	}
}

// fillSeries turns the per-second slots of the run's secs seconds into
// the report's series, and the origin's sampled in-flight peak.
func (r *run) fillSeries(rep *Report, secs float64) {
	n := int(math.Ceil(secs))
	if n < 1 {
		n = 1
	}
	n = min(n, len(r.series))
	rep.Series = make([]Second, n)
	for i := range rep.Series {
		s := &r.series[i]
		out := Second{
			T: i, Arrivals: s.arrivals.Load(), Waiting: s.waiting.Load(), Admitted: s.admitted.Load(),
			Orders: s.orders.Load(), Requests: s.requests.Load(), Errors: s.errors.Load(),
			OriginMax: ms(time.Duration(s.originMax.Load())), Inflight: s.inflight.Load(),
		}
		rep.Origin.InflightSampledMax = max(rep.Origin.InflightSampledMax, out.Inflight)
		if c := s.originN.Load(); c > 0 {
			out.OriginMean = ms(time.Duration(s.originSum.Load() / c))
		}
		if i == n-1 {
			// The last, partial second was not sampled.
			out.Waiting = r.waiting.Load()
		}
		rep.Series[i] = out
	}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
