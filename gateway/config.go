package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// Config is the gateway's configuration. Every field with an env tag is one
// WAITROOM_* variable (SPEC "Gateway configuration"), parsed once into the
// type it is used as (the origin a URL, the trusted proxies address ranges,
// the Redis URL its client options); desc says what it means (waitroom -h
// prints it). The zero value is not useful: build it with LoadConfig or
// start from DefaultConfig.
type Config struct {
	Listen      string  `env:"WAITROOM_LISTEN" envDefault:":8080" desc:"public listener (visitors), host:port"`
	AdminListen string  `env:"WAITROOM_ADMIN_LISTEN" envDefault:"127.0.0.1:9090" desc:"admin listener: API, dashboard, /metrics, /healthz, /readyz"`
	Origin      url.URL `env:"WAITROOM_ORIGIN" desc:"the site behind the gateway, e.g. http://127.0.0.1:8081 (required)"`
	// RedisURL is the parsed WAITROOM_REDIS_URL; the zero value means the
	// embedded server.
	RedisURL    RedisURL `env:"WAITROOM_REDIS_URL" desc:"redis:// or rediss:// URL (one Redis; addr= for a Cluster, master_name= for Sentinel); empty: embedded in-process server, one instance only"`
	RedisPrefix string   `env:"WAITROOM_REDIS_PREFIX" envDefault:"wr:" desc:"prefix of every Redis key, so deployments and tests can share one Redis"`
	RoomsFile   string   `env:"WAITROOM_ROOMS_FILE" desc:"YAML file of rooms; empty: one room default protecting every path but the pass-through ones"`

	AdmitPerMinute int           `env:"WAITROOM_ADMIT_PER_MINUTE" envDefault:"600" desc:"default room: new visitors admitted per minute (0..1000000)"`
	MaxActive      int           `env:"WAITROOM_MAX_ACTIVE" envDefault:"1000" desc:"default room: most visitors holding a live pass at once"`
	SessionTTL     time.Duration `env:"WAITROOM_SESSION_TTL" envDefault:"10m" desc:"default room: how long a pass lives, renewed while the visitor stays active"`
	AbandonAfter   time.Duration `env:"WAITROOM_ABANDON_AFTER" envDefault:"60s" desc:"default room: a queued visitor with no socket and no poll this long is skipped at the front"`

	ClientPlacesPerMinute int     `env:"WAITROOM_CLIENT_PLACES_PER_MINUTE" envDefault:"600" desc:"every room unless its file says otherwise: new places one network (an IPv4 address, an IPv6 /64) may take per minute, half a minute's worth at once; 0 = no limit"`
	ClientPlacesHeld      int     `env:"WAITROOM_CLIENT_PLACES_HELD" envDefault:"5000" desc:"every room unless its file says otherwise: places one network's visitors may hold in line at once; 0 = no limit"`
	Toll                  bool    `env:"WAITROOM_TOLL" envDefault:"false" desc:"every room unless its file says otherwise: a new place costs a proof-of-work toll solved by the visitor's browser"`
	TollSeconds           float64 `env:"WAITROOM_TOLL_SECONDS" envDefault:"2" desc:"the toll's difficulty: expected solve time, in seconds, on a mid-range phone"`
	BindPassToNetwork     bool    `env:"WAITROOM_BIND_PASS_TO_NETWORK" envDefault:"false" desc:"every room unless its file says otherwise: a pass works only from the network it was issued to (IPv4 /24, IPv6 /48)"`

	PassKeyFile  KeyFiles `env:"WAITROOM_PASS_KEY_FILE" desc:"Ed25519 private keys (PEM, PKCS#8) signing passes with EdDSA, oldest first: the last signs, all verify"`
	PassSecret   string   `env:"WAITROOM_PASS_SECRET" desc:"shared secret (>= 32 bytes) signing passes with HS256, used when no key file is given"`
	CookieSecret string   `env:"WAITROOM_COOKIE_SECRET" desc:"HMAC key (>= 32 bytes) of the visitor cookie; the same on every instance; empty: random per start"`
	AdminToken   string   `env:"WAITROOM_ADMIN_TOKEN" desc:"bearer token of /admin/*; required when the admin listener is not on loopback"`

	FailMode       string        `env:"WAITROOM_FAIL_MODE" envDefault:"closed" desc:"Redis unreachable: closed = 503 for visitors without a pass, open = everyone passes"`
	TrustedProxies ProxyRanges   `env:"WAITROOM_TRUSTED_PROXIES" desc:"addresses or CIDRs of proxies (nginx) whose X-Forwarded-* headers are believed"`
	PassThrough    []string      `env:"WAITROOM_PASS_THROUGH" envSeparator:"," envDefault:"/favicon.ico,/robots.txt,/static/*,/assets/*" desc:"path patterns never queued (matched byte for byte on the cleaned path)"`
	PageDir        string        `env:"WAITROOM_PAGE_DIR" desc:"directory of page and asset files replacing the built-in ones (queue.html, queue.css ...)"`
	LogFormat      string        `env:"WAITROOM_LOG_FORMAT" envDefault:"json" desc:"json, or console for humans"`
	LogLevel       string        `env:"WAITROOM_LOG_LEVEL" envDefault:"info" desc:"trace, debug, info, warn or error; info logs a line per request"`
	AdmitInterval  time.Duration `env:"WAITROOM_ADMIT_INTERVAL" envDefault:"150ms" desc:"how often this instance runs every room's admission step (10ms..5s)"`
	// MaxSocketsPerVisitor bounds the WebSockets one visitor holds on this
	// instance (tabs); more are refused with 429.
	MaxSocketsPerVisitor int           `env:"WAITROOM_MAX_SOCKETS_PER_VISITOR" envDefault:"4" desc:"WebSockets one visitor may hold on this instance (tabs)"`
	MaxBodyBytes         int64         `env:"WAITROOM_MAX_BODY_BYTES" envDefault:"10485760" desc:"largest proxied request body; larger ones get 413"`
	MaxHeaderBytes       int           `env:"WAITROOM_MAX_HEADER_BYTES" envDefault:"65536" desc:"largest request header on the public listener; larger ones get 431"`
	ShutdownTimeout      time.Duration `env:"WAITROOM_SHUTDOWN_TIMEOUT" envDefault:"20s" desc:"how long requests in flight may drain at exit"`

	// Redis is an injected client (tests, demo); it wins over RedisURL.
	Redis redis.UniversalClient `env:"-"`
	// Rooms are injected rooms (tests); they win over RoomsFile.
	Rooms []queue.Room `env:"-"`
}

