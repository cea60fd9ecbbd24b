// Package deploy_test runs the shipped deployment files for real: Debian's
// nginx with deploy/nginx/waitroom.conf in front of the built waitroom and
// ticketd binaries, the blue-green script, and two gateways on a local Redis
// Cluster. Everything listens on loopback ports chosen at run time.
package deploy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/internal/testenv"
)

const (
	nginxBin     = "/usr/sbin/nginx"
	passSecret   = "pass-secret-of-at-least-32-bytes!!"
	cookieSecret = "cookie-secret-of-at-least-32-bytes"
	adminToken   = "admin-token-for-the-deploy-tests"
)

// binary returns the path of a built cmd/<name> binary. The binaries are
// built by deploy/Dockerfile's own go build command (for this machine's
// platform), once per test process, so every test here runs what the image
// ships.
func binary(t *testing.T, name string) string {
	t.Helper()
	b, err := dockerfileBuild()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(testenv.BuildBinaries(t, b), name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	testenv.StopRedisCluster()
	os.Exit(code)
}

// needNginx skips the test when Debian's nginx is missing, unless under CI.
func needNginx(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nginxBin); err != nil {
		if testenv.InCI() {
			t.Fatalf("nginx is required under CI: %v", err)
		}
		t.Skipf("nginx not installed (%v); apt-get install nginx", err)
	}
}

// start runs a binary with env, logging to dir/name.log; it is killed when
// the test ends (if it has not exited already).
func start(t *testing.T, bin, logPath string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log (tail):\n%s", filepath.Base(logPath), tail(b, 3000))
		}
	})
	return cmd
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 (last: %v)", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stack is one deployment on loopback: ticketd, the gateway(s) and nginx.
type stack struct {
	t        *testing.T
	dir      string
	origin   string // ticketd base URL
	https    string // https://127.0.0.1:PORT through nginx
	http     string // http://127.0.0.1:PORT through nginx (redirects)
	ca       *x509.CertPool
	conf     string // nginx.conf of the test
	upFile   string // the upstream include nginx reads
	acmeRoot string // where certbot --webroot would write its challenges
	gwEnv    map[string]string
	prefix   string
	gwAdmin  string // admin base URL of the first gateway
}

// startTicketd runs ticketd with SQLite in the test's directory.
func (s *stack) startTicketd() {
	t := s.t
	port := testenv.FreePort(t)
	start(t, binary(t, "ticketd"), filepath.Join(s.dir, "ticketd.log"), map[string]string{
		"TICKETD_LISTEN":       fmt.Sprintf("127.0.0.1:%d", port),
		"TICKETD_DATABASE_URL": "sqlite://" + filepath.Join(s.dir, "ticketd.db"),
		"TICKETD_PASS_SECRET":  passSecret,
		"TICKETD_SEED_DEMO":    "true",
		"TICKETD_LOG_LEVEL":    "warn",
	})
	s.origin = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, s.origin+"/healthz")
}

// gatewayEnv is the environment shared by every gateway of the stack: one
// Redis prefix, one cookie secret, one pass secret; a room that admits
// nobody on its own so the queue shows until the admin API admits.
func (s *stack) gatewayEnv(redisURL string) {
	s.gwEnv = map[string]string{
		"WAITROOM_ORIGIN":           s.origin,
		"WAITROOM_REDIS_URL":        redisURL,
		"WAITROOM_REDIS_PREFIX":     s.prefix,
		"WAITROOM_PASS_SECRET":      passSecret,
		"WAITROOM_COOKIE_SECRET":    cookieSecret,
		"WAITROOM_ADMIN_TOKEN":      adminToken,
		"WAITROOM_TRUSTED_PROXIES":  "127.0.0.1/32",
		"WAITROOM_ADMIT_PER_MINUTE": "0",
		"WAITROOM_MAX_ACTIVE":       "50",
		"WAITROOM_LOG_LEVEL":        "warn",
		"WAITROOM_SHUTDOWN_TIMEOUT": "10s",
	}
}

// startGateway runs one waitroom process on the given ports.
func (s *stack) startGateway(name string, public, admin int) *exec.Cmd {
	t := s.t
	env := map[string]string{}
	for k, v := range s.gwEnv {
		env[k] = v
	}
	env["WAITROOM_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", public)
	env["WAITROOM_ADMIN_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", admin)
	cmd := start(t, binary(t, "waitroom"), filepath.Join(s.dir, name+".log"), env)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
	if s.gwAdmin == "" {
		s.gwAdmin = fmt.Sprintf("http://127.0.0.1:%d", admin)
	}
	return cmd
}

