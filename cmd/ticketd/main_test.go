package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// When the test binary runs with TICKETD_TEST_MAIN=1 it is ticketd itself,
// so the tests below can send it a real SIGTERM.
func TestMain(m *testing.M) {
	if os.Getenv("TICKETD_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// -h prints usage with every variable and exits 0; a bad setting exits 2
// with a line per problem, each naming its variable.
func TestUsageAndBadConfig(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out); code != 0 || !strings.Contains(out.String(), "TICKETD_DATABASE_URL") {
		t.Fatalf("-h: code %d\n%s", code, out.String())
	}
	t.Setenv("TICKETD_PASS_SECRET", "too-short")
	t.Setenv("TICKETD_DB_MAX_CONNS", "lots")
	out.Reset()
	code := run(context.Background(), nil, &out)
	msg := strings.TrimSpace(out.String())
	if code != 2 || !strings.Contains(msg, "TICKETD_DB_MAX_CONNS") || !strings.Contains(msg, "TICKETD_PASS_SECRET") {
		t.Fatalf("bad config: code %d, output %q", code, msg)
	}
	for _, line := range strings.Split(strings.TrimPrefix(msg, "ticketd: "), "\n") {
		if !strings.HasPrefix(line, "TICKETD_") {
			t.Fatalf("line %q does not name its variable", line)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"serve"}, &out); code != 2 {
		t.Fatalf("stray argument: code %d", code)
	}
}

// SIGTERM stops a running ticketd cleanly with exit code 0.
func TestSIGTERMDrains(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(os.Args[0])
	var logs bytes.Buffer
	cmd.Stderr = &logs
	cmd.Env = append(os.Environ(),
		"TICKETD_TEST_MAIN=1",
		"TICKETD_LISTEN="+addr,
		"TICKETD_DATABASE_URL=sqlite://"+filepath.Join(t.TempDir(), "t.db"),
		"TICKETD_PASS_SECRET="+strings.Repeat("s", 32),
		"TICKETD_SEED_DEMO=true",
	)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	up := false
	for range 200 {
		resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr))
		if err == nil {
			resp.Body.Close()
			up = resp.StatusCode == 200
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !up {
		t.Fatalf("ticketd did not come up:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "ticketd stopped") {
		t.Fatalf("no clean stop in logs:\n%s", logs.String())
	}
}

// Settings that parse but cannot be used — a key file that is not a key, a
// SQLite path in a directory that does not exist, a PostgreSQL URL that
// does not parse — exit 2 with one line naming the variable, like a bad
// value; a PostgreSQL server that does not answer exits 1.
func TestUnusableSettings(t *testing.T) {
	dir := t.TempDir()
	notAKey := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(notAKey, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 32)
	cases := []struct {
		name, variable string
		env            map[string]string
		want           int
	}{
		{"key file without a key", "TICKETD_PASS_KEY_FILE",
			map[string]string{"TICKETD_PASS_KEY_FILE": notAKey, "TICKETD_DATABASE_URL": "sqlite://" + filepath.Join(dir, "a.db")}, 2},
		{"sqlite in a missing directory", "TICKETD_DATABASE_URL",
			map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DATABASE_URL": "sqlite://" + filepath.Join(dir, "no", "such", "x.db")}, 2},
		{"postgres URL that does not parse", "TICKETD_DATABASE_URL",
			map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DATABASE_URL": "postgres://u@127.0.0.1:5432/test?connect_timeout=soon"}, 2},
		{"postgres server not answering", "TICKETD_DATABASE_URL",
			map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DATABASE_URL": "postgres://u@127.0.0.1:1/test?connect_timeout=2"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			code := run(context.Background(), nil, &out)
			msg := strings.TrimSpace(out.String())
			if code != tc.want || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.variable) {
				t.Fatalf("code %d (want %d), output %q", code, tc.want, msg)
			}
		})
	}
}
