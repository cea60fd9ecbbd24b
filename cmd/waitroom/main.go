// Command waitroom is the waiting-room gateway: a reverse proxy that parks
// visitors of protected paths in a Redis queue and admits them at the rate
// the operator sets. "waitroom demo" runs the whole system in one process.
// Configuration comes from WAITROOM_* environment variables (-h lists them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: waitroom [demo]

  waitroom        run the gateway (configured by the environment below)
  waitroom demo   run gateway + ticketd + embedded Redis on embedded defaults

Environment (default in the second column):
%s`, gateway.Usage())
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("waitroom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch fs.Arg(0) {
	case "":
	case "demo":
		return runDemo(ctx, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "waitroom: unknown command %q (try -h)\n", fs.Arg(0))
		return 2
	}

	cfg, err := gateway.LoadConfig(env.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "waitroom:", err)
		return 2
	}
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	redis.SetLogger(gateway.RedisLogger(log))
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "waitroom:", err)
		return 2
	}
	if err := serve(ctx, g, cfg.ShutdownTimeout, log, nil); err != nil {
		log.Error().Err(err).Msg("stopped")
		return 1
	}
	return 0
}

func newLogger(format, level string, out io.Writer) zerolog.Logger {
	if format == "console" {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// serve runs the gateway's two listeners until ctx ends, then shuts down
// in the documented order: stop accepting and drain the requests in flight
// (up to drain), while admission, the probe and the sockets' pushes go on;
// then close the WebSockets with 1001 and stop the background work
// (g.Shutdown). ready, when not nil, is called once both listeners accept.
func serve(ctx context.Context, g *gateway.Gateway, drain time.Duration, log zerolog.Logger, ready func()) error {
	pub, adm := g.PublicServer(), g.AdminServer()
	pubLn, err := net.Listen("tcp", pub.Addr)
	if err != nil {
		return fmt.Errorf("WAITROOM_LISTEN: %w", err)
	}
	admLn, err := net.Listen("tcp", adm.Addr)
	if err != nil {
		_ = pubLn.Close()
		return fmt.Errorf("WAITROOM_ADMIN_LISTEN: %w", err)
	}
	g.Start(ctx) // ctx bounds only the first read; the work runs until g.Shutdown
	errc := make(chan error, 2)
	go func() { errc <- pub.Serve(pubLn) }()
	go func() { errc <- adm.Serve(admLn) }()
	log.Info().Str("public", pubLn.Addr().String()).Str("admin", admLn.Addr().String()).Msg("waitroom listening")
	if ready != nil {
		ready()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info().Msg("shutting down: draining requests, closing sockets with 1001")
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := pub.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("public listener did not drain in time")
	}
	if err := adm.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("admin listener did not drain in time")
	}
	if err := g.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("gateway loops did not stop in time")
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
