package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/queue"
)

// Config is the gateway's configuration. Every field with an env tag is one
// WAITROOM_* variable (SPEC "Gateway configuration"); the zero value is not
// useful, so build it with LoadConfig or start from DefaultConfig.
type Config struct {
	Listen       string `env:"WAITROOM_LISTEN" envDefault:":8080"`
	AdminListen  string `env:"WAITROOM_ADMIN_LISTEN" envDefault:"127.0.0.1:9090"`
	Origin       string `env:"WAITROOM_ORIGIN"`
	RedisURL     string `env:"WAITROOM_REDIS_URL"`
	RedisPrefix  string `env:"WAITROOM_REDIS_PREFIX" envDefault:"wr:"`
	RoomsFile    string `env:"WAITROOM_ROOMS_FILE"`
	AdmitPerMin  int    `env:"WAITROOM_ADMIT_PER_MINUTE" envDefault:"600"`
	MaxActive    int    `env:"WAITROOM_MAX_ACTIVE" envDefault:"1000"`
	PassKeyFile  string `env:"WAITROOM_PASS_KEY_FILE"`
	PassSecret   string `env:"WAITROOM_PASS_SECRET"`
	CookieSecret string `env:"WAITROOM_COOKIE_SECRET"`
	AdminToken   string `env:"WAITROOM_ADMIN_TOKEN"`
	FailMode     string `env:"WAITROOM_FAIL_MODE" envDefault:"closed"`
	PageDir      string `env:"WAITROOM_PAGE_DIR"`
	LogFormat    string `env:"WAITROOM_LOG_FORMAT" envDefault:"json"`
	LogLevel     string `env:"WAITROOM_LOG_LEVEL" envDefault:"info"`

	SessionTTL   time.Duration `env:"WAITROOM_SESSION_TTL" envDefault:"10m"`
	AbandonAfter time.Duration `env:"WAITROOM_ABANDON_AFTER" envDefault:"60s"`

	TrustedProxies []string `env:"WAITROOM_TRUSTED_PROXIES" envSeparator:","`
	PassThrough    []string `env:"WAITROOM_PASS_THROUGH" envSeparator:"," envDefault:"/favicon.ico,/robots.txt,/static/*,/assets/*"`

	// AdmitInterval is how often this instance runs the admission step of
	// every room. Every instance runs it; the step is atomic in Redis.
	AdmitInterval time.Duration `env:"WAITROOM_ADMIT_INTERVAL" envDefault:"150ms"`
	// MaxSocketsPerVisitor bounds the WebSockets one visitor holds on this
	// instance (tabs); more are refused with 429.
	MaxSocketsPerVisitor int `env:"WAITROOM_MAX_SOCKETS_PER_VISITOR" envDefault:"4"`
	// MaxBodyBytes bounds a proxied request body; larger ones get 413.
	MaxBodyBytes int64 `env:"WAITROOM_MAX_BODY_BYTES" envDefault:"10485760"`
	// MaxHeaderBytes bounds request headers on the public listener (431).
	MaxHeaderBytes int `env:"WAITROOM_MAX_HEADER_BYTES" envDefault:"65536"`
	// ShutdownTimeout bounds the drain of in-flight requests at exit.
	ShutdownTimeout time.Duration `env:"WAITROOM_SHUTDOWN_TIMEOUT" envDefault:"20s"`

	// Redis is an injected client (tests, demo); it wins over RedisURL.
	Redis redis.UniversalClient `env:"-"`
	// Rooms are injected rooms (tests); they win over RoomsFile.
	Rooms []queue.Room `env:"-"`
}

// DefaultConfig returns the defaults of every variable, with origin set.
func DefaultConfig(origin string) Config {
	cfg, _ := parseEnv(env.Options{Environment: map[string]string{"WAITROOM_ORIGIN": origin}})
	return cfg
}

// LoadConfig parses the environment (opts.Environment when set, else the
// process environment) and validates it. The error is one line that names
// every bad variable.
func LoadConfig(opts env.Options) (Config, error) {
	cfg, perr := parseEnv(opts)
	verr := cfg.Validate()
	if perr == nil {
		return cfg, verr
	}
	// Report the values that did not parse, and every other problem
	// except the ones caused by those same variables.
	msg := perr.Error()
	if verr != nil {
		for _, part := range strings.Split(strings.TrimPrefix(verr.Error(), "config: "), "; ") {
			key, _, _ := strings.Cut(part, ":")
			if !strings.Contains(msg, key+":") {
				msg += "; " + part
			}
		}
	}
	return cfg, errors.New(msg)
}

