package surge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/gateway/toll"
)

// The swarm scenario: people and scalpers' scripts press "Buy" in the same
// second. Humans behave like the queue page in a phone's browser: each from
// its own address, with cookies, paying the room's toll at a phone's speed
// and then holding the WebSocket. Bots keep no cookies and ask for places
// as fast as they can from a few addresses, solving every toll at full CPU
// speed. The room is paused for the whole round, so the line as it stands
// at the end is the order admission will follow (FIFO: by ticket, skipping
// places whose toll was never paid); the figures come from the tickets
// every participant was given.

// SwarmConfig is one swarm scenario: the same crowd sent once per round.
type SwarmConfig struct {
	Target            string // gateway base URL (loopback)
	GatewayAdmin      string // gateway admin base URL (to pause the rooms and read their settings)
	GatewayAdminToken string
	// CookieSecret is the gateway's WAITROOM_COOKIE_SECRET. Humans do not
	// burn the run machine's CPU on their tolls: their devices' work is
	// stood in for (toll.Booth.Paid) and its time waited out at
	// toll.PhoneHashesPerSecond.
	CookieSecret string
	Rounds       []SwarmRound

	Humans      int           // people in the crowd
	HumanSpread time.Duration // humans arrive evenly over this
	Bots        int           // bot programs
	BotJoins    int           // places each bot asks for, at most
	BotConns    int           // requests each bot has in flight at once
	// BotCores is how many tolls the bots solve at once: the cores of the
	// bots' own machines. The gateway under test shares this machine, so
	// bots that took every core would measure the machine, not the room.
	BotCores int
	// BotAddrs are the bots' source addresses (bots share them round
	// robin); humans each get their own address in 127.1.0.0/16.
	BotAddrs []netip.Addr
	Window   time.Duration // how long a round lasts: bots stop asking, the line is read
	First    int           // K: the share of the first K admissions is reported
	Timeout  time.Duration // per request
}

// SwarmRound is one room the crowd is sent to, with a name for the report
// (e.g. "off" for a room without protections, "on" with them).
type SwarmRound struct{ Name, Room string }

// DefaultSwarm returns the scenario of the benchmark: 1,000 humans and 20
// bots of 10,000 joins each from four addresses.
func DefaultSwarm() SwarmConfig {
	addrs := make([]netip.Addr, 4)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
	}
	return SwarmConfig{
		Humans: 1000, HumanSpread: time.Second,
		Bots: 20, BotJoins: 10_000, BotConns: 4, BotCores: 1, BotAddrs: addrs,
		Window: 15 * time.Second, First: 1000, Timeout: 10 * time.Second,
	}
}

// MaxSwarmHumans bounds the humans of a swarm (their addresses come from
// 127.1.0.0/16).
const MaxSwarmHumans = 60_000

