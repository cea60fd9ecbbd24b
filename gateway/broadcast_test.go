package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// A visitor whose socket is on instance B hears "admitted" from B when
// instance A's admission step admits them, through the admitted channel
// (B's own admission step does not run during the test), and only B counts
// it as heard from another instance.
func TestAdmissionReachesOtherInstances(t *testing.T) {
	a := newRig(t, rigOpts{rooms: []queue.Room{room("duo", 0, 100, "/duo/*")}})
	b := newRig(t, rigOpts{rdb: a.rdb, prefix: a.cfg.RedisPrefix, rooms: a.cfg.Rooms,
		mutate: func(c *gateway.Config) { c.AdmitInterval = 5 * time.Second }})
	channel := a.cfg.RedisPrefix + "admitted"
	testenv.WaitFor(t, 5*time.Second, "both instances subscribed", func() bool {
		n, err := a.rdb.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && n[channel] == 2
	})

	v, c := queuedSocket(t, b, "duo")
	if res, body := a.admin(t, http.MethodPatch, "/admin/rooms/duo", `{"admit_per_minute":600}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	awaitAdmitted(t, c, "A's admission step")
	heard := `waitroom_admissions_heard_total{room="duo"} 1`
	if _, body := v.get(b.adm.URL+"/metrics", false); !strings.Contains(body, heard) {
		t.Errorf("B's metrics lack %q", heard)
	}
	if _, body := v.get(a.adm.URL+"/metrics", false); strings.Contains(body, "waitroom_admissions_heard_total{") {
		t.Errorf("A counted its own admission as heard")
	}
	// On B, the visitor's next request goes in with a pass.
	if res, _ := v.get(b.pub.URL+"/duo/x", false); res.StatusCode != http.StatusOK || v.cookie(b.pub.URL, "wr_pass_duo") == "" {
		t.Fatalf("admitted visitor's request on B: %d, pass cookie %q", res.StatusCode, v.cookie(b.pub.URL, "wr_pass_duo"))
	}

	// An operator's manual admission on A is heard on B the same way.
	if res, body := a.admin(t, http.MethodPatch, "/admin/rooms/duo", `{"admit_per_minute":0}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	w, cw := queuedSocket(t, b, "duo")
	if res, body := a.admin(t, http.MethodPost, "/admin/rooms/duo/admit", `{"count":1}`); res.StatusCode != http.StatusOK || !strings.Contains(body, `"admitted":1`) {
		t.Fatalf("manual admit: %s", body)
	}
	awaitAdmitted(t, cw, "the manual admission on A")
	testenv.WaitFor(t, 2*time.Second, "B counts the manual admission", func() bool {
		_, body := w.get(b.adm.URL+"/metrics", false)
		return strings.Contains(body, `waitroom_admissions_heard_total{room="duo"} 2`)
	})
}

// queuedSocket is a new visitor of roomName on r, queued at the end of the
// line, with their status socket open (closed when the test ends).
func queuedSocket(t *testing.T, r *rig, roomName string) (*browser, *websocket.Conn) {
	t.Helper()
	v := newBrowser(t)
	if res, _ := v.get(r.pub.URL+"/"+roomName+"/x", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("visitor not queued: %d", res.StatusCode)
	}
	c, _, err := dialWS(t, r, v, roomName, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if s, err := readStatus(t, c, 2*time.Second); err != nil || s.State != "queued" || s.Position < 1 {
		t.Fatalf("first push: %+v %v", s, err)
	}
	return v, c
}

// awaitAdmitted reads pushes until "admitted", failing the test when none
// comes within a few seconds of after.
func awaitAdmitted(t *testing.T, c *websocket.Conn, after string) {
	t.Helper()
	start := time.Now()
	for {
		s, err := readStatus(t, c, 3*time.Second)
		if err != nil {
			t.Fatalf("no admitted push %v after %s: %v", time.Since(start), after, err)
		}
		if s.State == "admitted" {
			return
		}
	}
}
