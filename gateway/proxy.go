package gateway

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/token"
)

// HeaderCommand is the response header with which the origin commands the
// gateway; "revoke" ends the visitor's session.
const HeaderCommand = "Waitroom-Command"

// admittedRequest is what the proxy needs to know about a request sent on
// behalf of an admitted visitor (carried in the request's context).
type admittedRequest struct {
	room    string
	visitor string
	pass    string
	claims  token.Claims
}

type admittedKey struct{}

func withAdmitted(r *http.Request, a *admittedRequest) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), admittedKey{}, a))
}

func admittedFrom(ctx context.Context) *admittedRequest {
	a, _ := ctx.Value(admittedKey{}).(*admittedRequest)
	return a
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
func (g *Gateway) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      newOriginTransport(newTransport()),
		BufferPool:     newBufferPool(),
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       nil,
	}
}

// rewrite points the outbound request at the origin and sets the
// X-Forwarded-* headers: incoming values are kept only when the direct peer
// is a trusted proxy. Any client-sent Waitroom-Pass is removed; the verified
// pass of an admitted visitor is set in its place.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.origin)
	pr.Out.Host = pr.In.Host // the origin sees the site's host name
	trusted := g.trustedPeer(pr.In)
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
	}
	pr.Out.Header.Del(token.HeaderPass)
	if a := admittedFrom(pr.In.Context()); a != nil {
		pr.Out.Header.Set(token.HeaderPass, a.pass)
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
	a := admittedFrom(res.Request.Context())
	if a == nil {
		return nil
	}
	g.revoke(res.Request.Context(), a)
	c := g.cookie(res.Request, token.CookieName(a.room), "", -1)
	res.Header.Add("Set-Cookie", c.String())
	return nil
}

// revoke ends the visitor's session: the slot is freed at once and the
// pass id remembered until it expires, so a replayed copy is refused.
func (g *Gateway) revoke(ctx context.Context, a *admittedRequest) {
	now := time.Now()
	g.passes.drop(a.pass)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := g.revoked.revoke(ctx, a.claims.ID, a.claims.ExpiresAt, now); err != nil {
		g.redisError(err)
	}
	g.releaseSlot(a.room, a.visitor) // retried in the background when Redis is slow
	g.metrics.revokes.Inc()
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
	g.reqLog(r).Error().Err(err).Str("origin", g.origin.Host).Msg("origin round trip failed")
	w.Header().Set("Cache-Control", "no-store")
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		_ = g.pages.RenderBadGateway(w, langOf(r), id.String())
		return
	}
	writeJSON(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "request_id": id.String()})
}
