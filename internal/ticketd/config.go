package ticketd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/token"
)

// Config is ticketd's configuration, read from TICKETD_* environment
// variables with caarlos0/env (see SPEC "Ticket backend").
type Config struct {
	// Listen is the listener address.
	Listen string `env:"TICKETD_LISTEN" envDefault:":8081"`
	// DatabaseURL is sqlite://PATH or postgres://….
	DatabaseURL string `env:"TICKETD_DATABASE_URL" envDefault:"sqlite://ticketd.db"`
	// DBMaxConns is the size of the order pool (PostgreSQL; reads get
	// another max(2, DBMaxConns/4)) or the number of read connections
	// (SQLite, which always writes through one).
	DBMaxConns int `env:"TICKETD_DB_MAX_CONNS" envDefault:"16"`
	// PassJWKSURL, PassKeyFile and PassSecret say how passes are verified;
	// exactly one is set (or Verifier).
	PassJWKSURL string `env:"TICKETD_PASS_JWKS_URL"`
	PassKeyFile string `env:"TICKETD_PASS_KEY_FILE"`
	PassSecret  string `env:"TICKETD_PASS_SECRET"`
	// AdminToken is the bearer token of /admin/*; empty disables the admin
	// API.
	AdminToken string `env:"TICKETD_ADMIN_TOKEN"`
	// SeedDemo creates a few demo events at start when there are none.
	SeedDemo bool `env:"TICKETD_SEED_DEMO" envDefault:"false"`
	// LogFormat is json or console.
	LogFormat string `env:"TICKETD_LOG_FORMAT" envDefault:"json"`
	// LogLevel is a zerolog level; debug adds an access log line per request.
	LogLevel string `env:"TICKETD_LOG_LEVEL" envDefault:"info"`

	// Verifier, when set, verifies passes instead of the three PASS
	// variables (for `waitroom demo` and tests, which hold the gateway's
	// signer in the same process).
	Verifier *token.Verifier `env:"-"`
	// PassJWKS tunes the JWKS client used with PassJWKSURL (zero value:
	// token's defaults).
	PassJWKS token.JWKSConfig `env:"-"`

	// sqliteWriters is the number of SQLite write connections: 1, except in
	// the benchmark that shows why.
	sqliteWriters int
}

// Validate reports every problem with c in one error, each naming its
// variable, so an operator fixes them all in one go.
func (c Config) Validate() error {
	var errs []error
	bad := func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{variable}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("TICKETD_LISTEN", "%q is not host:port", c.Listen)
	}
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite://"):
		if strings.TrimPrefix(c.DatabaseURL, "sqlite://") == "" {
			bad("TICKETD_DATABASE_URL", "sqlite:// needs a file path, e.g. sqlite://ticketd.db")
		}
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			bad("TICKETD_DATABASE_URL", "not a URL (%v)", err)
		}
	default:
		bad("TICKETD_DATABASE_URL", "%q: want sqlite://PATH or postgres://…", redactURL(c.DatabaseURL))
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		bad("TICKETD_DB_MAX_CONNS", "%d is outside 1..1000", c.DBMaxConns)
	}
	sources := 0
	for _, s := range []string{c.PassJWKSURL, c.PassKeyFile, c.PassSecret} {
		if s != "" {
			sources++
		}
	}
	if c.Verifier != nil {
		sources++
	}
	switch {
	case sources == 0:
		bad("TICKETD_PASS_JWKS_URL", "no way to verify passes: set TICKETD_PASS_JWKS_URL, TICKETD_PASS_KEY_FILE or TICKETD_PASS_SECRET")
	case sources > 1:
		bad("TICKETD_PASS_JWKS_URL", "set only one of TICKETD_PASS_JWKS_URL, TICKETD_PASS_KEY_FILE, TICKETD_PASS_SECRET")
	}
	if c.PassJWKSURL != "" {
		u, err := url.Parse(c.PassJWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("TICKETD_PASS_JWKS_URL", "%q is not an http(s) URL", c.PassJWKSURL)
		}
	}
	if c.PassKeyFile != "" {
		if _, err := os.Stat(c.PassKeyFile); err != nil {
			bad("TICKETD_PASS_KEY_FILE", "%v", err)
		}
	}
	if c.PassSecret != "" && len(c.PassSecret) < token.MinSecretBytes {
		bad("TICKETD_PASS_SECRET", "is %d bytes, want at least %d", len(c.PassSecret), token.MinSecretBytes)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("TICKETD_LOG_FORMAT", "%q: want json or console", c.LogFormat)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		bad("TICKETD_LOG_LEVEL", "%q: want debug, info, warn or error", c.LogLevel)
	}
	return joinLine(errs)
}

// joinLine joins errors with "; " so the result stays on one line.
func joinLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return errors.New(strings.Join(parts, "; "))
}

// redactURL hides a password in a database URL before it is logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// verifier builds the pass verifier the configuration names.
func (c Config) verifier() (*token.Verifier, *token.JWKSClient, error) {
	switch {
	case c.Verifier != nil:
		return c.Verifier, nil, nil
	case c.PassJWKSURL != "":
		jc := token.NewJWKSClient(c.PassJWKSURL, c.PassJWKS)
		return token.NewJWKSVerifier(jc), jc, nil
	case c.PassKeyFile != "":
		pemBytes, err := os.ReadFile(c.PassKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("TICKETD_PASS_KEY_FILE: %w", err)
		}
		pub, err := token.ParseEd25519PublicKeyPEM(pemBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("TICKETD_PASS_KEY_FILE: %w", err)
		}
		return token.NewEd25519Verifier(pub), nil, nil
	case c.PassSecret != "":
		v, err := token.NewHS256Verifier([]byte(c.PassSecret))
		if err != nil {
			return nil, nil, fmt.Errorf("TICKETD_PASS_SECRET: %w", err)
		}
		return v, nil, nil
	}
	return nil, nil, errors.New("TICKETD_PASS_JWKS_URL: no way to verify passes")
}