// Validate reports every problem of c at once.
func (c SwarmConfig) Validate() error {
	var p problems
	if err := checkBaseURL(c.Target); err != nil {
		p.add("--target", "%v", err)
	} else if !hostIsLoopback(c.Target) {
		p.add("--target", "the swarm only runs against a gateway on a loopback address, got %s", c.Target)
	}
	if err := checkBaseURL(c.GatewayAdmin); err != nil {
		p.add("--gateway-admin", "%v", err)
	}
	if len(c.CookieSecret) < 32 {
		p.add("SURGE_COOKIE_SECRET", "the gateway's WAITROOM_COOKIE_SECRET (at least 32 bytes) is needed to stand in for humans' tolls")
	}
	if len(c.Rounds) == 0 {
		p.add("--rooms", "at least one round (name=room) is needed")
	}
	for _, r := range c.Rounds {
		if !validRoom(r.Room) || r.Name == "" {
			p.add("--rooms", "bad round %q=%q: want name=room", r.Name, r.Room)
		}
	}
	if c.Humans < 1 || c.Humans > MaxSwarmHumans {
		p.add("--humans", "must be 1 to %d, got %d", MaxSwarmHumans, c.Humans)
	}
	if c.Bots < 0 || c.Bots > 1000 || c.BotJoins < 0 || c.BotJoins > 1_000_000 {
		p.add("--bots", "bots 0 to 1,000 of 0 to 1,000,000 joins each, got %d of %d", c.Bots, c.BotJoins)
	}
	if c.BotConns < 1 || c.BotConns > 64 {
		p.add("--bot-conns", "must be 1 to 64, got %d", c.BotConns)
	}
	if c.BotCores < 1 || c.BotCores > runtime.NumCPU() {
		p.add("--bot-cores", "must be 1 to %d (this machine's cores), got %d", runtime.NumCPU(), c.BotCores)
	}
	if c.Bots > 0 && len(c.BotAddrs) == 0 {
		p.add("--bot-addrs", "bots need at least one source address")
	}
	for _, a := range c.BotAddrs {
		if !a.IsLoopback() {
			p.add("--bot-addrs", "%s is not a loopback address", a)
		}
	}
	if c.Window < time.Second || c.Window > 10*time.Minute {
		p.add("--window", "must be 1s to 10m, got %s", c.Window)
	}
	if c.HumanSpread < 0 || c.HumanSpread >= c.Window {
		p.add("--spread", "must be at least 0 and shorter than --window, got %s", c.HumanSpread)
	}
	if c.First < 1 {
		p.add("--first", "must be at least 1, got %d", c.First)
	}
	if c.Timeout <= 0 {
		p.add("--timeout", "must be more than 0")
	}
	return errors.Join(p...)
}

// SwarmReport is what the crowd lived through, round by round.
type SwarmReport struct {
	Humans   int           `json:"humans"`
	Spread   float64       `json:"humans_spread_seconds"`
	Bots     int           `json:"bots"`
	BotJoins int           `json:"bot_joins_each"`
	BotConns int           `json:"bot_conns_each"`
	BotCores int           `json:"bot_cores"`
	BotAddrs []string      `json:"bot_addrs"`
	Window   float64       `json:"window_seconds"`
	First    int           `json:"first_k"`
	Rounds   []SwarmResult `json:"rounds"`
}

