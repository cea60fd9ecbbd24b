package surge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/waitroom/waitroom/gateway/toll"
)

// Status is the gateway's status JSON, as a visitor receives it over the
// WebSocket, from the status API or in a 429 body.
type Status struct {
	Room           string  `json:"room"`
	State          string  `json:"state"` // prequeue, queued, admitted, paused, closed
	Position       int64   `json:"position"`
	Waiting        int64   `json:"waiting"`
	ETASeconds     float64 `json:"eta_seconds"`
	AdmitPerMinute int     `json:"admit_per_minute"`
	OpensAt        *string `json:"opens_at"`
	Ticket         int64   `json:"ticket"`
}

// visitor is one simulated browser tab. It lives in one goroutine; the
// timers that end its wait (abandoning, the end of the run) close its socket
// rather than run goroutines of their own.
type visitor struct {
	r       *run
	i       int
	id      string
	cookies jar
	ws      bool // holds the WebSocket (else polls)
	abandon time.Duration
	rec     *record

	lastPos int64
	lastObs time.Duration // when the visitor last heard about its place
}

// record is what the FIFO check needs from one visitor; written only by the
// visitor's goroutine, read after every visitor has finished.
type record struct {
	ticket     int64
	lastQueued time.Duration // -1: never seen waiting
	admitted   time.Duration // -1: never admitted
	gap        time.Duration // longest silence between status messages while waiting
}

// outcome is how a visitor's journey ended.
type outcome int

const (
	outBought outcome = iota
	outSoldOut
	outAbandoned
	outWaiting
	outFailed
	outToll // the room asks the toll: pay it, wait again (never a journey's end)
)

func newVisitor(r *run, i int) *visitor {
	rng := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(i)))
	v := &visitor{r: r, i: i, id: "surge-" + strconv.Itoa(i), rec: &r.records[i]}
	v.ws = rng.Float64() < r.cfg.WebSocketShare
	if rng.Float64() < r.cfg.AbandonShare {
		v.abandon = time.Duration(rng.Int64N(int64(r.cfg.AbandonWithin))) + time.Millisecond
	}
	v.rec.lastQueued, v.rec.admitted = -1, -1
	return v
}

// journey runs the visitor from arrival to its end and counts the outcome.
func (v *visitor) journey(ctx context.Context) {
	r := v.r
	r.count.arrived.Add(1)
	r.second(r.since()).arrivals.Add(1)
	var o outcome
	if r.cfg.Direct != "" {
		o = v.direct(ctx)
	} else {
		o = v.gateway(ctx)
	}
	switch o {
	case outBought:
		r.count.bought.Add(1)
	case outSoldOut:
		r.count.soldOut.Add(1)
	case outAbandoned:
		r.count.abandoned.Add(1)
	case outWaiting:
		r.count.stillWaiting.Add(1)
	case outFailed:
		if ctx.Err() != nil {
			r.count.stillWaiting.Add(1)
		} else {
			r.count.failed.Add(1)
		}
	}
}

func (v *visitor) direct(ctx context.Context) outcome {
	resp, _, err := v.do(ctx, "page", http.MethodGet, v.r.eventPage, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		return outFailed
	}
	v.r.count.admitted.Add(1)
	v.r.count.atOnce.Add(1)
	v.r.wait.record(0)
	return v.order(ctx)
}

