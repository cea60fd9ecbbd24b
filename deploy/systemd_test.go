package deploy_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// units are the shipped unit files and the instances systemd-analyze
// verifies.
var units = map[string][]string{
	"waitroom.service":  {"waitroom.service"},
	"waitroom@.service": {"waitroom@blue.service", "waitroom@green.service"},
	"ticketd.service":   {"ticketd.service"},
}

// needTool finds a command the test runs, skipping without it outside CI
// and failing under CI.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("%s is required under CI: %s", name, install)
		}
		t.Skipf("%s not installed: %s", name, install)
	}
	return p
}

// systemdVerify runs systemd-analyze verify on the named units inside a
// throwaway root holding the given unit files, stub binaries where
// ExecStart looks for them and stubs of the targets every service depends
// on, so nothing of the machine's own systemd is read or touched.
func systemdVerify(t *testing.T, analyze string, files map[string][]byte, names ...string) (string, error) {
	t.Helper()
	root := t.TempDir()
	etc := filepath.Join(root, "etc/systemd/system")
	lib := filepath.Join(root, "usr/lib/systemd/system")
	bin := filepath.Join(root, "usr/local/bin")
	for _, d := range []string{etc, lib, bin} {
		must(t, os.MkdirAll(d, 0o755))
	}
	for _, u := range []string{"sysinit.target", "basic.target", "shutdown.target", "multi-user.target", "network-online.target"} {
		must(t, os.WriteFile(filepath.Join(lib, u), []byte("[Unit]\nDescription=stub\n"), 0o644))
	}
	for _, b := range []string{"waitroom", "ticketd"} {
		must(t, os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755))
	}
	for name, body := range files {
		must(t, os.WriteFile(filepath.Join(etc, name), body, 0o644))
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no", "--root=" + root}, names...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// systemd itself reads every unit (and both colours of the template) and
// has nothing to say: no unknown key, no value it cannot parse, no missing
// binary. It only warns about those and starts the unit anyway, so any
// output at all fails the test.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "apt-get install systemd")
	files := map[string][]byte{}
	var names []string
	for f, instances := range units {
		files[f] = readFile(t, filepath.Join("systemd", f))
		names = append(names, instances...)
	}
	if out, err := systemdVerify(t, analyze, files, names...); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify %v: %v\n%s", names, err, out)
	}

	// The check sees what it must: a misspelt key and a bad value.
	bad := strings.Replace(string(files["waitroom.service"]), "ProtectHome=yes", "ProtectHomes=yes", 1)
	bad = strings.Replace(bad, "RestartSec=2s", "RestartSec=2x", 1)
	out, _ := systemdVerify(t, analyze, map[string][]byte{"waitroom.service": []byte(bad)}, "waitroom.service")
	if !strings.Contains(out, "ProtectHomes") || !strings.Contains(out, "2x") {
		t.Fatalf("systemd-analyze verify missed a misspelt key or a bad value: %q", out)
	}
}

// unitKeys reads a unit file into section -> key -> values.
func unitKeys(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	keys := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(readFile(t, path))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			keys[section] = map[string][]string{}
		default:
			k, v, _ := strings.Cut(line, "=")
			keys[section][k] = append(keys[section][k], v)
		}
	}
	return keys
}