func parseEnv(opts env.Options) (Config, error) {
	var cfg Config
	err := env.ParseWithOptions(&cfg, opts)
	if err == nil {
		return cfg, nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return cfg, fmt.Errorf("config: %v", err)
	}
	var problems []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			key := envKey(pe.Name)
			val, ok := opts.Environment[key]
			if !ok && opts.Environment == nil {
				val = os.Getenv(key)
			}
			problems = append(problems, fmt.Sprintf("%s: %q is not a valid %s (%v)", key, val, kindName(pe.Type), unwrapAll(pe.Err)))
			continue
		}
		problems = append(problems, e.Error())
	}
	return cfg, errors.New("config: " + strings.Join(problems, "; "))
}

func kindName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(time.Duration(0)):
		return "duration (e.g. 90s, 10m)"
	case nil:
		return "value"
	}
	return t.String()
}

// envKey maps a Config field name to its variable name.
func envKey(field string) string {
	if f, ok := reflect.TypeOf(Config{}).FieldByName(field); ok {
		if k, _, _ := strings.Cut(f.Tag.Get("env"), ","); k != "" {
			return k
		}
	}
	return field
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// Validate checks every value and returns one error naming each problem.
func (c Config) Validate() error {
	var p []string
	bad := func(key, format string, a ...any) { p = append(p, key+": "+fmt.Sprintf(format, a...)) }

	if c.Origin == "" {
		bad("WAITROOM_ORIGIN", "required (the origin's base URL, e.g. http://127.0.0.1:8081)")
	} else if u, err := url.Parse(c.Origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("WAITROOM_ORIGIN", "%q is not an http:// or https:// URL", c.Origin)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("WAITROOM_LISTEN", "%q is not host:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
		bad("WAITROOM_ADMIN_LISTEN", "%q is not host:port", c.AdminListen)
	} else if c.AdminToken == "" && !loopbackListen(c.AdminListen) {
		bad("WAITROOM_ADMIN_TOKEN", "required because WAITROOM_ADMIN_LISTEN %q is not a loopback address", c.AdminListen)
	}
	if c.RedisURL != "" && c.Redis == nil {
		if err := checkRedisURL(c.RedisURL); err != nil {
			bad("WAITROOM_REDIS_URL", "%v", err)
		}
	}
	if c.RedisPrefix == "" {
		bad("WAITROOM_REDIS_PREFIX", "must not be empty")
	}
	if c.RoomsFile != "" && c.Rooms == nil {
		if _, err := os.Stat(c.RoomsFile); err != nil {
			bad("WAITROOM_ROOMS_FILE", "%v", err)
		}
	}
	// The same limits as the rooms file and the admin API's PATCH.
	if c.AdmitPerMin < 0 || c.AdmitPerMin > queue.MaxAdmitPerMinute {
		bad("WAITROOM_ADMIT_PER_MINUTE", "must be 0..%d, got %d", queue.MaxAdmitPerMinute, c.AdmitPerMin)
	}
	if c.MaxActive < 1 || c.MaxActive > queue.MaxMaxActive {
		bad("WAITROOM_MAX_ACTIVE", "must be 1..%d, got %d", queue.MaxMaxActive, c.MaxActive)
	}
	if c.SessionTTL < queue.MinSessionTTL || c.SessionTTL > queue.MaxDuration {
		bad("WAITROOM_SESSION_TTL", "must be between %s and %s, got %s", queue.MinSessionTTL, queue.MaxDuration, c.SessionTTL)
	}
	if c.AbandonAfter < queue.MinAbandonAfter || c.AbandonAfter > queue.MaxDuration {
		bad("WAITROOM_ABANDON_AFTER", "must be between %s and %s, got %s", queue.MinAbandonAfter, queue.MaxDuration, c.AbandonAfter)
	}
	if c.PassKeyFile != "" {
		files := passKeyFiles(c.PassKeyFile)
		if len(files) == 0 || len(files) != strings.Count(c.PassKeyFile, ",")+1 {
			bad("WAITROOM_PASS_KEY_FILE", "%q has an empty file name (want old.pem,new.pem: oldest first, the last signs)", c.PassKeyFile)
		}
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				bad("WAITROOM_PASS_KEY_FILE", "%v", err)
			}
		}
	} else if c.PassSecret != "" && len(c.PassSecret) < 32 {
		bad("WAITROOM_PASS_SECRET", "must be at least 32 bytes, got %d", len(c.PassSecret))
	}
	if c.CookieSecret != "" && len(c.CookieSecret) < 32 {
		bad("WAITROOM_COOKIE_SECRET", "must be at least 32 bytes, got %d", len(c.CookieSecret))
	}
	if c.FailMode != "closed" && c.FailMode != "open" {
		bad("WAITROOM_FAIL_MODE", "must be closed or open, got %q", c.FailMode)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("WAITROOM_LOG_FORMAT", "must be json or console, got %q", c.LogFormat)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		bad("WAITROOM_LOG_LEVEL", "must be one of trace, debug, info, warn, error; got %q", c.LogLevel)
	}
	if _, err := parseCIDRs(c.TrustedProxies); err != nil {
		bad("WAITROOM_TRUSTED_PROXIES", "%v", err)
	}
	for _, pat := range c.PassThrough {
		if !strings.HasPrefix(strings.TrimSpace(pat), "/") {
			bad("WAITROOM_PASS_THROUGH", "pattern %q must start with /", pat)
		}
	}
	if c.AdmitInterval < 10*time.Millisecond || c.AdmitInterval > 5*time.Second {
		bad("WAITROOM_ADMIT_INTERVAL", "must be between 10ms and 5s, got %s", c.AdmitInterval)
	}
	if c.MaxSocketsPerVisitor < 1 {
		bad("WAITROOM_MAX_SOCKETS_PER_VISITOR", "must be >= 1")
	}
	if c.MaxBodyBytes < 1 {
		bad("WAITROOM_MAX_BODY_BYTES", "must be >= 1")
	}
	if c.MaxHeaderBytes < 4096 {
		bad("WAITROOM_MAX_HEADER_BYTES", "must be >= 4096")
	}
	for _, r := range c.Rooms {
		if !queue.ValidName(r.Name) {
			bad("rooms", "invalid room name %q", r.Name)
		}
	}
	if len(p) == 0 {
		return nil
	}
	return errors.New("config: " + strings.Join(p, "; "))
}