// DefaultConfig returns the defaults of every variable, with origin set
// (tests and in-process use).
func DefaultConfig(origin string) Config {
	var cfg Config
	_, _ = httpx.ParseEnv(&cfg, env.Options{Environment: map[string]string{"WAITROOM_ORIGIN": origin}})
	return cfg
}

// LoadConfig parses the environment (opts.Environment when set, else the
// process environment) and validates it. The error has one line per
// problem, each naming its variable.
func LoadConfig(opts env.Options) (Config, error) {
	var cfg Config
	err := httpx.Load(&cfg, opts, func() []httpx.Problem { return cfg.problems() })
	return cfg, err
}

// Usage lists every variable with its default and meaning, for -h.
func Usage() string { return httpx.Usage(Config{}) }

// Validate checks every value and returns one error with a line per
// problem.
func (c Config) Validate() error { return httpx.Problems(c.problems()...) }

// problems checks each part of the configuration.
func (c Config) problems() []httpx.Problem {
	var ps []httpx.Problem
	for _, check := range []func() []httpx.Problem{c.listenerProblems, c.originProblems, c.roomProblems, c.secretProblems, c.runProblems} {
		ps = append(ps, check()...)
	}
	return ps
}

type problems []httpx.Problem

func (p *problems) add(variable, format string, a ...any) {
	*p = append(*p, httpx.Problem{Var: variable, Msg: fmt.Sprintf(format, a...)})
}

func (c Config) listenerProblems() []httpx.Problem {
	var p problems
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("WAITROOM_LISTEN", "%q is not host:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
		p.add("WAITROOM_ADMIN_LISTEN", "%q is not host:port", c.AdminListen)
	} else if c.AdminToken == "" && !loopbackListen(c.AdminListen) {
		p.add("WAITROOM_ADMIN_TOKEN", "required because WAITROOM_ADMIN_LISTEN %q is not a loopback address", c.AdminListen)
	}
	return p
}