// SwarmResult is one round.
type SwarmResult struct {
	Name string `json:"name"`
	Room string `json:"room"`
	// The room's protections, as its admin API showed them.
	ClientPlacesPerMinute int     `json:"client_places_per_minute"`
	ClientPlacesHeld      int     `json:"client_places_held"`
	Toll                  bool    `json:"toll"`
	TollSeconds           float64 `json:"toll_seconds"`

	Line        int `json:"line"`         // places in line at the end (humans' and bots')
	HumanPlaces int `json:"human_places"` // humans with a place
	HumanFailed int `json:"human_failed"` // humans who got none (an error, or the round ended first)
	BotPlaces   int `json:"bot_places"`

	// BotShareFirst is the share of the first First admissions (places at
	// the front of the line) that bots hold.
	BotShareFirst float64 `json:"bot_share_first"`
	BotsInFirst   int     `json:"bots_in_first"`
	// Displacement of a human: its place in line minus its place among
	// humans by arrival, i.e. how many bot places (and later humans) are
	// ahead of it. Also as a share of the line.
	DisplacementP50   float64 `json:"displacement_p50"`
	DisplacementP95   float64 `json:"displacement_p95"`
	DisplacementP50Of float64 `json:"displacement_p50_share"`
	DisplacementP95Of float64 `json:"displacement_p95_share"`
	// BotsAhead is how many bot places are ahead of a human: the part of
	// its displacement the bots caused (the rest is the order in which the
	// gateway answered people arriving together).
	BotsAheadP50 float64 `json:"bots_ahead_p50"`
	BotsAheadP95 float64 `json:"bots_ahead_p95"`
	// PlaceWait is a human's time from arrival until its place counted:
	// the gateway's answer, and in a room with the toll the toll paid at
	// phone speed. Beside a round without the toll it gives the wait the
	// toll adds (the place itself is kept from arrival, so admission is
	// later only for a visitor who reaches the front before paying).
	PlaceWaitP50 float64 `json:"human_place_wait_p50_s"`
	PlaceWaitP95 float64 `json:"human_place_wait_p95_s"`
	// FirstAnswer is how long the gateway took to answer a human's first
	// request (its place is numbered then): a slow answer under the bots'
	// load displaces a human as much as a bot's place does.
	FirstAnswerP50 float64 `json:"human_first_answer_p50_s"`
	FirstAnswerP95 float64 `json:"human_first_answer_p95_s"`
	// HumanRetries counts humans' requests asked again, by the answer:
	// "busy" (a gateway shedding load), "limited", or the state answered.
	HumanRetries map[string]int64 `json:"human_retries"`

	BotAttempts   int64   `json:"bot_attempts"`
	BotLimited    int64   `json:"bot_limited"` // refused by the per-client limits
	BotTolls      int64   `json:"bot_tolls_solved"`
	BotBusy       int64   `json:"bot_busy"` // 429/503 of a gateway shedding load
	BotErrors     int64   `json:"bot_errors"`
	BotCPUSeconds float64 `json:"bot_cpu_seconds"`
	// BotPlacesPerCPUSecond: bot places per second of CPU on the bots'
	// threads (requests and toll solving).
	BotPlacesPerCPUSecond float64 `json:"bot_places_per_cpu_second"`

	// FrontBots[i] is how many of the first (i+1)*FrontStep places bots
	// hold, for the chart.
	FrontStep int   `json:"front_step"`
	FrontBots []int `json:"front_bots"`
}

// swarmDoc is the part of the status document a swarm participant reads.
type swarmDoc struct {
	State      string           `json:"state"`
	Ticket     int64            `json:"ticket"`
	Challenge  *toll.Challenge  `json:"challenge"`
	RetryAfter *json.RawMessage `json:"retry_after"`
}

// place is one place in line, as its holder learnt it.
type place struct {
	ticket  int64
	bot     bool
	human   int           // for humans: index
	arrived time.Duration // for humans: when their first request went out
	counted time.Duration // for humans: when their place counted
	first   time.Duration // for humans: how long the gateway took to answer their first request
}

// Swarm sends the crowd once per round and returns the report.
func Swarm(ctx context.Context, c SwarmConfig, progress func(round string, humans, botPlaces int)) (*SwarmReport, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rep := &SwarmReport{Humans: c.Humans, Spread: c.HumanSpread.Seconds(), Bots: c.Bots, BotJoins: c.BotJoins, BotConns: c.BotConns, BotCores: c.BotCores, Window: c.Window.Seconds(), First: c.First}
	for _, a := range c.BotAddrs {
		rep.BotAddrs = append(rep.BotAddrs, a.String())
	}
	for _, r := range c.Rounds {
		res, err := swarmRound(ctx, c, r, progress)
		if err != nil {
			return rep, fmt.Errorf("round %s: %w", r.Name, err)
		}
		rep.Rounds = append(rep.Rounds, res)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	return rep, nil
}

type swarmRun struct {
	c         SwarmConfig
	room      string
	statusURL string
	wsURL     string
	origin    string
	booth     *toll.Booth
	start     time.Time
	cores     chan struct{} // a token per bot core

	mu     sync.Mutex
	places []place
	failed int

	attempts, limited, tolls, busy, errs atomic.Int64
	retries                              map[string]int64 // under mu
	cpu                                  atomic.Int64     // ns
}

func swarmRound(ctx context.Context, c SwarmConfig, round SwarmRound, progress func(string, int, int)) (SwarmResult, error) {
	res, err := pauseRoom(ctx, c, round)
	if err != nil {
		return res, err
	}
	base := strings.TrimRight(c.Target, "/")
	u, _ := url.Parse(base)
	ws := *u
	ws.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	s := &swarmRun{
		c: c, room: round.Room, booth: gateway.TollBooth(c.CookieSecret),
		statusURL: base + "/_waitroom/api/status?room=" + url.QueryEscape(round.Room),
		wsURL:     ws.String() + "/_waitroom/ws?room=" + url.QueryEscape(round.Room),
		origin:    base,
		cores:     make(chan struct{}, c.BotCores),
		retries:   map[string]int64{},
	}
	// Waiting (humans' sockets, tolls, retries) ends with the round;
	// requests under way are answered.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.start = time.Now()
	stopAt := time.AfterFunc(c.Window, cancel)
	defer stopAt.Stop()

	var wg sync.WaitGroup
	humans := s.sendHumans(ctx, rctx, &wg)
	defer humans.close()
	s.sendBots(ctx, &wg, s.start.Add(c.Window))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if progress != nil {
				h, b := s.counts()
				progress(round.Name, h, b)
			}
		case <-done:
			s.result(&res)
			return res, nil
		}
	}
}

