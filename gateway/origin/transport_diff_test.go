package origin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway/pass"
)

// The differential suite: one hostile origin on raw TCP, scripted per
// scenario, is put behind the reverse proxy as the gateway builds it, once
// with the gateway's own transport and once with a plain http.Transport.
// Two visitors come one after the other, alpha then bravo. What each
// visitor sees (status, body, Set-Cookie, the 1xx answers passed on,
// trailers, or the client's error) must be the same with both transports,
// and nothing of alpha's (its marker, its cookie) may ever reach bravo.
//
// The suite was written against the hand-written synchronous origin path
// the gateway once had: before it was made safe, every scenario but the
// healthy one failed there, most by handing bravo alpha's page and cookie.
// It stays, so that any future change to the proxy's transport answers to
// it.

// hostileScenario scripts the origin. Its answers are raw bytes, so it can
// say what no well-behaved server says.
type hostileScenario struct {
	name string
	// alphaMethod is visitor alpha's method (bravo always sends GET).
	alphaMethod string
	// answer is what the origin writes for the n-th request (from 0) on a
	// connection, for visitor v ("alpha" or "bravo"); hangUp closes the
	// connection right after.
	answer func(n int, v, method string) (out string, hangUp bool)
	// idle, when set, is written on alpha's connection once alpha has its
	// whole answer: the connection sits idle in the proxy's pool then.
	idle func(v string) string
}

// page is a well-formed answer for visitor v, with v's session cookie.
func page(v, cookie, body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nSet-Cookie: session=" + cookie + "\r\n\r\n" + body
}

func healthy(_ int, v, _ string) (string, bool) { return page(v, v+"-secret", "page for "+v), false }

func hostileScenarios() []hostileScenario {
	return []hostileScenario{
		{name: "healthy", answer: healthy},
		{name: "extra response after a response", answer: func(_ int, v, _ string) (string, bool) {
			return page(v, v+"-secret", "page for "+v) + page(v, v+"-extra", "second page for "+v), false
		}},
		{name: "HEAD answered with a body", alphaMethod: http.MethodHead, answer: func(_ int, v, method string) (string, bool) {
			if method != http.MethodHead {
				return healthy(0, v, method)
			}
			smuggled := page(v, v+"-smuggled", "smuggled page for "+v)
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(smuggled)) +
				"\r\nSet-Cookie: session=" + v + "-secret\r\n\r\n" + smuggled, false
		}},
		{name: "unsolicited 103 while idle", answer: healthy, idle: func(v string) string {
			return "HTTP/1.1 103 Early Hints\r\nLink: </" + v + ".css>; rel=preload\r\n\r\n" + page(v, v+"-late", "late page for "+v)
		}},
		{name: "unsolicited 408 while idle", answer: healthy, idle: func(v string) string {
			body := "request timeout for " + v
			return "HTTP/1.1 408 Request Timeout\r\nContent-Length: " + strconv.Itoa(len(body)) +
				"\r\nSet-Cookie: session=" + v + "-late\r\n\r\n" + body
		}},
		{name: "garbage status line while idle", answer: healthy, idle: func(v string) string {
			return "HTPP/1.1 200 " + v + "\r\nSet-Cookie: session=" + v + "-garbage\r\n\r\n"
		}},
		{name: "close mid-header on a kept-alive connection", answer: func(n int, v, m string) (string, bool) {
			if n == 0 {
				return healthy(n, v, m)
			}
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: session=" + v, true
		}},
		{name: "header over the size cap", answer: func(n int, v, m string) (string, bool) {
			if v != "alpha" {
				return healthy(n, v, m)
			}
			filler := strings.Repeat("f", 10<<20+1024) // http.Transport's default cap is 10 MB
			return "HTTP/1.1 200 OK\r\nX-Filler: " + filler + "\r\nContent-Length: 0\r\nSet-Cookie: session=" + v + "-secret\r\n\r\n", false
		}},
		{name: "chunked with trailers, then more", answer: func(_ int, v, _ string) (string, bool) {
			body := "page for " + v
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n" +
				"Set-Cookie: session=" + v + "-secret\r\n\r\n" +
				strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\nX-Checksum: " + v + "-sum\r\n\r\n" +
				page(v, v+"-extra", "second page for "+v), false
		}},
	}
}

