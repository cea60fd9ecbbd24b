package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway/board"
	"github.com/waitroom/waitroom/gateway/crowd"
	"github.com/waitroom/waitroom/gateway/hub"
	"github.com/waitroom/waitroom/gateway/origin"
	"github.com/waitroom/waitroom/gateway/pass"
	"github.com/waitroom/waitroom/gateway/route"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
	"github.com/waitroom/waitroom/web"
)

// Gateway is one gateway instance: the public handler, the admin handler
// and the background work (admission, the board, the WebSocket hub, the
// Redis probe, the news from other instances). Build it with New, run the
// background work with Start, stop with Shutdown.
type Gateway struct {
	cfg     Config
	log     zerolog.Logger
	store   *store
	router  *route.Router
	desk    *pass.Desk
	board   *board.Board
	hub     *hub.Hub
	health  *crowd.Health
	crowd   visitorShortcuts
	cookies visitorCookies
	fair    fairness
	proxy   *origin.Proxy
	pages   *web.Pages
	metrics *metrics
	public  http.Handler
	admin   http.Handler
	run     lifecycle
}

// visitorShortcuts are the per-instance parts that keep the crowd off the
// gateway's own work and spare Redis lookups (package crowd).
type visitorShortcuts struct {
	gate    *crowd.Gate
	hints   *crowd.Hints
	tickets *crowd.Tickets
}

// lifecycle is the background work's: it runs from Start until Shutdown.
type lifecycle struct {
	instance string // random per process: tells this instance's news from others'
	ctx      context.Context
	stop     context.CancelFunc
	loops    sync.WaitGroup
	once     sync.Once
}

