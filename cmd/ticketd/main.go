// Command ticketd is waitroom's bundled ticket backend: events, inventory and
// orders, guarded by admission passes. Configuration comes from TICKETD_*
// environment variables (-h lists them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/ticketd"
)

// drain is how long in-flight requests get to finish on SIGTERM.
const drain = 15 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is ticketd until ctx ends (SIGTERM or Ctrl-C); it returns the exit
// code: 0 after a clean drain, 2 for bad usage or configuration, 1 when it
// could not start or serve.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("ticketd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: ticketd

The bundled ticket backend: a JSON API and small HTML site selling event
tickets to visitors who hold a waitroom admission pass.

Environment (default in the second column):
%s`, ticketd.Usage())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ticketd: unexpected argument %q (try -h)\n", fs.Arg(0))
		return 2
	}
	cfg, err := ticketd.LoadConfig(env.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "ticketd:", err)
		return 2
	}
	var out io.Writer = stderr
	if cfg.LogFormat == "console" {
		out = zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}
	}
	level, _ := zerolog.ParseLevel(cfg.LogLevel) // checked by LoadConfig
	log := zerolog.New(out).Level(level).With().Timestamp().Logger()

	srv, err := ticketd.New(ctx, cfg, log)
	if err != nil {
		// One line, whatever the driver's message looks like.
		fmt.Fprintln(stderr, "ticketd:", strings.NewReplacer("\n\t", "; ", "\n", "; ").Replace(err.Error()))
		if _, ok := errors.AsType[*ticketd.ConfigError](err); ok {
			return 2
		}
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "ticketd: TICKETD_LISTEN:", err)
		return 1
	}
	log.Info().Str("listen", ln.Addr().String()).Msg("ticketd listening")
	if err := srv.Serve(ctx, ln, drain); err != nil {
		log.Error().Err(err).Msg("stopped")
		return 1
	}
	log.Info().Msg("ticketd stopped")
	return 0
}
