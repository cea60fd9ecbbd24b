package deploy_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// newStack starts ticketd, one gateway and nginx with the shipped config.
func newStack(t *testing.T) (*stack, int) {
	t.Helper()
	needNginx(t)
	_, prefix := testenv.Redis(t)
	s := &stack{t: t, dir: t.TempDir(), prefix: prefix}
	s.startTicketd()
	s.gatewayEnv(testenv.RedisURL())
	gw := testenv.FreePort(t)
	s.startGateway("gateway", gw, testenv.FreePort(t))
	s.startNginx(gw)
	return s, gw
}

// A visitor goes through nginx exactly as a browser on the internet would:
// plain HTTP is redirected to HTTPS, the queue page and its WebSocket work
// over TLS, every cookie is Secure (the gateway believes nginx's
// X-Forwarded-Proto because nginx is a trusted proxy), and once admitted
// the visitor reaches ticketd through both proxies and buys.
func TestVisitorThroughNginx(t *testing.T) {
	s, _ := newStack(t)
	v := s.newVisitor()

	res, _ := v.mustDo(http.MethodGet, s.http+"/events/1?x=1", "text/html", "")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusMovedPermanently ||
		!strings.HasPrefix(loc, "https://127.0.0.1") || !strings.HasSuffix(loc, "/events/1?x=1") {
		t.Fatalf("plain HTTP: %d Location %q, want 301 to https with the path kept", res.StatusCode, loc)
	}

	res, body := v.mustDo(http.MethodGet, s.https+"/events/1", "text/html", "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "queued" {
		t.Fatalf("queue page over HTTPS: %d state %q", res.StatusCode, res.Header.Get("Waitroom-State"))
	}
	if !strings.Contains(body, "_waitroom/ws") && !strings.Contains(body, "/_waitroom/assets/") {
		t.Errorf("queue page does not look like the queue page: %.200s", body)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("queue page Cache-Control %q", cc)
	}
	assertSecureCookies(t, res)

	ws, err := v.dial("default")
	if err != nil {
		t.Fatalf("wss through nginx: %v", err)
	}
	defer ws.Close()
	st, err := readStatus(ws, 5*time.Second)
	if err != nil || st.State != "queued" || st.Position != 1 {
		t.Fatalf("first push over wss: %+v %v", st, err)
	}

	s.admit(1)
	for st.State != "admitted" {
		if st, err = readStatus(ws, 5*time.Second); err != nil {
			t.Fatalf("waiting for the admitted push: %v", err)
		}
	}

	res, body = v.mustDo(http.MethodGet, s.https+"/events/1", "text/html", "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "" {
		t.Fatalf("event page after admission: %d state %q", res.StatusCode, res.Header.Get("Waitroom-State"))
	}
	assertSecureCookies(t, res)
	res, body = v.mustDo(http.MethodPost, s.https+"/api/events/1/orders", "application/json", `{"quantity":1}`)
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, `"order_id"`) {
		t.Fatalf("order through nginx: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Waitroom-Command") != "" {
		t.Error("Waitroom-Command reached the browser")
	}
}

func assertSecureCookies(t *testing.T, res *http.Response) {
	t.Helper()
	if len(res.Cookies()) == 0 {
		t.Fatal("no cookie set")
	}
	for _, c := range res.Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v, want both", c.Name, c.Secure, c.HttpOnly)
		}
	}
}

// A visitor cannot talk the gateway out of Secure cookies: nginx replaces a
// forged X-Forwarded-Proto with the scheme it really served.
func TestNginxOverwritesForgedForwardedProto(t *testing.T) {
	s, _ := newStack(t)
	v := s.newVisitor()
	req, _ := http.NewRequest(http.MethodGet, s.https+"/events/1", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("X-Forwarded-Proto", "http")
	res, err := v.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	assertSecureCookies(t, res)
}

// The WebSocket location of the shipped config passes the upgrade and keeps
// an idle socket open longer than nginx's default 60 s read timeout allows
// for plain requests (checked on the config, not by waiting a minute).
func TestShippedConfigKeepsSocketsOpen(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("nginx", "waitroom.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	ws := conf[strings.Index(conf, "location /_waitroom/ws"):]
	ws = ws[:strings.Index(ws, "}")]
	for _, want := range []string{"proxy_set_header Upgrade $http_upgrade", "proxy_set_header Connection $connection_upgrade", "proxy_read_timeout 1h", "proxy_http_version 1.1"} {
		if !strings.Contains(ws, want) {
			t.Errorf("WebSocket location lacks %q", want)
		}
	}
}
