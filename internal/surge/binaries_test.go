package surge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// binaries builds waitroom and ticketd once per test process.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts the real binaries")
	}
	return testenv.BuildBinaries(t, testenv.Build{Packages: []string{"./cmd/waitroom", "./cmd/ticketd"}})
}

// freeAddrs returns n distinct free loopback addresses (all held open
// until the last is found, so none is handed out twice).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// start runs a binary with env until the test ends, and waits for url to
// answer 200.
func start(t *testing.T, bin string, env []string, ready string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	logf, _ := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logf.Name())
	t.Fatalf("%s did not become ready at %s:\n%s", bin, ready, log)
}

// system is waitroom in front of ticketd, both real binaries on loopback.
type system struct {
	gateway, admin, origin string
}

func startSystem(t *testing.T, databaseURL string, apm, maxActive int) system {
	t.Helper()
	dir := binaries(t)
	_, prefix := testenv.Redis(t)
	s := system{}
	addrs := freeAddrs(t, 3)
	ta, ga, aa := addrs[0], addrs[1], addrs[2]
	s.origin, s.gateway, s.admin = "http://"+ta, "http://"+ga, "http://"+aa
	start(t, filepath.Join(dir, "ticketd"), []string{
		"TICKETD_LISTEN=" + ta, "TICKETD_DATABASE_URL=" + databaseURL, "TICKETD_PASS_SECRET=" + passSecret,
		"TICKETD_ADMIN_TOKEN=origin-token", "TICKETD_LOG_LEVEL=warn",
	}, s.origin+"/healthz")
	start(t, filepath.Join(dir, "waitroom"), []string{
		"WAITROOM_LISTEN=" + ga, "WAITROOM_ADMIN_LISTEN=" + aa, "WAITROOM_ORIGIN=" + s.origin,
		"WAITROOM_REDIS_URL=" + testenv.RedisURL(), "WAITROOM_REDIS_PREFIX=" + prefix,
		"WAITROOM_PASS_SECRET=" + passSecret, "WAITROOM_COOKIE_SECRET=0123456789abcdef0123456789abcdef-cookie",
		"WAITROOM_ADMIN_TOKEN=admin-token", "WAITROOM_LOG_LEVEL=warn",
		fmt.Sprintf("WAITROOM_ADMIT_PER_MINUTE=%d", apm), fmt.Sprintf("WAITROOM_MAX_ACTIVE=%d", maxActive),
	}, s.admin+"/readyz")
	return s
}

// surge compare on the real binaries, on SQLite and on PostgreSQL: through
// waitroom the crowd buys the stock exactly, in ticket order, with no 5xx
// and the origin never busier than max_active (plus surge's own reads of
// its metrics); straight at the origin the same crowd also finds no
// oversell, because ticketd's order path is locked.
func TestCompareOnRealBinaries(t *testing.T) {
	stores := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "ticketd.db") }},
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			const maxActive = 8
			sys := startSystem(t, st.url(t), 1200, maxActive)
			c := Defaults()
			c.Target, c.Direct, c.Origin = sys.gateway, sys.origin, sys.origin
			c.GatewayAdmin, c.GatewayAdminToken = sys.admin, "admin-token"
			c.OriginAdminToken = "origin-token"
			c.PassSecret = []byte(passSecret)
			c.Visitors, c.Duration = 48, 30*time.Second
			c.PollInterval = 250 * time.Millisecond
			cmp, err := Compare(context.Background(), CompareConfig{Config: c, Stock: 40, Settle: 200 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			_ = WriteTable(&b, cmp.Direct, cmp.Gateway)
			t.Log("\n" + b.String())
			g, d := cmp.Gateway, cmp.Direct
			checkLedger(t, g)
			checkLedger(t, d)
			if g.Visitors.Bought != 40 || g.Stock.Oversell != 0 || g.Origin.Status5xx != 0 || g.Visitors.Failed != 0 {
				t.Errorf("gateway: visitors %+v stock %+v 5xx %d errors %v", g.Visitors, g.Stock, g.Origin.Status5xx, g.Errors)
			}
			if g.FIFO.Inversions != 0 || g.FIFO.PositionIncreases != 0 {
				t.Errorf("gateway fifo %+v", g.FIFO)
			}
			if g.Origin.InflightMax > maxActive+2 {
				t.Errorf("origin peak in-flight %d through the gateway, max_active %d", g.Origin.InflightMax, maxActive)
			}
			if g.Admission.ConfiguredPerMinute != 1200 {
				t.Errorf("admission %+v", g.Admission)
			}
			if d.Visitors.Bought != 40 || d.Stock.Oversell != 0 || d.Mode != "direct" {
				t.Errorf("direct: visitors %+v stock %+v errors %v", d.Visitors, d.Stock, d.Errors)
			}
			if d.Crowd.EventID == g.Crowd.EventID {
				t.Errorf("both runs used event %s; compare gives each its own", d.Crowd.EventID)
			}
		})
	}
}
