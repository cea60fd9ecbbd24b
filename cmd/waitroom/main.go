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
  waitroom demo   run gateway + ticketd + embedded Redis on embedded defaults,
                  with a simulated crowd that keeps a line; it follows only
                  WAITROOM_LISTEN, WAITROOM_ADMIN_LISTEN, TICKETD_LISTEN
                  (default 127.0.0.1:8081) and WAITROOM_LOG_LEVEL (default warn)

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
		return runDemo(ctx, demoConfigFromEnv(os.Getenv), stdout, stderr)
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
	pub, adm := g.PublicServer(), g.AdminServer()
	pubLn, admLn, err := listen(pub, adm)
	if err == nil {
		err = serve(ctx, g, pub, adm, pubLn, admLn, cfg.ShutdownTimeout, log, nil)
	} else {
		_ = g.Shutdown(context.Background())
	}
	if err != nil {
		log.Error().Err(err).Msg("stopped")
		return 1
	}
	return 0
}

// newLogger writes JSON, or with format console lines for humans, in
// colour only when out is a terminal (a file or a pipe gets plain text).
func newLogger(format, level string, out io.Writer) zerolog.Logger {
	if format == "console" {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !isTerminal(out)}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// isTerminal reports whether w is a character device (a terminal), the
// only place where colour escapes are wanted.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// listen opens the gateway's two listeners, on the servers' addresses.
func listen(pub, adm *http.Server) (pubLn, admLn net.Listener, err error) {
	if pubLn, err = net.Listen("tcp", pub.Addr); err != nil {
		return nil, nil, fmt.Errorf("WAITROOM_LISTEN: %w", err)
	}
	if admLn, err = net.Listen("tcp", adm.Addr); err != nil {
		_ = pubLn.Close()
		return nil, nil, fmt.Errorf("WAITROOM_ADMIN_LISTEN: %w", err)
	}
	return pubLn, admLn, nil
}

// serve runs the gateway's two servers on their listeners until ctx ends,
// then shuts down in the documented order: stop accepting and drain the
// requests in flight (up to drain), while admission, the probe and the
// sockets' pushes go on; then close the WebSockets with 1001 and stop the
// background work (g.Shutdown). ready, when not nil, is called once both
// listeners accept.
func serve(ctx context.Context, g *gateway.Gateway, pub, adm *http.Server, pubLn, admLn net.Listener, drain time.Duration, log zerolog.Logger, ready func()) error {
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
