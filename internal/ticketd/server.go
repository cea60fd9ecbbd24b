// Package ticketd is waitroom's bundled ticket backend: events, inventory and
// orders behind a small JSON API and HTML site, guarded by admission passes.
//
// It is a real origin, not a stub: every order runs in one database
// transaction that locks the event row, checks and decrements the stock and
// inserts the order with the pass's jti under a unique constraint, so stock
// never goes below zero and one pass buys once, under any concurrency, on
// SQLite (default) and PostgreSQL. The read path (event list and pages) is
// served from an in-memory cache (see eventCache) so browsing does not
// compete with buying for the database.
//
// cmd/ticketd runs it as a binary; `waitroom demo` runs it in-process through
// New and Handler. The package does not queue visitors: the gateway does, and
// ticketd only checks the pass the gateway issued.
package ticketd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/token"
)

// Server is a running ticket backend: database, cache, verifier and the HTTP
// handler over them.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	store    store
	cache    *eventCache
	verifier *token.Verifier
	metrics  *metrics
	handler  http.Handler
}

// ConfigError is an error of New that the configuration causes (a key file
// that does not parse, a database path that cannot be opened): cmd/ticketd
// exits 2 on it, as on a bad variable, rather than 1.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// New opens (and creates or migrates) the database, builds the pass verifier
// and seeds demo events when asked. With a JWKS URL it fetches the keys once
// at start; a key server that is not up yet only logs a warning, since the
// client fetches again on the first pass it sees.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	verifier, jwks, err := cfg.verifier()
	if err != nil {
		return nil, &ConfigError{err}
	}
	st, err := openStore(ctx, cfg.DatabaseURL, cfg.DBMaxConns, cfg.sqliteWriters)
	if err != nil {
		err = fmt.Errorf("TICKETD_DATABASE_URL: %w", err)
		if !strings.HasPrefix(cfg.DatabaseURL, "postgres") || errors.Is(err, errBadPostgresURL) {
			// A SQLite file that cannot be opened or created, or a URL
			// that does not parse: nothing to retry, fix the setting.
			// (A PostgreSQL server that does not answer is not that.)
			return nil, &ConfigError{err}
		}
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st, verifier: verifier, metrics: newMetrics()}
	s.cache = newEventCache(func(ctx context.Context) ([]Event, error) {
		defer s.metrics.timeDB("events", time.Now())
		return st.Events(ctx)
	})
	if cfg.SeedDemo {
		if err := s.seedDemo(ctx); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	if jwks != nil {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := jwks.Refresh(fctx); err != nil {
			log.Warn().Err(err).Str("url", cfg.PassJWKSURL).Msg("pass keys not fetched yet; will retry on the first pass")
		}
		cancel()
	}
	s.handler = s.routes()
	return s, nil
}

func (s *Server) seedDemo(ctx context.Context) error {
	events, err := s.store.Events(ctx)
	if err != nil || len(events) > 0 {
		return err
	}
	for _, e := range demoEvents(time.Now()) {
		if _, err := s.store.CreateEvent(ctx, e); err != nil {
			return err
		}
	}
	s.log.Info().Int("events", len(demoEvents(time.Now()))).Msg("demo events created")
	return nil
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server for the handler on cfg.Listen with
// timeouts and header limits suited to a public origin.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Listen,
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          nil,
	}
}

// Close closes the database. Call it after the HTTP server has shut down.
func (s *Server) Close() error { return s.store.Close() }

// routes builds the handler. Read it top-down: the outermost middleware
// first.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	// HTML site.
	mux.HandleFunc("GET /{$}", s.pageIndex)
	mux.HandleFunc("GET /events/{id}", s.pageEvent)
	mux.Handle("GET /static/", staticHandler())
	// JSON API.
	mux.HandleFunc("GET /api/events", s.listEvents)
	mux.HandleFunc("GET /api/events/{id}", s.getEvent)
	mux.HandleFunc("POST /api/events/{id}/orders", s.createOrder)
	mux.HandleFunc("GET /api/orders/{id}", s.getOrder)
	// Admin.
	mux.Handle("POST /admin/events", s.requireAdmin(http.HandlerFunc(s.createEvent)))

	// Access log with request ids for everything but health and metrics.
	var h http.Handler = mux
	h = hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		ev := hlog.FromRequest(r).Debug()
		if status >= 500 {
			ev = hlog.FromRequest(r).Warn()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).Int("size", size).Dur("duration", d).Msg("request")
	})(h)
	h = hlog.RequestIDHandler("req_id", "X-Request-Id")(h)
	h = hlog.NewHandler(s.log)(h)

	outer := http.NewServeMux()
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	outer.HandleFunc("GET /readyz", s.ready)
	outer.Handle("GET /metrics", s.metrics.handler())
	outer.Handle("/", h)
	return s.metrics.track(outer)
}

// ready answers 200 when the database answers.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "database: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
