package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// originTransport is the proxy's RoundTripper. The bulk of an admitted
// visitor's traffic is GET and HEAD without a body to a plain-HTTP origin;
// those go out synchronously on the caller's goroutine over pooled
// keep-alive connections: write the request, read the response, hand the
// connection back when the body has been read to its end. http.Transport
// runs a reader and a writer goroutine per connection and passes every
// request and response between them over channels; on a busy, CPU-starved
// proxy those hand-offs are a large part of the cost of a small request.
//
// Everything else — requests with a body, upgrades (WebSocket), HTTPS
// origins, origins reached through an HTTP proxy, Expect: 100-continue —
// goes to the standard transport (fallback), which handles it all.
type originTransport struct {
	fallback *http.Transport
	host     string // the origin's host:port; "" disables the fast path
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	idle     chan *originConn
	// idleTimeout drops connections that sat idle this long (the origin
	// has likely closed them); headerTimeout bounds the wait for the
	// response's header.
	idleTimeout, headerTimeout time.Duration
}

var _ http.RoundTripper = (*originTransport)(nil)

// originConn is one keep-alive connection to the origin.
type originConn struct {
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newOriginTransport(origin *url.URL, fallback *http.Transport, maxIdle int) *originTransport {
	t := &originTransport{
		fallback:      fallback,
		dial:          fallback.DialContext,
		idle:          make(chan *originConn, maxIdle),
		idleTimeout:   fallback.IdleConnTimeout,
		headerTimeout: fallback.ResponseHeaderTimeout,
	}
	if origin.Scheme == "http" && fallback.Proxy != nil {
		if p, err := fallback.Proxy(&http.Request{URL: origin}); err != nil || p != nil {
			return t // through an HTTP proxy: the standard transport
		}
	}
	if origin.Scheme == "http" {
		t.host = origin.Host
		if origin.Port() == "" {
			t.host = net.JoinHostPort(origin.Hostname(), "80")
		}
	}
	if t.dial == nil {
		t.dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return t
}

// fast reports whether req can take the synchronous path.
func (t *originTransport) fast(req *http.Request) bool {
	return t.host != "" && (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		req.URL.Scheme == "http" && (req.URL.Host == t.host || req.URL.Host+":80" == t.host) &&
		(req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 && !req.Close &&
		req.Header.Get("Upgrade") == "" && req.Header.Get("Expect") == ""
}

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.fast(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		oc, reused, err := t.conn(ctx)
		if err != nil {
			return nil, err
		}
		res, err := t.exchange(ctx, oc, req)
		if err == nil {
			return res, nil
		}
		_ = oc.c.Close()
		// A kept-alive connection the origin closed while it sat idle
		// fails before any answer: try once more on a fresh one (GET and
		// HEAD are idempotent; http.Transport does the same).
		if !reused || attempt > 0 || ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
	}
}

// retryable reports whether err means the connection was dead on arrival.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// conn takes an idle connection or dials a new one.
func (t *originTransport) conn(ctx context.Context) (oc *originConn, reused bool, err error) {
	for {
		select {
		case oc = <-t.idle:
			if t.idleTimeout > 0 && time.Since(oc.idleSince) > t.idleTimeout {
				_ = oc.c.Close()
				continue
			}
			return oc, true, nil
		default:
		}
		c, err := t.dial(ctx, "tcp", t.host)
		if err != nil {
			return nil, false, err
		}
		return &originConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 4<<10)}, false, nil
	}
}

// put returns a connection to the pool, or closes it when the pool is full.
func (t *originTransport) put(oc *originConn) {
	oc.idleSince = time.Now()
	select {
	case t.idle <- oc:
	default:
		_ = oc.c.Close()
	}
}

// CloseIdleConnections closes the pooled connections of both paths.
func (t *originTransport) CloseIdleConnections() {
	t.fallback.CloseIdleConnections()
	for {
		select {
		case oc := <-t.idle:
			_ = oc.c.Close()
		default:
			return
		}
	}
}

// exchange writes req on oc and reads the response header. A cancelled
// request context interrupts the connection's reads and writes at once.
func (t *originTransport) exchange(ctx context.Context, oc *originConn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = oc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(oc.bw); err != nil {
		stop()
		return nil, err
	}
	if err := oc.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	if t.headerTimeout > 0 {
		_ = oc.c.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	var res *http.Response
	var err error
	for {
		res, err = http.ReadResponse(oc.br, req)
		if err != nil {
			stop()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		// 1xx informational answers (103 Early Hints) precede the real one.
		// They go to the ClientTrace's Got1xxResponse, as http.Transport
		// does: ReverseProxy hooks it to pass them on to the visitor.
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
					stop()
					return nil, err
				}
			}
			continue
		}
		break
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errors.New("origin switched protocols on a request that asked for no upgrade")
	}
	if t.headerTimeout > 0 {
		_ = oc.c.SetReadDeadline(time.Time{})
	}
	b := &originBody{t: t, oc: oc, rc: res.Body, stop: stop, reuse: !res.Close}
	if res.Body == http.NoBody {
		b.done(true)
		return res, nil
	}
	res.Body = b
	return res, nil
}

// originBody hands its connection back to the pool once the response body
// has been read to its end; a body closed early closes the connection.
type originBody struct {
	t        *originTransport
	oc       *originConn
	rc       io.ReadCloser
	stop     func() bool
	reuse    bool
	mu       sync.Mutex
	released bool
}

func (b *originBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.done(true)
	} else if err != nil {
		b.done(false)
	}
	return n, err
}

func (b *originBody) Close() error {
	b.done(false)
	return nil
}

// done releases the connection once: to the pool after a complete body on
// a connection that stays open and whose request was not cancelled, else
// closed.
func (b *originBody) done(complete bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return
	}
	b.released = true
	notCancelled := b.stop()
	if complete && b.reuse && notCancelled {
		b.t.put(b.oc)
		return
	}
	_ = b.oc.c.Close()
}
