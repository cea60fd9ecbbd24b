package testenv

import (
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of the headless browser that the browser tests
// drive (WAITROOM_CHROMIUM, else Debian's chromium). A missing browser skips
// the test, or fails it under CI; -short skips browser tests outside CI.
func Chromium(t testing.TB) string {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, p := range []string{os.Getenv("WAITROOM_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "chromium not found: apt-get install chromium (or set WAITROOM_CHROMIUM)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ChromiumOptions are the allocator options of a headless Chromium at path
// with its profile in userDataDir. Background networking, component updates
// and sync are off: the test machines have no network beyond loopback, and
// Chromium's own connection attempts would only slow it down.
func ChromiumOptions(path, userDataDir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userDataDir),
	)
}
