package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/waitroom/waitroom/internal/surge"
)

// Bad flags or environment stop surge with one line naming the problem and
// exit status 2; -h prints the usage and exits 0.
func TestCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"help", []string{"-h"}, nil, 0, "surge compare"},
		{"no command", nil, nil, 2, "Usage:"},
		{"unknown command", []string{"stampede"}, nil, 2, `unknown command "stampede"`},
		{"unknown flag", []string{"run", "--bogus"}, nil, 2, "bogus"},
		{"bad number", []string{"run", "--visitors", "lots"}, nil, 2, "-visitors"},
		{"no target", []string{"run", "--event", "1"}, nil, 2, "--target/--direct"},
		{"too many visitors", []string{"run", "--target", "http://127.0.0.1:1", "--event", "1", "--visitors", "2000000"}, nil, 2, "--visitors"},
		{"remote source address", []string{"run", "--target", "http://127.0.0.1:1", "--event", "1", "--source-addrs", "10.1.1.1"}, nil, 2, "loopback"},
		{"short secret from env", []string{"run", "--target", "http://127.0.0.1:1", "--event", "1"}, map[string]string{"SURGE_PASS_SECRET": "x"}, 2, "SURGE_PASS_SECRET"},
		{"missing key file", []string{"run", "--direct", "http://127.0.0.1:1", "--event", "1"}, map[string]string{"SURGE_PASS_KEY_FILE": "/nonexistent"}, 2, "SURGE_PASS_KEY_FILE"},
		{"compare needs both", []string{"compare", "--target", "http://127.0.0.1:1", "--event", "1"}, nil, 2, "--direct"},
		{"stray argument", []string{"run", "--target", "http://127.0.0.1:1", "--event", "1", "now"}, nil, 2, `unexpected argument "now"`},
		{"bad log format", []string{"run", "--target", "http://127.0.0.1:1", "--event", "1"}, map[string]string{"SURGE_LOG_FORMAT": "xml"}, 2, "SURGE_LOG_FORMAT"},
		{"swarm help", []string{"swarm", "-h"}, nil, 0, "-bot-conns"},
		{"swarm without the cookie secret", []string{"swarm", "--target", "http://127.0.0.1:1", "--gateway-admin", "http://127.0.0.1:2"}, nil, 2, "SURGE_COOKIE_SECRET"},
		{"swarm at a remote gateway", []string{"swarm", "--target", "http://192.0.2.1:1", "--gateway-admin", "http://127.0.0.1:2"}, map[string]string{"SURGE_COOKIE_SECRET": strings.Repeat("c", 32)}, 2, "loopback"},
		{"swarm bad rounds", []string{"swarm", "--target", "http://127.0.0.1:1", "--gateway-admin", "http://127.0.0.1:2", "--rooms", "off"}, map[string]string{"SURGE_COOKIE_SECRET": strings.Repeat("c", 32)}, 2, "--rooms"},
		{"swarm bots from afar", []string{"swarm", "--target", "http://127.0.0.1:1", "--gateway-admin", "http://127.0.0.1:2", "--bot-addrs", "10.0.0.1"}, map[string]string{"SURGE_COOKIE_SECRET": strings.Repeat("c", 32)}, 2, "--bot-addrs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, tt.env, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.want)
			}
			if tt.code == 2 && tt.name != "no command" {
				if n := strings.Count(strings.TrimRight(errb.String(), "\n"), "\n"); n != 0 {
					t.Errorf("error is %d lines, want one: %q", n+1, errb.String())
				}
			}
		})
	}
}

// origin is a tiny origin without a queue in front: it sells its stock to
// valid-looking orders, optionally past zero.
func origin(t *testing.T, stock int, oversell bool) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	remaining := stock
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/events/7":
			fmt.Fprintf(w, `{"id":7,"room":"default","total":%d,"remaining":%d}`, stock, remaining)
		case "/events/7":
			fmt.Fprint(w, "<h1>event</h1>")
		case "/api/events/7/orders":
			if remaining <= 0 && !oversell {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, `{"error":"sold_out"}`)
				return
			}
			remaining--
			w.WriteHeader(http.StatusCreated)
		case "/metrics":
			fmt.Fprint(w, "ticketd_http_inflight_max 3\n")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// surge run --json prints the report in the pinned schema, --html writes a
// self-contained page, and oversell turns into exit status 3.
func TestRunOutputs(t *testing.T) {
	tests := []struct {
		name     string
		oversell bool
		code     int
	}{
		{"honest origin", false, 0},
		{"overselling origin", true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := origin(t, 5, tt.oversell)
			html := filepath.Join(t.TempDir(), "report.html")
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"run", "--direct", srv.URL, "--event", "7", "--visitors", "8", "--json", "--quiet", "--html", html}, nil, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, errb.String())
			}
			var rep surge.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("--json output: %v\n%s", err, out.String())
			}
			if rep.Schema != surge.SchemaVersion || rep.Visitors.Arrived != 8 || rep.Origin.InflightMax != 3 {
				t.Errorf("report %+v", rep)
			}
			if tt.oversell && (rep.Stock.Oversell != 3 || !strings.Contains(errb.String(), "OVERSELL")) {
				t.Errorf("oversell %d, stderr %q", rep.Stock.Oversell, errb.String())
			}
			page, err := os.ReadFile(html)
			if err != nil || !bytes.Contains(page, []byte("<svg")) {
				t.Errorf("html report: %v", err)
			}
		})
	}
}

// stderr carries progress and errors as zerolog JSON lines by default, and
// as "surge: ..." lines for humans with SURGE_LOG_FORMAT=console; stdout
// carries the report either way.
func TestLogFormats(t *testing.T) {
	srv := origin(t, 5, true)
	args := []string{"run", "--direct", srv.URL, "--event", "7", "--visitors", "8", "--json"}
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, nil, &out, &errb); code != 3 {
		t.Fatalf("exit %d; stderr %s", code, errb.String())
	}
	var sawProgress, sawOversell bool
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		switch rec["message"] {
		case "progress":
			sawProgress = rec["visitors"] == float64(8)
		case "surge failed":
			sawOversell = rec["level"] == "error" && strings.Contains(fmt.Sprint(rec["error"]), "OVERSELL")
		}
	}
	if !sawProgress || !sawOversell {
		t.Errorf("JSON stderr lacks a progress record (%v) or the oversell error (%v):\n%s", sawProgress, sawOversell, errb.String())
	}

	out.Reset()
	errb.Reset()
	if code := run(context.Background(), args, map[string]string{"SURGE_LOG_FORMAT": "console"}, &out, &errb); code != 3 {
		t.Fatalf("console: exit %d; stderr %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "surge: OVERSELL") || strings.Contains(errb.String(), `"level"`) {
		t.Errorf("console stderr: %q", errb.String())
	}
}