// pauseRoom pauses the round's room, so the line it reads is the order
// admission will follow, and returns the round's result with the room's
// protections; the room must be empty.
func pauseRoom(ctx context.Context, c SwarmConfig, round SwarmRound) (SwarmResult, error) {
	res := SwarmResult{Name: round.Name, Room: round.Room}
	adm := originClient{hc: &http.Client{Timeout: c.Timeout}}
	var doc struct {
		Waiting               int64   `json:"waiting"`
		ClientPlacesPerMinute int     `json:"client_places_per_minute"`
		ClientPlacesHeld      int     `json:"client_places_held"`
		Toll                  bool    `json:"toll"`
		TollSeconds           float64 `json:"toll_seconds"`
	}
	status, _, body, err := adm.call(ctx, http.MethodPatch, strings.TrimRight(c.GatewayAdmin, "/")+"/admin/rooms/"+round.Room, c.GatewayAdminToken, map[string]any{"paused": true})
	if err != nil {
		return res, err
	}
	if status != http.StatusOK {
		return res, fmt.Errorf("PATCH /admin/rooms/%s: %d %s", round.Room, status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return res, fmt.Errorf("room document: %w", err)
	}
	if doc.Waiting != 0 {
		return res, fmt.Errorf("room %s already has %d waiting: each round needs a room of its own, empty", round.Room, doc.Waiting)
	}
	res.ClientPlacesPerMinute, res.ClientPlacesHeld, res.Toll, res.TollSeconds = doc.ClientPlacesPerMinute, doc.ClientPlacesHeld, doc.Toll, doc.TollSeconds
	return res, nil
}

// sendHumans starts the humans, evenly over HumanSpread; their clients
// are closed once wg is done.
func (s *swarmRun) sendHumans(ctx, round context.Context, wg *sync.WaitGroup) *humanClients {
	c := s.c
	humans := newHumanClients(c)
	for i := 0; i < c.Humans; i++ {
		wg.Add(1)
		at := time.Duration(0)
		if c.Humans > 1 {
			at = c.HumanSpread * time.Duration(i) / time.Duration(c.Humans-1)
		}
		go func() {
			defer wg.Done()
			if !sleepUntil(round, time.Time{}, s.start.Add(at)) {
				s.human(i, -1, 0, 0)
				return
			}
			s.humanJourney(ctx, round, humans, i)
		}()
	}
	return humans
}

// sendBots starts the bots at once: BotConns connections each, from the
// bot's address, asking until end.
func (s *swarmRun) sendBots(ctx context.Context, wg *sync.WaitGroup, end time.Time) {
	c := s.c
	for b := 0; b < c.Bots; b++ {
		tr := &http.Transport{
			DialContext:         (&dialer{addrs: []netip.Addr{c.BotAddrs[b%len(c.BotAddrs)]}, timeout: c.Timeout}).DialContext,
			MaxIdleConnsPerHost: c.BotConns, ResponseHeaderTimeout: c.Timeout,
		}
		cl := &http.Client{Transport: tr, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var joins, left atomic.Int64
		left.Store(int64(c.BotConns))
		for range c.BotConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.bot(ctx, cl, &joins, end)
				if left.Add(-1) == 0 {
					tr.CloseIdleConnections()
				}
			}()
		}
	}
}

