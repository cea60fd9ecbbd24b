package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// Gateway is one gateway instance: the public handler, the admin handler
// and the background loops (admission, WebSocket hub). Build it with New,
// run the loops with Start, stop with Shutdown.
type Gateway struct {
	cfg Config
	log zerolog.Logger
	// Two clients to the same Redis, each with a pool of its own, so a
	// crowd can never starve the gateway's own work. rdb (and q) is the
	// control plane: the admission loop, the hub, Enter/Renew/Release,
	// revocations, the health probe and the admin API. crowdRDB (and
	// crowdQ) carries visitors' joins and status lookups, at most
	// crowdGate's size of them at once.
	rdb      redis.UniversalClient
	crowdRDB redis.UniversalClient
	owned    []redis.UniversalClient // made here, closed at Shutdown
	embed    *queue.Embedded
	q        *queue.Queue
	crowdQ   *queue.Queue
	crowd    *crowdGate
	hints    admittedHints
	instance string // random per process: tells this instance's broadcasts from others'
	tickets  ticketBook
	releases releaser
	router   *router
	origin   *url.URL
	proxy    *httputil.ReverseProxy
	signer   *token.Signer
	verify   *token.Verifier
	cookies  visitorCookies
	trusted  []netip.Prefix
	pages    pageRenderer
	passes   *passCache
	revoked  *revocations
	hub      *hub
	metrics  *metrics

	public http.Handler
	admin  http.Handler

	redisUp  atomic.Bool // the health probe's verdict (see failmode.go)
	probeNow chan struct{}
	figures  atomic.Pointer[figuresSnapshot] // last figures read by the hub
	ctx      context.Context                 // ends at Shutdown; background work
	stopOnce sync.Once
	stop     context.CancelFunc
	loops    sync.WaitGroup
}

// figuresSnapshot is the hub's last read of every room's figures.
type figuresSnapshot struct {
	at    time.Time
	rooms map[string]queue.Figures
}

// New builds a gateway from cfg (which it validates). It connects to Redis
// (or starts the embedded server when no URL and no client is given),
// loads the rooms and the pass keys. It does not start the loops: call Start.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log}
	var err error
	if g.origin, err = url.Parse(cfg.Origin); err != nil {
		return nil, fmt.Errorf("WAITROOM_ORIGIN: %w", err)
	}
	g.trusted, _ = parseCIDRs(cfg.TrustedProxies)

	if err := g.connectRedis(ctx); err != nil {
		return nil, err
	}
	g.q = queue.New(g.rdb, queue.Config{Prefix: cfg.RedisPrefix})
	g.crowdQ = queue.New(g.crowdRDB, queue.Config{Prefix: cfg.RedisPrefix})
	g.crowd = newCrowdGate(poolSize(g.crowdRDB))
	g.probeNow = make(chan struct{}, 1)
	g.ctx, g.stop = context.WithCancel(context.Background())

	rooms, err := loadRooms(cfg)
	if err != nil {
		g.closeRedis()
		return nil, err
	}
	if err := checkPatterns(rooms, cfg.PassThrough); err != nil {
		g.closeRedis()
		return nil, err
	}
	g.router = newRouter(rooms, cfg.PassThrough)

	if g.signer, err = loadSigner(cfg, log); err != nil {
		g.closeRedis()
		return nil, err
	}
	g.verify = g.signer.Verifier()

	key := []byte(cfg.CookieSecret)
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.Warn().Msg("WAITROOM_COOKIE_SECRET is empty: visitor cookies are signed with a random key, so run one instance only")
	}
	g.cookies = visitorCookies{key: key}

	if g.pages, err = newPages(cfg.PageDir); err != nil {
		g.closeRedis()
		return nil, fmt.Errorf("WAITROOM_PAGE_DIR: %w", err)
	}
	g.passes = newPassCache(100_000)
	g.instance = newInstanceID()
	g.revoked = newRevocations(g.q, g.rdb, cfg.RedisPrefix)
	g.metrics = newMetrics(g)
	g.redisUp.Store(true)
	g.proxy = g.newProxy()
	g.hub = newHub(g)
	g.public = g.buildPublicChain()
	g.admin = g.buildAdminChain()
	return g, nil
}

