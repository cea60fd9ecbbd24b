package surge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/waitroom/waitroom/token"
)

// Profile is how the crowd arrives.
type Profile string

const (
	// Burst: every visitor arrives at the start.
	Burst Profile = "burst"
	// Ramp: arrivals spread evenly over Config.Ramp.
	Ramp Profile = "ramp"
	// Poisson: arrivals at random at Config.Rate per second on average.
	Poisson Profile = "poisson"
	// OpensAt: a sale opens Config.OpensAt after the start; PrequeueShare of
	// the crowd arrives evenly before it, the rest all at once when it opens.
	OpensAt Profile = "opens-at"
)

// Limits that keep a run bounded whatever it is asked.
const (
	MaxVisitors = 1_000_000
	MaxDuration = time.Hour
)

// Config is one crowd. Mode is chosen by which of Target and Direct is set.
type Config struct {
	// Target is the gateway's public base URL (gateway mode).
	Target string
	// Direct is the origin's base URL (direct mode: the same crowd with no
	// queue).
	Direct string
	// Origin is ticketd's base URL, read before and after the run for stock
	// and metrics; in direct mode it defaults to Direct. Empty: not read.
	Origin string
	// OriginAdminToken authorises POST /admin/events on the origin, used by
	// Compare to give each run its own event.
	OriginAdminToken string
	// GatewayAdmin is the gateway's admin base URL, read for the configured
	// rate; GatewayAdminToken its bearer token. Empty: not read.
	GatewayAdmin      string
	GatewayAdminToken string

	EventID string // the event the crowd wants
	// Room is the gateway room that protects the event; empty: the event's
	// room from the origin, else "default".
	Room     string
	Quantity int // tickets per order, 1..4

	Visitors int           // size of the crowd, 1..MaxVisitors
	Duration time.Duration // hard cap on the run; visitors still busy then are stopped
	Profile  Profile
	Ramp     time.Duration // Ramp profile: arrivals spread over this
	Rate     float64       // Poisson profile: arrivals per second
	OpensAt  time.Duration // OpensAt profile: when the sale opens, from the start
	// PrequeueShare is the share of the crowd that arrives before OpensAt.
	PrequeueShare float64
	// SetOpensAt makes the OpensAt profile also set the room's opens_at on
	// the gateway (PATCH /admin/rooms/{room}) to the sale's opening, so the
	// early arrivals really wait in the pre-queue. Needs GatewayAdmin.
	SetOpensAt bool

	WebSocketShare float64       // share of waiting visitors that hold the WebSocket; the rest poll
	PollInterval   time.Duration // how often a polling visitor asks for its status
	AbandonShare   float64       // share of waiting visitors that close the tab
	AbandonWithin  time.Duration // an abandoning visitor leaves after a random wait up to this

	// FIFOSlack is how stale a "still waiting" message may be when it
	// arrives: a gateway computes positions once per tick and pushes them
	// to every socket in turn, so a visitor can read "waiting" a little
	// after a later ticket was already let in. An inversion is counted only
	// when a later ticket was seen admitted more than FIFOSlack before an
	// earlier ticket last read "waiting" (see CountCertainInversions).
	FIFOSlack time.Duration

	// PassSecret or PassKey sign the passes that direct-mode visitors send,
	// so the origin runs real orders without a gateway in front. Without
	// either, direct orders carry no pass (the origin answers 401).
	PassSecret []byte
	PassKeyPEM []byte

	// CookieSecret is the gateway's WAITROOM_COOKIE_SECRET: in a room with
	// the toll, visitors' phones are stood in for (their time waited out,
	// not spent on this machine's CPU). Empty: tolls are solved here.
	CookieSecret string

	// SourceAddrs are local addresses the client's connections are spread
	// over (round robin), to get past the ephemeral-port limit of one
	// address when holding 100,000 WebSockets. Empty: the system picks.
	SourceAddrs []netip.Addr
	MaxConns    int           // most HTTP connections open at once (WebSockets not counted)
	Timeout     time.Duration // per request
	Seed        int64         // seeds arrivals and each visitor's choices
}

// Defaults returns a Config with every optional field at its default.
func Defaults() Config {
	return Config{
		Quantity:       1,
		Visitors:       1000,
		Duration:       2 * time.Minute,
		Profile:        Burst,
		Ramp:           10 * time.Second,
		Rate:           100,
		OpensAt:        10 * time.Second,
		PrequeueShare:  0.5,
		WebSocketShare: 0.8,
		PollInterval:   2 * time.Second,
		AbandonShare:   0,
		AbandonWithin:  10 * time.Second,
		FIFOSlack:      time.Second,
		MaxConns:       512,
		Timeout:        30 * time.Second,
		Seed:           1,
	}
}

// Mode returns "gateway" or "direct".
func (c Config) Mode() string {
	if c.Direct != "" {
		return "direct"
	}
	return "gateway"
}

// base returns the URL the crowd is sent to.
func (c Config) base() string {
	if c.Direct != "" {
		return c.Direct
	}
	return c.Target
}

// Validate reports every problem with c in one error, so one run of
// surge names them all: where the crowd goes, how big it is, how it
// arrives and waits, and surge's own settings.
func (c Config) Validate() error {
	var p problems
	c.checkWhere(&p)
	c.checkCrowd(&p)
	c.checkArrivals(&p)
	c.checkSurge(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds, each naming its flag.
type problems []error

func (p *problems) add(name, format string, a ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, a...)))
}

