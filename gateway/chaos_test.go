package gateway_test

import (
	"encoding/json"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// Redis with AOF (appendfsync everysec) killed and restarted: everything
// written more than a second before the kill is back, so the line keeps its
// epoch and nobody notices a loss. What the visitors notice: every socket
// shows its own place again, in the order they came, none twice, and
// admission goes on in that order.
func TestRedisAOFRestartKeepsTheLine(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "everysec", "--dir", t.TempDir())
	rdb := srv.Client(failFast())
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: []queue.Room{room("aof", 0, 100, "/aof/*")}})
	const sockets = 20
	var listeners []*listener
	for range sockets {
		_, l := waitingSocket(t, r, "aof", "/aof/x")
		listeners = append(listeners, l)
	}
	showsOwnPlace := func(after time.Time) bool { return showOwnPlaces(listeners, after) }
	testenv.WaitFor(t, 5*time.Second, "every socket to show its place", func() bool { return showsOwnPlace(time.Time{}) })
	_, before := r.admin(t, http.MethodGet, "/admin/rooms/aof", "")

	time.Sleep(1500 * time.Millisecond) // past one everysec fsync
	srv.Kill()
	srv.Restart()
	back := time.Now()
	testenv.WaitFor(t, 5*time.Second, "every socket to show its own place again", func() bool { return showsOwnPlace(back) })
	_, after := r.admin(t, http.MethodGet, "/admin/rooms/aof", "")
	if epochOf(t, before) != epochOf(t, after) {
		t.Fatalf("the line's epoch changed over an AOF restart:\n%s\n%s", before, after)
	}

	// Admission goes on, in order.
	if res, body := r.admin(t, http.MethodPost, "/admin/rooms/aof/admit", `{"count":5}`); res.StatusCode != http.StatusOK {
		t.Fatalf("admit after the restart: %d %s", res.StatusCode, body)
	}
	testenv.WaitFor(t, 5*time.Second, "the first five admitted, the rest moved up", func() bool {
		for i, l := range listeners {
			h, ok := l.last()
			if !ok {
				return false
			}
			if i < 5 && h.st.State != "admitted" || i >= 5 && (h.st.State != "queued" || h.st.Position != int64(i-4)) {
				return false
			}
		}
		return true
	})
}

// showOwnPlaces reports whether every socket's last push, heard after
// after, shows it queued at its own place: the i-th to come at i+1 (so no
// two at the same).
func showOwnPlaces(listeners []*listener, after time.Time) bool {
	for i, l := range listeners {
		h, ok := l.last()
		if !ok || h.at.Before(after) || h.st.State != "queued" || h.st.Position != int64(i+1) {
			return false
		}
	}
	return true
}

func epochOf(t *testing.T, body string) string {
	t.Helper()
	var doc struct {
		Epoch string `json:"epoch"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.Epoch == "" {
		t.Fatalf("room document without an epoch: %s", body)
	}
	return doc.Epoch
}

// Redis hung for ten seconds (SIGSTOP, every connection left open), then
// resumed: nothing was lost, so nobody loses their place; within five
// seconds every socket shows its own place again, in order, and admission
// goes on. Meanwhile a newcomer gets the fail mode's answer, not a place
// from memory.
func TestRedisHungThenResumedKeepsTheLine(t *testing.T) {
	if testing.Short() {
		t.Skip("holds Redis stopped for ten seconds")
	}
	srv := testenv.StartRedis(t)
	rdb := srv.Client(failFast())
	r := newRig(t, rigOpts{rdb: rdb, prefix: "wr:", rooms: []queue.Room{room("hung", 0, 100, "/hung/*")}})
	const sockets = 20
	var listeners []*listener
	for range sockets {
		_, l := waitingSocket(t, r, "hung", "/hung/x")
		listeners = append(listeners, l)
	}
	showsOwnPlace := func(after time.Time) bool { return showOwnPlaces(listeners, after) }
	testenv.WaitFor(t, 5*time.Second, "every socket to show its place", func() bool { return showsOwnPlace(time.Time{}) })
	_, before := r.admin(t, http.MethodGet, "/admin/rooms/hung", "")

	if err := srv.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if res, _ := newBrowser(t).get(r.pub.URL+"/hung/x", true); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a newcomer while Redis hangs: %d, want the closed fail mode's 503", res.StatusCode)
	}
	time.Sleep(7 * time.Second)
	if err := srv.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	testenv.WaitFor(t, 5*time.Second, "every socket to show its own place again", func() bool { return showsOwnPlace(back) })
	t.Logf("sockets showed their places again %s after Redis resumed", time.Since(back).Round(time.Millisecond))
	_, after := r.admin(t, http.MethodGet, "/admin/rooms/hung", "")
	if epochOf(t, before) != epochOf(t, after) {
		t.Fatalf("the line's epoch changed over a hang:\n%s\n%s", before, after)
	}
	testenv.WaitFor(t, 5*time.Second, "admission to work again", func() bool {
		res, _ := r.admin(t, http.MethodPost, "/admin/rooms/hung/admit", `{"count":1}`)
		return res.StatusCode == http.StatusOK
	})
	testenv.WaitFor(t, 5*time.Second, "the first admitted, the rest moved up", func() bool {
		h, ok := listeners[0].last()
		h2, ok2 := listeners[1].last()
		return ok && ok2 && h.st.State == "admitted" && h2.st.Position == 1
	})
}
