package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/queue"
)

// adminAs calls the admin listener with the given Host header and, when
// token is not empty, the bearer token.
func (r *rig) adminAs(t testing.TB, host, token, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.adm.URL+path, strings.NewReader(body))
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// noTokenRig is a rig whose admin listener runs without WAITROOM_ADMIN_TOKEN
// (the loopback default).
func noTokenRig(t testing.TB) *rig {
	t.Helper()
	return newRig(t, rigOpts{
		rooms:  []queue.Room{room("default", 600, 1000, "/*")},
		mutate: func(c *gateway.Config) { c.AdminToken = "" },
	})
}

// DNS rebinding: without a token, a page on rebind.attacker.example (its
// name re-pointed at 127.0.0.1) reached the admin API with its own Host,
// set the rate to 600,000/min and read /debug/pprof. Now every route but the
// probes refuses a Host that is not localhost or a loopback address, and
// the refused PATCH changes nothing.
func TestAdminWithoutTokenRefusesRebinding(t *testing.T) {
	r := noTokenRig(t)
	const evil = "rebind.attacker.example"

	res, body := r.adminAs(t, evil, "", http.MethodPatch, "/admin/rooms/default", `{"admit_per_minute":600000}`)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error"`) {
		t.Fatalf("PATCH with Host %s: %d %s, want 403", evil, res.StatusCode, body)
	}
	_, body = r.adminAs(t, "127.0.0.1", "", http.MethodGet, "/admin/rooms/default", "")
	if !strings.Contains(body, `"admit_per_minute":600,`) {
		t.Fatalf("the refused PATCH changed the room: %s", body)
	}

	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/admin/rooms", "/admin/rooms/default",
		"/admin/", "/metrics", "/_waitroom/assets/dashboard.js", "/nope"} {
		res, body := r.adminAs(t, evil, "", http.MethodGet, path, "")
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "WAITROOM_ADMIN_TOKEN") {
			t.Errorf("GET %s with Host %s: %d %.80s, want 403", path, evil, res.StatusCode, body)
		}
	}
	// The probes carry no secrets and change nothing; kubelet sends the
	// pod's address as Host.
	for _, path := range []string{"/healthz", "/readyz"} {
		if res, body := r.adminAs(t, evil, "", http.MethodGet, path, ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s with Host %s: %d %s, want 200", path, evil, res.StatusCode, body)
		}
	}

	refused := []string{"localhost.attacker.example", "127.0.0.1.nip.io", "localhost.", "10.0.0.1:9090", "[::2]:9090", "0.0.0.0"}
	for _, host := range refused {
		if res, body := r.adminAs(t, host, "", http.MethodGet, "/debug/pprof/", ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("Host %q: %d %.80s, want 403", host, res.StatusCode, body)
		}
	}
	for _, host := range []string{"localhost:9090", "127.0.0.1", "LOCALHOST", "127.9.9.9:1", "[::1]:9090", "[::1]"} {
		if res, body := r.adminAs(t, host, "", http.MethodGet, "/debug/pprof/", ""); res.StatusCode != http.StatusOK {
			t.Errorf("GET /debug/pprof/ with Host %q: %d %.80s, want 200", host, res.StatusCode, body)
		}
	}
	res, body = r.adminAs(t, "localhost:9090", "", http.MethodPatch, "/admin/rooms/default", `{"admit_per_minute":1200}`)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"admit_per_minute":1200`) {
		t.Fatalf("PATCH with Host localhost:9090: %d %s", res.StatusCode, body)
	}
	res, body = r.adminAs(t, "127.0.0.1", "", http.MethodPatch, "/admin/rooms/default", `{"admit_per_minute":900}`)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"admit_per_minute":900`) {
		t.Fatalf("PATCH with Host 127.0.0.1: %d %s", res.StatusCode, body)
	}
}

// With a token set the Host rule does not apply: the token decides.
func TestAdminWithTokenIgnoresHost(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("default", 600, 1000, "/*")}})
	const host = "admin.internal.example"
	if res, body := r.adminAs(t, host, "", http.MethodGet, "/debug/pprof/", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: %d %.80s, want 401", res.StatusCode, body)
	}
	if res, body := r.adminAs(t, host, adminToken, http.MethodGet, "/debug/pprof/", ""); res.StatusCode != http.StatusOK {
		t.Errorf("pprof with the token: %d %.80s, want 200", res.StatusCode, body)
	}
	res, body := r.adminAs(t, host, adminToken, http.MethodPatch, "/admin/rooms/default", `{"admit_per_minute":1200}`)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"admit_per_minute":1200`) {
		t.Fatalf("PATCH with the token: %d %s", res.StatusCode, body)
	}
	if res, _ := r.adminAs(t, host, "", http.MethodGet, "/metrics", ""); res.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %d, want 200", res.StatusCode)
	}
}
