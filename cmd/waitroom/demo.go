package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/ticketd"
)

// Demo settings: a rate low enough that a visitor sees the queue move.
const (
	demoOrigin    = "127.0.0.1:8081"
	demoAdmitRate = 30 // per minute: one every 2 s
	demoMaxActive = 50
	demoCrowd     = 15 // simulated visitors already waiting at start
)

// runDemo runs the whole system in one process: the gateway on :8080 (or
// WAITROOM_LISTEN) with the embedded Redis, in front of ticketd on
// 127.0.0.1:8081 with SQLite in a temporary directory, demo events, and a
// small simulated crowd already waiting so the queue shows at once.
func runDemo(ctx context.Context, stdout, stderr io.Writer) int {
	log := newLogger("console", "info", stderr)
	dir, err := os.MkdirTemp("", "waitroom-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	cfg := gateway.DefaultConfig("http://" + demoOrigin)
	if v := os.Getenv("WAITROOM_LISTEN"); v != "" {
		cfg.Listen = v
	}
	cfg.AdmitPerMinute = demoAdmitRate
	cfg.MaxActive = demoMaxActive
	cfg.SessionTTL = 5 * time.Minute
	cfg.AbandonAfter = 30 * time.Second
	cfg.LogFormat = "console"
	g, err := gateway.New(ctx, cfg, log.With().Str("svc", "gateway").Logger())
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 2
	}

	td, err := ticketd.New(ctx, ticketd.Config{
		Listen:      demoOrigin,
		DatabaseURL: "sqlite://" + filepath.Join(dir, "ticketd.db"),
		DBMaxConns:  4,
		SeedDemo:    true,
		LogFormat:   "console",
		LogLevel:    "info",
		Verifier:    g.Verifier(),
	}, log.With().Str("svc", "ticketd").Logger())
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo: ticketd:", err)
		_ = g.Shutdown(context.Background())
		return 1
	}
	defer td.Close()
	ln, err := net.Listen("tcp", demoOrigin)
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo: ticketd:", err)
		_ = g.Shutdown(context.Background())
		return 1
	}
	tdDone := make(chan error, 1)
	go func() { tdDone <- td.Serve(ctx, ln, 5*time.Second) }()

	go crowd(ctx, g, demoCrowd)

	pub, adm := g.PublicServer(), g.AdminServer()
	pubLn, admLn, err := listen(pub, adm)
	if err != nil {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		_ = g.Shutdown(context.Background())
		return 1
	}
	err = serve(ctx, g, pub, adm, pubLn, admLn, 5*time.Second, log.With().Str("svc", "gateway").Logger(), func() {
		host := "localhost" + cfg.Listen
		if h, p, err := net.SplitHostPort(cfg.Listen); err == nil && h != "" {
			host = net.JoinHostPort(h, p)
		}
		fmt.Fprintf(stdout, `
  waitroom demo is running.

    site (through the waiting room):  http://%s/
    admin dashboard:                  http://%s/admin/
    ticketd directly (no queue):      http://%s/

  %d simulated visitors are already waiting; the room admits %d per minute,
  so you will see the queue move and then reach the ticket site.
  Open more private windows to queue several visitors. Ctrl-C stops.

`, host, cfg.AdminListen, demoOrigin, demoCrowd, demoAdmitRate)
	})
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "waitroom demo:", err)
		return 1
	}
	<-tdDone
	return 0
}

// crowd puts n simulated visitors in the default room and keeps them
// present (heartbeats) until they are admitted, so a real visitor queues
// behind them.
func crowd(ctx context.Context, g *gateway.Gateway, n int) {
	rooms := g.Rooms()
	if len(rooms) == 0 {
		return
	}
	room := rooms[0]
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("demo-crowd-%02d", i+1)
		if _, err := g.Queue().Join(ctx, room, ids[i]); err != nil {
			return
		}
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = g.Queue().Heartbeat(ctx, room.Name, ids)
		}
	}
}