func (g *Gateway) connectRedis(ctx context.Context) error {
	switch {
	case g.cfg.Redis != nil:
		g.crowdRDB = g.cfg.Redis
	case g.cfg.RedisURL == "":
		e, err := queue.StartEmbedded()
		if err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		g.embed = e
		g.log.Warn().Msg("WAITROOM_REDIS_URL is empty: using the embedded in-process server; run one instance only, the queue is lost at exit")
		opt, err := redis.ParseURL(e.URL())
		if err != nil {
			e.Close()
			return err
		}
		g.crowdRDB = g.own(redis.NewClient(opt))
	case redisURLKind(g.cfg.RedisURL) == sentinelURL:
		// redis://[:sentinel-password@]sentinel:26379/db?master_name=NAME&addr=sentinel2:26379:
		// Redis Sentinel. Both clients ask the Sentinels for the master and
		// follow a failover by themselves.
		opt, err := redis.ParseFailoverURL(g.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("WAITROOM_REDIS_URL: %w", err)
		}
		opt.DialTimeout = time.Second
		opt.ReadTimeout = 500 * time.Millisecond
		opt.WriteTimeout = 500 * time.Millisecond
		ctl := *opt
		ctl.SentinelAddrs = append([]string(nil), opt.SentinelAddrs...)
		opt.PoolSize, opt.MinIdleConns = 64, 4
		ctl.PoolSize, ctl.MinIdleConns = controlPoolSize, 2
		g.crowdRDB = g.own(redis.NewFailoverClient(opt))
		g.rdb = g.own(redis.NewFailoverClient(&ctl))
	case redisURLKind(g.cfg.RedisURL) == clusterURL:
		// redis://host:port?addr=host2:port2&addr=...: a Redis Cluster (every
		// queue script's keys share the room's hash tag).
		opt, err := redis.ParseClusterURL(g.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("WAITROOM_REDIS_URL: %w", err)
		}
		opt.DialTimeout = time.Second
		opt.ReadTimeout = 500 * time.Millisecond
		opt.WriteTimeout = 500 * time.Millisecond
		g.crowdRDB = g.own(redis.NewClusterClient(opt))
	default:
		opt, err := redis.ParseURL(g.cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("WAITROOM_REDIS_URL: %w", err)
		}
		// Short timeouts: in an outage the fail mode should answer
		// visitors quickly rather than hold them on a dead socket.
		opt.DialTimeout = time.Second
		opt.ReadTimeout = 500 * time.Millisecond
		opt.WriteTimeout = 500 * time.Millisecond
		opt.PoolSize = 64
		opt.MinIdleConns = 4
		g.crowdRDB = g.own(redis.NewClient(opt))
	}
	if g.rdb == nil {
		g.rdb = g.controlClient(g.crowdRDB)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := g.rdb.Ping(pctx).Err(); err != nil {
		// Not fatal: the fail mode covers an outage and recovery is
		// automatic, so a gateway may start while Redis is still down.
		g.log.Warn().Err(err).Msg("redis does not answer yet; serving in fail mode until it does")
	}
	return nil
}

// controlPoolSize is the pool of the control-plane client: the admission
// loop, the hub's tick, heartbeats and status lookups (bounded by
// hubAskers), Enter/Renew/Release and revocations of admitted visitors.
const controlPoolSize = 32

// controlClient returns a client to the same Redis as crowd (same address,
// credentials, TLS, timeouts) with a pool of its own. A client of another
// kind (a Ring, a failover client) is shared as it is.
func (g *Gateway) controlClient(crowd redis.UniversalClient) redis.UniversalClient {
	switch c := crowd.(type) {
	case *redis.Client:
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = controlPoolSize, 2, 0, 0
		// The copy would share the visitors' client's maintenance
		// notification handler (a Redis Enterprise feature), which go-redis
		// refuses to register twice, printing a plain-text line at every
		// start; the control plane's short calls do without it.
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return g.own(redis.NewClient(&o))
	case *redis.ClusterClient:
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = controlPoolSize, 2, 0, 0
		o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return g.own(redis.NewClusterClient(&o))
	default:
		g.log.Warn().Msg("redis client of an unknown kind: visitors and the admission loop share its pool")
		return crowd
	}
}

// own records a client made here, closed at Shutdown.
func (g *Gateway) own(c redis.UniversalClient) redis.UniversalClient {
	g.owned = append(g.owned, c)
	return c
}

// poolSize is the connection pool of a client (per node for a cluster).
func poolSize(c redis.UniversalClient) int {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().PoolSize
	case *redis.ClusterClient:
		return c.Options().PoolSize
	}
	return 64
}

func (g *Gateway) closeRedis() {
	for _, c := range g.owned {
		_ = c.Close()
	}
	if g.embed != nil {
		g.embed.Close()
	}
}

// loadRooms returns cfg.Rooms, the rooms file, or the default room.
func loadRooms(cfg Config) ([]queue.Room, error) {
	def := queue.Room{
		Name:           "default",
		Paths:          []string{"/*"},
		AdmitPerMinute: cfg.AdmitPerMin,
		MaxActive:      cfg.MaxActive,
		SessionTTL:     cfg.SessionTTL,
		AbandonAfter:   cfg.AbandonAfter,
		Mode:           queue.FIFO,
	}
	switch {
	case cfg.Rooms != nil:
		return cfg.Rooms, nil
	case cfg.RoomsFile != "":
		data, err := os.ReadFile(cfg.RoomsFile)
		if err != nil {
			return nil, fmt.Errorf("WAITROOM_ROOMS_FILE: %w", err)
		}
		rooms, err := queue.ParseRooms(data, def)
		if err != nil {
			return nil, fmt.Errorf("WAITROOM_ROOMS_FILE %s: %w", cfg.RoomsFile, err)
		}
		return rooms, nil
	default:
		return []queue.Room{def}, nil
	}
}