func (c Config) originProblems() []httpx.Problem {
	var p problems
	switch o := c.Origin; {
	case o == (url.URL{}):
		p.add("WAITROOM_ORIGIN", "required (the origin's base URL, e.g. http://127.0.0.1:8081)")
	case o.Scheme != "http" && o.Scheme != "https", o.Host == "":
		p.add("WAITROOM_ORIGIN", "%q is not an http:// or https:// URL", o.String())
	}
	return p
}

// roomProblems checks the default room's values with the queue's limits
// (the same as the rooms file's and PATCH's), the prefix and the rooms
// file.
func (c Config) roomProblems() []httpx.Problem {
	var p problems
	check := func(variable string, err error) {
		if err != nil {
			p.add(variable, "%v", err)
		}
	}
	if c.RedisPrefix == "" {
		p.add("WAITROOM_REDIS_PREFIX", "must not be empty")
	}
	if c.RoomsFile != "" && c.Rooms == nil {
		if _, err := os.Stat(c.RoomsFile); err != nil {
			p.add("WAITROOM_ROOMS_FILE", "%v", err)
		}
	}
	check("WAITROOM_ADMIT_PER_MINUTE", queue.CheckAdmitPerMinute(c.AdmitPerMinute))
	check("WAITROOM_MAX_ACTIVE", queue.CheckMaxActive(c.MaxActive))
	check("WAITROOM_SESSION_TTL", queue.CheckSessionTTL(c.SessionTTL))
	check("WAITROOM_ABANDON_AFTER", queue.CheckAbandonAfter(c.AbandonAfter))
	check("WAITROOM_CLIENT_PLACES_PER_MINUTE", queue.CheckClientPlacesPerMinute(c.ClientPlacesPerMinute))
	check("WAITROOM_CLIENT_PLACES_HELD", queue.CheckClientPlacesHeld(c.ClientPlacesHeld))
	check("WAITROOM_TOLL_SECONDS", queue.CheckTollSeconds(c.TollSeconds))
	for _, r := range c.Rooms {
		if !queue.ValidName(r.Name) {
			p.add("rooms", "invalid room name %q", r.Name)
		}
	}
	for _, pat := range c.PassThrough {
		if !strings.HasPrefix(strings.TrimSpace(pat), "/") {
			p.add("WAITROOM_PASS_THROUGH", "pattern %q must start with /", pat)
		}
	}
	return p
}

// secretProblems checks keys and secrets; a placeholder copied from an
// example is refused, since everyone who read the example knows it.
func (c Config) secretProblems() []httpx.Problem {
	var p problems
	for _, s := range []struct{ variable, value string }{
		{"WAITROOM_PASS_SECRET", c.PassSecret}, {"WAITROOM_COOKIE_SECRET", c.CookieSecret}, {"WAITROOM_ADMIN_TOKEN", c.AdminToken},
	} {
		if httpx.IsPlaceholder(s.value) {
			p.add(s.variable, "is the example's placeholder; set a secret of your own (e.g. head -c 32 /dev/urandom | base64)")
		}
	}
	for i, f := range c.PassKeyFile {
		if strings.TrimSpace(f) == "" {
			p.add("WAITROOM_PASS_KEY_FILE", "file %d of %d has no name (want old.pem,new.pem: oldest first, the last signs)", i+1, len(c.PassKeyFile))
		} else if _, err := os.Stat(f); err != nil {
			p.add("WAITROOM_PASS_KEY_FILE", "%v", err)
		}
	}
	if len(c.PassKeyFile) == 0 && c.PassSecret != "" && len(c.PassSecret) < token.MinSecretBytes {
		p.add("WAITROOM_PASS_SECRET", "must be at least %d bytes, got %d", token.MinSecretBytes, len(c.PassSecret))
	}
	if c.CookieSecret != "" && len(c.CookieSecret) < 32 {
		p.add("WAITROOM_COOKIE_SECRET", "must be at least 32 bytes, got %d", len(c.CookieSecret))
	}
	return p
}

