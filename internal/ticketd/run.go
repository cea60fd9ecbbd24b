package ticketd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/waitroom/waitroom/internal/httpx"
)

// LoadConfig reads Config from the environment (opts.Environment in tests)
// and validates it. The error has a line per problem, each naming its
// variable.
func LoadConfig(opts env.Options) (Config, error) {
	var c Config
	err := httpx.Load(&c, opts, func() []httpx.Problem { return c.problems() })
	return c, err
}

// DefaultConfig returns the configuration with every default of SPEC and no
// pass source: set Verifier (or a PASS variable) before calling New. It is
// the starting point for running ticketd in-process (`waitroom demo`).
func DefaultConfig() Config {
	var c Config
	_, _ = httpx.ParseEnv(&c, env.Options{Environment: map[string]string{}})
	return c
}

// Usage lists the environment variables with their defaults and meaning,
// for -h.
func Usage() string { return httpx.Usage(Config{}) }

// Serve answers HTTP on ln until ctx ends, then stops accepting and gives
// in-flight requests up to drain to finish. It does not close the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := s.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
