//go:build unix

package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// Ctrl-C in a terminal sends SIGINT to the whole foreground process group:
// make and the demo alike. `make demo` then ends without an error line
// ("make: *** [Makefile:…: demo] Error 1" came from go run's exit code
// 1): the demo says it stopped and exits 0, and make, which re-raises the
// SIGINT it got itself, dies of it silently (a shell shows exit 130).
func TestMakeDemoCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo through make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		if testenv.InCI() {
			t.Fatal("make not found")
		}
		t.Skip("make not found")
	}
	cmd := exec.Command("make", "-C", "../..", "demo", "BIN="+t.TempDir())
	cmd.Env = demoEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground group
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { _ = cmd.Wait(); done <- cmd.ProcessState.ExitCode() }()
	waitForBanner(t, &out, done)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("make demo did not stop within 30 s of Ctrl-C:\n%s", out.String())
	}
	got := out.String()
	if strings.Contains(got, "Error") || strings.Contains(got, "Interrupt") || !strings.Contains(got, "waitroom demo stopped.") {
		t.Errorf("make demo after Ctrl-C printed:\n%s", got)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !(ws.Exited() && ws.ExitStatus() == 0) && !(ws.Signaled() && ws.Signal() == syscall.SIGINT) {
		t.Errorf("make ended with %v, want exit 0 or death by its own SIGINT", cmd.ProcessState)
	}
}