func (s *swarmRun) counts() (humans, bots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.places {
		if p.bot {
			bots++
		} else {
			humans++
		}
	}
	return humans, bots
}

// human records human i's place (ticket -1: none).
func (s *swarmRun) human(i int, ticket int64, arrived, first time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ticket <= 0 {
		s.failed++
		return
	}
	s.places = append(s.places, place{ticket: ticket, human: i, arrived: arrived, counted: time.Since(s.start), first: first})
}

// humanClients give each human its own source address (a person's phone
// is its own network) and a fresh connection per request.
type humanClients struct {
	tr *http.Transport
	cl *http.Client
	ws *websocket.Dialer
}

type localAddrKey struct{}

func newHumanClients(c SwarmConfig) *humanClients {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: c.Timeout}
		if a, ok := ctx.Value(localAddrKey{}).(netip.Addr); ok {
			d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
		}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{DialContext: dial, DisableKeepAlives: true, ResponseHeaderTimeout: c.Timeout}
	return &humanClients{
		tr: tr,
		cl: &http.Client{Transport: tr, Timeout: c.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		ws: &websocket.Dialer{NetDialContext: dial, HandshakeTimeout: c.Timeout, ReadBufferSize: 512, WriteBufferSize: 256},
	}
}

func (h *humanClients) close() { h.tr.CloseIdleConnections() }

// humanAddr is human i's own address in 127.1.0.0/16.
func humanAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(1 + i%250)})
}

// humanJourney: the queue page's requests. Ask for a place; pay the toll
// if the room asks one (the phone's time waited out); hold the WebSocket
// until the round ends.
//
// A request under way when the round ends is answered (ctx ends only with
// the run): the place it took is in the line either way, and the report
// must know it. Waiting stops with the round (round).
func (s *swarmRun) humanJourney(ctx, round context.Context, cl *humanClients, i int) {
	ctx = context.WithValue(ctx, localAddrKey{}, humanAddr(i))
	round = context.WithValue(round, localAddrKey{}, humanAddr(i))
	arrived := time.Since(s.start)
	var cookies jar
	tollHeader := ""
	var first time.Duration
	for try := 0; ; try++ {
		code, d, err := s.ask(ctx, cl.cl, &cookies, tollHeader)
		if try == 0 {
			first = time.Since(s.start) - arrived
		}
		switch {
		case err != nil || try > 20:
			s.human(i, -1, arrived, 0)
			return
		case code == http.StatusOK && d.Ticket > 0:
			s.human(i, d.Ticket, arrived, first)
			s.holdSocket(round, cl.ws, cookies)
			return
		case d.State == "toll" && d.Challenge != nil && tollHeader == "":
			sol, hashes, err := s.booth.Paid(s.room, visitorOf(cookies), float64(d.Challenge.MaxNumber)/(2*toll.PhoneHashesPerSecond), time.Now())
			if err != nil {
				s.human(i, -1, arrived, 0)
				return
			}
			phone := time.Duration(float64(hashes) / toll.PhoneHashesPerSecond * float64(time.Second))
			if !sleepUntil(round, time.Time{}, time.Now().Add(phone)) {
				s.human(i, -1, arrived, 0)
				return
			}
			tollHeader = sol.Encode()
		default:
			// limited, busy, or a place still being counted: try again as
			// the page does, after a short while
			s.retried(code, d)
			if !sleepUntil(round, time.Time{}, time.Now().Add(retryWait(d))) {
				s.human(i, -1, arrived, 0)
				return
			}
		}
	}
}

