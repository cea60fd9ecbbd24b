package surge

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// maxBody is the most surge reads of any response body: enough for status
// JSON and an order, small enough that a misbehaving server cannot make a
// crowd of 100,000 use much memory.
const maxBody = 64 << 10

// maxMessage bounds one WebSocket message (status JSON is ~200 bytes).
const maxMessage = 4 << 10

// dialer spreads connections over local source addresses, round robin.
type dialer struct {
	addrs   []netip.Addr
	next    atomic.Uint64
	timeout time.Duration
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}
	if len(d.addrs) > 0 {
		a := d.addrs[d.next.Add(1)%uint64(len(d.addrs))]
		nd.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
	}
	return nd.DialContext(ctx, network, addr)
}

// clients are the HTTP and WebSocket clients every visitor shares; cookies
// are kept per visitor (jar), not in the clients.
type clients struct {
	http *http.Client
	ws   *websocket.Dialer
	tr   *http.Transport
}

func newClients(c Config) *clients {
	d := &dialer{addrs: c.SourceAddrs, timeout: 10 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		MaxConnsPerHost:       c.MaxConns,
		MaxIdleConns:          c.MaxConns,
		MaxIdleConnsPerHost:   c.MaxConns,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: c.Timeout,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
	}
	return &clients{
		tr: tr,
		http: &http.Client{
			Transport: tr,
			Timeout:   c.Timeout,
			// Never follow a redirect: the crowd only goes to the URLs it
			// was given, and a redirect is itself something to report.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ws: &websocket.Dialer{
			NetDialContext:   d.DialContext,
			HandshakeTimeout: c.Timeout,
			ReadBufferSize:   512,
			WriteBufferSize:  256,
			WriteBufferPool:  &sharedPool{p: make(chan any, 64)},
		},
	}
}

func (c *clients) close() { c.tr.CloseIdleConnections() }

// sharedPool lends write buffers between sockets: visitors barely write.
type sharedPool struct{ p chan any }

func (s *sharedPool) Get() any {
	if s.p == nil {
		return nil
	}
	select {
	case v := <-s.p:
		return v
	default:
		return nil
	}
}

func (s *sharedPool) Put(v any) {
	if s.p == nil {
		return
	}
	select {
	case s.p <- v:
	default:
	}
}

// jar is one visitor's cookies. A browser keeps cookies per site; every
// URL a visitor talks to is the one site it was sent to, so a jar is just
// the live cookies by name.
type jar []*http.Cookie

func (j jar) header() string {
	var b strings.Builder
	for i, c := range j {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name)
		b.WriteByte('=')
		b.WriteString(c.Value)
	}
	return b.String()
}

// update applies a response's Set-Cookie headers.
func (j *jar) update(resp *http.Response, now time.Time) {
	for _, c := range resp.Cookies() {
		gone := c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now))
		kept := (*j)[:0]
		for _, old := range *j {
			if old.Name != c.Name {
				kept = append(kept, old)
			}
		}
		*j = kept
		if !gone {
			*j = append(*j, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
}

// readBody reads at most maxBody bytes and drains nothing more: a body
// larger than that is reported as too large.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return b, err
	}
	if len(b) > maxBody {
		return b[:maxBody], errTooLarge
	}
	return b, nil
}

var errTooLarge = errors.New("response body too large")

// errKind names a transport error for the errors table.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errTooLarge):
		return "too_large"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "connection reset"), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case strings.Contains(err.Error(), "cannot assign requested address"):
		return "no_source_port"
	case strings.Contains(err.Error(), "too many open files"):
		return "no_file_descriptors"
	}
	return "conn"
}