func (v *visitor) gateway(ctx context.Context) outcome {
	r := v.r
	arrived := r.since()
	resp, _, err := v.do(ctx, "page", http.MethodGet, r.eventPage, nil)
	for try := 0; err == nil && resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Waitroom-State") == "limited" && try < 5; try++ {
		// Too many places from this network (the crowd shares a few
		// source addresses): the page says when to try again.
		r.fail("page_limited")
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if !sleepUntil(ctx, time.Time{}, time.Now().Add(time.Duration(min(max(wait, 1), 30))*time.Second)) {
			return outWaiting
		}
		resp, _, err = v.do(ctx, "page", http.MethodGet, r.eventPage, nil)
	}
	if err != nil {
		return outFailed
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Waitroom-State") == "toll" && !v.payToll(ctx) {
		return outFailed
	}
	switch {
	case resp.StatusCode == http.StatusOK && resp.Header.Get("Waitroom-State") == "":
		// Nobody was waiting and the site had room: straight in.
		r.count.admitted.Add(1)
		r.count.atOnce.Add(1)
		r.wait.record(0)
		v.rec.admitted = r.since()
		r.second(v.rec.admitted).admitted.Add(1)
		return v.order(ctx)
	case resp.StatusCode == http.StatusOK:
	default:
		v.r.fail("page_http_" + strconv.Itoa(resp.StatusCode))
		return outFailed
	}

	r.count.queued.Add(1)
	r.waiting.Add(1)
	v.rec.lastQueued = arrived
	v.lastObs = r.since()
	o := v.wait(ctx, arrived)
	for try := 0; o == outToll; try++ {
		if try == 3 || !v.payToll(ctx) {
			r.fail("toll_unpaid")
			o = outFailed
			break
		}
		o = v.wait(ctx, arrived)
	}
	r.waiting.Add(-1)
	if o != outBought { // outBought here means "admitted"
		return o
	}
	r.count.admitted.Add(1)
	r.wait.record(v.rec.admitted - arrived)
	r.second(v.rec.admitted).admitted.Add(1)

	// The queue page reloads the original URL once admitted; that request
	// sets the pass cookie and reaches the origin.
	resp, _, err = v.do(ctx, "page_admitted", http.MethodGet, r.eventPage, nil)
	if err != nil {
		return outFailed
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Waitroom-State") != "" {
		r.fail("page_admitted_not_let_in")
		return outFailed
	}
	return v.order(ctx)
}

// tollAsked reports whether a status body is the toll's 429 answer.
func tollAsked(body []byte) bool {
	var st Status
	return json.Unmarshal(body, &st) == nil && st.State == "toll"
}

// payToll pays the room's toll as the queue page does: the challenge from
// the status API, solved, sent back; a busy or limited answer is asked
// again after its Retry-After, with the same solution. With the gateway's
// cookie secret the visitor's phone is stood in for (toll.Booth.Paid) and
// its time waited out; without it the challenge is solved on this
// machine's CPU.
func (v *visitor) payToll(ctx context.Context) bool {
	r := v.r
	paid := ""
	for try := 0; try < 50; try++ { // the run's duration bounds it too
		u := r.statusURL
		if paid != "" {
			u += "&toll=" + url.QueryEscape(paid)
		}
		resp, body, err := v.do(ctx, "status", http.MethodGet, u, nil)
		if err != nil {
			return false
		}
		var d struct {
			State      string          `json:"state"`
			Challenge  *toll.Challenge `json:"challenge"`
			RetryAfter float64         `json:"retry_after"`
		}
		_ = json.Unmarshal(body, &d)
		switch {
		case resp.StatusCode == http.StatusOK:
			return true // the place counts (or another tab paid)
		case resp.StatusCode != http.StatusTooManyRequests:
			r.fail("toll_http_" + strconv.Itoa(resp.StatusCode))
			return false
		case d.State == "toll" && d.Challenge != nil:
			// the toll to pay (again, if the solution sent was refused)
			if paid, err = v.solve(ctx, *d.Challenge); err != nil {
				return false
			}
		default:
			// busy or limited: as the page does, wait and ask again
			wait := time.Duration(max(d.RetryAfter, 1) * float64(time.Second))
			if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
				wait = time.Duration(ra) * time.Second
			}
			r.fail("toll_" + cmp.Or(d.State, "busy"))
			if !sleepUntil(ctx, time.Time{}, time.Now().Add(min(wait, 30*time.Second))) {
				return false
			}
		}
	}
	r.fail("toll_gave_up")
	return false
}

// solve pays challenge c: on the visitor's phone, stood in for, or here.
func (v *visitor) solve(ctx context.Context, c toll.Challenge) (string, error) {
	r := v.r
	if r.booth == nil {
		s, err := toll.Solve(c)
		if err != nil {
			r.fail("toll_solve")
		}
		return s.Encode(), err
	}
	s, hashes, err := r.booth.Paid(r.room, visitorOf(v.cookies), float64(c.MaxNumber)/(2*toll.PhoneHashesPerSecond), time.Now())
	if err != nil {
		r.fail("toll_solve")
		return "", err
	}
	phone := time.Duration(float64(hashes) / toll.PhoneHashesPerSecond * float64(time.Second))
	if !sleepUntil(ctx, time.Time{}, time.Now().Add(phone)) {
		return "", ctx.Err()
	}
	return s.Encode(), nil
}

