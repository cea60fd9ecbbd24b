package surge

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// fakeSite is a small stand-in for a gateway in front of ticketd, speaking
// the same HTTP contract (SPEC.md), for testing surge's measurements before
// and besides the real binaries. Its knobs plant the faults surge must
// detect: admitting out of order, overselling.
type fakeSite struct {
	t *testing.T

	// AtOnce visitors are admitted on arrival; later ones queue and PerTick
	// of them are admitted every Tick (0: never).
	AtOnce  int
	PerTick int
	Tick    time.Duration
	// Invert admits the newest waiting visitor first (a LIFO bug).
	Invert bool
	// Oversell sells past zero (a missing stock check).
	Oversell bool
	// Secret, when set, makes the site an origin that needs a Waitroom-Pass
	// header signed with it (direct mode).
	Secret []byte

	mu       sync.Mutex
	next     int64
	visitors map[string]*fakeVisitor
	total    int64
	stock    int64
	jtis     map[string]bool
	inflight int64
	peak     int64
	remotes  map[string]int
}

type fakeVisitor struct {
	ticket   int64
	admitted bool
	pass     string
	bought   bool
}

func newFakeSite(t *testing.T, stock int64, edit func(*fakeSite)) (*fakeSite, *httptest.Server) {
	t.Helper()
	f := &fakeSite{t: t, visitors: map[string]*fakeVisitor{}, total: stock, stock: stock, jtis: map[string]bool{}, remotes: map[string]int{}, Tick: 10 * time.Millisecond}
	if edit != nil {
		edit(f)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if f.PerTick > 0 {
		go func() {
			tk := time.NewTicker(f.Tick)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					f.admit()
				}
			}
		}()
	}
	return f, srv
}

func (f *fakeSite) admit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var waiting []*fakeVisitor
	for _, v := range f.visitors {
		if !v.admitted && v.ticket > 0 {
			waiting = append(waiting, v)
		}
	}
	sort.Slice(waiting, func(i, j int) bool { return (waiting[i].ticket < waiting[j].ticket) != f.Invert })
	for i := 0; i < f.PerTick && i < len(waiting); i++ {
		waiting[i].admitted = true
	}
}

func (f *fakeSite) status(v *fakeVisitor) Status {
	st := Status{Room: "default", State: "queued", Ticket: v.ticket, AdmitPerMinute: 600}
	if v.admitted {
		st.State = "admitted"
		return st
	}
	for _, o := range f.visitors {
		if !o.admitted && o.ticket > 0 && o.ticket <= v.ticket {
			st.Position++
		}
		if !o.admitted && o.ticket > 0 {
			st.Waiting++
		}
	}
	return st
}

func (f *fakeSite) visitor(w http.ResponseWriter, r *http.Request) *fakeVisitor {
	if c, err := r.Cookie("wr_id"); err == nil {
		if v := f.visitors[c.Value]; v != nil {
			return v
		}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	v := &fakeVisitor{}
	f.visitors[id] = v
	http.SetCookie(w, &http.Cookie{Name: "wr_id", Value: id, Path: "/", HttpOnly: true})
	return v
}

func (f *fakeSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inflight++
	f.peak = max(f.peak, f.inflight)
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	f.remotes[host]++
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }()

	switch {
	case r.URL.Path == "/api/events/1" && r.Method == http.MethodGet:
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(Event{ID: json.RawMessage("1"), Room: "default", Total: f.total, Remaining: f.stock})
	case r.URL.Path == "/metrics":
		f.mu.Lock()
		defer f.mu.Unlock()
		fmt.Fprintf(w, "ticketd_http_inflight %d\nticketd_http_inflight_max %d\n", f.inflight-1, f.peak)
	case r.URL.Path == "/events/1" && f.Secret != nil:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<h1>event</h1>")
	case r.URL.Path == "/events/1":
		f.page(w, r)
	case r.URL.Path == "/_waitroom/api/status":
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(f.status(f.visitor(w, r)))
	case r.URL.Path == "/_waitroom/ws":
		f.socket(w, r)
	case r.URL.Path == "/api/events/1/orders" && r.Method == http.MethodPost:
		f.order(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeSite) page(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.visitor(w, r)
	if c, err := r.Cookie("wr_pass_default"); err == nil && c.Value == v.pass && v.pass != "" {
		fmt.Fprint(w, "<h1>event</h1>")
		return
	}
	if v.ticket == 0 {
		f.next++
		v.ticket = f.next
		if int(v.ticket) <= f.AtOnce {
			v.admitted = true
		}
	}
	if v.admitted {
		v.pass = fmt.Sprintf("pass-%d", v.ticket)
		http.SetCookie(w, &http.Cookie{Name: "wr_pass_default", Value: v.pass, Path: "/"})
		fmt.Fprint(w, "<h1>event</h1>")
		return
	}
	w.Header().Set("Waitroom-State", "queued")
	fmt.Fprint(w, "<h1>queue</h1>")
}

var upgrader = websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 512}

func (f *fakeSite) socket(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "http://"+r.Host {
		http.Error(w, "cross-site", http.StatusForbidden)
		return
	}
	f.mu.Lock()
	v := f.visitor(w, r)
	f.mu.Unlock()
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	go func() { // read to see the client's close
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				conn.Close()
				return
			}
		}
	}()
	for {
		f.mu.Lock()
		st := f.status(v)
		f.mu.Unlock()
		if conn.WriteJSON(st) != nil || st.State == "admitted" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fakeSite) order(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Secret != nil {
		tok, err := jwt.Parse(r.Header.Get("Waitroom-Pass"), func(*jwt.Token) (any, error) { return f.Secret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("waitroom"), jwt.WithAudience("default"))
		if err != nil {
			http.Error(w, `{"error":"invalid_pass"}`, http.StatusUnauthorized)
			return
		}
		jti, _ := tok.Claims.(jwt.MapClaims)["jti"].(string)
		if f.jtis[jti] {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"pass_used"}`)
			return
		}
		f.jtis[jti] = true
	} else {
		v := f.visitor(w, r)
		c, err := r.Cookie("wr_pass_default")
		if err != nil || c.Value != v.pass || v.pass == "" {
			http.Error(w, `{"error":"no_pass"}`, http.StatusUnauthorized)
			return
		}
		if v.bought {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"pass_used"}`)
			return
		}
		v.bought = true
	}
	var body struct {
		Quantity int64 `json:"quantity"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.Quantity < 1 {
		http.Error(w, `{"error":"bad_body"}`, http.StatusBadRequest)
		return
	}
	if f.stock < body.Quantity && !f.Oversell {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"error":"sold_out"}`)
		return
	}
	f.stock -= body.Quantity
	w.Header().Set("Waitroom-Command", "revoke") // as ticketd: the slot is free again
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"order_id":1}`)
}

func (f *fakeSite) remoteHosts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for h := range f.remotes {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

func strip(s string) string { return strings.TrimSpace(s) }
