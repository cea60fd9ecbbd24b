package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

const adminToken = "test-admin-token"

// origin is an httptest origin that records what it received.
type origin struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []*http.Request
	// respond, when set, writes the response instead of the default 200.
	respond func(w http.ResponseWriter, r *http.Request)
}

func newOrigin(t testing.TB) *origin {
	t.Helper()
	o := &origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		o.mu.Lock()
		o.got = append(o.got, r.Clone(context.Background()))
		respond := o.respond
		o.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "origin:"+r.URL.Path)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) requests() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.got...)
}

// rig is one gateway instance on real Redis, with its public and admin
// listeners on httptest servers.
type rig struct {
	g      *gateway.Gateway
	pub    *httptest.Server
	adm    *httptest.Server
	origin *origin
	rdb    redis.UniversalClient
	cfg    gateway.Config
}

type rigOpts struct {
	rooms    []queue.Room
	rdb      redis.UniversalClient // default: testenv.Redis
	prefix   string
	origin   *origin
	failMode string
	mutate   func(*gateway.Config)
}

func room(name string, apm, maxActive int, paths ...string) queue.Room {
	return queue.Room{
		Name: name, Paths: paths, AdmitPerMinute: apm, MaxActive: maxActive,
		SessionTTL: 10 * time.Minute, AbandonAfter: time.Minute, Mode: queue.FIFO,
	}
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.rdb == nil {
		o.rdb, o.prefix = testenv.Redis(t)
	}
	if o.origin == nil {
		o.origin = newOrigin(t)
	}
	if o.rooms == nil {
		o.rooms = []queue.Room{room("default", 600, 1000, "/*")}
	}
	cfg := gateway.DefaultConfig(o.origin.srv.URL)
	cfg.Redis = o.rdb
	cfg.RedisPrefix = o.prefix
	cfg.Rooms = o.rooms
	cfg.CookieSecret = "0123456789abcdef0123456789abcdef-cookie"
	cfg.PassSecret = "0123456789abcdef0123456789abcdef-pass"
	cfg.AdminToken = adminToken
	cfg.AdmitInterval = 50 * time.Millisecond
	if o.failMode != "" {
		cfg.FailMode = o.failMode
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	g.Start(ctx)
	pub := httptest.NewUnstartedServer(nil)
	pub.Config = g.PublicServer()
	pub.Start()
	adm := httptest.NewServer(g.Admin())
	t.Cleanup(func() {
		pub.Close()
		adm.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = g.Shutdown(sctx)
		cancel()
	})
	return &rig{g: g, pub: pub, adm: adm, origin: o.origin, rdb: o.rdb, cfg: cfg}
}

// browser is a visitor with a cookie jar that never follows redirects.
type browser struct {
	t   testing.TB
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get requests url; html picks the Accept header of a browser or an API client.
func (b *browser) get(url string, html bool, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if html {
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (b *browser) cookie(base, name string) string {
	req := httptest.NewRequest(http.MethodGet, base, nil)
	for _, c := range b.jar.Cookies(req.URL) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// cookieHeader is the Cookie header this browser sends to base: what a
// copy of its cookies (the same visitor on another instance, or a thief
// with everything) would present.
func (b *browser) cookieHeader(base string) string {
	req := httptest.NewRequest(http.MethodGet, base, nil)
	var parts []string
	for _, c := range b.jar.Cookies(req.URL) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

func (b *browser) status(r *rig, roomName string) web.Status {
	b.t.Helper()
	res, body := b.get(r.pub.URL+"/_waitroom/api/status?room="+roomName, false)
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("status API: %d %s", res.StatusCode, body)
	}
	var s web.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		b.t.Fatalf("status JSON %q: %v", body, err)
	}
	return s
}

// admin calls the admin API with the token.
func (r *rig) admin(t testing.TB, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.adm.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// proxies parses trusted proxy ranges as WAITROOM_TRUSTED_PROXIES would.
func proxies(t testing.TB, list ...string) gateway.ProxyRanges {
	t.Helper()
	var pr gateway.ProxyRanges
	if err := pr.UnmarshalText([]byte(strings.Join(list, ","))); err != nil {
		t.Fatal(err)
	}
	return pr
}

var _ = token.HeaderPass
