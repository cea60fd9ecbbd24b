package deploy_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/testenv"
)

// nginxTree lays out the recipe of deploy/README.md under dir, the way
// Debian's nginx reads it: nginx.conf includes conf.d/*.conf inside http {};
// the shipped site is conf.d/waitroom.conf; the shipped upstream file sits
// where the site's include names it; certs/waitroom.{crt,key} are symlinks
// to the real certificate, as the certbot steps make them. The absolute
// paths under /etc/nginx and /var/www move into dir, and the listen lines
// to free loopback ports, because nginx -t binds them: a test must run
// without root and beside whatever holds ports 80 and 443.
// It returns the path of nginx.conf.
func nginxTree(t *testing.T, dir string) string {
	t.Helper()
	shipped, err := os.ReadFile("nginx/waitroom.conf")
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := os.ReadFile("nginx/waitroom-upstream.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dir: dir}
	crt, key := s.makeCert()
	for _, d := range []string{"conf.d", "certs", "acme", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.Symlink(crt, filepath.Join(dir, "certs", "waitroom.crt")))
	must(t, os.Symlink(key, filepath.Join(dir, "certs", "waitroom.key")))
	site := rewrite(t, string(shipped), []rewriteRule{
		{reListenV6, ""},
		{reListenHTTP, fmt.Sprintf("${1}listen 127.0.0.1:%d;\n", testenv.FreePort(t))},
		{reListenTLS, fmt.Sprintf("${1}listen 127.0.0.1:%d ${2};\n", testenv.FreePort(t))},
		{regexp.MustCompile(`/etc/nginx/`), dir + "/"},
		{reACMERoot, "root " + filepath.Join(dir, "acme") + ";"},
	})
	must(t, os.WriteFile(filepath.Join(dir, "conf.d", "waitroom.conf"), []byte(site), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "waitroom-upstream.conf"), upstream, 0o644))
	conf := filepath.Join(dir, "nginx.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/logs/body;
    proxy_temp_path %[1]s/logs/proxy;
    fastcgi_temp_path %[1]s/logs/fastcgi;
    uwsgi_temp_path %[1]s/logs/uwsgi;
    scgi_temp_path %[1]s/logs/scgi;
    include %[1]s/conf.d/*.conf;
}
`, dir)), 0o644))
	return conf
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// nginxT runs the recipe's one-command check, nginx -t, on conf.
func nginxT(conf string) (string, error) {
	out, err := exec.Command(nginxBin, "-t", "-q", "-e", "stderr", "-c", conf, "-p", filepath.Dir(conf)).CombinedOutput()
	return string(out), err
}

// The check deploy/README.md tells operators to run, nginx -t, passes on
// the shipped site and upstream files installed as the recipe installs
// them, and fails, naming the file, on the mistakes the recipe's order of
// steps avoids: a certificate not there yet, the upstream include not
// copied.
func TestNginxConfigCheck(t *testing.T) {
	needNginx(t)
	tests := []struct {
		name   string
		mangle func(dir string) error
		want   string // in nginx -t's output; "" = passes
	}{
		{"as installed", func(string) error { return nil }, ""},
		{"no certificate yet", func(dir string) error { return os.Remove(filepath.Join(dir, "certs", "waitroom.crt")) }, "waitroom.crt"},
		{"no upstream include", func(dir string) error { return os.Remove(filepath.Join(dir, "waitroom-upstream.conf")) }, "waitroom-upstream.conf"},
		{"empty upstream", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "waitroom-upstream.conf"), []byte("# nothing\n"), 0o644)
		}, "no servers are inside upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := nginxTree(t, t.TempDir())
			must(t, tt.mangle(filepath.Dir(conf)))
			out, err := nginxT(conf)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("nginx -t on the shipped config: %v\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("nginx -t: err %v, output %q; want a failure naming %q", err, out, tt.want)
			}
		})
	}
}

// The paths the recipe installs to are the ones the shipped files use: the
// site's include of the upstream file, which is also the file the
// blue-green script rewrites; the certificate paths; the ACME webroot
// certbot writes to.
func TestNginxRecipeMatchesConfig(t *testing.T) {
	conf := string(readFile(t, "nginx/waitroom.conf"))
	readme := string(readFile(t, "README.md"))
	script := string(readFile(t, "bluegreen.sh"))
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(conf)
		if m == nil {
			t.Fatalf("waitroom.conf has no %s", re)
		}
		return m[1]
	}
	include := find(`include\s+(\S+);`)
	crt := find(`ssl_certificate\s+(\S+);`)
	key := find(`ssl_certificate_key\s+(\S+);`)
	webroot := find(`root\s+(\S+);`)
	for _, want := range []string{
		"deploy/nginx/waitroom.conf /etc/nginx/conf.d/waitroom.conf",
		"deploy/nginx/waitroom-upstream.conf " + include,
		" " + crt, " " + key,
		"-w " + webroot,
		"nginx -t",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("deploy/README.md's nginx recipe does not say %q", want)
		}
	}
	if !strings.Contains(script, "UPSTREAM_FILE=${UPSTREAM_FILE:-"+include+"}") {
		t.Errorf("bluegreen.sh does not rewrite %s by default", include)
	}
}

// certbot --webroot renewals reach nginx over plain HTTP: a challenge file
// under the webroot is served as is, not redirected to HTTPS like
// everything else on port 80.
func TestACMEChallengeServedOverHTTP(t *testing.T) {
	s, _ := newStack(t)
	dir := filepath.Join(s.acmeRoot, ".well-known", "acme-challenge")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "tok3n"), []byte("tok3n.thumbprint"), 0o644))
	v := s.newVisitor()
	res, body := v.mustDo(http.MethodGet, s.http+"/.well-known/acme-challenge/tok3n", "*/*", "")
	if res.StatusCode != http.StatusOK || body != "tok3n.thumbprint" {
		t.Fatalf("challenge: %d %q", res.StatusCode, body)
	}
	if res, _ := v.mustDo(http.MethodGet, s.http+"/.well-known/other", "*/*", ""); res.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("outside the challenge path: %d, want the redirect", res.StatusCode)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