// retried counts a human's request asked again.
func (s *swarmRun) retried(code int, d swarmDoc) {
	why := d.State
	switch {
	case code == http.StatusServiceUnavailable || (code == http.StatusTooManyRequests && d.State == ""):
		why = "busy"
	case why == "":
		why = "http_" + strconv.Itoa(code)
	}
	s.mu.Lock()
	s.retries[why]++
	s.mu.Unlock()
}

// retryWait is how long a participant waits before asking again: the
// answer's retry_after, within 0.2 to 5 s.
func retryWait(d swarmDoc) time.Duration {
	w := 500 * time.Millisecond
	if d.RetryAfter != nil {
		if f, err := strconv.ParseFloat(strings.Trim(string(*d.RetryAfter), `"`), 64); err == nil {
			w = time.Duration(f * float64(time.Second))
		}
	}
	return min(max(w, 200*time.Millisecond), 5*time.Second)
}

// visitorOf is the visitor id of the wr_id cookie in j.
func visitorOf(j jar) string {
	for _, c := range j {
		if c.Name == "wr_id" {
			id, _, _ := strings.Cut(c.Value, ".")
			return id
		}
	}
	return ""
}

// ask is one status request: the answer's code and document.
func (s *swarmRun) ask(ctx context.Context, cl *http.Client, cookies *jar, tollHeader string) (int, swarmDoc, error) {
	var d swarmDoc
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.statusURL, http.NoBody)
	if err != nil {
		return 0, d, err
	}
	req.Header.Set("Accept", "application/json")
	if c := cookies.header(); c != "" {
		req.Header.Set("Cookie", c)
	}
	if tollHeader != "" {
		req.Header.Set("Waitroom-Toll", tollHeader)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, d, err
	}
	b, err := readBody(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, d, err
	}
	cookies.update(resp, time.Now())
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusTooManyRequests {
		_ = json.Unmarshal(b, &d) // a busy answer has no document
	}
	return resp.StatusCode, d, nil
}

// holdSocket holds the human's WebSocket until the round ends, as the
// queue page does while its visitor waits.
func (s *swarmRun) holdSocket(ctx context.Context, d *websocket.Dialer, cookies jar) {
	h := http.Header{}
	h.Set("Origin", s.origin)
	h.Set("Cookie", cookies.header())
	conn, _, err := d.DialContext(ctx, s.wsURL, h)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetReadLimit(maxMessage)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// bot is one of a bot's connections: it asks for places as fast as it can
// until the bot made BotJoins attempts (joins) or the round ends, keeps no
// cookies between places, and solves every toll at once. The CPU time of
// its requests and solving is counted on the thread that did them.
func (s *swarmRun) bot(ctx context.Context, cl *http.Client, joins *atomic.Int64, end time.Time) {
	for joins.Add(1) <= int64(s.c.BotJoins) && ctx.Err() == nil && time.Now().Before(end) {
		s.attempts.Add(1)
		var cookies jar
		var code int
		var doc swarmDoc
		var err error
		s.onThread(func() { code, doc, err = s.ask(ctx, cl, &cookies, "") })
		if err == nil && doc.State == "toll" && doc.Challenge != nil {
			var sol toll.Solution
			s.cores <- struct{}{}
			if ctx.Err() != nil || !time.Now().Before(end) {
				<-s.cores
				return // the round ended while this bot waited for a core
			}
			s.onThread(func() { sol, err = toll.Solve(*doc.Challenge) })
			<-s.cores
			if err == nil {
				s.tolls.Add(1)
				s.onThread(func() { code, doc, err = s.ask(ctx, cl, &cookies, sol.Encode()) })
			}
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.errs.Add(1)
			}
		case code == http.StatusOK && doc.Ticket > 0:
			s.mu.Lock()
			s.places = append(s.places, place{ticket: doc.Ticket, bot: true})
			s.mu.Unlock()
		case doc.State == "limited":
			s.limited.Add(1)
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			s.busy.Add(1)
		default:
			s.errs.Add(1)
		}
	}
}

