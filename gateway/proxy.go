package gateway

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/gateway/pass"
	"github.com/waitroom/waitroom/token"
)

// HeaderCommand is the response header with which the origin commands the
// gateway; "revoke" ends the visitor's session.
const HeaderCommand = "Waitroom-Command"

type admittedKey struct{}

// withAdmitted marks r as sent on behalf of an admitted visitor holding p
// (the proxy forwards it, and a revoke from the origin ends its session).
func withAdmitted(r *http.Request, p pass.Pass) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), admittedKey{}, &p))
}

func admittedFrom(ctx context.Context) *pass.Pass {
	p, _ := ctx.Value(admittedKey{}).(*pass.Pass)
	return p
}

// newTransport clones http.DefaultTransport and sizes it for a proxy that
// keeps many concurrent requests to one origin: enough idle connections per
// host that a busy origin is not re-dialled (no TIME_WAIT pile-up).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 2048
	t.MaxIdleConnsPerHost = originIdleConns
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.ForceAttemptHTTP2 = false // the origin is usually plain HTTP/1.1 on a private network
	// A proxy passes encodings through: without this the transport would
	// ask the origin for gzip on the visitor's behalf and inflate it here.
	t.DisableCompression = true
	t.WriteBufferSize = 16 << 10
	t.ReadBufferSize = 16 << 10
	return t
}

// originIdleConns is how many idle keep-alive connections to the origin
// the proxy keeps: enough for every concurrent request of a busy instance,
// so a burst does not end in closed connections and TIME_WAIT.
const originIdleConns = 1024

// bufferPool lends the proxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

var _ httputil.BufferPool = (*bufferPool)(nil)

// newProxy builds the reverse proxy to the origin. Streaming responses
// (text/event-stream, unknown length) are flushed at once by ReverseProxy
// itself; WebSocket upgrades are proxied as well.
func (g *Gateway) newProxy(origin *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { g.rewrite(pr, origin) },
		Transport:      newOriginTransport(origin, newTransport(), originIdleConns),
		BufferPool:     newBufferPool(),
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       nil,
	}
}

// rewrite points the outbound request at the origin and sets the
// X-Forwarded-* headers: incoming values are kept only when the direct peer
// is a trusted proxy. Headers a client must not set (any Waitroom-*, the
// client-address headers from an untrusted peer, underscore aliases: see
// dropSpoofable) are removed; the verified pass of an admitted visitor is
// set in Waitroom-Pass.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest, origin *url.URL) {
	pr.SetURL(origin)
	pr.Out.Host = pr.In.Host // the origin sees the site's host name
	trusted := g.cookies.trustedPeer(pr.In)
	dropSpoofable(pr.Out.Header, trusted)
	if trusted {
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
	}
	pr.SetXForwarded()
	if trusted {
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Proto", v)
		}
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Host", v)
		}
		// ReverseProxy drops Forwarded too; a trusted proxy's stays.
		if v := pr.In.Header.Values("Forwarded"); len(v) > 0 {
			pr.Out.Header["Forwarded"] = v
		}
	}
	if p := admittedFrom(pr.In.Context()); p != nil {
		pr.Out.Header.Set(token.HeaderPass, p.Token)
	}
}

// modifyResponse honours Waitroom-Command: revoke and strips the header.
func (g *Gateway) modifyResponse(res *http.Response) error {
	g.metrics.originResponse(res.StatusCode)
	cmd := res.Header.Get(HeaderCommand)
	if cmd == "" {
		return nil
	}
	res.Header.Del(HeaderCommand)
	if !strings.EqualFold(strings.TrimSpace(cmd), "revoke") {
		return nil
	}
	p := admittedFrom(res.Request.Context())
	if p == nil {
		return nil
	}
	// The session ends: every pass of it is refused from now on, here at
	// once and on every instance within moments, and its slot is freed
	// (once, however many of its passes the origin revokes).
	g.desk.Revoke(*p, time.Now())
	g.metrics.revokes.Inc()
	c := g.cookies.cookie(res.Request, token.CookieName(p.Claims.Room), "", -1)
	res.Header.Add("Set-Cookie", c.String())
	return nil
}

// proxyError answers a failed origin round trip with our 502 page.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The visitor went away; nothing to answer.
		w.WriteHeader(499)
		return
	}
	g.metrics.originErrors.Inc()
	id, _ := hlog.IDFromRequest(r)
	g.reqLog(r).Error().Err(err).Str("origin", g.cfg.Origin.Host).Msg("origin round trip failed")
	w.Header().Set("Cache-Control", "no-store")
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_ = g.pages.RenderBadGateway(w, langOf(r), id.String())
		return
	}
	writeJSON(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "request_id": id.String()})
}
