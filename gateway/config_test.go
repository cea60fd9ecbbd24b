package gateway

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/waitroom/waitroom/gateway/admin"
	"github.com/waitroom/waitroom/gateway/route"
	"github.com/waitroom/waitroom/queue"
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
		if !strings.Contains(known, "  "+k+"  ") {
			t.Errorf("example sets %s, which the gateway does not read", k)
		}
	}
	// As shipped, its placeholder secrets are refused; with secrets of
	// one's own it starts.
	if _, err := LoadConfig(env.Options{Environment: m}); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("the example's placeholder secrets were accepted: %v", err)
	}
	for _, k := range []string{"WAITROOM_PASS_SECRET", "WAITROOM_COOKIE_SECRET"} {
		if m[k] != "" {
			m[k] = strings.Repeat("x", 40)
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
	rt, err := route.New(rooms, cfg.PassThrough)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/events/42":         "concert-42",
		"/api/events/42/buy": "concert-42",
		"/events/7":          "lottery-7",
		"/events/421":        "default",
		"/":                  "default",
		"/static/app.css":    "",
		"/favicon.ico":       "",
	} {
		r, ok := rt.Match(path)
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
		{"not a number", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_ADMIT_PER_MINUTE": "lots"}, []string{`WAITROOM_ADMIT_PER_MINUTE: "lots" is not a whole number`}},
		{"origin not a URL", map[string]string{"WAITROOM_ORIGIN": "http://[::1"}, []string{`WAITROOM_ORIGIN: "http://[::1"`}},
		{"placeholder secrets", map[string]string{"WAITROOM_ORIGIN": "http://o", "WAITROOM_COOKIE_SECRET": "change-me-too-32-or-more-random-bytes!", "WAITROOM_PASS_SECRET": "CHANGE-ME-to-32-or-more-random-bytes!!"},
			[]string{"WAITROOM_COOKIE_SECRET: is the example's placeholder", "WAITROOM_PASS_SECRET: is the example's placeholder"}},
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
			// One line per problem, each naming its variable.
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "WAITROOM_") {
					t.Errorf("line %q does not start with the variable", line)
				}
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

// A room setting has the same limits wherever it is set: in the
// WAITROOM_* defaults, in the rooms file and in the admin API's PATCH.
func TestRoomLimitsAgree(t *testing.T) {
	cases := []struct {
		name           string
		env, yaml, raw string // the variable, the rooms-file field, the PATCH field
		value          string // as the variable and the file write it
		patch          string // as PATCH writes it
		ok             bool
	}{
		{"rate 0", "WAITROOM_ADMIT_PER_MINUTE", "admit_per_minute", "admit_per_minute", "0", "0", true},
		{"rate -1", "WAITROOM_ADMIT_PER_MINUTE", "admit_per_minute", "admit_per_minute", "-1", "-1", false},
		{"rate at the top", "WAITROOM_ADMIT_PER_MINUTE", "admit_per_minute", "admit_per_minute", "1000000", "1000000", true},
		{"rate over the top", "WAITROOM_ADMIT_PER_MINUTE", "admit_per_minute", "admit_per_minute", "1000001", "1000001", false},
		{"max_active 0", "WAITROOM_MAX_ACTIVE", "max_active", "max_active", "0", "0", false},
		{"max_active 1", "WAITROOM_MAX_ACTIVE", "max_active", "max_active", "1", "1", true},
		{"session 10s", "WAITROOM_SESSION_TTL", "session_ttl", "session_ttl_seconds", "10s", "10", true},
		{"session 9s", "WAITROOM_SESSION_TTL", "session_ttl", "session_ttl_seconds", "9s", "9", false},
		{"session a week", "WAITROOM_SESSION_TTL", "session_ttl", "session_ttl_seconds", "168h", "604800", true},
		{"session over a week", "WAITROOM_SESSION_TTL", "session_ttl", "session_ttl_seconds", "169h", "608400", false},
		{"abandon 5s", "WAITROOM_ABANDON_AFTER", "abandon_after", "abandon_after_seconds", "5s", "5", true},
		{"abandon 4s", "WAITROOM_ABANDON_AFTER", "abandon_after", "abandon_after_seconds", "4s", "4", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, envErr := LoadConfig(env.Options{Environment: map[string]string{"WAITROOM_ORIGIN": "http://o", tc.env: tc.value}})
			_, fileErr := queue.ParseRooms([]byte("rooms:\n  - name: a\n    paths: [/a]\n    "+tc.yaml+": "+tc.value+"\n"), queue.Room{})
			_, patchErr := admin.ParsePatch([]byte(`{"` + tc.raw + `":` + tc.patch + `}`))
			for where, err := range map[string]error{"environment": envErr, "rooms file": fileErr, "PATCH": patchErr} {
				if (err == nil) != tc.ok {
					t.Errorf("%s: accepted=%v, want %v (%v)", where, err == nil, tc.ok, err)
				}
			}
		})
	}
}
