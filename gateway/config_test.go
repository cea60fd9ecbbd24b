package gateway

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
)

// readEnvFile reads KEY=VALUE lines (comments and blanks skipped).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		m[k] = v
	}
	return m
}

// The example env file and rooms file in configs/ load and validate, so
// they cannot rot: every variable in the env file is one the gateway reads.
func TestExampleConfigsLoad(t *testing.T) {
	m := readEnvFile(t, "../configs/waitroom.env.example")
	m["WAITROOM_ROOMS_FILE"] = "../configs/rooms.example.yaml"
	known := Usage()
	for k := range m {
		if !strings.Contains(known, k+" ") {
			t.Errorf("example sets %s, which the gateway does not read", k)
		}
	}
	cfg, err := LoadConfig(env.Options{Environment: m})
	if err != nil {
		t.Fatalf("example env: %v", err)
	}
	rooms, err := loadRooms(cfg)
	if err != nil {
		t.Fatalf("example rooms: %v", err)
	}
	rt := newRouter(rooms, cfg.PassThrough)
	for path, want := range map[string]string{
		"/events/42":         "concert-42",
		"/api/events/42/buy": "concert-42",
		"/events/7":          "lottery-7",
		"/events/421":        "default",
		"/":                  "default",
		"/static/app.css":    "",
		"/favicon.ico":       "",
	} {
		r, ok := rt.match(path)
		if got := map[bool]string{true: r.Name}[ok]; got != want {
			t.Errorf("%s: room %q, want %q", path, got, want)
		}
	}
}

// A bad value stops start-up with one line naming each bad variable.
func TestLoadConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"origin missing", map[string]string{}, []string{"WAITROOM_ORIGIN: required"}},
		{"origin not http", map[string]string{"WAITROOM_ORIGIN": "ftp://x"}, []string{"WAITROOM_ORIGIN"}},
		{"not a number", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_ADMIT_PER_MINUTE": "lots"}, []string{`WAITROOM_ADMIT_PER_MINUTE: "lots" is not a valid int`}},
		{"bad duration", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_SESSION_TTL": "10"}, []string{"WAITROOM_SESSION_TTL"}},
		{"public admin needs token", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_ADMIN_LISTEN": "0.0.0.0:9090"}, []string{"WAITROOM_ADMIN_TOKEN"}},
		{"short secret", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_PASS_SECRET": "short"}, []string{"WAITROOM_PASS_SECRET"}},
		{"fail mode", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_FAIL_MODE": "maybe"}, []string{"WAITROOM_FAIL_MODE"}},
		{"trusted proxies", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, []string{"WAITROOM_TRUSTED_PROXIES"}},
		{"several at once", map[string]string{"WAITROOM_MAX_ACTIVE": "0", "WAITROOM_REDIS_URL": "mysql://x"},
			[]string{"WAITROOM_ORIGIN", "WAITROOM_MAX_ACTIVE", "WAITROOM_REDIS_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(env.Options{Environment: tc.env})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
	for _, ok := range []map[string]string{
		{"WAITROOM_ORIGIN": "http://127.0.0.1:8081"},
		{"WAITROOM_ORIGIN": "http://127.0.0.1:8081", "WAITROOM_REDIS_URL": "redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002"},
		{"WAITROOM_ORIGIN": "http://127.0.0.1:8081", "WAITROOM_ADMIN_LISTEN": "0.0.0.0:9090", "WAITROOM_ADMIN_TOKEN": "t"},
	} {
		if _, err := LoadConfig(env.Options{Environment: ok}); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}
