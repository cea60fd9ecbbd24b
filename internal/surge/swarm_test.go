package surge

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// A small swarm through the real gateway: every person gets a place in both
// rooms; without protections the bots take places by the hundred, with
// the limits and the toll they get few, each paid for; the line the
// participants report is the line the gateway holds.
func TestSwarmThroughRealGateway(t *testing.T) {
	room := func(name, path string) queue.Room {
		return queue.Room{
			Name: name, Paths: []string{path}, AdmitPerMinute: 600, MaxActive: 100,
			SessionTTL: 10 * time.Minute, AbandonAfter: 5 * time.Minute, Mode: queue.FIFO,
		}
	}
	off, on := room("swarm-off", "/off/*"), room("swarm-on", "/on/*")
	on.ClientPlacesPerMinute, on.ClientPlacesHeld = 600, 5000
	on.Toll, on.TollSeconds = true, 0.5
	pub, adm := realGatewayRooms(t, "http://127.0.0.1:9", off, on)

	c := DefaultSwarm()
	c.Target, c.GatewayAdmin, c.GatewayAdminToken, c.CookieSecret = pub, adm, "admin-token", cookieSecret
	c.Rounds = []SwarmRound{{Name: "off", Room: "swarm-off"}, {Name: "on", Room: "swarm-on"}}
	c.Humans, c.HumanSpread, c.First = 40, 200*time.Millisecond, 40
	c.Bots, c.BotJoins, c.BotConns = 2, 300, 2
	c.BotAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	c.Window = 3 * time.Second
	rep, err := Swarm(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rounds) != 2 {
		t.Fatalf("rounds %+v", rep.Rounds)
	}
	roff, ron := rep.Rounds[0], rep.Rounds[1]
	for _, r := range rep.Rounds {
		if r.HumanPlaces != c.Humans || r.HumanFailed != 0 {
			t.Errorf("round %s: %d humans placed, %d failed, want all %d", r.Name, r.HumanPlaces, r.HumanFailed, c.Humans)
		}
		// What the participants were told is what the gateway holds.
		if w := waiting(t, adm, r.Room); w != int64(r.Line) {
			t.Errorf("round %s: participants hold %d places, the room has %d waiting", r.Name, r.Line, w)
		}
	}
	if roff.BotPlaces < 100 || roff.Toll || roff.BotTolls != 0 {
		t.Errorf("off: bots got %d places (%d tolls), want hundreds for nothing", roff.BotPlaces, roff.BotTolls)
	}
	if !ron.Toll || ron.BotTolls == 0 || ron.BotPlaces > int(ron.BotTolls) {
		t.Errorf("on: bots got %d places for %d tolls solved, want each place paid", ron.BotPlaces, ron.BotTolls)
	}
	if ron.BotPlaces*4 > roff.BotPlaces || ron.BotPlacesPerCPUSecond >= roff.BotPlacesPerCPUSecond {
		t.Errorf("on: bots got %d places (%.0f per CPU-s), off %d (%.0f per CPU-s): the toll did not price them",
			ron.BotPlaces, ron.BotPlacesPerCPUSecond, roff.BotPlaces, roff.BotPlacesPerCPUSecond)
	}
	if ron.PlaceWaitP50 <= 0 {
		t.Errorf("on: humans' wait for their place %v, want the toll's time", ron.PlaceWaitP50)
	}

	var tbl, md, html bytes.Buffer
	if err := WriteSwarmTable(&tbl, rep); err != nil || !strings.Contains(tbl.String(), "bots' share of the first K admissions") {
		t.Fatalf("table: %v\n%s", err, tbl.String())
	}
	if err := WriteSwarmMarkdown(&md, rep); err != nil || !strings.Contains(md.String(), "| protections | none | limits 600/min, 5000 held, toll 0.5s |") {
		t.Fatalf("markdown: %v\n%s", err, md.String())
	}
	if err := WriteSwarmHTML(&html, "swarm", rep); err != nil || !strings.Contains(html.String(), "<svg") || !strings.Contains(html.String(), `"rounds":[`) {
		t.Fatalf("html: %v", err)
	}
}

// A swarm refuses to run against a room that is not empty, and bad
// settings are named, all at once.
func TestSwarmChecks(t *testing.T) {
	c := DefaultSwarm()
	c.Target, c.GatewayAdmin = "http://example.com", "ftp://x"
	c.Humans, c.BotConns, c.Window = 0, 0, 0
	err := c.Validate()
	if err == nil {
		t.Fatal("bad swarm accepted")
	}
	for _, want := range []string{"--target", "--gateway-admin", "SURGE_COOKIE_SECRET", "--rooms", "--humans", "--bot-conns", "--window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems %q do not name %s", err, want)
		}
	}
	if _, err := ParseSwarmRounds("off=swarm-off,on"); err == nil {
		t.Error("a round without a room accepted")
	}

	pub, adm := realGatewayRooms(t, "http://127.0.0.1:9", queue.Room{
		Name: "busy", Paths: []string{"/*"}, AdmitPerMinute: 1, MaxActive: 1,
		SessionTTL: time.Minute, AbandonAfter: time.Minute, Mode: queue.FIFO,
	})
	for range 2 { // one is admitted at once, the next waits
		res, err := http.Get(pub + "/_waitroom/api/status?room=busy")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	c = DefaultSwarm()
	c.Target, c.GatewayAdmin, c.GatewayAdminToken, c.CookieSecret = pub, adm, "admin-token", cookieSecret
	c.Rounds = []SwarmRound{{Name: "x", Room: "busy"}}
	c.Humans, c.Bots = 1, 0
	if _, err := Swarm(context.Background(), c, nil); err == nil || !strings.Contains(err.Error(), "already has 1 waiting") {
		t.Fatalf("swarm into a room with people in it: %v, want refused", err)
	}
}

func waiting(t *testing.T, adm, room string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, adm+"/admin/rooms/"+room, nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Waiting int64 `json:"waiting"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Waiting
}
