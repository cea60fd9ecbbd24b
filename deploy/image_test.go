package deploy_test

// The container image cannot be built here (no container engine), so its
// parts are checked one by one: the Dockerfile's go build runs (the harness
// builds every binary the other tests start with it) and makes static
// binaries; the stages, user and entrypoint are what the manifests and the
// compose file expect; `make image` and the release workflow build that
// Dockerfile under the image name the manifests run; actionlint checks the
// workflows.

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/waitroom/waitroom/internal/testenv"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // FROM, RUN, ... (upper case)
	args string
}

func parseDockerfile(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(src, "\n") {
		trim := strings.TrimSpace(line)
		if cur.Len() == 0 && (trim == "" || strings.HasPrefix(trim, "#")) {
			continue
		}
		if strings.HasSuffix(trim, "\\") {
			cur.WriteString(strings.TrimSuffix(trim, "\\") + " ")
			continue
		}
		cur.WriteString(trim)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// dockerfileGoBuild returns the go build command of deploy/Dockerfile's
// RUN instruction, without the RUN flags (cache mounts), as a shell line
// that reads $TARGETOS and $TARGETARCH and writes into /out/.
func dockerfileGoBuild() (string, error) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		return "", err
	}
	for _, in := range parseDockerfile(string(src)) {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		fields := strings.Fields(in.args)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			fields = fields[1:]
		}
		line := strings.Join(fields, " ")
		if !strings.Contains(line, " -o /out/ ") {
			return "", fmt.Errorf("deploy/Dockerfile's go build no longer writes to /out/: %s", line)
		}
		return line, nil
	}
	return "", errors.New("deploy/Dockerfile has no RUN ... go build")
}

// dockerfileBuild is deploy/Dockerfile's go build for this machine's
// platform, as testenv.BuildBinaries runs it: the line's variable
// assignments become the environment ($TARGETOS and $TARGETARCH read as
// GOOS and GOARCH here), its flags the flags, and what follows -o /out/ the
// packages, relative to the module root as in the image's /src. A line
// that is more than one plain go build is refused rather than half run.
func dockerfileBuild() (testenv.Build, error) {
	line, err := dockerfileGoBuild()
	if err != nil {
		return testenv.Build{}, err
	}
	words, err := shellWords(line)
	if err != nil {
		return testenv.Build{}, fmt.Errorf("deploy/Dockerfile's go build: %v: %s", err, line)
	}
	var b testenv.Build
	for len(words) > 0 && strings.Contains(words[0], "=") {
		b.Env, words = append(b.Env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		return b, fmt.Errorf("deploy/Dockerfile's RUN is not VAR=value... go build ...: %s", line)
	}
	for words = words[2:]; len(words) > 0 && words[0] != "-o"; words = words[1:] {
		b.Flags = append(b.Flags, words[0])
	}
	if len(words) < 3 || words[1] != "/out/" {
		return b, fmt.Errorf("deploy/Dockerfile's go build names no packages after -o /out/: %s", line)
	}
	b.Packages = words[2:]
	return b, nil
}

// shellWords splits a shell line into words as sh would for the plain
// commands a Dockerfile's go build uses: quotes group, $TARGETOS and
// $TARGETARCH expand to this machine's platform. Anything else a shell
// would do (other variables, substitutions, operators, escapes) is an
// error, not a guess.
func shellWords(line string) ([]string, error) {
	platform := map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH}
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, c := range line {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == '\'' && c == '$':
			return nil, errors.New("$ inside single quotes")
		case quote != 0:
			cur.WriteRune(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case strings.ContainsRune("\\`;&|<>()", c):
			return nil, fmt.Errorf("%q is beyond a plain command", c)
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unclosed quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	for i, w := range words {
		var unknown []string
		words[i] = os.Expand(w, func(v string) string {
			if val, ok := platform[v]; ok {
				return val
			}
			unknown = append(unknown, v)
			return ""
		})
		if len(unknown) > 0 {
			return nil, fmt.Errorf("variable %v is not set in the build stage", unknown)
		}
	}
	return words, nil
}

// The image as the deployments use it: Go of at least go.mod's version,
// cross-compiled on the build platform for the target one; static binaries
// (checked on the ones the Dockerfile's go build makes) on a distroless
// static base; every binary the manifests, the compose file and the units
// start is built into /usr/local/bin; non-root; the gateway as entrypoint.
func TestDockerfile(t *testing.T) {
	src := string(readFile(t, "Dockerfile"))
	ins := parseDockerfile(src)
	var froms []string
	var user, entrypoint, copyOut string
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				copyOut = in.args
			}
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a build stage and a runtime stage, have FROM %q", froms)
	}
	m := regexp.MustCompile(`^--platform=\$BUILDPLATFORM golang:(\d+\.\d+)\S* AS build$`).FindStringSubmatch(froms[0])
	if m == nil {
		t.Fatalf("build stage %q: want FROM --platform=$BUILDPLATFORM golang:<version> AS build (cross-compiling, no emulation)", froms[0])
	}
	goMod := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(readFile(t, "../go.mod")))
	if goMod == nil || !versionAtLeast(m[1], goMod[1]) {
		t.Errorf("build stage Go %s is older than go.mod's %v", m[1], goMod)
	}
	if !strings.HasPrefix(froms[1], "gcr.io/distroless/static") || !strings.Contains(froms[1], ":nonroot") {
		t.Errorf("runtime stage %q: want distroless static, nonroot", froms[1])
	}
	if user != "nonroot:nonroot" {
		t.Errorf("USER %q, want nonroot:nonroot (uid %d, as the manifests' runAsUser)", user, distrolessNonroot)
	}
	if entrypoint != `["/usr/local/bin/waitroom"]` || copyOut != "--from=build /out/ /usr/local/bin/" {
		t.Errorf("ENTRYPOINT %s, COPY %s: want the binaries in /usr/local/bin and the gateway as entrypoint", entrypoint, copyOut)
	}

	build, err := dockerfileGoBuild()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build %q lacks %s", build, want)
		}
	}
	// Every binary something starts from the image is built.
	for _, file := range []string{"kubernetes/ticketd.yaml", "compose/compose.yaml"} {
		for _, bin := range regexp.MustCompile(`/usr/local/bin/(\w+)`).FindAllStringSubmatch(string(readFile(t, file)), -1) {
			if !strings.Contains(build, "./cmd/"+bin[1]) {
				t.Errorf("%s runs /usr/local/bin/%s, which the Dockerfile does not build", file, bin[1])
			}
		}
	}
	for _, name := range []string{"waitroom", "ticketd", "surge"} {
		if !strings.Contains(build, "./cmd/"+name) {
			t.Errorf("the image lacks %s", name)
			continue
		}
		path := binary(t, name)
		if err := isStatic(path); err != nil {
			t.Errorf("%s: %v: it would not start on distroless/static", name, err)
		}
	}

	ignore := string(readFile(t, "Dockerfile.dockerignore"))
	for _, secret := range []string{"**/.env", "**/*.pem", ".git"} {
		if !strings.Contains(ignore, secret+"\n") {
			t.Errorf("Dockerfile.dockerignore lets %s into the build context", secret)
		}
	}
}