// checkWhere checks the URLs, the event and the room: where the crowd goes.
func (c Config) checkWhere(p *problems) {
	switch {
	case c.Target == "" && c.Direct == "":
		p.add("--target/--direct", "give the gateway (--target URL) or the origin (--direct URL)")
	case c.Target != "" && c.Direct != "":
		p.add("--target/--direct", "give one of them, not both (surge compare runs both)")
	}
	for _, u := range []struct{ name, v string }{
		{"--target", c.Target}, {"--direct", c.Direct}, {"--origin", c.Origin}, {"--gateway-admin", c.GatewayAdmin},
	} {
		if u.v == "" {
			continue
		}
		if err := checkBaseURL(u.v); err != nil {
			p.add(u.name, "%v", err)
		}
	}
	if c.EventID == "" || strings.ContainsAny(c.EventID, "/?#% ") {
		p.add("--event", "an event id is required (as in /api/events/{id}), got %q", c.EventID)
	}
	if c.Room != "" && !validRoom(c.Room) {
		p.add("--room", "%q is not a room name ([a-z0-9-]{1,32})", c.Room)
	}
}

// checkCrowd checks the crowd's size, what each visitor buys and how long
// the run may last.
func (c Config) checkCrowd(p *problems) {
	if c.Quantity < 1 || c.Quantity > 4 {
		p.add("--quantity", "must be 1..4, got %d", c.Quantity)
	}
	if c.Visitors < 1 || c.Visitors > MaxVisitors {
		p.add("--visitors", "must be 1..%d, got %d", MaxVisitors, c.Visitors)
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		p.add("--duration", "must be above 0 and at most %s, got %s", MaxDuration, c.Duration)
	}
}

// checkArrivals checks how visitors arrive (the profile and the setting
// it needs) and how they wait (the shares and the poll interval).
func (c Config) checkArrivals(p *problems) {
	switch c.Profile {
	case Burst:
	case Ramp:
		if c.Ramp <= 0 {
			p.add("--ramp", "must be above 0 for the ramp profile")
		}
	case Poisson:
		if c.Rate <= 0 {
			p.add("--rate", "must be above 0 for the poisson profile")
		}
	case OpensAt:
		if c.OpensAt <= 0 {
			p.add("--opens-at", "must be above 0 for the opens-at profile")
		}
	default:
		p.add("--profile", "must be burst, ramp, poisson or opens-at, got %q", c.Profile)
	}
	// Setting the opening needs a gateway's admin API to set it on.
	if c.SetOpensAt && (c.Profile != OpensAt || c.GatewayAdmin == "" || c.Direct != "") {
		p.add("--set-opens-at", "needs --profile opens-at, --target and --gateway-admin")
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"--prequeue-share", c.PrequeueShare}, {"--ws-share", c.WebSocketShare}, {"--abandon-share", c.AbandonShare}} {
		if !(s.v >= 0 && s.v <= 1) { // written so that NaN fails too
			p.add(s.name, "must be between 0 and 1, got %v", s.v)
		}
	}
	if c.PollInterval < 100*time.Millisecond {
		p.add("--poll-interval", "must be at least 100ms, got %s", c.PollInterval)
	}
	if c.AbandonShare > 0 && c.AbandonWithin <= 0 {
		p.add("--abandon-within", "must be above 0 when visitors abandon")
	}
}

// checkSurge checks surge's own settings: the pass it signs, how it
// judges FIFO, its connections and timeouts.
func (c Config) checkSurge(p *problems) {
	if len(c.PassSecret) > 0 && len(c.PassSecret) < 32 {
		p.add("SURGE_PASS_SECRET", "must be at least 32 bytes, got %d", len(c.PassSecret))
	}
	if len(c.PassKeyPEM) > 0 {
		if _, err := token.ParseEd25519PrivateKeyPEM(c.PassKeyPEM); err != nil {
			p.add("--pass-key-file", "%v", err)
		}
	}
	if c.FIFOSlack < 0 {
		p.add("--fifo-slack", "must not be negative")
	}
	if c.MaxConns < 1 {
		p.add("--max-conns", "must be at least 1, got %d", c.MaxConns)
	}
	if c.Timeout <= 0 {
		p.add("--timeout", "must be above 0")
	}
}

// checkBaseURL accepts http(s)://host[:port][/path] with nothing else, so
// the crowd goes where the operator said and nowhere else.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want http(s)://host[:port] without user, query or fragment", s)
	}
	return nil
}

func validRoom(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ParseSourceAddrs parses a list of local addresses: comma-separated single
// addresses or inclusive IPv4 ranges, e.g. "127.0.0.2-127.0.0.9,127.0.1.1".
// Only loopback addresses are accepted: surge generates traffic on this
// machine only. At most 1024 addresses.
func ParseSourceAddrs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, fmt.Errorf("%q: %v", part, err)
			}
			if !a.Is4() || !b.Is4() || b.Less(a) {
				return nil, fmt.Errorf("%q: a range is two IPv4 addresses, low-high", part)
			}
		}
		for x := a; ; x = x.Next() {
			if !x.IsLoopback() {
				return nil, fmt.Errorf("%s is not a loopback address", x)
			}
			out = append(out, x)
			if len(out) > 1024 {
				return nil, errors.New("more than 1024 addresses")
			}
			if x == b {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no address given")
	}
	return out, nil
}

// hostIsLoopback reports whether a base URL's host is a loopback address or
// localhost (used to refuse spreading over loopback sources toward a remote
// host, which the kernel would reject anyway).
func hostIsLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
