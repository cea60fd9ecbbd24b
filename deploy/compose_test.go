package deploy_test

// The compose file is loaded with compose-go, the loader `docker compose
// config` runs: the Compose Specification's JSON schema (an unknown or
// misspelt key fails), interpolation of ${VAR:?...}, and the project model,
// which is then checked against the binaries and the nginx config like the
// Kubernetes manifests are. No container engine is needed.

import (
	"bufio"
	"context"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv reads deploy/compose/.env.example, the file the recipe copies
// to .env.
func composeEnv(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("compose/.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	return env
}

func loadCompose(t *testing.T, file string, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnv(env),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// The compose file is valid Compose with the variables of .env.example,
// and refuses to start without them (no default secrets).
func TestComposeFileLoads(t *testing.T) {
	if _, err := loadCompose(t, "compose/compose.yaml", composeEnv(t)); err != nil {
		t.Fatalf("docker compose config would fail: %v", err)
	}
	_, err := loadCompose(t, "compose/compose.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "set ") {
		t.Fatalf("without .env: %v, want the required-variable error", err)
	}

	// And the loader is strict: a misspelt key fails.
	bad := strings.Replace(string(readFile(t, "compose/compose.yaml")), "    healthcheck:", "    healthchek:", 1)
	tmp := filepath.Join(t.TempDir(), "compose.yaml")
	must(t, os.WriteFile(tmp, []byte(bad), 0o644))
	if _, err := loadCompose(t, tmp, composeEnv(t)); err == nil || !strings.Contains(err.Error(), "healthchek") {
		t.Fatalf("misspelt key: %v, want an error naming it", err)
	}
}

// The services fit together: only variables the binaries read; the image
// built from deploy/Dockerfile; the gateway trusts exactly nginx's fixed
// address; nginx mounts the shipped config and an upstream file that
// points at the gateway's listener; the URLs name services of the file;
// every file mounted from the repository exists (the certificates and the
// pass key are the operator's, see deploy/README.md).
func TestComposeServices(t *testing.T) {
	p, err := loadCompose(t, "compose/compose.yaml", composeEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]map[string]string{
		"waitroom": envTags(t, "../gateway/config.go"),
		"ticketd":  envTags(t, "../internal/ticketd/config.go"),
	}
	for name, known := range vars {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		for k := range svc.Environment {
			if _, ok := known[k]; !ok {
				t.Errorf("service %s sets %s, which it does not read", name, k)
			}
		}
		if svc.Build == nil || svc.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("service %s: build %+v, want deploy/Dockerfile", name, svc.Build)
		} else if abs, _ := filepath.Abs(".."); svc.Build.Context != abs {
			t.Errorf("service %s: build context %s, want the repository root %s", name, svc.Build.Context, abs)
		}
	}
	gw, nginx := p.Services["waitroom"], p.Services["nginx"]
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}

	// Trusted proxies: nginx's fixed address, and nothing wider than it.
	net, ok := nginx.Networks["default"]
	if !ok || net == nil || net.Ipv4Address == "" {
		t.Fatal("nginx needs a fixed address for the gateway to trust")
	}
	nginxAddr := netip.MustParseAddr(net.Ipv4Address)
	trusted := env(gw, "WAITROOM_TRUSTED_PROXIES")
	pfx, err := netip.ParsePrefix(trusted)
	if err != nil || !pfx.Contains(nginxAddr) || pfx.Bits() != 32 {
		t.Errorf("WAITROOM_TRUSTED_PROXIES %q: want exactly nginx's %s/32", trusted, nginxAddr)
	}
	var subnetOK bool
	for _, c := range p.Networks["default"].Ipam.Config {
		if s, err := netip.ParsePrefix(c.Subnet); err == nil && s.Contains(nginxAddr) {
			subnetOK = true
		}
	}
	if !subnetOK {
		t.Errorf("nginx's %s is outside the default network's subnet", nginxAddr)
	}

	// nginx mounts the shipped config and the upstream file the config includes.
	conf, _ := filepath.Abs("nginx/waitroom.conf")
	include := regexp.MustCompile(`include\s+(\S+);`).FindStringSubmatch(string(readFile(t, "nginx/waitroom.conf")))[1]
	mounts := map[string]string{}
	for _, v := range nginx.Volumes {
		mounts[v.Target] = v.Source
	}
	if !slices.Contains(slices.Collect(maps.Values(mounts)), conf) {
		t.Errorf("nginx does not mount deploy/nginx/waitroom.conf: %v", mounts)
	}
	up, ok := mounts[include]
	if !ok {
		t.Fatalf("nginx does not mount anything at %s, which waitroom.conf includes", include)
	}
	m := regexp.MustCompile(`(?m)^server\s+([a-z0-9-]+):(\d+)`).FindStringSubmatch(string(readFile(t, up)))
	listen := env(gw, "WAITROOM_LISTEN")
	if listen == "" {
		listen = vars["waitroom"]["WAITROOM_LISTEN"]
	}
	if m == nil || m[1] != "waitroom" || ":"+m[2] != listen {
		t.Errorf("%s sends nginx to %v; the gateway is service waitroom listening on %s", up, m, listen)
	}

	// URLs name services of this file.
	for _, u := range []struct{ svc, key string }{
		{"waitroom", "WAITROOM_ORIGIN"}, {"waitroom", "WAITROOM_REDIS_URL"},
		{"ticketd", "TICKETD_PASS_JWKS_URL"}, {"ticketd", "TICKETD_DATABASE_URL"},
	} {
		parsed, err := url.Parse(env(p.Services[u.svc], u.key))
		if err != nil {
			t.Errorf("%s %s: %v", u.svc, u.key, err)
			continue
		}
		if _, ok := p.Services[parsed.Hostname()]; !ok {
			t.Errorf("%s %s names host %q, which is not a service", u.svc, u.key, parsed.Hostname())
		}
	}

	// Files mounted from the repository exist; the operator's own are named in the README.
	readme := string(readFile(t, "README.md"))
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				if rel, _ := filepath.Rel(filepath.Dir(mustAbs(t, ".")), v.Source); !strings.Contains(readme, rel) {
					t.Errorf("service %s mounts %s, which does not exist and deploy/README.md does not say how to make", s.Name, rel)
				}
			}
		}
	}
	for name, sec := range p.Secrets {
		if _, err := os.Stat(sec.File); err != nil {
			if rel, _ := filepath.Rel(filepath.Dir(mustAbs(t, ".")), sec.File); !strings.Contains(readme, rel) {
				t.Errorf("secret %s is %s, which deploy/README.md does not say how to make", name, rel)
			}
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
