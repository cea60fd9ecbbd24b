package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/internal/ticketd"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// The whole flow against the real ticket backend: a queued visitor is
// admitted, buys with the pass the gateway forwards, and the order's
// Waitroom-Command: revoke ends the session (cookie cleared, header gone).
func TestBuyThroughGatewayWithTicketd(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfg := gateway.DefaultConfig("http://placeholder")
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	cfg.Rooms = []queue.Room{room("default", 0, 100, "/*")}
	cfg.CookieSecret = strings.Repeat("c", 32)
	cfg.PassSecret = strings.Repeat("p", 32)
	// ticketd needs the gateway's verifier and the gateway needs ticketd's
	// URL: start ticketd's listener first.
	originSrv := httptest.NewUnstartedServer(nil)
	cfg.Origin = url.URL{Scheme: "http", Host: originSrv.Listener.Addr().String()}
	g, err := gateway.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	td, err := ticketd.New(ctx, ticketd.Config{
		Listen:      originSrv.Listener.Addr().String(),
		DatabaseURL: "sqlite://" + filepath.Join(t.TempDir(), "t.db"),
		DBMaxConns:  2, SeedDemo: true, LogFormat: "json", LogLevel: "warn",
		Verifier: g.Verifier(),
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer td.Close()
	originSrv.Config.Handler = td.Handler()
	originSrv.Start()
	defer originSrv.Close()
	g.Start(ctx)
	pub := httptest.NewServer(g.Public())
	defer pub.Close()
	defer g.Shutdown(context.Background())

	r := &rig{g: g, pub: pub}
	b := newBrowser(t)
	if res, _ := b.get(pub.URL+"/events/1", true); res.Header.Get("Waitroom-State") != "queued" {
		t.Fatalf("busy room did not queue: %d", res.StatusCode)
	}
	// Without a pass, ticketd is never reached: the order is queued.
	if res, _ := b.post(pub.URL+"/api/events/1/orders", `{"quantity":1}`); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("order before admission: %d", res.StatusCode)
	}
	if _, err := g.Queue().AdmitNext(ctx, cfg.Rooms[0], 1); err != nil {
		t.Fatal(err)
	}
	// A poll may be answered from figures up to a tick old.
	testenv.WaitFor(t, 2*time.Second, "the status to say admitted", func() bool {
		return b.status(r, "default").State == "admitted"
	})
	if res, body := b.get(pub.URL+"/events/1", true); res.StatusCode != http.StatusOK || b.cookie(pub.URL, token.CookieName("default")) == "" {
		t.Fatalf("event page after admission: %d %.100s", res.StatusCode, body)
	}
	res, body := b.post(pub.URL+"/api/events/1/orders", `{"quantity":2}`)
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, `"order_id"`) {
		t.Fatalf("order: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Waitroom-Command") != "" {
		t.Error("Waitroom-Command reached the browser")
	}
	if b.cookie(pub.URL, token.CookieName("default")) != "" {
		t.Error("pass cookie kept after the order's revoke")
	}
}

func (b *browser) post(url, body string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b2, _ := io.ReadAll(res.Body)
	return res, string(b2)
}
