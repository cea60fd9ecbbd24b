package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync/atomic"
)

// originTransport is the proxy's RoundTripper: the standard transport,
// tuned for one busy origin (newTransport: keep-alive connections sized to
// the load), with the gateway's own headers taken out of what the origin
// sends beside its final response header — its 1xx answers and its
// trailers, which ModifyResponse never sees (respheaders.go).
//
// http.Transport keeps a reader on every idle connection, so bytes an
// origin sends unasked (a second response, a body after a HEAD answer, an
// unsolicited 1xx or 408) are found and the connection closed, and it caps
// response headers (MaxResponseHeaderBytes, 10 MB). Its reader has a race,
// though: when the unasked bytes came in the same read as the end of the
// answer before them, the connection can be handed to the next request
// before the reader looks, and those bytes become that request's answer
// (another visitor's page and cookies). The gateway closes it: every
// connection counts its reads (watchedConn), and an answer whose first
// byte was already read when its request was written cannot be the
// answer to it — the connection is closed and a request without a body
// is sent again on another one; any other gets 502.
//
// The gateway once sent GET and HEAD over a hand-written synchronous path
// instead; once made as safe, it no longer beat this transport by the 15 %
// that would have paid for it (docs/benchmarks-gateway.md), and it was
// removed. transport_diff_test.go holds this transport to a plain
// http.Transport's behaviour against a hostile origin.
type originTransport struct {
	std *http.Transport
}

var _ http.RoundTripper = (*originTransport)(nil)

func newOriginTransport(std *http.Transport) *originTransport {
	dial := std.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	std.DialContext = watchDial(dial)
	return &originTransport{std: std}
}

// errUnsolicited is a response the origin sent before it was asked.
var errUnsolicited = errors.New("origin answered before the request was written (unsolicited bytes on a kept-alive connection)")

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.roundTrip(req)
	if errors.Is(err, errUnsolicited) && (req.Body == nil || req.Body == http.NoBody) {
		res, err = t.roundTrip(req) // that connection is closed: another one answers
	}
	return res, err
}

func (t *originTransport) roundTrip(req *http.Request) (*http.Response, error) {
	w := &watch{}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), w.trace()))
	res, err := t.std.RoundTrip(req)
	if err != nil {
		return res, err
	}
	if w.unsolicited.Load() {
		_ = res.Body.Close()
		w.conn.Close()
		return nil, errUnsolicited
	}
	stripTrailers(res)
	return res, nil
}

// CloseIdleConnections closes the idle keep-alive connections to the origin.
func (t *originTransport) CloseIdleConnections() { t.std.CloseIdleConnections() }

// watch follows one request on its connection.
type watch struct {
	conn        *watchedConn
	unsolicited atomic.Bool
}

func (w *watch) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if c := watchedOf(info.Conn); c != nil {
				w.conn = c
				c.armed.Store(true)
			}
		},
		GotFirstResponseByte: func() {
			if c := w.conn; c != nil && c.answeredEarly() {
				w.unsolicited.Store(true)
			}
		},
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			// Called before ReverseProxy's own hook, which passes the
			// answer on: without the gateway's headers, and bare when
			// unasked.
			if w.unsolicited.Load() {
				clear(h)
			}
			return strip1xxHeader(code, h)
		},
	}
}

// watchedConn counts the reads that brought bytes and notes, when a
// request is written, how many there had been.
type watchedConn struct {
	net.Conn
	reads   atomic.Uint64
	armed   atomic.Bool // a request was given the connection and is not written yet
	atWrite atomic.Uint64
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	if c.armed.CompareAndSwap(true, false) {
		c.atWrite.Store(c.reads.Load())
	}
	return c.Conn.Write(p)
}

// answeredEarly reports whether the answer now starting was read before
// its request was written: no read brought bytes since.
func (c *watchedConn) answeredEarly() bool {
	return c.armed.Load() || c.reads.Load() == c.atWrite.Load()
}

func watchDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &watchedConn{Conn: c}, nil
	}
}

// watchedOf finds the watchedConn under c (a TLS connection wraps it).
func watchedOf(c net.Conn) *watchedConn {
	for range 3 {
		switch v := c.(type) {
		case *watchedConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