// wait holds the visitor in the queue until it is admitted (outBought),
// abandons, the room closes or the run ends. WebSocket visitors fall back
// to polling when the socket cannot be held, as the queue page does.
func (v *visitor) wait(ctx context.Context, arrived time.Duration) outcome {
	var deadline time.Time
	if v.abandon > 0 {
		deadline = v.r.start.Add(arrived + v.abandon)
	}
	if v.ws {
		for try := 0; try < 3; try++ {
			o, retry := v.waitSocket(ctx, deadline)
			if !retry {
				return o
			}
			if !sleepUntil(ctx, deadline, time.Now().Add(time.Duration(200<<try)*time.Millisecond)) {
				return v.stopped(ctx)
			}
		}
	}
	return v.poll(ctx, deadline)
}

// stopped names why a wait ended early: the run ended, or the visitor left.
func (v *visitor) stopped(ctx context.Context) outcome {
	if ctx.Err() != nil {
		return outWaiting
	}
	return outAbandoned
}

// sleepUntil sleeps until t; false if the run ended or the abandon deadline
// came first.
func sleepUntil(ctx context.Context, abandonAt, t time.Time) bool {
	if !abandonAt.IsZero() && abandonAt.Before(t) {
		t = abandonAt
	}
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return abandonAt.IsZero() || time.Now().Before(abandonAt)
	}
}

// waitSocket holds the WebSocket. retry is true when the socket failed and
// the caller should reconnect or fall back to polling.
func (v *visitor) waitSocket(ctx context.Context, abandonAt time.Time) (o outcome, retry bool) {
	r := v.r
	h := http.Header{}
	h.Set("Origin", r.origin)
	if c := v.cookies.header(); c != "" {
		h.Set("Cookie", c)
	}
	t0 := time.Now()
	r.requests()
	conn, resp, err := r.cl.ws.DialContext(ctx, r.wsURL, h)
	if err != nil {
		if ctx.Err() != nil {
			return outWaiting, false
		}
		if resp != nil {
			r.fail("ws_connect_http_" + strconv.Itoa(resp.StatusCode))
		} else {
			r.fail("ws_connect_" + errKind(err))
		}
		return 0, true
	}
	r.lat["ws_connect"].record(time.Since(t0))
	defer conn.Close()
	conn.SetReadLimit(maxMessage)

	// Abandoning and the end of the run close the socket, which ends the
	// blocked read below; no goroutine waits for them.
	var left atomic.Bool
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if !abandonAt.IsZero() {
		tm := time.AfterFunc(time.Until(abandonAt), func() { left.Store(true); conn.Close() })
		defer tm.Stop()
	}
	for {
		// The gateway pushes at least once a second; ten silent seconds
		// mean the socket is dead.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return outWaiting, false
			case left.Load():
				return outAbandoned, false
			}
			if ce, ok := err.(*websocket.CloseError); ok {
				r.fail("ws_closed_" + strconv.Itoa(ce.Code))
			} else {
				r.fail("ws_" + errKind(err))
			}
			return 0, true
		}
		var st Status
		if json.Unmarshal(msg, &st) != nil {
			r.fail("ws_bad_json")
			continue
		}
		if o, done := v.observe(st); done {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return o, false
		}
	}
}

// poll asks the status API every PollInterval (±10%).
func (v *visitor) poll(ctx context.Context, abandonAt time.Time) outcome {
	r := v.r
	jitter := rand.New(rand.NewPCG(uint64(r.cfg.Seed), uint64(v.i)^0xabcdef))
	for {
		resp, body, err := v.do(ctx, "status", http.MethodGet, r.statusURL, nil)
		switch {
		case ctx.Err() != nil:
			return outWaiting
		case err != nil:
		case resp.StatusCode == http.StatusTooManyRequests && tollAsked(body):
			return outToll
		case resp.StatusCode != http.StatusOK:
			r.fail("status_http_" + strconv.Itoa(resp.StatusCode))
		default:
			var st Status
			if json.Unmarshal(body, &st) != nil {
				r.fail("status_bad_json")
				break
			}
			if o, done := v.observe(st); done {
				return o
			}
		}
		d := time.Duration(float64(r.cfg.PollInterval) * (0.9 + 0.2*jitter.Float64()))
		if !sleepUntil(ctx, abandonAt, time.Now().Add(d)) {
			return v.stopped(ctx)
		}
	}
}

