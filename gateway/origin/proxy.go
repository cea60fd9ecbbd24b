package origin

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/gateway/pass"
	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/token"
)

// HeaderCommand is the response header with which the origin commands the
// gateway; "revoke" ends the visitor's session.
const HeaderCommand = "Waitroom-Command"

// Config configures a Proxy.
type Config struct {
	URL *url.URL // the origin's base URL
	// Trusted reports whether a request's direct peer is a trusted proxy
	// (whose X-Forwarded-* and client-address headers are believed).
	Trusted func(r *http.Request) bool
	// Revoke ends the session of p, whose request the origin answered with
	// "Waitroom-Command: revoke", and returns the cookie that clears the
	// visitor's pass.
	Revoke func(r *http.Request, p pass.Pass) *http.Cookie
	// BadGateway renders the 502 page for a browser (lang, request id).
	BadGateway func(w http.ResponseWriter, r *http.Request, requestID string)
	// Responses counts the origin's answers by status; Failed counts the
	// round trips that failed (answered 502).
	Responses func(code int)
	Failed    func()
	Log       zerolog.Logger
}

// Proxy is the reverse proxy to the origin. Build it with New.
type Proxy struct {
	cfg Config
	rp  *httputil.ReverseProxy
	tr  *originTransport
}

var _ http.Handler = (*Proxy)(nil)

// New returns the proxy. Streaming responses (text/event-stream, unknown
// length) are flushed at once by ReverseProxy itself; WebSocket upgrades
// are proxied as well.
func New(cfg Config) *Proxy {
	p := &Proxy{cfg: cfg, tr: newOriginTransport(newTransport())}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.tr,
		BufferPool:     newBufferPool(),
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.proxyError,
	}
	return p
}

// ServeHTTP forwards r to the origin.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

// CloseIdleConnections closes the idle keep-alive connections to the origin.
func (p *Proxy) CloseIdleConnections() { p.tr.CloseIdleConnections() }

type admittedKey struct{}

// WithPass marks r as sent on behalf of an admitted visitor holding pass
// (forwarded in Waitroom-Pass; a revoke from the origin ends its session).
func WithPass(r *http.Request, pass pass.Pass) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), admittedKey{}, &pass))
}

func passFrom(ctx context.Context) *pass.Pass {
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
	t.MaxIdleConnsPerHost = idleConns
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

// idleConns is how many idle keep-alive connections to the origin the
// proxy keeps: enough for every concurrent request of a busy instance, so
// a burst does not end in closed connections and TIME_WAIT.
const idleConns = 1024

// bufferPool lends the proxy its 32 KiB copy buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

var _ httputil.BufferPool = (*bufferPool)(nil)

// rewrite points the outbound request at the origin and sets the
// X-Forwarded-* headers: incoming values are kept only when the direct peer
// is a trusted proxy. Headers a client must not set (any Waitroom-*, the
// client-address headers from an untrusted peer, underscore aliases: see
// dropSpoofable) are removed; the verified pass of an admitted visitor is
// set in Waitroom-Pass.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.cfg.URL)
	pr.Out.Host = pr.In.Host // the origin sees the site's host name
	trusted := p.cfg.Trusted(pr.In)
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
	if a := passFrom(pr.In.Context()); a != nil {
		pr.Out.Header.Set(token.HeaderPass, a.Token)
	}
}

// modifyResponse honours Waitroom-Command: revoke, and takes every header
// of the gateway's own namespace out of what reaches the browser.
func (p *Proxy) modifyResponse(res *http.Response) error {
	p.cfg.Responses(res.StatusCode)
	cmd := res.Header.Get(HeaderCommand)
	stripOriginHeaders(res.Header)
	if cmd == "" || !strings.EqualFold(strings.TrimSpace(cmd), "revoke") {
		return nil
	}
	a := passFrom(res.Request.Context())
	if a == nil {
		return nil
	}
	if c := p.cfg.Revoke(res.Request, *a); c != nil {
		res.Header.Add("Set-Cookie", c.String())
	}
	return nil
}

// proxyError answers a failed origin round trip with our 502 page.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The visitor went away; nothing to answer.
		w.WriteHeader(499)
		return
	}
	p.cfg.Failed()
	id, _ := hlog.IDFromRequest(r)
	p.cfg.Log.Error().Err(err).Str("req_id", id.String()).Str("origin", p.cfg.URL.Host).Msg("origin round trip failed")
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		p.cfg.BadGateway(w, r, id.String())
		return
	}
	httpx.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": "bad_gateway", "request_id": id.String()})
}