// The Dockerfile's build line splits as sh splits it, or not at all: the
// harness must build exactly what the image builds, never a guess at it.
func TestShellWords(t *testing.T) {
	platform := "GOOS=" + runtime.GOOS + " GOARCH=" + runtime.GOARCH
	for _, tt := range []struct {
		line, want string // want: words joined by "|", or "error"
	}{
		{`CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/a`,
			strings.ReplaceAll("CGO_ENABLED=0 "+platform, " ", "|") + "|go|build|-trimpath|-ldflags=-s -w|-o|/out/|./cmd/a"},
		{`go  build	'-ldflags=-X a.b=c d'`, "go|build|-ldflags=-X a.b=c d"},
		{`GOOS=$HOME go build`, "error"},
		{`go build '$TARGETOS'`, "error"},
		{`go build -o /out/ ./... && rm -rf /`, "error"},
		{`go build $(echo x)`, "error"},
		{`go build -ldflags="-s`, "error"},
		{`go build a\ b`, "error"},
	} {
		words, err := shellWords(tt.line)
		got := strings.Join(words, "|")
		if err != nil {
			got = "error"
		}
		if got != tt.want {
			t.Errorf("shellWords(%q) = %q (%v), want %q", tt.line, got, err, tt.want)
		}
	}
}

func versionAtLeast(have, want string) bool {
	var hMaj, hMin, wMaj, wMin int
	fmt.Sscanf(have, "%d.%d", &hMaj, &hMin)
	fmt.Sscanf(want, "%d.%d", &wMaj, &wMin)
	return hMaj > wMaj || hMaj == wMaj && hMin >= wMin
}

// isStatic reports why an ELF binary needs a dynamic loader, if it does.
func isStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("asks for a dynamic loader (PT_INTERP)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("links %v", libs)
	}
	return nil
}