// observe takes in one status message; done is true when the wait is over.
func (v *visitor) observe(st Status) (o outcome, done bool) {
	r := v.r
	now := r.since()
	v.rec.gap = max(v.rec.gap, now-v.lastObs)
	v.lastObs = now
	if st.Ticket > 0 {
		v.rec.ticket = st.Ticket
	}
	switch st.State {
	case "admitted":
		v.rec.admitted = now
		return outBought, true
	case "closed":
		r.fail("room_closed")
		return outFailed, true
	case "toll":
		// the room asks a toll for a place (this visitor's, or a new one
		// if theirs lapsed): paid as the page does, then the wait goes on
		return outToll, true
	case "queued":
		if st.Position > 0 {
			if v.lastPos > 0 && st.Position > v.lastPos {
				r.count.positionUp.Add(1)
			}
			v.lastPos = st.Position
		}
	}
	v.rec.lastQueued = now
	return 0, false
}

// order buys Quantity tickets.
func (v *visitor) order(ctx context.Context) outcome {
	r := v.r
	resp, body, err := v.do(ctx, "order", http.MethodPost, r.orderURL, r.orderBody)
	if err != nil {
		return outFailed
	}
	switch resp.StatusCode {
	case http.StatusCreated:
		r.count.orders.Add(1)
		r.count.tickets.Add(int64(r.cfg.Quantity))
		r.second(r.since()).orders.Add(1)
		return outBought
	case http.StatusConflict:
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Error == "sold_out" {
			return outSoldOut
		}
		r.fail("order_" + orDefault(e.Error, "conflict"))
		return outFailed
	}
	r.fail("order_http_" + strconv.Itoa(resp.StatusCode))
	return outFailed
}

func orDefault(s, d string) string {
	if s == "" || len(s) > 32 || strings.ContainsAny(s, " \n") {
		return d
	}
	return s
}

// do sends one request as this visitor (its cookies, and in direct mode a
// pass for orders), times it under kind and reads a bounded body. Errors
// are counted here; the caller only decides what comes next.
func (v *visitor) do(ctx context.Context, kind, method, u string, body []byte) (*http.Response, []byte, error) {
	r := v.r
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		r.fail(kind + "_request")
		return nil, nil, err
	}
	if body == nil {
		req.Body = http.NoBody
	}
	switch kind {
	case "page", "page_admitted":
		req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	default:
		req.Header.Set("Accept", "application/json")
	}
	req.Header.Set("Accept-Language", "en")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c := v.cookies.header(); c != "" {
		req.Header.Set("Cookie", c)
	}
	if kind == "order" && r.signer != nil {
		pass, err := r.signer.sign(v.id, r.room, time.Now())
		if err == nil {
			req.Header.Set("Waitroom-Pass", pass)
		}
	}
	t0 := time.Now()
	r.requests()
	resp, err := r.cl.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(kind + "_" + errKind(err))
		}
		return nil, nil, err
	}
	b, rerr := readBody(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	r.lat[kind].record(d)
	if r.reachesOrigin(kind) {
		r.second(r.since()).origin(d)
		if resp.StatusCode >= 500 {
			r.count.status5xx.Add(1)
		}
	}
	if rerr != nil {
		r.fail(kind + "_" + errKind(rerr))
		return nil, nil, rerr
	}
	v.cookies.update(resp, time.Now())
	return resp, b, nil
}

// wsURL turns the base URL into the WebSocket URL of the room.
func wsURL(base, room string) string {
	u, _ := url.Parse(strings.TrimRight(base, "/") + "/_waitroom/ws")
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.RawQuery = url.Values{"room": {room}}.Encode()
	return u.String()
}