// passKeyFiles splits WAITROOM_PASS_KEY_FILE into its files, oldest first;
// empty names are dropped.
func passKeyFiles(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkRedisURL parses a WAITROOM_REDIS_URL in the form its parameters
// select (see redisURLKind).
func checkRedisURL(s string) error {
	var err error
	switch redisURLKind(s) {
	case sentinelURL:
		var o *redis.FailoverOptions
		if o, err = redis.ParseFailoverURL(s); err == nil {
			switch {
			case o.MasterName == "":
				err = errors.New("a Sentinel URL needs master_name=<name of the monitored master>")
			case o.RouteByLatency || o.RouteRandomly || o.ReplicaOnly:
				err = errors.New("a Sentinel URL must send commands to the master: route_by_latency, route_randomly and replica_only are not supported")
			}
		}
	case clusterURL:
		_, err = redis.ParseClusterURL(s)
	default:
		_, err = redis.ParseURL(s)
	}
	return err
}

// Kinds of WAITROOM_REDIS_URL.
const (
	singleURL   = iota // redis://host:port/db: one Redis
	clusterURL         // ...?addr=host2:port: Redis Cluster seeds
	sentinelURL        // ...?master_name=NAME[&addr=...]: Sentinels of a master
)

// redisURLKind tells the forms apart by their parameters: master_name= makes
// a Sentinel URL (its host and any addr= are Sentinels), else addr= makes a
// cluster URL, else it names one Redis.
func redisURLKind(s string) int {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return singleURL
	case u.Query().Has("master_name"):
		return sentinelURL
	case u.Query().Has("addr"):
		return clusterURL
	}
	return singleURL
}

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

// parseCIDRs reads trusted proxy ranges; a bare address is a /32 or /128.
func parseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or address", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}

// Usage lists every variable with its default, for -h.
func Usage() string {
	var b strings.Builder
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		k, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if k == "" || k == "-" {
			continue
		}
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = "(empty)"
		}
		if k == "WAITROOM_ORIGIN" {
			def = "(required)"
		}
		fmt.Fprintf(&b, "  %-34s %s\n", k, def)
	}
	return b.String()
}