// onThread runs f on one OS thread and counts the CPU time it used there
// as the bots'.
func (s *swarmRun) onThread(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	f()
	s.cpu.Add(int64(threadCPU() - t0))
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *swarmRun) result(res *SwarmResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := slices.Clone(s.places)
	slices.SortFunc(line, func(a, b place) int { return int(a.ticket - b.ticket) })
	res.Line, res.HumanFailed = len(line), s.failed
	var humans []int // index in line of each human place
	var ahead []float64
	for i, p := range line {
		if p.bot {
			res.BotPlaces++
			if i < s.c.First {
				res.BotsInFirst++
			}
		} else {
			humans = append(humans, i)
			ahead = append(ahead, float64(res.BotPlaces))
		}
	}
	res.HumanPlaces = len(humans)
	res.BotsAheadP50, res.BotsAheadP95 = quantile(ahead, 0.5), quantile(ahead, 0.95)
	if first := min(s.c.First, len(line)); first > 0 {
		res.BotShareFirst = float64(res.BotsInFirst) / float64(first)
	}

	// Displacement: a human's index in line minus its rank among humans
	// by arrival.
	byArrival := slices.Clone(humans)
	slices.SortStableFunc(byArrival, func(a, b int) int { return int(line[a].arrived - line[b].arrived) })
	var disp, wait, first []float64
	for rank, idx := range byArrival {
		disp = append(disp, float64(idx-rank))
		wait = append(wait, (line[idx].counted - line[idx].arrived).Seconds())
		first = append(first, line[idx].first.Seconds())
	}
	res.FirstAnswerP50, res.FirstAnswerP95 = quantile(first, 0.5), quantile(first, 0.95)
	res.DisplacementP50, res.DisplacementP95 = quantile(disp, 0.5), quantile(disp, 0.95)
	if len(line) > 0 {
		res.DisplacementP50Of = res.DisplacementP50 / float64(len(line))
		res.DisplacementP95Of = res.DisplacementP95 / float64(len(line))
	}
	res.PlaceWaitP50, res.PlaceWaitP95 = quantile(wait, 0.5), quantile(wait, 0.95)
	res.HumanRetries = s.retries

	res.BotAttempts, res.BotLimited, res.BotTolls = s.attempts.Load(), s.limited.Load(), s.tolls.Load()
	res.BotBusy, res.BotErrors = s.busy.Load(), s.errs.Load()
	res.BotCPUSeconds = time.Duration(s.cpu.Load()).Seconds()
	if res.BotCPUSeconds > 0 {
		res.BotPlacesPerCPUSecond = float64(res.BotPlaces) / res.BotCPUSeconds
	}

	res.FrontStep = max(s.c.First/50, 1)
	bots := 0
	for i, p := range line {
		if i >= 2*s.c.First {
			break
		}
		if p.bot {
			bots++
		}
		if (i+1)%res.FrontStep == 0 {
			res.FrontBots = append(res.FrontBots, bots)
		}
	}
}

// quantile is the q-quantile of v (nearest rank); 0 when v is empty.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ParseSwarmRounds reads "name=room,name=room".
func ParseSwarmRounds(s string) ([]SwarmRound, error) {
	var out []SwarmRound
	for _, f := range strings.Split(s, ",") {
		name, room, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok || name == "" || !validRoom(room) {
			return nil, fmt.Errorf("bad round %q: want name=room, e.g. off=swarm-off,on=swarm-on", f)
		}
		out = append(out, SwarmRound{Name: name, Room: room})
	}
	if len(out) == 0 {
		return nil, errors.New("no rounds")
	}
	return out, nil
}