func (c Config) runProblems() []httpx.Problem {
	var p problems
	if c.FailMode != "closed" && c.FailMode != "open" {
		p.add("WAITROOM_FAIL_MODE", "must be closed or open, got %q", c.FailMode)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		p.add("WAITROOM_LOG_FORMAT", "must be json or console, got %q", c.LogFormat)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		p.add("WAITROOM_LOG_LEVEL", "must be one of trace, debug, info, warn, error; got %q", c.LogLevel)
	}
	if c.AdmitInterval < 10*time.Millisecond || c.AdmitInterval > 5*time.Second {
		p.add("WAITROOM_ADMIT_INTERVAL", "must be between 10ms and 5s, got %s", c.AdmitInterval)
	}
	if c.MaxSocketsPerVisitor < 1 {
		p.add("WAITROOM_MAX_SOCKETS_PER_VISITOR", "must be >= 1")
	}
	if c.MaxBodyBytes < 1 {
		p.add("WAITROOM_MAX_BODY_BYTES", "must be >= 1")
	}
	if c.MaxHeaderBytes < 4096 {
		p.add("WAITROOM_MAX_HEADER_BYTES", "must be >= 4096")
	}
	return p
}

// KeyFiles are the pass key files, comma-separated, oldest first.
type KeyFiles []string

// UnmarshalText reads a WAITROOM_PASS_KEY_FILE value; an empty name stays
// (and is refused by Validate, naming its place).
func (k *KeyFiles) UnmarshalText(b []byte) error {
	*k = nil
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	for _, f := range strings.Split(string(b), ",") {
		*k = append(*k, strings.TrimSpace(f))
	}
	return nil
}

// ProxyRanges are the trusted proxies: CIDRs, or bare addresses (a /32 or
// /128), comma-separated.
type ProxyRanges []netip.Prefix

// UnmarshalText reads a WAITROOM_TRUSTED_PROXIES value.
func (pr *ProxyRanges) UnmarshalText(b []byte) error {
	var out ProxyRanges
	for _, s := range strings.Split(string(b), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR or address", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, pfx.Masked())
	}
	*pr = out
	return nil
}

// Contains reports whether addr is in one of the ranges.
func (pr ProxyRanges) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range pr {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RedisURL is a parsed WAITROOM_REDIS_URL: one Redis, a Cluster (the URL
// has addr= parameters) or a master found through Sentinel (master_name=).
// The zero value means the embedded server.
type RedisURL struct {
	raw      string
	single   *redis.Options
	cluster  *redis.ClusterOptions
	sentinel *redis.FailoverOptions
}

// ParseRedisURL reads a Redis URL in the form its parameters select:
// master_name= makes a Sentinel URL (its host and any addr= are Sentinels),
// else addr= makes a cluster URL, else it names one Redis.
func ParseRedisURL(s string) (RedisURL, error) {
	u := RedisURL{raw: s}
	if s == "" {
		return u, nil
	}
	q, err := url.Parse(s)
	if err != nil {
		return u, errors.New("not a URL")
	}
	switch {
	case q.Query().Has("master_name"):
		o, err := redis.ParseFailoverURL(s)
		if err != nil {
			return u, err
		}
		switch {
		case o.MasterName == "":
			return u, errors.New("a Sentinel URL needs master_name=<name of the monitored master>")
		case o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly:
			return u, errors.New("a Sentinel URL must send commands to the master: route_by_latency, route_randomly and replica_only are not supported")
		}
		u.sentinel = o
	case q.Query().Has("addr"):
		if u.cluster, err = redis.ParseClusterURL(s); err != nil {
			return u, err
		}
	default:
		if u.single, err = redis.ParseURL(s); err != nil {
			return u, err
		}
	}
	return u, nil
}

// UnmarshalText reads a WAITROOM_REDIS_URL value.
func (r *RedisURL) UnmarshalText(b []byte) error {
	u, err := ParseRedisURL(string(b))
	if err != nil {
		return err
	}
	*r = u
	return nil
}

// String is the URL as given, its password hidden.
func (r RedisURL) String() string {
	u, err := url.Parse(r.raw)
	if err != nil || u.User == nil {
		return r.raw
	}
	return u.Redacted()
}

// Embedded reports whether no URL was given (the embedded server).
func (r RedisURL) Embedded() bool { return r.raw == "" }

func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
