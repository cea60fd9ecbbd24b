package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rs/xid"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/gateway/admin"
	"github.com/waitroom/waitroom/gateway/route"
)

// middleware wraps a handler.
type middleware func(http.Handler) http.Handler

// chain applies mws so that the first one listed sees the request first.
func chain(h http.Handler, mws ...middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// buildPublicChain assembles the visitor-facing handler. Read it top-down:
// it is the order a request goes through.
func (g *Gateway) buildPublicChain() http.Handler {
	return chain(g.publicRoutes(),
		// 1. the request id in the request's context (also sent back as
		//    Request-Id, carried by every log line about the request, and
		//    shown on our 502 page so a visitor can quote it);
		g.requestID,
		// 2. the access log, once the response is written;
		g.accessLog(),
		// 3. bodies larger than WAITROOM_MAX_BODY_BYTES are refused (413)
		//    before anything reads them;
		g.limitBody,
		// 4. the one cleaned path (paths.go), or 400: everything after —
		//    the /_waitroom/ dispatch, pass-through and room matching, the
		//    origin — sees the same path;
		route.CleanRequests,
		// 5. routing: the gateway's own paths, then every other path is
		//    the site's (pass-through or protected by a room).
	)
}

// publicRoutes sends /_waitroom/* to the gateway's own handlers and
// everything else to the site. The path is already cleaned
// (cleanRequestPath), and the origin receives exactly that cleaned path.
func (g *Gateway) publicRoutes() http.Handler {
	own := http.NewServeMux()
	own.HandleFunc("GET "+statusPath, g.serveStatus)
	own.HandleFunc("GET "+wsPath, g.serveWS)
	own.Handle("GET /_waitroom/jwks.json", g.desk.JWKS())
	own.Handle("GET /_waitroom/assets/", http.StripPrefix("/_waitroom/assets/", g.pages.Assets()))
	own.HandleFunc("/_waitroom/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	site := http.HandlerFunc(g.serveSite)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, route.Reserved) {
			own.ServeHTTP(w, r)
			return
		}
		site.ServeHTTP(w, r)
	})
}

// buildAdminChain assembles the operator-facing handler, top-down.
func (g *Gateway) buildAdminChain() http.Handler {
	api := admin.New(admin.Config{
		Token: g.cfg.AdminToken, Queue: g.store.q, Rooms: g.router,
		Ping:   func(ctx context.Context) error { return g.store.control.Ping(ctx).Err() },
		Origin: g.originAnswers,
		Failed: g.health.Failed,
		Admitted: func(room string, visitors []string) {
			g.announceAdmitted(g.run.ctx, room, visitors, time.Now().Add(admitWindow))
		},
		History: func() any { return g.board.History() },
		Metrics: g.metrics.handler(), Pages: g.pages, Log: g.log,
	})
	return chain(api.Routes(),
		// 1. liveness and readiness answer first: probes hit them every
		//    few seconds and would flood the access log;
		api.Probes,
		// 2. request id and access log as on the public side;
		g.requestID,
		g.accessLog(),
		// 3. without a token, only Host localhost or a loopback address is
		//    served: a DNS-rebinding page is refused before anything reads
		//    its body — after the probes, which carry no secrets, and after
		//    the log, so the refusal is on record;
		api.LocalHostOnly,
		// 4. admin bodies are small JSON documents;
		maxBody(64<<10),
		// 5. writes to /admin/* come from this origin as JSON, never from
		//    another site riding on the browser's Basic credentials (or on
		//    a loopback listener without a token);
		admin.SameOriginWrites,
		// 6. /admin/* needs the token (bearer, or HTTP Basic password for
		//    the dashboard in a browser); /metrics does not.
		api.RequireToken,
	)
}

// requestID gives every request an id (an xid, as hlog's), sent back as
// Request-Id and kept in the request's context. It costs one context value
// and one shallow copy of the request; the logger that carries the id is
// built only when a line about the request is written (reqLog).
func (g *Gateway) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := xid.New()
		w.Header()["Request-Id"] = []string{id.String()}
		next.ServeHTTP(w, r.WithContext(hlog.CtxWithID(r.Context(), id)))
	})
}

// reqLog is the gateway's logger with the request's id.
func (g *Gateway) reqLog(r *http.Request) *zerolog.Logger {
	l := g.log
	if id, ok := hlog.IDFromRequest(r); ok {
		l = l.With().Str("req_id", id.String()).Logger()
	}
	return &l
}

// accessLog writes one line per request once the response is written: at
// info level, or warn for a 5xx. When the logger's level drops both, the
// middleware is left out (no wrapped writer, no clock reads).
func (g *Gateway) accessLog() middleware {
	if g.log.GetLevel() > zerolog.WarnLevel {
		return func(h http.Handler) http.Handler { return h }
	}
	return hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		lvl := zerolog.InfoLevel
		if status >= 500 {
			lvl = zerolog.WarnLevel
		}
		e := g.log.WithLevel(lvl)
		if e == nil {
			return
		}
		if id, ok := hlog.IDFromRequest(r); ok {
			e = e.Str("req_id", id.String())
		}
		e.Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", status).
			Int("size", size).
			Dur("duration", d).
			Str("remote", r.RemoteAddr).
			Msg("request")
	})
}

// limitBody refuses a declared body over the limit at once and caps the
// body's reader for chunked uploads.
func (g *Gateway) limitBody(next http.Handler) http.Handler {
	return maxBody(g.cfg.MaxBodyBytes)(next)
}

func maxBody(limit int64) middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// PublicServer returns an http.Server for the public listener with the
// timeouts and limits a public server needs. Its Shutdown drains the
// requests in flight; the WebSockets (hijacked, so not its to wait for) are
// closed with 1001 by the gateway's Shutdown, which comes after.
func (g *Gateway) PublicServer() *http.Server {
	return &http.Server{
		Addr:              g.cfg.Listen,
		Handler:           g.public,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    g.cfg.MaxHeaderBytes,
		ErrorLog:          newStdLogger(g.log),
	}
}

// AdminServer returns an http.Server for the admin listener.
func (g *Gateway) AdminServer() *http.Server {
	return &http.Server{
		Addr:              g.cfg.AdminListen,
		Handler:           g.admin,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          newStdLogger(g.log),
	}
}
