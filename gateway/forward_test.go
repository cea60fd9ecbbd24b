package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// X-Forwarded-* reaching the origin are set by the gateway; incoming
// values are kept only when the direct peer is a trusted proxy, and only
// then does X-Forwarded-Proto: https make the cookies Secure.
func TestForwardedHeadersTrustedOnlyFromProxies(t *testing.T) {
	cases := []struct {
		name       string
		trusted    []string
		wantFor    string
		wantProto  string
		wantSecure bool
	}{
		{"untrusted peer", nil, "127.0.0.1", "http", false},
		{"other proxy trusted", []string{"10.0.0.0/8"}, "127.0.0.1", "http", false},
		{"trusted peer", []string{"127.0.0.1/32"}, "203.0.113.9, 127.0.0.1", "https", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{mutate: func(c *gateway.Config) { c.TrustedProxies = proxies(t, tc.trusted...) }})
			b := newBrowser(t)
			res, _ := b.get(r.pub.URL+"/x", true, "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https")
			got := r.origin.requests()
			if len(got) != 1 {
				t.Fatalf("origin saw %d requests", len(got))
			}
			h := got[0].Header
			if h.Get("X-Forwarded-For") != tc.wantFor || h.Get("X-Forwarded-Proto") != tc.wantProto {
				t.Errorf("origin saw X-Forwarded-For %q Proto %q, want %q %q", h.Get("X-Forwarded-For"), h.Get("X-Forwarded-Proto"), tc.wantFor, tc.wantProto)
			}
			for _, c := range res.Cookies() {
				if c.Secure != tc.wantSecure {
					t.Errorf("cookie %s Secure=%v, want %v", c.Name, c.Secure, tc.wantSecure)
				}
			}
		})
	}
}

// While the visitor is active the pass slides: once less than half its
// life is left, the next request carries a renewed pass (new cookie, later
// exp) and the origin sees the renewed one.
func TestPassSlidesWhileActive(t *testing.T) {
	rm := room("slide", 600, 10, "/*")
	rm.SessionTTL = 4 * time.Second
	r := newRig(t, rigOpts{rooms: []queue.Room{rm}})
	b := newBrowser(t)
	b.get(r.pub.URL+"/a", false)
	first := b.cookie(r.pub.URL, token.CookieName("slide"))
	c1, err := r.g.Verifier().Verify(first, "slide")
	if err != nil {
		t.Fatal(err)
	}
	// Requests in the first half keep the pass.
	b.get(r.pub.URL+"/b", false)
	if b.cookie(r.pub.URL, token.CookieName("slide")) != first {
		t.Fatal("pass renewed with more than half its life left")
	}
	time.Sleep(time.Until(c1.IssuedAt.Add(2200 * time.Millisecond)))
	res, _ := b.get(r.pub.URL+"/c", false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("late request: %d", res.StatusCode)
	}
	second := b.cookie(r.pub.URL, token.CookieName("slide"))
	c2, err := r.g.Verifier().Verify(second, "slide")
	if err != nil || second == first || !c2.ExpiresAt.After(c1.ExpiresAt) {
		t.Fatalf("pass not renewed: same=%v exp %v -> %v (%v)", second == first, c1.ExpiresAt, c2.ExpiresAt, err)
	}
	got := r.origin.requests()
	if last := got[len(got)-1].Header.Get(token.HeaderPass); last != second {
		t.Errorf("origin saw the old pass after renewal")
	}
	// A pass for another room is not accepted here.
	if !strings.Contains(second, ".") {
		t.Fatal("not a JWT")
	}
}

// An origin's 103 Early Hints reach the admitted visitor before the page,
// for a GET as for a POST.
func TestEarlyHintsReachTheVisitor(t *testing.T) {
	o := newOrigin(t)
	o.respond = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "page")
	}
	r := newRig(t, rigOpts{origin: o})
	b := newBrowser(t)
	if res, _ := b.get(r.pub.URL+"/x", true); res.StatusCode != http.StatusOK {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				hints = append(hints, h.Get("Link"))
			}
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, r.pub.URL+"/x", strings.NewReader(""))
		if method == http.MethodGet {
			req.Body = nil
		}
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || string(body) != "page" {
			t.Fatalf("%s: %d %q", method, res.StatusCode, body)
		}
		if len(hints) != 1 || hints[0] != "</app.css>; rel=preload; as=style" {
			t.Errorf("%s: early hints the visitor saw: %q", method, hints)
		}
	}
}

// Headers an origin may believe as the gateway's or a proxy's word never
// come through from a visitor: any Waitroom-* (whatever its case, and its
// underscore spelling), the client-address headers unless the peer is a
// trusted proxy, and underscore aliases of them all, which CGI-style
// origins fold into the same variable.
func TestSpoofableHeadersDropped(t *testing.T) {
	sent := map[string]string{
		"Waitroom-Pass":    "forged",
		"Waitroom_Pass":    "forged",
		"WAITROOM-STATE":   "admitted",
		"Waitroom-Visitor": "someone",
		"X-Real-IP":        "203.0.113.7",
		"True-Client-IP":   "203.0.113.7",
		"Forwarded":        "for=203.0.113.7;proto=https",
		"X_Real_IP":        "203.0.113.7",
		"X_Forwarded_For":  "203.0.113.7",
		"X-Forwarded_Host": "evil.example",
		"X-Custom":         "kept",
	}
	for _, tc := range []struct {
		name    string
		trusted []string
		want    map[string]bool // headers the origin should see as sent
	}{
		{"untrusted peer", nil, map[string]bool{"X-Custom": true}},
		{"trusted proxy", []string{"127.0.0.1/32"}, map[string]bool{"X-Custom": true, "X-Real-IP": true, "True-Client-IP": true, "Forwarded": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOpts{mutate: func(c *gateway.Config) { c.TrustedProxies = proxies(t, tc.trusted...) }})
			req, _ := http.NewRequest(http.MethodGet, r.pub.URL+"/page", nil)
			for k, v := range sent {
				req.Header[k] = []string{v}
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := r.origin.requests()
			if len(got) != 1 {
				t.Fatalf("origin saw %d requests", len(got))
			}
			for k, v := range sent {
				for name, vals := range got[0].Header {
					if !strings.EqualFold(name, k) || vals[0] != v {
						continue
					}
					if !tc.want[k] {
						t.Errorf("origin saw %s: %s", name, v)
					}
				}
				if tc.want[k] && got[0].Header.Get(k) != v {
					t.Errorf("origin lost %s from a trusted proxy", k)
				}
			}
			// The gateway's own view of the pass is the only Waitroom-Pass.
			if v := got[0].Header.Values(token.HeaderPass); len(v) != 1 || v[0] == "forged" {
				t.Errorf("origin saw Waitroom-Pass %q, want only the verified pass", v)
			}
		})
	}
}
