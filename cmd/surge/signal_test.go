package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// Ctrl-C stops a run cleanly: surge prints the report of what happened so
// far, marked as stopped, and exits 0 — it does not hang on visitors that
// are still waiting.
func TestInterruptPrintsReport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(testenv.BuildBinaries(t, testenv.Build{Packages: []string{"./cmd/surge"}}), "surge")
	// A gateway that queues everyone and never admits anyone.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_waitroom/api/status" {
			fmt.Fprint(w, `{"room":"default","state":"queued","position":1,"ticket":1}`)
			return
		}
		w.Header().Set("Waitroom-State", "queued")
	}))
	defer srv.Close()
	cmd := exec.Command(bin, "run", "--target", srv.URL, "--event", "1", "--visitors", "20", "--ws-share", "0", "--duration", "1m", "--quiet")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\nstderr: %s", err, errb.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("surge did not stop within 15 s of Ctrl-C")
	}
	if !strings.Contains(out.String(), "(stopped)") || !strings.Contains(out.String(), "still waiting") {
		t.Fatalf("report after Ctrl-C:\n%s", out.String())
	}
}

// TestMain removes the binary built for TestInterruptPrintsReport.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}
