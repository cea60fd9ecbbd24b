package deploy_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/internal/testenv"
)

// A blue-green swap with deploy/bluegreen.sh while visitors wait and an
// admitted visitor keeps clicking: every waiting socket is closed with 1001
// (going away), reconnects through nginx to the green gateway and finds the
// same place in line; not one of the admitted visitor's requests fails; the
// blue gateway is gone and nginx sends everything to green.
func TestBlueGreenSwapKeepsEveryPlace(t *testing.T) {
	needNginx(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the script needs curl")
	}
	_, prefix := testenv.Redis(t)
	s := &stack{t: t, dir: t.TempDir(), prefix: prefix}
	s.startTicketd()
	s.gatewayEnv(testenv.RedisURL())
	envFile := s.writeEnvFile()
	runDir := filepath.Join(s.dir, "run")
	_ = os.MkdirAll(runDir, 0o755)
	bluePub, blueAdm, greenPub, greenAdm := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	blue := s.startGateway("blue", bluePub, blueAdm)
	blueExited := make(chan struct{})
	go func() {
		for blue.Process.Signal(syscall.Signal(0)) == nil {
			time.Sleep(50 * time.Millisecond)
		}
		close(blueExited)
	}()
	// As if blue had been started by an earlier run of the script.
	_ = os.WriteFile(filepath.Join(runDir, "blue.pid"), []byte(strconv.Itoa(blue.Process.Pid)), 0o644)
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(runDir, "green.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	s.startNginx(bluePub)

	// One visitor admitted before the swap; four waiting behind.
	shopper := s.newVisitor()
	shopper.mustDo(http.MethodGet, s.https+"/events/1", "text/html", "")
	s.admit(1)
	if res, _ := shopper.mustDo(http.MethodGet, s.https+"/events/1", "text/html", ""); res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "" {
		t.Fatalf("admitted visitor: %d %q", res.StatusCode, res.Header.Get("Waitroom-State"))
	}

	type waiter struct {
		v         *visitor
		ws        *websocket.Conn
		before    status
		after     status
		closeCode int
		err       error
	}
	waiters := make([]*waiter, 4)
	for i := range waiters {
		w := &waiter{v: s.newVisitor()}
		w.v.mustDo(http.MethodGet, s.https+"/events/1", "text/html", "")
		ws, err := w.v.dial("default")
		if err != nil {
			t.Fatal(err)
		}
		w.ws = ws
		if w.before, err = readStatus(ws, 5*time.Second); err != nil || w.before.State != "queued" {
			t.Fatalf("waiter %d: %+v %v", i, w.before, err)
		}
		waiters[i] = w
	}

	// The admitted visitor keeps clicking through the swap.
	var stop atomic.Bool
	var clicks, failures atomic.Int64
	var firstFailure atomic.Value
	var loop sync.WaitGroup
	loop.Add(1)
	go func() {
		defer loop.Done()
		for !stop.Load() {
			res, body, err := shopper.do(http.MethodGet, s.https+"/api/events/1", "application/json", "")
			clicks.Add(1)
			if err != nil || res.StatusCode != http.StatusOK {
				failures.Add(1)
				code := 0
				if res != nil {
					code = res.StatusCode
				}
				firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v %.100s", code, err, body))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	// Each waiter reads until its socket closes, then reconnects.
	var socks sync.WaitGroup
	for _, w := range waiters {
		socks.Add(1)
		go func() {
			defer socks.Done()
			for {
				if _, err := readStatus(w.ws, 60*time.Second); err != nil {
					var ce *websocket.CloseError
					if errors.As(err, &ce) {
						w.closeCode = ce.Code
					}
					break
				}
			}
			w.ws.Close()
			deadline := time.Now().Add(20 * time.Second)
			for {
				ws, err := w.v.dial("default")
				if err == nil {
					w.after, w.err = readStatus(ws, 5*time.Second)
					ws.Close()
					return
				}
				if time.Now().After(deadline) {
					w.err = err
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	time.Sleep(300 * time.Millisecond) // some clicks on blue first
	script := exec.Command("bash", "bluegreen.sh")
	script.Env = append(os.Environ(),
		"UPSTREAM_FILE="+s.upFile,
		fmt.Sprintf("NGINX_RELOAD=%s -s reload -c %s -p %s", nginxBin, s.conf, s.dir),
		"WAITROOM_BIN="+binary(t, "waitroom"),
		"WAITROOM_ENV_FILE="+envFile,
		"RUN_DIR="+runDir,
		"HOST=127.0.0.1",
		fmt.Sprintf("BLUE=%d:%d", bluePub, blueAdm),
		fmt.Sprintf("GREEN=%d:%d", greenPub, greenAdm),
	)
	out, err := script.CombinedOutput()
	t.Logf("bluegreen.sh:\n%s", out)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(runDir, "green.log"))
		t.Fatalf("script failed: %v\ngreen log: %s", err, tail(b, 2000))
	}
	select {
	case <-blueExited:
	case <-time.After(5 * time.Second):
		t.Error("blue still runs after the script finished")
	}
	socks.Wait()
	time.Sleep(300 * time.Millisecond) // some clicks on green too
	stop.Store(true)
	loop.Wait()

	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d admitted requests failed during the swap; first: %v", f, clicks.Load(), firstFailure.Load())
	} else {
		t.Logf("%d admitted requests, none failed", clicks.Load())
	}
	for i, w := range waiters {
		if w.closeCode != websocket.CloseGoingAway {
			t.Errorf("waiter %d: socket closed with %d, want 1001", i, w.closeCode)
		}
		if w.err != nil || w.after.State != "queued" || w.after.Position != w.before.Position {
			t.Errorf("waiter %d: before the swap %+v, after reconnecting %+v (%v)", i, w.before, w.after, w.err)
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(s.dir, "nginx-error.log"))
		t.Logf("nginx error log:\n%s", tail(b, 3000))
	}
	if up, _ := os.ReadFile(s.upFile); !strings.Contains(string(up), fmt.Sprintf(":%d", greenPub)) {
		t.Errorf("upstream file after the swap: %s", up)
	}
	// Served by green now: blue's port is closed and nginx still answers.
	if res, _ := shopper.mustDo(http.MethodGet, s.https+"/api/events/1", "application/json", ""); res.StatusCode != http.StatusOK {
		t.Errorf("after the swap: %d", res.StatusCode)
	}
}