// writeEnvFile writes the shared gateway environment as a systemd-style
// env file (what the blue-green script sources).
func (s *stack) writeEnvFile() string {
	var b strings.Builder
	for k, v := range s.gwEnv {
		fmt.Fprintf(&b, "%s=%q\n", k, v)
	}
	p := filepath.Join(s.dir, "waitroom.env")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

var (
	reListenHTTP  = regexp.MustCompile(`(?m)^(\s*)listen 80;\n`)
	reListenTLS   = regexp.MustCompile(`(?m)^(\s*)listen 443 (.*);\n`)
	reListenV6    = regexp.MustCompile(`(?m)^\s*listen \[::\].*\n`)
	reCert        = regexp.MustCompile(`(?m)^(\s*)ssl_certificate\s+\S+;`)
	reCertKey     = regexp.MustCompile(`(?m)^(\s*)ssl_certificate_key\s+\S+;`)
	reUpstreamInc = regexp.MustCompile(`include /etc/nginx/waitroom-upstream.conf;`)
	reACMERoot    = regexp.MustCompile(`root /var/www/acme;`)
)

// rewrite applies each (pattern, replacement) to the shipped config, and
// fails the test when a pattern no longer matches: the test would otherwise
// quietly run a different file than the one operators install.
func rewrite(t *testing.T, conf string, rules []rewriteRule) string {
	t.Helper()
	for _, r := range rules {
		if !r.re.MatchString(conf) {
			t.Fatalf("deploy/nginx/waitroom.conf no longer has a line matching %s", r.re)
		}
		conf = r.re.ReplaceAllString(conf, r.repl)
	}
	return conf
}

type rewriteRule struct {
	re   *regexp.Regexp
	repl string
}

// startNginx runs Debian's nginx in the foreground with the shipped
// deploy/nginx/waitroom.conf, rewriting only the listen lines, the
// certificate paths and the upstream include, inside a minimal nginx.conf.
func (s *stack) startNginx(gatewayPort int) {
	t := s.t
	needNginx(t)
	shipped, err := os.ReadFile("nginx/waitroom.conf")
	if err != nil {
		t.Fatal(err)
	}
	crt, key := s.makeCert()
	httpPort, httpsPort := testenv.FreePort(t), testenv.FreePort(t)
	s.acmeRoot = filepath.Join(s.dir, "acme")
	site := rewrite(t, string(shipped), []rewriteRule{
		{reListenV6, ""},
		{reListenHTTP, fmt.Sprintf("${1}listen 127.0.0.1:%d;\n", httpPort)},
		{reListenTLS, fmt.Sprintf("${1}listen 127.0.0.1:%d ${2};\n", httpsPort)},
		{reCert, "${1}ssl_certificate " + crt + ";"},
		{reCertKey, "${1}ssl_certificate_key " + key + ";"},
		{reUpstreamInc, "include " + filepath.Join(s.dir, "waitroom-upstream.conf") + ";"},
		{reACMERoot, "root " + s.acmeRoot + ";"},
	})
	s.upFile = filepath.Join(s.dir, "waitroom-upstream.conf")
	s.writeUpstream(gatewayPort)
	sitePath := filepath.Join(s.dir, "waitroom.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the test's 0700 directories.
		user = "user root;"
	}
	tmp := filepath.Join(s.dir, "nginx-tmp")
	_ = os.MkdirAll(tmp, 0o755)
	conf := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log %[2]s/nginx-access.log;
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fastcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    include %[4]s;
}
`, user, s.dir, tmp, sitePath)
	s.conf = filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginxBin, "-t", "-c", s.conf, "-p", s.dir).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := start(t, nginxBin, filepath.Join(s.dir, "nginx.log"), nil, "-c", s.conf, "-p", s.dir)
	// The master forwards SIGKILL to nobody: stop it gracefully so its
	// workers go too.
	t.Cleanup(func() { _ = exec.Command(nginxBin, "-s", "stop", "-c", s.conf, "-p", s.dir).Run() })
	_ = cmd
	s.https = fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	s.http = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "nginx-error.log"))
			t.Fatalf("nginx did not listen: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) writeUpstream(port int) {
	body := fmt.Sprintf("# The live gateway.\nserver 127.0.0.1:%d max_fails=0;\n", port)
	if err := os.WriteFile(s.upFile, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// makeCert writes a self-signed certificate for 127.0.0.1 and returns the
// certificate and key paths; the stack's CA pool trusts it.
func (s *stack) makeCert() (crtPath, keyPath string) {
	t := s.t
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "waitroom test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	s.ca = x509.NewCertPool()
	s.ca.AddCert(cert)
	kb, _ := x509.MarshalECPrivateKey(key)
	crtPath, keyPath = filepath.Join(s.dir, "tls.crt"), filepath.Join(s.dir, "tls.key")
	_ = os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	_ = os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return crtPath, keyPath
}

// admit asks the gateway's admin API to admit the next n visitors now.
func (s *stack) admit(n int) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.gwAdmin+"/admin/rooms/default/admit", strings.NewReader(fmt.Sprintf(`{"count":%d}`, n)))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		s.t.Fatalf("admit: %d %s", res.StatusCode, b)
	}
}

// visitor is a browser: a cookie jar and a TLS client that trusts the test CA.
type visitor struct {
	t   *testing.T
	s   *stack
	jar *cookiejar.Jar
	c   *http.Client
}

func (s *stack) newVisitor() *visitor {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca}, MaxIdleConnsPerHost: 4}
	s.t.Cleanup(tr.CloseIdleConnections)
	return &visitor{t: s.t, s: s, jar: jar, c: &http.Client{
		Jar: jar, Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response with its body read.
func (v *visitor) do(method, url, accept, body string) (*http.Response, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Accept", accept)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := v.c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

func (v *visitor) mustDo(method, url, accept, body string) (*http.Response, string) {
	v.t.Helper()
	res, b, err := v.do(method, url, accept, body)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, url, err)
	}
	return res, b
}

// status is the visitor's status JSON (SPEC "Status JSON").
type status struct {
	Room     string `json:"room"`
	State    string `json:"state"`
	Position int64  `json:"position"`
	Waiting  int64  `json:"waiting"`
}

// dial opens the visitor's WebSocket through nginx (wss) with its cookies.
func (v *visitor) dial(room string) (*websocket.Conn, error) {
	u := strings.Replace(v.s.https, "https://", "wss://", 1) + "/_waitroom/ws?room=" + room
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: v.s.ca}, HandshakeTimeout: 5 * time.Second, Jar: v.jar}
	c, res, err := d.Dial(u, nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	return c, err
}

// readStatus reads the next status message from a socket.
func readStatus(c *websocket.Conn, timeout time.Duration) (status, error) {
	var st status
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	_, msg, err := c.ReadMessage()
	if err != nil {
		return st, err
	}
	err = json.NewDecoder(bytes.NewReader(msg)).Decode(&st)
	return st, err
}
