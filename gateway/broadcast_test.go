package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/gateway"
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
	waitFor(t, 5*time.Second, "both instances subscribed", func() bool {
		n, err := a.rdb.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && n[channel] == 2
	})

	v := newBrowser(t)
	if res, _ := v.get(b.pub.URL+"/duo/x", false); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("visitor not queued: %d", res.StatusCode)
	}
	c, _, err := dialWS(t, b, v, "duo", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s, err := readStatus(t, c, 2*time.Second); err != nil || s.State != "queued" || s.Position != 1 {
		t.Fatalf("first push: %+v %v", s, err)
	}

	start := time.Now()
	if res, body := a.admin(t, http.MethodPatch, "/admin/rooms/duo", `{"admit_per_minute":600}`); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %s", body)
	}
	for {
		s, err := readStatus(t, c, 3*time.Second)
		if err != nil {
			t.Fatalf("no admitted push on B %v after A's admission: %v", time.Since(start), err)
		}
		if s.State == "admitted" {
			break
		}
	}
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
	w := newBrowser(t)
	w.get(b.pub.URL+"/duo/x", false)
	cw, _, err := dialWS(t, b, w, "duo", "")
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Close()
	if s, err := readStatus(t, cw, 2*time.Second); err != nil || s.State != "queued" {
		t.Fatalf("second visitor's first push: %+v %v", s, err)
	}
	if res, body := a.admin(t, http.MethodPost, "/admin/rooms/duo/admit", `{"count":1}`); res.StatusCode != http.StatusOK || !strings.Contains(body, `"admitted":1`) {
		t.Fatalf("manual admit: %s", body)
	}
	for {
		s, err := readStatus(t, cw, 3*time.Second)
		if err != nil {
			t.Fatalf("no admitted push on B after the manual admission on A: %v", err)
		}
		if s.State == "admitted" {
			break
		}
	}
	waitFor(t, 2*time.Second, "B counts the manual admission", func() bool {
		_, body := w.get(b.adm.URL+"/metrics", false)
		return strings.Contains(body, `waitroom_admissions_heard_total{room="duo"} 2`)
	})
}
