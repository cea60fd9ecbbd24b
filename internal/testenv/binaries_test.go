package testenv_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/internal/testenv"
)

// The same Build is built once and gives the same directory; flags and
// environment reach go build; another Build gets a directory of its own.
func TestBuildBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	plain := testenv.Build{Packages: []string{"./internal/testenv/testdata/hello"}}
	dir := testenv.BuildBinaries(t, plain)
	if again := testenv.BuildBinaries(t, plain); again != dir {
		t.Fatalf("the same Build twice: %s, then %s", dir, again)
	}
	if out := run(t, filepath.Join(dir, "hello")); out != "hello" {
		t.Fatalf("plain build prints %q", out)
	}
	flagged := testenv.BuildBinaries(t, testenv.Build{
		Packages: plain.Packages,
		Flags:    []string{"-trimpath", "-ldflags=-X main.greeting=flagged"},
		Env:      []string{"CGO_ENABLED=0"},
	})
	if flagged == dir {
		t.Fatal("a different Build shared the directory")
	}
	if out := run(t, filepath.Join(flagged, "hello")); out != "flagged" {
		t.Fatalf("build with -ldflags prints %q", out)
	}
	if out := run(t, "go", "version", "-m", filepath.Join(flagged, "hello")); !strings.Contains(out, "CGO_ENABLED=0") || !strings.Contains(out, "-trimpath=true") {
		t.Fatalf("build settings lack CGO_ENABLED=0 or -trimpath:\n%s", out)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return strings.TrimSpace(string(out))
}
