package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/gateway/route"
	"github.com/waitroom/waitroom/internal/ticketd"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// The demo room, at real speed: a rate low enough that a visitor sees the
// line move, and an abandon_after longer than the line, so a curl visitor
// who repeats its request now and then keeps its place.
const (
	demoAdmitPerMinute = 30
	// demoMaxActive stays above what the crowd holds (rate x stay, plus
	// the admissions of visitors who gave up, which lapse after a
	// minute), so the rate, not the cap, sets the pace.
	demoMaxActive    = 100
	demoSessionTTL   = 5 * time.Minute
	demoAbandonAfter = 5 * time.Minute
	demoDrain        = 5 * time.Second
)

// demoConfig is what `waitroom demo` can be told. The zero value of a field
// means its default.
type demoConfig struct {
	Listen       string  // public listener (WAITROOM_LISTEN, default :8080)
	AdminListen  string  // admin listener (WAITROOM_ADMIN_LISTEN, default 127.0.0.1:9090)
	OriginListen string  // ticketd (TICKETD_LISTEN, default 127.0.0.1:8081; :0 picks a free port)
	LogLevel     string  // WAITROOM_LOG_LEVEL, default warn: no line per request
	Scale        float64 // speed of the room and the crowd (tests); default 1
	CrowdTick    time.Duration
	CrowdSeed    uint64
}

// demoConfigFromEnv reads the few variables the demo follows.
func demoConfigFromEnv(getenv func(string) string) demoConfig {
	return demoConfig{
		Listen:       getenv("WAITROOM_LISTEN"),
		AdminListen:  getenv("WAITROOM_ADMIN_LISTEN"),
		OriginListen: getenv("TICKETD_LISTEN"),
		LogLevel:     getenv("WAITROOM_LOG_LEVEL"),
	}
}

func (c demoConfig) withDefaults() demoConfig {
	def := gateway.DefaultConfig("http://127.0.0.1:8081")
	if c.Listen == "" {
		c.Listen = def.Listen
	}
	if c.AdminListen == "" {
		c.AdminListen = def.AdminListen
	}
	if c.OriginListen == "" {
		c.OriginListen = "127.0.0.1:8081"
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.Scale <= 0 {
		c.Scale = 1
	}
	return c
}

// validate checks the variables the demo follows, a line per problem.
func (c demoConfig) validate() error {
	var errs []error
	for _, l := range []struct{ variable, addr string }{
		{"WAITROOM_LISTEN", c.Listen}, {"WAITROOM_ADMIN_LISTEN", c.AdminListen}, {"TICKETD_LISTEN", c.OriginListen},
	} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", l.variable, l.addr))
		}
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("WAITROOM_LOG_LEVEL: %q is not trace, debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// room is the demo room at the configured speed: Scale times the rate,
// the durations divided by Scale (never below the queue's minimums).
func (c demoConfig) room() (rate int, sessionTTL, abandonAfter time.Duration) {
	div := func(d, least time.Duration) time.Duration {
		return max(least, time.Duration(float64(d)/c.Scale))
	}
	return int(math.Round(demoAdmitPerMinute * c.Scale)),
		div(demoSessionTTL, queue.MinSessionTTL),
		div(demoAbandonAfter, queue.MinAbandonAfter)
}

// runDemo runs the whole system in one process until ctx ends: the gateway
// in front of ticketd, the embedded Redis, and a simulated crowd that keeps
// a line for as long as the demo runs. It prints the banner on stdout once
// everything listens; logs (warnings only, unless WAITROOM_LOG_LEVEL says
// otherwise) go to stderr. Ctrl-C stops it with exit code 0.
func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) int {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 2
	}
	log := newLogger("console", cfg.LogLevel, stderr)
	d, err := newDemo(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 1
	}
	defer d.close()
	err = d.run(ctx, func(a demoAddrs) { writeBanner(stdout, a, d) })
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 1
	}
	fmt.Fprintln(stdout, "waitroom demo stopped.")
	return 0
}

// demo is the running system's parts.
type demo struct {
	cfg      demoConfig
	log      zerolog.Logger
	dir      string
	embedded *queue.Embedded
	rdb      *redis.Client
	gw       *gateway.Gateway
	td       *ticketd.Server
	originLn net.Listener // until run hands it to ticketd
	crowd    *crowd
	// passThrough are the paths never queued, for the banner.
	passThrough []string
}

