package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Build is a go build of the commands a test starts as real binaries.
type Build struct {
	// Packages are the commands to build: import paths, or paths relative
	// to the module root ("./cmd/waitroom").
	Packages []string
	// Flags go to go build before -o, e.g. "-trimpath", "-ldflags=-s -w".
	Flags []string
	// Env is added to go build's environment, e.g. "CGO_ENABLED=0".
	Env []string
}

// builds holds every Build of the test process, by its key: building takes
// seconds, and the tests of one package usually want the same binaries.
var builds struct {
	mu   sync.Mutex
	done map[string]*built
	dirs []string
}

type built struct {
	once sync.Once
	dir  string
	err  error
}

// BuildBinaries builds b once per test process (a later call with the same
// Build returns the same directory at once) and returns the directory
// holding one binary per package, named after the package's last path
// element. go build runs in the module root, so relative package paths
// mean the same from every package's tests. A failed build fails the test
// with go build's output. Call RemoveBinaries from TestMain.
func BuildBinaries(t testing.TB, b Build) string {
	t.Helper()
	key := fmt.Sprintf("%q %q %q", b.Packages, b.Flags, b.Env)
	builds.mu.Lock()
	if builds.done == nil {
		builds.done = map[string]*built{}
	}
	bb := builds.done[key]
	if bb == nil {
		bb = &built{}
		builds.done[key] = bb
	}
	builds.mu.Unlock()
	bb.once.Do(func() { bb.dir, bb.err = goBuild(b) })
	if bb.err != nil {
		t.Fatal(bb.err)
	}
	return bb.dir
}

// RemoveBinaries deletes every directory BuildBinaries made.
func RemoveBinaries() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	for _, d := range builds.dirs {
		_ = os.RemoveAll(d)
	}
	builds.dirs, builds.done = nil, nil
}

func goBuild(b Build) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "waitroom-bin-")
	if err != nil {
		return "", err
	}
	builds.mu.Lock()
	builds.dirs = append(builds.dirs, dir)
	builds.mu.Unlock()
	args := append(append([]string{"build"}, b.Flags...), "-o", dir+string(filepath.Separator))
	cmd := exec.Command("go", append(args, b.Packages...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), b.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s go %s: %v\n%s", strings.Join(b.Env, " "), strings.Join(cmd.Args[1:], " "), err, out)
	}
	return dir, nil
}

// moduleRoot is the directory of the go.mod the test runs under.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}