// hostileOrigin serves one scenario on a loopback listener.
type hostileOrigin struct {
	t        *testing.T
	ln       net.Listener
	sc       hostileScenario
	alphaIn  chan struct{} // closed by the test once alpha has its answer
	idleSent chan int      // the connection the idle bytes went out on
	closed   chan int      // connections the proxy hung up on
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newHostileOrigin(t *testing.T, sc hostileScenario) *hostileOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &hostileOrigin{t: t, ln: ln, sc: sc, alphaIn: make(chan struct{}), idleSent: make(chan int, 1),
		closed: make(chan int, 64), done: make(chan struct{})}
	o.wg.Add(1)
	go o.accept()
	t.Cleanup(o.close)
	return o
}

func (o *hostileOrigin) url() string { return "http://" + o.ln.Addr().String() }

func (o *hostileOrigin) close() {
	close(o.done)
	_ = o.ln.Close()
	o.mu.Lock()
	for _, c := range o.conns {
		_ = c.Close()
	}
	o.mu.Unlock()
	o.wg.Wait()
}

func (o *hostileOrigin) accept() {
	defer o.wg.Done()
	for id := 0; ; id++ {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		o.conns = append(o.conns, c)
		o.mu.Unlock()
		o.wg.Add(1)
		go o.serve(id, c)
	}
}

func (o *hostileOrigin) serve(id int, c net.Conn) {
	defer o.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			select {
			case o.closed <- id:
			default:
			}
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		v := strings.TrimPrefix(req.URL.Path, "/visitor/")
		out, hangUp := o.sc.answer(n, v, req.Method)
		if _, err := io.WriteString(c, out); err != nil || hangUp {
			return
		}
		if o.sc.idle == nil || v != "alpha" {
			continue
		}
		select {
		case <-o.alphaIn:
		case <-o.done:
			return
		}
		if _, err := io.WriteString(c, o.sc.idle(v)); err != nil {
			return
		}
		o.idleSent <- id
	}
}

// seen is what a visitor sees of one request.
type seen struct {
	Status  int
	Body    string
	Cookies []string
	Hints   []string // informational answers: "103 Link: …"
	Trailer http.Header
	Err     string // the visitor's client got no answer
}

// visit sends one visitor's request through the proxy at front; a POST
// carries a small body.
func visit(t *testing.T, front, method, v string) seen {
	t.Helper()
	var s seen
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		mu.Lock()
		defer mu.Unlock()
		keys := make([]string, 0, len(h))
		for k, vv := range h {
			keys = append(keys, k+": "+strings.Join(vv, ", "))
		}
		s.Hints = append(s.Hints, fmt.Sprint(code, keys))
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("order=1")
	}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, front+"/visitor/"+v, body)
	req.Header.Set("Accept", "application/json")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		s.Err = err.Error()
		return s
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		s.Err = "body: " + err.Error()
	}
	s.Status, s.Body, s.Cookies, s.Trailer = res.StatusCode, string(b), res.Header.Values("Set-Cookie"), res.Trailer
	return s
}