func loadSigner(cfg Config, log zerolog.Logger) (*token.Signer, error) {
	switch {
	case cfg.PassKeyFile != "":
		// Several files, oldest first: sign with the last, verify and
		// publish all of them, so a rotation keeps live passes valid.
		var keys []ed25519.PrivateKey
		for _, path := range passKeyFiles(cfg.PassKeyFile) {
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("WAITROOM_PASS_KEY_FILE: %w", err)
			}
			key, err := token.ParseEd25519PrivateKeyPEM(pem)
			if err != nil {
				return nil, fmt.Errorf("WAITROOM_PASS_KEY_FILE %s: %w", path, err)
			}
			keys = append(keys, key)
		}
		if len(keys) == 0 {
			return nil, errors.New("WAITROOM_PASS_KEY_FILE: no file named")
		}
		return token.NewEd25519Signer(keys...)
	case cfg.PassSecret != "":
		s, err := token.NewHS256Signer([]byte(cfg.PassSecret))
		if err != nil {
			return nil, fmt.Errorf("WAITROOM_PASS_SECRET: %w", err)
		}
		return s, nil
	default:
		key, err := token.GenerateEd25519()
		if err != nil {
			return nil, err
		}
		log.Warn().Msg("no WAITROOM_PASS_KEY_FILE or WAITROOM_PASS_SECRET: passes are signed with a key generated now and die with the process")
		return token.NewEd25519Signer(key)
	}
}

// Public is the handler of the public (visitor) listener.
func (g *Gateway) Public() http.Handler { return g.public }

// Admin is the handler of the admin listener.
func (g *Gateway) Admin() http.Handler { return g.admin }

// Verifier verifies the passes this gateway signs (for an origin running in
// the same process, such as the demo's ticketd).
func (g *Gateway) Verifier() *token.Verifier { return g.verify }

// Queue is the queue engine the gateway uses (for in-process tools and tests).
func (g *Gateway) Queue() *queue.Queue { return g.q }

// Rooms returns the configured rooms.
func (g *Gateway) Rooms() []queue.Room { return g.router.all() }

// Start runs the background loops until ctx ends or Shutdown is called:
// the admission step of every room, the WebSocket hub's tick, and the
// subscription that carries revoked passes and admissions from other
// instances.
func (g *Gateway) Start(ctx context.Context) {
	stop := context.AfterFunc(ctx, g.stop)
	ctx = g.ctx
	g.loops.Add(5)
	go func() { defer g.loops.Done(); <-ctx.Done(); stop() }()
	go func() { defer g.loops.Done(); g.healthLoop(ctx) }()
	go func() { defer g.loops.Done(); g.admitLoop(ctx) }()
	go func() { defer g.loops.Done(); g.hub.run(ctx) }()
	go func() { defer g.loops.Done(); g.revocationLoop(ctx) }()
}

// Shutdown closes every WebSocket with 1001 (going away), stops the loops
// and closes the Redis connection the gateway opened. HTTP servers are the
// caller's: shut them down first (PublicServer registers the hub's close
// with RegisterOnShutdown, so sockets close while requests drain).
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.stopOnce.Do(func() {
		g.hub.closeAll()
		g.stop()
		done := make(chan struct{})
		go func() { g.loops.Wait(); g.releases.wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if t, ok := g.proxy.Transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
		g.closeRedis()
	})
	return err
}

// admitLoop runs the admission step of every room every AdmitInterval.
// Every instance runs it: the step is one atomic script at Redis's clock,
// so instances together keep each room's rate and admit each visitor once.
func (g *Gateway) admitLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.AdmitInterval)
	defer t.Stop()
	rooms := g.router.all()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !g.redisUp.Load() {
			continue // the hub's tick probes Redis and flips it back
		}
		for _, r := range rooms {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			adm, err := g.q.Admit(actx, r)
			cancel()
			if len(adm.Admitted) > 0 {
				g.announceAdmitted(ctx, r, adm.Admitted, time.Now().Add(admitWindow))
			}
			if err != nil {
				g.redisError(err)
				if ctx.Err() == nil {
					g.log.Warn().Err(err).Str("room", r.Name).Msg("admission step failed")
				}
			}
		}
	}
}

// admitWindow is how long an admitted visitor has to come in (the queue's
// default Config.AdmitWindow).
const admitWindow = 60 * time.Second