// New builds a gateway from cfg (which it validates). It connects to Redis
// (or starts the embedded server when no URL and no client is given),
// loads the rooms and the pass keys. It does not start the background
// work: call Start.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log}
	g.run.instance = newInstanceID()
	g.run.ctx, g.run.stop = context.WithCancel(context.Background())
	rooms, err := loadRooms(cfg)
	if err != nil {
		return nil, err
	}
	if g.router, err = route.New(rooms, cfg.PassThrough); err != nil {
		return nil, err
	}
	signer, err := loadSigner(cfg, log)
	if err != nil {
		return nil, err
	}
	if g.pages, err = web.New(cfg.PageDir); err != nil {
		return nil, fmt.Errorf("WAITROOM_PAGE_DIR: %w", err)
	}
	if g.store, err = openStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	g.cookies = newVisitorCookies([]byte(cfg.CookieSecret), cfg.TrustedProxies, log)
	g.fair.booth = newBooth(g.cookies.key)
	g.fair.receiptKey = receiptKey(g.cookies.key)
	g.health = crowd.NewHealth(func(ctx context.Context) error { return g.store.control.Ping(ctx).Err() }, cfg.FailMode, log)
	g.crowd = visitorShortcuts{
		gate:    crowd.NewGate(g.store.crowdPool()),
		hints:   crowd.NewHints(100_000),
		tickets: crowd.NewTickets(500_000),
	}
	g.desk = pass.New(pass.Config{
		Signer: signer, Sessions: g.store.q, Health: g.health,
		VisitorCookie: g.cookies.encode, Log: log,
	})
	g.board = board.New(g.store.q, rooms, g.health, log)
	g.board.OnForgot(g.forgot)
	g.hub = hub.New(hub.Config{
		Line: g.store.q, Board: g.board, Health: g.health,
		Told: g.crowd.hints.Add, Unknown: g.crowd.tickets.Forget, SameOrigin: g.cookies.sameOrigin,
		MaxSocketsPerVisitor: cfg.MaxSocketsPerVisitor, Log: log,
	})
	g.metrics = newMetrics(g.board, g.hub, g.health)
	g.proxy = g.newProxy()
	g.public = g.buildPublicChain()
	g.admin = g.buildAdminChain()
	return g, nil
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loadRooms returns cfg.Rooms, the rooms file, or the default room.
func loadRooms(cfg Config) ([]queue.Room, error) {
	def := queue.Room{
		Name:           "default",
		Paths:          []string{"/*"},
		AdmitPerMinute: cfg.AdmitPerMinute,
		MaxActive:      cfg.MaxActive,
		SessionTTL:     cfg.SessionTTL,
		AbandonAfter:   cfg.AbandonAfter,
		Mode:           queue.FIFO,

		ClientPlacesPerMinute: cfg.ClientPlacesPerMinute,
		ClientPlacesHeld:      cfg.ClientPlacesHeld,
		Toll:                  cfg.Toll,
		TollSeconds:           cfg.TollSeconds,
		BindNetwork:           cfg.BindPassToNetwork,
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
	case len(cfg.PassKeyFile) > 0:
		// Several files, oldest first: sign with the last, verify and
		// publish all of them, so a rotation keeps live passes valid.
		var keys []ed25519.PrivateKey
		for _, path := range cfg.PassKeyFile {
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
func (g *Gateway) Verifier() *token.Verifier { return g.desk.Verifier() }

// Queue is the queue engine the gateway uses (for in-process tools and tests).
func (g *Gateway) Queue() *queue.Queue { return g.store.q }

// Rooms returns the configured rooms.
func (g *Gateway) Rooms() []queue.Room { return g.router.All() }

// Start runs the background work until Shutdown: the Redis probe, the
// board's reads of the room figures, the admission step of every room, the
// WebSocket hub, and the news from other instances. It reads the figures
// once before it returns, so the first answers show the rooms' live
// settings. ctx only bounds that first read: the work stops at Shutdown,
// after the listeners have drained (see Shutdown).
func (g *Gateway) Start(ctx context.Context) {
	if err := g.board.Read(ctx, time.Now()); err != nil {
		g.log.Debug().Err(err).Msg("first read of the room figures failed; the board retries every tick")
	}
	if err := g.originAnswers(ctx); err != nil {
		// Not fatal: the queue works while the site is down, and
		// admitted visitors get the 502 page until it is back.
		g.log.Warn().Err(err).Str("origin", g.cfg.Origin.String()).Msg("the origin does not answer yet")
	}
	ctx = g.run.ctx
	for _, loop := range []func(context.Context){g.health.Run, g.board.Run, g.admitLoop, g.hub.Run, g.listen} {
		g.run.loops.Add(1)
		go func() { defer g.run.loops.Done(); loop(ctx) }()
	}
}

// Shutdown ends what the HTTP servers' Shutdown does not: it closes every
// WebSocket with 1001 (going away; the pages reconnect to another instance
// and keep their place), then stops the background work and closes the
// Redis connections the gateway opened. Call it after the servers' own
// Shutdown has drained the requests in flight, so they are served to the
// end with admission, renewals and the probe still running. It waits up to
// ctx for all of it; a second call waits for the first.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.run.once.Do(func() {
		g.hub.CloseAll()
		g.run.stop()
		done := make(chan struct{})
		go func() { g.run.loops.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		err = errors.Join(err, g.desk.Close(ctx))
		g.proxy.CloseIdleConnections()
		g.store.close()
	})
	return err
}

// originAnswers reports whether the origin accepts a connection (within
// a second).
func (g *Gateway) originAnswers(ctx context.Context) error {
	host := g.cfg.Origin.Host
	if g.cfg.Origin.Port() == "" {
		port := "80"
		if g.cfg.Origin.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(g.cfg.Origin.Hostname(), port)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

// admitLoop runs the admission step of every room every AdmitInterval.
// Every instance runs it: the step is one atomic script at Redis's clock,
// so instances together keep each room's rate and admit each visitor once.
func (g *Gateway) admitLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.AdmitInterval)
	defer t.Stop()
	rooms := g.router.All()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !g.health.Up() {
			continue // the probe flips it back
		}
		for _, r := range rooms {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			adm, err := g.store.q.Admit(actx, r)
			cancel()
			if len(adm.Admitted) > 0 {
				g.announceAdmitted(ctx, r.Name, adm.Admitted, time.Now().Add(admitWindow))
			}
			if err != nil {
				g.health.Failed(err)
				if ctx.Err() == nil {
					g.log.Warn().Err(err).Str("room", r.Name).Msg("admission step failed")
				}
			}
		}
	}
}

// forgot is told by the board that Redis forgot a room (its line epoch
// changed: a restart without persistence, a failover to a replica that
// had not caught up). From now on nothing this instance remembers of the
// room's visitors is shown: the hub drops every socket's position and
// looks the visitors up again (putting them back in line), status polls
// are no longer answered from the ticket book (its tickets carry the
// epoch) nor from admission hints, and every cached pass of the room
// confirms its session on its next request, so live sessions come back.
func (g *Gateway) forgot(prev string, f queue.Figures) {
	now := time.Now()
	g.crowd.hints.Forget(f.Room, now)
	g.desk.RecheckRoom(f.Room, now)
	g.metrics.epochChanges.WithLabelValues(f.Room).Inc()
	g.log.Warn().Str("room", f.Room).Str("epoch", f.Epoch).Str("previous_epoch", prev).Int64("held_slots", f.Held).
		Msg("redis forgot the room's line (a new line epoch): visitors are placed again as they come back")
}

// admitWindow is how long an admitted visitor has to come in (the queue's
// default Config.AdmitWindow).
const admitWindow = 60 * time.Second