// testProxy is the gateway's reverse proxy to origin (its Rewrite,
// ModifyResponse, ErrorHandler and BufferPool), on the transport rt, or on
// the gateway's own when rt is nil.
func testProxy(t *testing.T, origin string, rt http.RoundTripper) *httputil.ReverseProxy {
	t.Helper()
	u, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{
		URL: u, Trusted: func(*http.Request) bool { return false },
		Revoke:     func(*http.Request, pass.Pass) *http.Cookie { return nil },
		BadGateway: func(w http.ResponseWriter, _ *http.Request, id string) { _, _ = io.WriteString(w, "bad gateway "+id) },
		Responses:  func(int) {}, Failed: func() {}, Log: zerolog.Nop(),
	})
	rp := p.rp
	if rt != nil {
		rp.Transport = rt
	}
	if c, ok := rp.Transport.(interface{ CloseIdleConnections() }); ok {
		t.Cleanup(c.CloseIdleConnections)
	}
	return rp
}

// pairRun drives alpha then bravo through one transport.
func pairRun(t *testing.T, sc hostileScenario, rt http.RoundTripper) (alpha, bravo seen) {
	t.Helper()
	o := newHostileOrigin(t, sc)
	front := httptest.NewServer(testProxy(t, o.url(), rt))
	defer front.Close()
	method := sc.alphaMethod
	if method == "" {
		method = http.MethodGet
	}
	alpha = visit(t, front.URL, method, "alpha")
	close(o.alphaIn)
	if sc.idle != nil {
		var id int
		select {
		case id = <-o.idleSent:
		case <-time.After(10 * time.Second):
			t.Fatal("the origin never got to write on alpha's idle connection")
		}
		// http.Transport notices bytes on an idle connection in its read
		// loop, on a goroutine of its own: let it close the connection
		// before bravo comes, so the test does not race that loop.
		waitClosed(t, o, id)
	}
	bravo = visit(t, front.URL, http.MethodGet, "bravo")
	return alpha, bravo
}

func waitClosed(t *testing.T, o *hostileOrigin, id int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-o.closed:
			if c == id {
				return
			}
		case <-deadline:
			t.Fatalf("http.Transport kept connection %d open after unsolicited bytes", id)
		}
	}
}

// Each hostile behaviour of the origin reaches the visitors the same way
// through the gateway's transport as through http.Transport, and no byte
// the origin sent after alpha's answer reaches bravo.
//
// http.Transport itself loses a race now and then (transport.go): bytes
// that came with the end of alpha's answer become bravo's answer when
// bravo is given the connection before its reader looks. The reference is
// what http.Transport does when it wins (asked again when it lost); the
// gateway's transport must never lose, so each pair runs through it
// several times.
func TestTransportDifferential(t *testing.T) {
	for _, sc := range hostileScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			refA, refB := pairRun(t, sc, http.DefaultTransport.(*http.Transport).Clone())
			for try := 0; try < 5 && leaked(refB); try++ {
				refA, refB = pairRun(t, sc, http.DefaultTransport.(*http.Transport).Clone())
			}
			if leaked(refB) {
				t.Fatalf("http.Transport handed bravo alpha's bytes six times running: %s", show(refB))
			}
			if refB.Status != http.StatusOK && sc.name != "close mid-header on a kept-alive connection" {
				t.Errorf("bravo's own request failed through http.Transport: %s", show(refB))
			}
			for range 8 {
				gwA, gwB := pairRun(t, sc, nil)
				if leaked(gwB) {
					t.Fatalf("bravo received alpha's bytes through the gateway's transport: %s", show(gwB))
				}
				for _, s := range []struct {
					who      string
					ref, got seen
				}{{"alpha", refA, gwA}, {"bravo", refB, gwB}} {
					if !reflect.DeepEqual(s.ref, s.got) {
						t.Fatalf("%s sees through the gateway's transport\n  %s\nthrough http.Transport\n  %s", s.who, show(s.got), show(s.ref))
					}
				}
			}
		})
	}
}

func leaked(bravo seen) bool { return strings.Contains(show(bravo), "alpha") }

func show(s seen) string {
	if len(s.Body) > 200 {
		s.Body = s.Body[:200] + "…"
	}
	if len(s.Err) > 200 {
		s.Err = s.Err[:200] + "…"
	}
	return fmt.Sprintf("%+v", s)
}
