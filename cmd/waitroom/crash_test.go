package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/internal/testenv"
)

// instance is one waitroom process of a test.
type instance struct {
	cmd       *exec.Cmd
	pub, adm  string
	logOutput *lockedBuffer
}

func startInstance(t *testing.T, bin string, env ...string) *instance {
	t.Helper()
	pub, adm := testenv.FreePort(t), testenv.FreePort(t)
	in := &instance{pub: fmt.Sprintf("127.0.0.1:%d", pub), adm: fmt.Sprintf("127.0.0.1:%d", adm), logOutput: &lockedBuffer{}}
	in.cmd = exec.Command(bin)
	in.cmd.Env = append(os.Environ(), append(env, "WAITROOM_LISTEN="+in.pub, "WAITROOM_ADMIN_LISTEN="+in.adm)...)
	in.cmd.Stdout, in.cmd.Stderr = in.logOutput, in.logOutput
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.cmd.Process.Kill(); _ = in.cmd.Wait() })
	testenv.WaitFor(t, 20*time.Second, "waitroom to be ready on "+in.adm, func() bool {
		res, err := http.Get("http://" + in.adm + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return in
}

// socketStatus reads the first status a visitor's socket on in pushes.
func socketStatus(t *testing.T, in *instance, jar http.CookieJar) (state string, position int64) {
	t.Helper()
	c := openSocket(t, in, jar)
	defer c.Close()
	return firstStatus(t, c)
}

// openSocket opens a visitor's socket on in, as the queue page does.
func openSocket(t *testing.T, in *instance, jar http.CookieJar) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Jar: jar, HandshakeTimeout: 5 * time.Second}
	h := http.Header{}
	h.Set("Origin", "http://"+in.pub)
	c, _, err := d.Dial("ws://"+in.pub+"/_waitroom/ws?room=default", h)
	if err != nil {
		t.Fatalf("socket on %s: %v", in.pub, err)
	}
	return c
}

func firstStatus(t *testing.T, c *websocket.Conn) (state string, position int64) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	var s struct {
		State    string `json:"state"`
		Position int64  `json:"position"`
	}
	if err := json.Unmarshal(msg, &s); err != nil {
		t.Fatalf("push %q: %v", msg, err)
	}
	return s.State, s.Position
}

// A gateway process killed with SIGKILL while a thousand visitors wait on
// their open sockets: every socket drops, and since the line lives in
// Redis, when each visitor's page reconnects to the other instance it is
// shown its own place, in the order they came, and that instance admits
// them in that order.
func TestInstanceKilledAnotherServesOn(t *testing.T) {
	bin := buildWaitroom(t)
	srv := testenv.StartRedis(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "the shop") }))
	t.Cleanup(origin.Close)
	env := []string{
		"WAITROOM_ORIGIN=" + origin.URL, "WAITROOM_REDIS_URL=redis://" + srv.Addr + "/0",
		"WAITROOM_COOKIE_SECRET=" + strings.Repeat("c", 40), "WAITROOM_PASS_SECRET=" + strings.Repeat("p", 40),
		"WAITROOM_ADMIN_TOKEN=crash-admin", "WAITROOM_ADMIT_PER_MINUTE=0", "WAITROOM_MAX_ACTIVE=100",
		"WAITROOM_LOG_LEVEL=error",
		// one address plays a thousand visitors: no per-client limits
		"WAITROOM_CLIENT_PLACES_PER_MINUTE=0", "WAITROOM_CLIENT_PLACES_HELD=0",
	}
	a, b := startInstance(t, bin, env...), startInstance(t, bin, env...)

	const visitors = 1000
	jars := make([]http.CookieJar, visitors)
	open := make([]*websocket.Conn, visitors)
	for i := range jars {
		jars[i], _ = cookiejar.New(nil)
		cl := &http.Client{Jar: jars[i]}
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.pub+"/buy", nil)
		req.Header.Set("Accept", "text/html")
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Waitroom-State") != "queued" {
			t.Fatalf("visitor %d on the first instance: %d %q", i, res.StatusCode, res.Header.Get("Waitroom-State"))
		}
		open[i] = openSocket(t, a, jars[i])
		t.Cleanup(func() { _ = open[i].Close() })
		if st, pos := firstStatus(t, open[i]); st != "queued" || pos != int64(i+1) {
			t.Fatalf("visitor %d's socket on the first instance: %s at %d", i, st, pos)
		}
	}

	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait()
	for i, c := range open {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
					t.Fatalf("visitor %d's socket still open 5 s after its instance was killed", i)
				}
				break
			}
		}
	}
	for i, jar := range jars {
		if st, pos := socketStatus(t, b, jar); st != "queued" || pos != int64(i+1) {
			t.Fatalf("visitor %d reconnected to the other instance: %s at %d, want queued at %d", i, st, pos, i+1)
		}
	}

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+b.adm+"/admin/rooms/default/admit", strings.NewReader(`{"count":3}`))
	req.Header.Set("Authorization", "Bearer crash-admin")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admit on the instance left: %d", res.StatusCode)
	}
	for i, jar := range jars[:5] {
		st, pos := socketStatus(t, b, jar)
		if i < 3 && st != "admitted" || i >= 3 && (st != "queued" || pos != int64(i-2)) {
			t.Fatalf("visitor %d after three admissions: %s at %d", i, st, pos)
		}
	}
}
