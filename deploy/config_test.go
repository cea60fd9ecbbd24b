package deploy_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	corev1 "k8s.io/api/core/v1"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/internal/ticketd"
)

// Every shipped configuration is one the binaries accept at start: the
// environment each recipe gives the gateway and ticketd goes through their
// own LoadConfig, which parses and validates it exactly as start-up does
// (a bad duration, CIDR, URL, listen address, or a missing admin token off
// loopback stops the binary with exit code 2). Secrets take the values the
// recipe ships, and files the recipe mounts (the pass key) are stand-ins.
// placeholder matches the "put your secret here" words of the recipes.
var placeholder = regexp.MustCompile(`(?i)[a-z0-9-]*change[-_]?me[a-z0-9-]*`)

func TestShippedConfigsStartTheBinaries(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "pass_key.pem")
	must(t, os.WriteFile(keyFile, []byte("stand-in: LoadConfig only checks the file exists\n"), 0o600))

	type check struct {
		name string
		env  map[string]string
		load func(map[string]string) error
	}
	gw := func(m map[string]string) error {
		_, err := gateway.LoadConfig(env.Options{Environment: m})
		return err
	}
	td := func(m map[string]string) error {
		_, err := ticketd.LoadConfig(env.Options{Environment: m})
		return err
	}
	var checks []check

	// Kubernetes.
	objs := manifests(t)
	secrets := map[string]*corev1.Secret{}
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Secret); ok {
			secrets[o.name] = s
		}
	}
	podEnv := func(c corev1.Container) map[string]string {
		m := map[string]string{}
		for _, e := range c.Env {
			v := e.Value
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				v = secrets[e.ValueFrom.SecretKeyRef.Name].StringData[e.ValueFrom.SecretKeyRef.Key]
			}
			// Kubernetes expands $(VAR) from the variables set before.
			v = regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`).ReplaceAllStringFunc(v, func(ref string) string {
				return m[ref[2:len(ref)-1]]
			})
			for _, mnt := range c.VolumeMounts {
				if strings.HasPrefix(v, mnt.MountPath+"/") {
					v = keyFile
				}
			}
			m[e.Name] = v
		}
		return m
	}
	_, gwPod := container(t, objs, "waitroom", "waitroom")
	checks = append(checks, check{"kubernetes/waitroom.yaml", podEnv(gwPod), gw})
	_, tdPod := container(t, objs, "ticketd", "ticketd")
	checks = append(checks, check{"kubernetes/ticketd.yaml", podEnv(tdPod), td})

	// compose, with the values of .env.example.
	p, err := loadCompose(t, "compose/compose.yaml", composeEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func(map[string]string) error{"waitroom": gw, "ticketd": td} {
		m := map[string]string{}
		for k, v := range p.Services[name].Environment {
			if v != nil {
				m[k] = *v
			}
			if strings.HasPrefix(m[k], "/run/secrets/") {
				m[k] = keyFile
			}
		}
		checks = append(checks, check{"compose " + name, m, load})
	}

	// systemd: the unit's Environment=, then its env files in order.
	for _, u := range []struct{ unit, colour string }{{"waitroom.service", ""}, {"waitroom@.service", "blue"}, {"waitroom@.service", "green"}} {
		m := map[string]string{}
		for _, kv := range unitKeys(t, filepath.Join("systemd", u.unit))["Service"]["Environment"] {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = strings.Replace(v, "%d/pass_key", keyFile, 1)
		}
		files := []string{"systemd/waitroom.env.example"}
		if u.colour != "" {
			files = append(files, "systemd/"+u.colour+".env")
		}
		for _, f := range files {
			for k, v := range envFile(t, f) {
				m[k] = v
			}
		}
		checks = append(checks, check{"systemd " + u.unit + " " + u.colour, m, gw})
	}
	checks = append(checks, check{"systemd ticketd.service", envFile(t, "systemd/ticketd.env.example"), td})

	for _, c := range checks {
		if len(c.env) < 3 {
			t.Errorf("%s: only %v", c.name, c.env)
		}
		// As shipped, a recipe's placeholder secrets stop the binary (no
		// deployment starts with a secret everyone can read here); with
		// secrets of the operator's own, it starts.
		shipped := maps.Clone(c.env)
		secrets := 0
		for k, v := range c.env {
			if !httpx.IsPlaceholder(v) {
				continue
			}
			if strings.HasSuffix(k, "_SECRET") || strings.HasSuffix(k, "_TOKEN") {
				secrets++
			}
			c.env[k] = placeholder.ReplaceAllString(v, "own"+strings.Repeat("x", 32))
		}
		if secrets > 0 {
			if err := c.load(shipped); err == nil || !strings.Contains(err.Error(), "placeholder") {
				t.Errorf("%s: started with its placeholder secrets: %v", c.name, err)
			}
		}
		if err := c.load(c.env); err != nil {
			t.Errorf("%s: the binary would refuse to start: %v", c.name, err)
		}
	}

	// The check can fail: a value the gateway refuses.
	bad := podEnv(gwPod)
	bad["WAITROOM_TRUSTED_PROXIES"] = "10.0.0.0/33"
	if err := gw(bad); err == nil || !strings.Contains(err.Error(), "WAITROOM_TRUSTED_PROXIES") {
		t.Fatalf("a bad CIDR passed: %v", err)
	}
}
