package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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
//
// No byte the origin sends may reach a request other than the one it
// answers. http.Transport keeps a reader on every idle connection and
// drops one the origin writes to unasked; this transport has no reader
// there, so it checks at both ends of the idle time instead: a connection
// goes back to the pool only when its answer ended exactly where the bytes
// read so far end (nothing more buffered: no second response, no body
// after a HEAD answer, no bytes after a chunked body's trailers), and it
// is taken from the pool only when the origin sent nothing and did not
// hang up while it sat there (a non-blocking MSG_PEEK on the socket:
// unsolicited 1xx, 408, garbage). Response headers are capped as
// http.Transport caps them (MaxResponseHeaderBytes, 10 MB by default).
type originTransport struct {
	fallback *http.Transport
	host     string // the origin's host:port; "" disables the fast path
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	idle     chan *originConn
	// idleTimeout drops connections that sat idle this long (the origin
	// has likely closed them); headerTimeout bounds the wait for the
	// response's header.
	idleTimeout, headerTimeout time.Duration
	// maxHeader caps the bytes of a response's header (each 1xx answer's
	// and the final one's), as MaxResponseHeaderBytes does.
	maxHeader int64
}

var _ http.RoundTripper = (*originTransport)(nil)

// defaultMaxResponseHeaderBytes is http.Transport's own cap on a
// response header when MaxResponseHeaderBytes is zero.
const defaultMaxResponseHeaderBytes = 10 << 20

// originConn is one keep-alive connection to the origin. It is the reader
// under br, so it can stop a response header at maxHeader bytes.
type originConn struct {
	c         net.Conn
	raw       syscall.RawConn // nil: the idle check cannot run, so the connection is never reused
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	// readLimit is what is left of the header cap while a header is read;
	// a body reads without a limit.
	readLimit int64
	sawEOF    bool // the origin closed its side
	peek      [1]byte
}

func (oc *originConn) Read(p []byte) (int, error) {
	if oc.readLimit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > oc.readLimit {
		p = p[:oc.readLimit]
	}
	n, err := oc.c.Read(p)
	if err == io.EOF {
		oc.sawEOF = true
	}
	oc.readLimit -= int64(n)
	return n, err
}

var errHeaderTooLarge = errors.New("origin response header too large")

func newOriginTransport(origin *url.URL, fallback *http.Transport, maxIdle int) *originTransport {
	t := &originTransport{
		fallback:      fallback,
		dial:          fallback.DialContext,
		idle:          make(chan *originConn, maxIdle),
		idleTimeout:   fallback.IdleConnTimeout,
		headerTimeout: fallback.ResponseHeaderTimeout,
		maxHeader:     fallback.MaxResponseHeaderBytes,
	}
	if t.maxHeader <= 0 {
		t.maxHeader = defaultMaxResponseHeaderBytes
	}
	if origin.Scheme == "http" && fallback.Proxy != nil {
		if p, err := fallback.Proxy(&http.Request{URL: origin}); err != nil || p != nil {
			return t // through an HTTP proxy: the standard transport
		}
	}
	if origin.Scheme == "http" && fastPathBuilt {
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
		res, err := t.fallback.RoundTrip(strip1xx(req))
		if err == nil {
			stripTrailers(res)
		}
		return res, err
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
		// A kept-alive connection the origin closed just as it was taken
		// fails before any byte of an answer: send once more on a fresh
		// one (GET and HEAD are idempotent). Once the origin has begun to
		// answer, its answer stands, as with http.Transport.
		var stale staleConnError
		if !errors.As(err, &stale) {
			return nil, err
		}
		if !reused || attempt > 0 || ctx.Err() != nil {
			return nil, stale.err
		}
	}
}

// staleConnError is a failure before the origin sent the first byte of
// its answer: the request could not be written, or the connection ended.
type staleConnError struct{ err error }

func (e staleConnError) Error() string { return e.err.Error() }
func (e staleConnError) Unwrap() error { return e.err }

// conn takes an idle connection or dials a new one. An idle connection
// the origin wrote to or closed while it sat in the pool is closed and
// passed over.
func (t *originTransport) conn(ctx context.Context) (oc *originConn, reused bool, err error) {
	for {
		select {
		case oc = <-t.idle:
			if t.idleTimeout > 0 && time.Since(oc.idleSince) > t.idleTimeout || !oc.quiet() {
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
		oc = &originConn{c: c, bw: bufio.NewWriterSize(c, 4<<10)}
		if sc, ok := c.(syscall.Conn); ok {
			oc.raw, _ = sc.SyscallConn()
		}
		oc.br = bufio.NewReaderSize(oc, 16<<10)
		return oc, false, nil
	}
}

// quiet reports, without blocking, whether the origin left the idle
// connection alone: no byte waiting to be read and no end of stream.
func (oc *originConn) quiet() bool {
	return oc.raw != nil && oc.br.Buffered() == 0 && !oc.sawEOF && socketQuiet(oc.raw, oc.peek[:])
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
	fail := func(err error) (*http.Response, error) {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := req.Write(oc.bw); err != nil {
		return fail(staleConnError{err})
	}
	if err := oc.bw.Flush(); err != nil {
		return fail(staleConnError{err})
	}
	if t.headerTimeout > 0 {
		_ = oc.c.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	oc.readLimit = t.maxHeader
	if _, err := oc.br.Peek(1); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return fail(err)
		}
		return fail(staleConnError{err})
	}
	var res *http.Response
	for {
		var err error
		res, err = http.ReadResponse(oc.br, req)
		if err != nil {
			if oc.readLimit <= 0 {
				err = fmt.Errorf("origin response header exceeded %d bytes", t.maxHeader)
			}
			return fail(err)
		}
		// 1xx informational answers (103 Early Hints) precede the real one.
		// They go to the ClientTrace's Got1xxResponse, as http.Transport
		// does: ReverseProxy hooks it to pass them on to the visitor, so
		// the gateway's own headers are taken out first. Each one passed
		// on gets a header allowance of its own, as in http.Transport.
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
				stripOriginHeaders(res.Header)
				if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
					return fail(err)
				}
				oc.readLimit = t.maxHeader
			}
			continue
		}
		break
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("origin switched protocols on a request that asked for no upgrade"))
	}
	oc.readLimit = math.MaxInt64
	if t.headerTimeout > 0 {
		_ = oc.c.SetReadDeadline(time.Time{})
	}
	stripTrailerNames(res)
	b := &originBody{t: t, oc: oc, res: res, rc: res.Body, stop: stop, reuse: !res.Close}
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
	res      *http.Response
	rc       io.ReadCloser
	stop     func() bool
	reuse    bool
	mu       sync.Mutex
	released bool
}

func (b *originBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		stripOriginHeaders(b.res.Trailer)
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

// done releases the connection once: to the pool after a complete answer
// that left nothing behind it, on a connection that stays open and whose
// request was not cancelled; else closed. Bytes already read past the end
// of the answer (a second response, a body after a HEAD answer) belong to
// no request, and the connection goes with them.
func (b *originBody) done(complete bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return
	}
	b.released = true
	notCancelled := b.stop()
	if complete && b.reuse && notCancelled && b.oc.br.Buffered() == 0 && !b.oc.sawEOF {
		b.t.put(b.oc)
		return
	}
	_ = b.oc.c.Close()
}