// demoAddrs are where the demo answers, once it listens.
type demoAddrs struct {
	Site, Admin, Origin string // base URLs, no trailing slash
}

// newDemo builds every part and opens the origin's listener (the gateway
// needs its address); run serves.
//
// Every part the gateway would otherwise make up with a warning is given
// explicitly: the embedded Redis client, a cookie secret and a pass key,
// all random per start. Those warnings are for an operator who forgot a
// setting; the demo chose them.
func newDemo(ctx context.Context, cfg demoConfig, log zerolog.Logger) (_ *demo, err error) {
	d := &demo{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.dir, err = os.MkdirTemp("", "waitroom-demo-"); err != nil {
		return nil, err
	}
	if d.embedded, err = queue.StartEmbedded(); err != nil {
		return nil, err
	}
	opt, err := redis.ParseURL(d.embedded.URL())
	if err != nil {
		return nil, err
	}
	d.rdb = redis.NewClient(opt)
	keyFile, err := writePassKey(d.dir)
	if err != nil {
		return nil, err
	}
	if d.originLn, err = net.Listen("tcp", cfg.OriginListen); err != nil {
		return nil, fmt.Errorf("TICKETD_LISTEN: %w", err)
	}

	gcfg := gateway.DefaultConfig("http://" + d.originLn.Addr().String())
	gcfg.Listen, gcfg.AdminListen = cfg.Listen, cfg.AdminListen
	gcfg.Redis = d.rdb
	gcfg.CookieSecret = randomSecret()
	gcfg.PassKeyFile = gateway.KeyFiles{keyFile}
	gcfg.AdmitPerMinute, gcfg.SessionTTL, gcfg.AbandonAfter = cfg.room()
	gcfg.MaxActive = demoMaxActive
	gcfg.LogFormat, gcfg.LogLevel = "console", cfg.LogLevel
	if d.gw, err = gateway.New(ctx, gcfg, log.With().Str("svc", "gateway").Logger()); err != nil {
		return nil, err
	}

	tcfg := ticketd.DefaultConfig()
	tcfg.Listen = d.originLn.Addr().String()
	tcfg.DatabaseURL = "sqlite://" + filepath.Join(d.dir, "ticketd.db")
	tcfg.DBMaxConns = 4
	tcfg.SeedDemo = true
	tcfg.LogFormat, tcfg.LogLevel = "console", cfg.LogLevel
	tcfg.Verifier = d.gw.Verifier()
	if d.td, err = ticketd.New(ctx, tcfg, log.With().Str("svc", "ticketd").Logger()); err != nil {
		return nil, fmt.Errorf("ticketd: %w", err)
	}

	// The crowd queues on the visitors' Redis client, as people do; the
	// gateway's own work has a pool of its own.
	line := queue.New(d.rdb, queue.Config{Prefix: gcfg.RedisPrefix})
	d.crowd = newCrowd(line, d.gw.Rooms()[0], crowdConfig{Tick: cfg.CrowdTick, Scale: cfg.Scale, Seed: cfg.CrowdSeed})
	d.passThrough = gcfg.PassThrough
	return d, nil
}

// run serves until ctx ends, then stops in order: the gateway drains and
// closes its sockets while the origin still answers, then the crowd and
// the origin stop. ready gets the addresses once everything listens.
func (d *demo) run(ctx context.Context, ready func(demoAddrs)) error {
	pub, adm := d.gw.PublicServer(), d.gw.AdminServer()
	pubLn, admLn, err := listen(pub, adm)
	if err != nil {
		_ = d.gw.Shutdown(context.Background())
		return err
	}
	addrs := demoAddrs{Site: baseURL(pubLn.Addr()), Admin: baseURL(admLn.Addr()), Origin: baseURL(d.originLn.Addr())}
	pub.Handler = demoPublic(pub.Handler, addrs)

	originCtx, stopOrigin := context.WithCancel(context.Background())
	defer stopOrigin()
	originDone := make(chan error, 1)
	originLn := d.originLn
	d.originLn = nil // Serve closes it
	go func() { originDone <- d.td.Serve(originCtx, originLn, demoDrain) }()

	crowdCtx, stopCrowd := context.WithCancel(ctx)
	var crowdDone sync.WaitGroup
	crowdDone.Go(func() { d.crowd.run(crowdCtx) })

	err = serve(ctx, d.gw, pub, adm, pubLn, admLn, demoDrain, d.log.With().Str("svc", "gateway").Logger(), func() {
		if ready != nil {
			ready(addrs)
		}
	})
	stopCrowd()
	crowdDone.Wait()
	stopOrigin()
	if oerr := <-originDone; oerr != nil && !errors.Is(oerr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("ticketd: %w", oerr))
	}
	return err
}

