package ticketd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/token"
)

// Config is ticketd's configuration, read from TICKETD_* environment
// variables with caarlos0/env (see SPEC "Ticket backend").
type Config struct {
	// Listen is the listener address.
	Listen string `env:"TICKETD_LISTEN" envDefault:":8081" desc:"listener, host:port"`
	// DatabaseURL is sqlite://PATH or postgres://….
	DatabaseURL string `env:"TICKETD_DATABASE_URL" envDefault:"sqlite://ticketd.db" desc:"sqlite://PATH or postgres://user@host/db"`
	// DBMaxConns is the size of the order pool (PostgreSQL; reads get
	// another max(2, DBMaxConns/4)) or the number of read connections
	// (SQLite, which always writes through one).
	DBMaxConns int `env:"TICKETD_DB_MAX_CONNS" envDefault:"16" desc:"database connection pool size (1..1000)"`
	// PassJWKSURL, PassKeyFile and PassSecret say how passes are verified;
	// exactly one is set (or Verifier).
	PassJWKSURL string `env:"TICKETD_PASS_JWKS_URL" desc:"verify EdDSA passes with keys fetched (and cached) from this URL, e.g. the gateway's /_waitroom/jwks.json"`
	PassKeyFile string `env:"TICKETD_PASS_KEY_FILE" desc:"or: verify EdDSA passes with this Ed25519 public key (PEM)"`
	PassSecret  string `env:"TICKETD_PASS_SECRET" desc:"or: verify HS256 passes with this shared secret (>= 32 bytes)"`
	// AdminToken is the bearer token of /admin/*; empty disables the admin
	// API.
	AdminToken string `env:"TICKETD_ADMIN_TOKEN" desc:"bearer token of /admin/*; empty: the admin API is off"`
	// SeedDemo creates a few demo events at start when there are none.
	SeedDemo bool `env:"TICKETD_SEED_DEMO" envDefault:"false" desc:"create a few demo events at start when there are none"`
	// LogFormat is json or console.
	LogFormat string `env:"TICKETD_LOG_FORMAT" envDefault:"json" desc:"json, or console for humans"`
	// LogLevel is a zerolog level; debug adds an access log line per request.
	LogLevel string `env:"TICKETD_LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error; debug logs a line per request"`

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

// Validate reports every problem with c in one error, a line each naming
// its variable, so an operator fixes them all in one go.
func (c Config) Validate() error { return httpx.Problems(c.problems()...) }

func (c Config) problems() []httpx.Problem {
	var ps []httpx.Problem
	bad := func(variable, format string, args ...any) {
		ps = append(ps, httpx.Problem{Var: variable, Msg: fmt.Sprintf(format, args...)})
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
	for _, s := range []struct{ variable, value string }{{"TICKETD_PASS_SECRET", c.PassSecret}, {"TICKETD_ADMIN_TOKEN", c.AdminToken}} {
		if httpx.IsPlaceholder(s.value) {
			bad(s.variable, "is the example's placeholder; set a secret of your own (e.g. head -c 32 /dev/urandom | base64)")
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
	return ps
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