// `make image` builds deploy/Dockerfile from the repository root under the
// image name the manifests run; IMAGE and TAG change it.
func TestMakeImage(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "docker build -f deploy/Dockerfile -t " + image + ":dev ."},
		{[]string{"TAG=1.2.3"}, "docker build -f deploy/Dockerfile -t " + image + ":1.2.3 ."},
		{[]string{"IMAGE=registry.example.com/wr", "TAG=x"}, "docker build -f deploy/Dockerfile -t registry.example.com/wr:x ."},
	} {
		cmd := exec.Command("make", append([]string{"--no-print-directory", "-n", "image"}, tt.args...)...)
		cmd.Dir = ".."
		// Under make test this is a make inside a make: keep the outer one's
		// flags and variables out.
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); !slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "IMAGE", "TAG"}, k) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != tt.want {
			t.Errorf("make -n image %v: %q (%v), want %q", tt.args, out, err, tt.want)
		}
	}
}

// The release workflow builds deploy/Dockerfile for amd64 and arm64 and
// pushes it, on a v* tag only, as ghcr.io/<this repository> — the image the
// manifests run — with the token's packages: write.
func TestImageWorkflow(t *testing.T) {
	var wf struct {
		On struct {
			Push struct {
				Tags []string `yaml:"tags"`
			} `yaml:"push"`
		} `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				ID   string            `yaml:"id"`
				If   string            `yaml:"if"`
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(readFile(t, "../.github/workflows/image.yml"), &wf); err != nil {
		t.Fatal(err)
	}
	if len(wf.On.Push.Tags) != 1 || wf.On.Push.Tags[0] != "v*" {
		t.Errorf("push tags %v, want [v*]", wf.On.Push.Tags)
	}
	if wf.Permissions["packages"] != "write" {
		t.Errorf("permissions %v: pushing to ghcr.io needs packages: write", wf.Permissions)
	}
	module := regexp.MustCompile(`(?m)^module github\.com/(\S+)$`).FindStringSubmatch(string(readFile(t, "../go.mod")))
	if module == nil || "ghcr.io/"+module[1] != image {
		t.Fatalf("go.mod module %v: ghcr.io/${{ github.repository }} would not be %s", module, image)
	}
	steps := map[string]map[string]string{}
	for _, j := range wf.Jobs {
		for _, s := range j.Steps {
			action, _, _ := strings.Cut(s.Uses, "@")
			steps[action] = s.With
			if action == "docker/login-action" && s.If != "github.event_name == 'push'" {
				t.Errorf("login runs on %q, want pushes (tags) only", s.If)
			}
		}
	}
	if got := steps["docker/metadata-action"]["images"]; got != "ghcr.io/${{ github.repository }}" {
		t.Errorf("metadata-action images %q", got)
	}
	b := steps["docker/build-push-action"]
	for k, want := range map[string]string{
		"context":   ".",
		"file":      "deploy/Dockerfile",
		"platforms": "linux/amd64,linux/arm64",
		"push":      "${{ github.event_name == 'push' }}",
		"tags":      "${{ steps.meta.outputs.tags }}",
	} {
		if b[k] != want {
			t.Errorf("build-push-action %s = %q, want %q", k, b[k], want)
		}
	}
	if steps["docker/login-action"]["registry"] != "ghcr.io" || steps["docker/login-action"]["password"] != "${{ secrets.GITHUB_TOKEN }}" {
		t.Errorf("login %v: want ghcr.io with GITHUB_TOKEN", steps["docker/login-action"])
	}
}

// actionlintVersion is the linter the workflows are checked with; it is
// built from source through the Go module proxy, like any dependency.
const actionlintVersion = "v1.7.12"

// Every workflow passes actionlint: syntax, expressions, the inputs of the
// actions used (a misspelt input of build-push-action is silently ignored
// by GitHub), and shellcheck on run: steps when shellcheck is installed.
func TestWorkflowsLint(t *testing.T) {
	bin := t.TempDir()
	install := exec.Command("go", "install", "github.com/rhysd/actionlint/cmd/actionlint@"+actionlintVersion)
	install.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
	if out, err := install.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot build actionlint %s (needs the Go module proxy): %v\n%s", actionlintVersion, err, out)
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	if len(files) < 2 {
		t.Fatalf("workflows: %v", files)
	}
	for i, f := range files {
		files[i] = strings.TrimPrefix(f, "../")
	}
	lint := exec.Command(filepath.Join(bin, "actionlint"), append([]string{"-no-color"}, files...)...)
	lint.Dir = ".."
	if out, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}
