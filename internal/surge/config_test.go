package surge

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := Defaults()
	c.Target = "http://127.0.0.1:8080"
	c.EventID = "1"
	return c
}

// Every bad setting is named in the one error Validate returns, so a user
// fixes them all at once.
func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string // substrings of the error; none = valid
	}{
		{"defaults with a target", func(*Config) {}, nil},
		{"no target", func(c *Config) { c.Target = "" }, []string{"--target/--direct"}},
		{"both targets", func(c *Config) { c.Direct = "http://127.0.0.1:8081" }, []string{"not both"}},
		{"not http", func(c *Config) { c.Target = "file:///etc/passwd" }, []string{"--target", "scheme"}},
		{"credentials in URL", func(c *Config) { c.Target = "http://u:p@127.0.0.1" }, []string{"--target"}},
		{"event path injection", func(c *Config) { c.EventID = "1/../../admin" }, []string{"--event"}},
		{"too many visitors", func(c *Config) { c.Visitors = MaxVisitors + 1 }, []string{"--visitors"}},
		{"unbounded duration", func(c *Config) { c.Duration = 0 }, []string{"--duration"}},
		{"share above one", func(c *Config) { c.WebSocketShare = 1.5; c.AbandonShare = -1 }, []string{"--ws-share", "--abandon-share"}},
		{"unknown profile", func(c *Config) { c.Profile = "tsunami" }, []string{"--profile"}},
		{"poisson without rate", func(c *Config) { c.Profile = Poisson; c.Rate = 0 }, []string{"--rate"}},
		{"short secret", func(c *Config) { c.PassSecret = []byte("short") }, []string{"SURGE_PASS_SECRET"}},
		{"bad key", func(c *Config) {
			c.PassKeyPEM = []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, []string{"--pass-key-file"}},
		{"bad room", func(c *Config) { c.Room = "Room!" }, []string{"--room"}},
		{"quantity", func(c *Config) { c.Quantity = 5 }, []string{"--quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// Source addresses are loopback only: surge never sends from, or to, a
// routable address on the user's behalf.
func TestParseSourceAddrs(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		wantErr bool
	}{
		{"127.0.0.2-127.0.0.9", 8, false},
		{"127.0.0.2, 127.0.0.5-127.0.0.6", 3, false},
		{"::1", 1, false},
		{"10.0.0.1", 0, true},
		{"127.0.0.250-127.0.1.5", 12, false},
		{"127.0.0.9-127.0.0.2", 0, true},
		{"127.0.0.1-127.0.255.255", 0, true}, // more than 1024
		{"", 0, true},
		{"nonsense", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSourceAddrs(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.n {
			t.Errorf("ParseSourceAddrs(%q) = %d addrs, %v; want %d, error %v", tt.in, len(got), err, tt.n, tt.wantErr)
		}
	}
}

// Each profile delivers the whole crowd in order, within its window, and
// the same seed gives the same crowd (compare relies on it).
func TestArrivals(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		within time.Duration
	}{
		{"burst", func(c *Config) { c.Profile = Burst }, 0},
		{"ramp", func(c *Config) { c.Profile = Ramp; c.Ramp = 5 * time.Second }, 5 * time.Second},
		{"poisson", func(c *Config) { c.Profile = Poisson; c.Rate = 1000 }, 2 * time.Second},
		{"opens-at", func(c *Config) { c.Profile = OpensAt; c.OpensAt = 3 * time.Second; c.PrequeueShare = 0.3 }, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Visitors = 1000
			tt.edit(&c)
			at := arrivals(c)
			if len(at) != c.Visitors {
				t.Fatalf("%d arrivals, want %d", len(at), c.Visitors)
			}
			for i := 1; i < len(at); i++ {
				if at[i] < at[i-1] {
					t.Fatalf("arrival %d before arrival %d", i, i-1)
				}
			}
			if last := at[len(at)-1]; last > tt.within {
				t.Errorf("last arrival at %s, want within %s", last, tt.within)
			}
			again := arrivals(c)
			for i := range at {
				if at[i] != again[i] {
					t.Fatal("same seed, different crowd")
				}
			}
		})
	}
	c := validConfig()
	c.Profile, c.OpensAt, c.PrequeueShare, c.Visitors = OpensAt, 3*time.Second, 0.3, 1000
	at := arrivals(c)
	if at[299] >= 3*time.Second || at[300] != 3*time.Second {
		t.Errorf("opens-at: want 300 before the opening and the rest at it, got %s and %s", at[299], at[300])
	}
}

// The metrics reader picks exact names (not prefixes of longer names) and
// keeps labelled series apart.
func TestParseMetrics(t *testing.T) {
	text := `# HELP ticketd_http_inflight_max peak
# TYPE ticketd_http_inflight_max gauge
ticketd_http_inflight_max 42
ticketd_http_inflight 3
ticketd_http_inflight_total_bogus 99
ticketd_orders_total{result="ok"} 10
ticketd_orders_total{result="sold_out"} 5 1700000000
`
	m, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)), "ticketd_http_inflight", "ticketd_http_inflight_max", "ticketd_orders_total")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"ticketd_http_inflight_max":               42,
		"ticketd_http_inflight":                   3,
		`ticketd_orders_total{result="ok"}`:       10,
		`ticketd_orders_total{result="sold_out"}`: 5,
	}
	if len(m) != len(want) {
		t.Fatalf("got %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	d := ordersDelta(map[string]float64{`ticketd_orders_total{result="ok"}`: 4}, m)
	if d["ok"] != 6 || d["sold_out"] != 5 {
		t.Errorf("orders delta %v", d)
	}
}