// close releases what newDemo made; safe on a partly built demo, and
// after run (the gateway's Shutdown is then done already).
func (d *demo) close() {
	if d.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), demoDrain)
		_ = d.gw.Shutdown(ctx)
		cancel()
	}
	if d.td != nil {
		_ = d.td.Close()
	}
	if d.originLn != nil {
		_ = d.originLn.Close()
	}
	if d.rdb != nil {
		_ = d.rdb.Close()
	}
	if d.embedded != nil {
		d.embedded.Close()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
}

// demoPublic is the demo's public handler: the gateway's, but /metrics is
// answered here, unqueued. Proxied, it would publish ticketd's metrics as
// if they were a page of the site (they are the origin's operations data)
// and make every curl of it take a place in line, and so an admission.
// The path is matched after the gateway's own cleaning, so //metrics or
// /./metrics are the same path.
func demoPublic(site http.Handler, a demoAddrs) http.Handler {
	return route.CleanRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			site.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "/metrics is not part of the site, so the demo does not proxy it.\n"+
			"The gateway's metrics: %s/metrics\nticketd's metrics:     %s/metrics\n", a.Admin, a.Origin)
	}))
}

// writeBanner says where everything is and how to use it. The rate and
// durations are the room's (a test's sped-up demo shows its own).
func writeBanner(w io.Writer, a demoAddrs, d *demo) {
	rate, _, abandon := d.cfg.room()
	c := d.crowd.cfg
	wait := time.Duration(float64(c.MinWaiting+c.MaxWaiting) / 2 / float64(rate) * float64(time.Minute))
	fmt.Fprintf(w, `
  waitroom demo is running.

    the site, through the waiting room:  %[1]s/
    admin dashboard:                     %[2]s/admin/
    ticketd directly, no queue:          %[3]s/

  A simulated crowd keeps %[4]d-%[5]d visitors in line for as long as the demo
  runs: they arrive, wait, come in, stay a while and leave. The room admits
  %[6]d a minute, so a new visitor waits about %[7]s and watches the line move.
  Each private window is one more visitor.

  curl: the wr_id cookie is your place in line; a request without it is a
  new visitor with a new place. Keep the cookie and repeat to follow it:
      curl -i -b /tmp/wr.jar -c /tmp/wr.jar %[1]s/
  A place is kept for %[8]s between requests; once admitted, come in
  within a minute.

  Never queued: %[9]s
  Not proxied: /metrics. ticketd's metrics are not part of the site; see
      %[2]s/metrics (the gateway's)
      %[3]s/metrics (ticketd's)

  Logs show warnings only (WAITROOM_LOG_LEVEL=info logs every request).
  Ctrl-C stops.

`, a.Site, a.Admin, a.Origin, c.MinWaiting, c.MaxWaiting, rate,
		spoken(wait), spoken(abandon), strings.Join(d.passThrough, " "))
}

// spoken is a duration as the banner says it: "5 minutes", "33 seconds".
func spoken(d time.Duration) string {
	if d >= 2*time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return fmt.Sprintf("%d seconds", int(d.Round(time.Second)/time.Second))
}

// baseURL is the http:// URL of a listener's address; an unspecified host
// (":8080") is shown as localhost.
func baseURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}

// writePassKey writes a new Ed25519 pass key into dir (0600) and returns
// its path: passes stay EdDSA, as in production, with the key published
// at /_waitroom/jwks.json.
func writePassKey(dir string) (string, error) {
	key, err := token.GenerateEd25519()
	if err != nil {
		return "", err
	}
	pem, err := token.MarshalEd25519PrivateKeyPEM(key)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "pass-key.pem")
	return path, os.WriteFile(path, pem, 0o600)
}

// randomSecret is 32 random bytes, base64 (44 bytes).
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}
