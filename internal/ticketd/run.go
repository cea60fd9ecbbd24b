package ticketd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// LoadConfig reads Config from the environment (opts.Environment in tests)
// and validates it. Errors are one line naming each variable.
func LoadConfig(opts env.Options) (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return Config{}, oneLine(err)
	}
	return c, c.Validate()
}

// DefaultConfig returns the configuration with every default of SPEC and no
// pass source: set Verifier (or a PASS variable) before calling New. It is
// the starting point for running ticketd in-process (`waitroom demo`).
func DefaultConfig() Config {
	var c Config
	_ = env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}})
	return c
}

// oneLine turns caarlos0/env's errors into one line that names each
// variable (env names the Go field, not the variable).
func oneLine(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	t := reflect.TypeFor[Config]()
	parts := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				parts = append(parts, fmt.Sprintf("%s: not a valid %s (%v)", f.Tag.Get("env"), pe.Type, pe.Err))
				continue
			}
		}
		parts = append(parts, strings.ReplaceAll(e.Error(), "\n", " "))
	}
	return errors.New(strings.Join(parts, "; "))
}

// Usage lists the environment variables with their defaults, for -h.
func Usage() string {
	var b strings.Builder
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" || name == "-" {
			continue
		}
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "  %-24s %s\n", name, def)
	}
	return b.String()
}

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