// The two gateway units differ only where a colour must: the template is
// as sandboxed as the single unit, reads the colour's env file after the
// shared one, and both give the gateway longer to stop than it gives
// itself to drain (WAITROOM_SHUTDOWN_TIMEOUT), so systemd does not kill it
// mid-drain. The colours' env files hold the ports bluegreen.sh expects,
// and every env file sets only variables its binary reads.
func TestSystemdUnitsAgree(t *testing.T) {
	single := unitKeys(t, "systemd/waitroom.service")["Service"]
	tmpl := unitKeys(t, "systemd/waitroom@.service")["Service"]
	for k, v := range single {
		if k == "EnvironmentFile" {
			continue
		}
		if strings.Join(tmpl[k], "\n") != strings.Join(v, "\n") {
			t.Errorf("waitroom@.service %s = %v, waitroom.service has %v", k, tmpl[k], v)
		}
	}
	for k := range tmpl {
		if _, ok := single[k]; !ok {
			t.Errorf("waitroom@.service has %s, waitroom.service does not", k)
		}
	}
	if got := tmpl["EnvironmentFile"]; len(got) != 2 || got[0] != "/etc/waitroom/waitroom.env" || got[1] != "/etc/waitroom/%i.env" {
		t.Errorf("waitroom@.service EnvironmentFile %v: want the shared file, then the colour's", got)
	}
	gwVars := envTags(t, "../gateway/config.go")
	drain, _ := time.ParseDuration(gwVars["WAITROOM_SHUTDOWN_TIMEOUT"])
	stop, err := time.ParseDuration(single["TimeoutStopSec"][0])
	if err != nil || stop <= drain {
		t.Errorf("TimeoutStopSec %v must exceed WAITROOM_SHUTDOWN_TIMEOUT's default %v", single["TimeoutStopSec"], drain)
	}

	script := string(readFile(t, "bluegreen.sh"))
	for _, colour := range []string{"blue", "green"} {
		env := envFile(t, filepath.Join("systemd", colour+".env"))
		m := regexp.MustCompile(`(?m)^` + strings.ToUpper(colour) + `=\$\{` + strings.ToUpper(colour) + `:-(\d+):(\d+)\}`).FindStringSubmatch(script)
		if m == nil {
			t.Fatalf("bluegreen.sh has no default for %s", strings.ToUpper(colour))
		}
		for _, p := range []struct{ key, port string }{{"WAITROOM_LISTEN", m[1]}, {"WAITROOM_ADMIN_LISTEN", m[2]}} {
			if _, port, _ := net.SplitHostPort(env[p.key]); port != p.port {
				t.Errorf("%s.env %s=%s, bluegreen.sh expects port %s", colour, p.key, env[p.key], p.port)
			}
		}
	}
	tdVars := envTags(t, "../internal/ticketd/config.go")
	for file, known := range map[string]map[string]string{
		"systemd/waitroom.env.example": gwVars, "systemd/blue.env": gwVars, "systemd/green.env": gwVars,
		"systemd/ticketd.env.example": tdVars,
	} {
		for k := range envFile(t, file) {
			if _, ok := known[k]; !ok {
				t.Errorf("%s sets %s, which the binary does not read", file, k)
			}
		}
	}
}

func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(string(readFile(t, path)), "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[k] = v
		}
	}
	return env
}

// The install steps, in the units' comments and in deploy/README.md, make
// /etc/waitroom before anything is copied into it (install(1) does not
// create the directory, and the step after it would fail).
func TestSystemdInstallStepsMakeTheDirectoryFirst(t *testing.T) {
	sources := []string{"README.md"}
	for f := range units {
		sources = append(sources, filepath.Join("systemd", f))
	}
	writes := regexp.MustCompile(`(?:install|openssl|cp)\b.*\s/etc/waitroom/`)
	mkdir := regexp.MustCompile(`install -d (?:-m 0750 )?/etc/waitroom\b`)
	for _, src := range sources {
		made, steps := false, 0
		for n, line := range strings.Split(string(readFile(t, src)), "\n") {
			switch {
			case mkdir.MatchString(line):
				made = true
			case writes.MatchString(line):
				steps++
				if !made {
					t.Errorf("%s:%d writes into /etc/waitroom before it is made: %s", src, n+1, strings.TrimSpace(line))
				}
			}
		}
		if steps == 0 {
			t.Errorf("%s has no install steps", src)
		}
	}
}

// The blue-green script drives systemd units when SYSTEMD_UNIT is set: it
// enables and starts waitroom@green, waits for it, switches nginx, then
// disables and stops waitroom@blue (waiting for it to exit) and the
// single-instance unit. systemctl is a stand-in that starts the colour as
// waitroom@.service would: the shared env file, then the colour's.
func TestBlueGreenWithSystemdUnits(t *testing.T) {
	needNginx(t)
	needTool(t, "curl", "apt-get install curl")
	_, prefix := testenv.Redis(t)
	s := &stack{t: t, dir: t.TempDir(), prefix: prefix}
	s.startTicketd()
	s.gatewayEnv(testenv.RedisURL())
	etc := filepath.Join(s.dir, "etc")
	must(t, os.MkdirAll(etc, 0o755))
	must(t, os.Rename(s.writeEnvFile(), filepath.Join(etc, "waitroom.env")))
	bluePub, blueAdm, greenPub, greenAdm := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	for colour, ports := range map[string][2]int{"blue": {bluePub, blueAdm}, "green": {greenPub, greenAdm}} {
		must(t, os.WriteFile(filepath.Join(etc, colour+".env"), []byte(fmt.Sprintf(
			"WAITROOM_LISTEN=127.0.0.1:%d\nWAITROOM_ADMIN_LISTEN=127.0.0.1:%d\n", ports[0], ports[1])), 0o644))
	}
	systemctl := filepath.Join(s.dir, "systemctl")
	must(t, os.WriteFile(systemctl, []byte(`#!/usr/bin/env bash
# systemctl stand-in: "enable --now UNIT" starts the colour as waitroom@.service
# would, "disable --now UNIT" stops it and waits for it to exit.
set -euo pipefail
echo "$*" >>"$ETC/systemctl.log"
unit=${3%.service}; colour=${unit#*@}
[ "$unit" = "$colour" ] && colour=single
case "$1 $2" in
  "enable --now")
    ( set -a; . "$ETC/waitroom.env"; . "$ETC/$colour.env"; set +a
      exec setsid "$WAITROOM_BIN" >>"$ETC/$colour.log" 2>&1 ) &
    echo $! >"$ETC/$colour.pid" ;;
  "disable --now")
    [ -f "$ETC/$colour.pid" ] || exit 0
    pid=$(cat "$ETC/$colour.pid"); rm "$ETC/$colour.pid"
    kill -TERM "$pid" 2>/dev/null || exit 0
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done ;;
  *) echo "unexpected: systemctl $*" >&2; exit 1 ;;
esac
`), 0o755))
	t.Cleanup(func() {
		for _, c := range []string{"blue", "green"} {
			if b, err := os.ReadFile(filepath.Join(etc, c+".pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	env := append(os.Environ(),
		"ETC="+etc,
		"WAITROOM_BIN="+binary(t, "waitroom"),
		"SYSTEMD_UNIT=waitroom",
		"SYSTEMCTL="+systemctl,
		"RUN_DIR="+filepath.Join(s.dir, "run"),
		fmt.Sprintf("BLUE=%d:%d", bluePub, blueAdm),
		fmt.Sprintf("GREEN=%d:%d", greenPub, greenAdm),
	)
	blue := exec.Command(systemctl, "enable", "--now", "waitroom@blue.service")
	blue.Env = env
	if out, err := blue.CombinedOutput(); err != nil {
		t.Fatalf("start blue: %v %s", err, out)
	}
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", blueAdm))
	bluePid := strings.TrimSpace(string(readFile(t, filepath.Join(etc, "blue.pid"))))
	s.gwAdmin = fmt.Sprintf("http://127.0.0.1:%d", blueAdm)
	s.startNginx(bluePub)

	script := exec.Command("bash", "bluegreen.sh")
	script.Env = append(env, "UPSTREAM_FILE="+s.upFile,
		fmt.Sprintf("NGINX_RELOAD=%s -s reload -c %s -p %s", nginxBin, s.conf, s.dir))
	out, err := script.CombinedOutput()
	t.Logf("bluegreen.sh:\n%s", out)
	if err != nil {
		t.Fatalf("script failed: %v\ngreen log: %s", err, readFile(t, filepath.Join(etc, "green.log")))
	}
	calls := strings.TrimSpace(string(readFile(t, filepath.Join(etc, "systemctl.log"))))
	want := strings.Join([]string{
		"enable --now waitroom@blue.service", // the test's own start of blue
		"enable --now waitroom@green.service",
		"disable --now waitroom@blue.service",
		"disable --now waitroom.service",
	}, "\n")
	if calls != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", calls, want)
	}
	if pid, _ := strconv.Atoi(bluePid); syscall.Kill(pid, 0) == nil {
		t.Error("blue still runs after the script")
	}
	if up := string(readFile(t, s.upFile)); !strings.Contains(up, fmt.Sprintf(":%d", greenPub)) {
		t.Errorf("upstream after the swap: %s", up)
	}
	v := s.newVisitor()
	if res, _ := v.mustDo(http.MethodGet, s.https+"/events/1", "text/html", ""); res.StatusCode != http.StatusOK {
		t.Errorf("through nginx after the swap: %d", res.StatusCode)
	}
}

// The blue-green script passes shellcheck.
func TestShellScriptsLint(t *testing.T) {
	sc := needTool(t, "shellcheck", "apt-get install shellcheck")
	if out, err := exec.Command(sc, "bluegreen.sh").CombinedOutput(); err != nil {
		t.Fatalf("shellcheck bluegreen.sh: %v\n%s", err, out)
	}
}
