package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
)

// Admin calls without the token get 401 (with a Basic challenge so the
// dashboard can log in from a browser); the bearer token and the Basic
// password both work; /healthz, /readyz and /metrics need no token.
func TestAdminAuth(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("a", 60, 10, "/a/*")}})
	basic := func(pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+pw)) }
	cases := []struct {
		name, path, auth string
		want             int
	}{
		{"no token", "/admin/rooms", "", http.StatusUnauthorized},
		{"wrong bearer", "/admin/rooms", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "/admin/rooms", "Bearer " + adminToken[:5], http.StatusUnauthorized},
		{"wrong basic", "/admin/", basic("nope"), http.StatusUnauthorized},
		{"dashboard without token", "/admin/", "", http.StatusUnauthorized},
		{"bearer", "/admin/rooms", "Bearer " + adminToken, http.StatusOK},
		{"bearer, scheme in lower case", "/admin/rooms", "bearer " + adminToken, http.StatusOK},
		{"basic password", "/admin/", basic(adminToken), http.StatusOK},
		{"healthz", "/healthz", "", http.StatusOK},
		{"readyz", "/readyz", "", http.StatusOK},
		{"metrics", "/metrics", "", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, r.adm.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", res.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge")
			}
		})
	}
}

// The rooms API lists live figures, applies PATCH to every instance and
// rejects bad or oversized bodies and unknown fields.
func TestAdminRoomsAPI(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("a", 0, 10, "/a/*")}})
	other := newRig(t, rigOpts{rdb: r.rdb, prefix: r.cfg.RedisPrefix, rooms: r.cfg.Rooms, origin: r.origin})
	for range 3 {
		newBrowser(t).get(r.pub.URL+"/a/x", false)
	}
	res, body := r.admin(t, http.MethodGet, "/admin/rooms", "")
	var list struct {
		Rooms []map[string]any `json:"rooms"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || res.StatusCode != 200 || len(list.Rooms) != 1 {
		t.Fatalf("GET /admin/rooms: %d %s", res.StatusCode, body)
	}
	for _, k := range []string{"name", "waiting", "active", "admitted_total", "abandoned_total", "admit_per_minute",
		"max_active", "paused", "closed", "mode", "opens_at", "session_ttl_seconds", "abandon_after_seconds"} {
		if _, ok := list.Rooms[0][k]; !ok {
			t.Errorf("room JSON lacks %q", k)
		}
	}
	if list.Rooms[0]["waiting"].(float64) != 3 {
		t.Errorf("waiting %v, want 3", list.Rooms[0]["waiting"])
	}

	bad := []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown field", http.MethodPatch, "/admin/rooms/a", `{"admit_per_minutes":5}`, 400},
		{"bad mode", http.MethodPatch, "/admin/rooms/a", `{"mode":"lifo"}`, 400},
		{"negative rate", http.MethodPatch, "/admin/rooms/a", `{"admit_per_minute":-1}`, 400},
		{"bad opens_at", http.MethodPatch, "/admin/rooms/a", `{"opens_at":"tomorrow"}`, 400},
		{"two objects", http.MethodPatch, "/admin/rooms/a", `{} {}`, 400},
		{"not json", http.MethodPatch, "/admin/rooms/a", `paused=true`, 400},
		{"oversized", http.MethodPatch, "/admin/rooms/a", `{"mode":"` + strings.Repeat("x", 100<<10) + `"}`, 0},
		{"no such room", http.MethodPatch, "/admin/rooms/zz", `{}`, 404},
		{"admit zero", http.MethodPost, "/admin/rooms/a/admit", `{"count":0}`, 400},
		{"opens_at before 1970", http.MethodPatch, "/admin/rooms/a", `{"opens_at":"1969-07-20T20:17:00Z"}`, 400},
		{"opens_at at 1970", http.MethodPatch, "/admin/rooms/a", `{"opens_at":"1970-01-01T00:00:00Z"}`, 400},
		{"data after the object", http.MethodPatch, "/admin/rooms/a", `{"paused":true}}`, 400},
		{"garbage after the object", http.MethodPatch, "/admin/rooms/a", `{"paused":true} x`, 400},
		{"field name in another case", http.MethodPatch, "/admin/rooms/a", `{"Paused":true}`, 400},
		{"field twice", http.MethodPatch, "/admin/rooms/a", `{"paused":false,"paused":true}`, 400},
		{"wrong type", http.MethodPatch, "/admin/rooms/a", `{"admit_per_minute":"fast"}`, 400},
		{"count as a string", http.MethodPost, "/admin/rooms/a/admit", `{"count":"2"}`, 400},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res, body := r.admin(t, tc.method, tc.path, tc.body)
			if tc.want == 0 {
				if res.StatusCode != 400 && res.StatusCode != 413 {
					t.Fatalf("got %d %s, want 400 or 413", res.StatusCode, body)
				}
				return
			}
			if res.StatusCode != tc.want || !strings.Contains(body, `"error"`) {
				t.Fatalf("got %d %s, want %d with a JSON error", res.StatusCode, body, tc.want)
			}
			// An error speaks the API's words, never Go's.
			for _, leak := range []string{"Go struct", "roomPatch", "gateway.", "int64", "json: "} {
				if strings.Contains(body, leak) {
					t.Fatalf("error %s shows %q", body, leak)
				}
			}
		})
	}
	// None of the refused writes changed the room.
	if _, body := r.admin(t, http.MethodGet, "/admin/rooms/a", ""); !strings.Contains(body, `"paused":false`) || !strings.Contains(body, `"opens_at":null`) {
		t.Fatalf("a refused PATCH changed the room: %s", body)
	}

	res, body = r.admin(t, http.MethodPatch, "/admin/rooms/a", `{"paused":true,"admit_per_minute":90,"opens_at":null}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"paused":true`) {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	// The other instance sees it on its next read.
	_, body = other.admin(t, http.MethodGet, "/admin/rooms/a", "")
	if !strings.Contains(body, `"admit_per_minute":90`) || !strings.Contains(body, `"paused":true`) {
		t.Fatalf("other instance: %s", body)
	}
	// Manual admit works while paused.
	res, body = r.admin(t, http.MethodPost, "/admin/rooms/a/admit", `{"count":2}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"admitted":2`) {
		t.Fatalf("admit: %d %s", res.StatusCode, body)
	}
	// A reset drops the live changes on every instance: the configured
	// values apply again, and the visitors admitted and waiting stay.
	res, body = r.admin(t, http.MethodPost, "/admin/rooms/a/reset", `{}`)
	if res.StatusCode != 200 || !strings.Contains(body, `"paused":false`) || !strings.Contains(body, `"admit_per_minute":0`) ||
		!strings.Contains(body, `"admitted_total":2`) || !strings.Contains(body, `"waiting":1`) {
		t.Fatalf("reset: %d %s", res.StatusCode, body)
	}
	if _, body = other.admin(t, http.MethodGet, "/admin/rooms/a", ""); !strings.Contains(body, `"admit_per_minute":0`) || !strings.Contains(body, `"paused":false`) {
		t.Fatalf("other instance after the reset: %s", body)
	}
	if res, _ := r.admin(t, http.MethodPost, "/admin/rooms/zz/reset", `{}`); res.StatusCode != http.StatusNotFound {
		t.Fatalf("reset of an unknown room: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, r.adm.URL+"/admin/rooms/a/reset", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reset without the token: %v %v", res, err)
	}
	// The dashboard is HTML; /metrics carries the room figures.
	res, body = r.admin(t, http.MethodGet, "/admin/", "")
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("dashboard: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	testenv.WaitFor(t, 3_000_000_000, "room metrics", func() bool {
		res, err := http.Get(r.adm.URL + "/metrics")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		s := string(b)
		return strings.Contains(s, `waitroom_waiting{room="a"} 1`) && strings.Contains(s, `waitroom_active{room="a"} 2`) &&
			strings.Contains(s, "waitroom_websockets 0") && strings.Contains(s, "waitroom_redis_up 1") &&
			strings.Contains(s, `waitroom_joins_total{room="a"} 3`)
	})
}

// Writes to the admin API from another site are refused: the dashboard's
// Basic credentials are re-sent by the browser on its own, and a loopback
// admin without a token has none, so a page elsewhere must not be able to
// PATCH a room or admit visitors through the operator's browser. Only JSON
// writes from the listener's own origin (or from clients that are not
// browsers) get through; reads are untouched.
func TestAdminRefusesCrossSiteWrites(t *testing.T) {
	for _, token := range []string{adminToken, ""} {
		r := newRig(t, rigOpts{
			rooms:  []queue.Room{room("a", 0, 10, "/a/*")},
			mutate: func(c *gateway.Config) { c.AdminToken = token },
		})
		host := strings.TrimPrefix(r.adm.URL, "http://")
		cases := []struct {
			name, method, path, ctype string
			hdr                       []string
			want                      int
		}{
			{"json from curl", "PATCH", "/admin/rooms/a", "application/json", nil, 200},
			{"json with charset", "PATCH", "/admin/rooms/a", "application/json; charset=utf-8", nil, 200},
			{"admit as json", "POST", "/admin/rooms/a/admit", "application/json", nil, 200},
			{"dashboard fetch", "PATCH", "/admin/rooms/a", "application/json", []string{"Origin", r.adm.URL, "Sec-Fetch-Site", "same-origin"}, 200},
			{"no content type", "PATCH", "/admin/rooms/a", "", nil, 415},
			{"text/plain (simple CORS request)", "POST", "/admin/rooms/a/admit", "text/plain", nil, 415},
			{"html form", "POST", "/admin/rooms/a/admit", "application/x-www-form-urlencoded", nil, 415},
			{"json-like type", "PATCH", "/admin/rooms/a", "application/jsonx", nil, 415},
			{"sec-fetch cross-site", "PATCH", "/admin/rooms/a", "application/json", []string{"Sec-Fetch-Site", "cross-site"}, 403},
			{"sec-fetch same-site", "PATCH", "/admin/rooms/a", "application/json", []string{"Sec-Fetch-Site", "same-site"}, 403},
			{"foreign origin", "POST", "/admin/rooms/a/admit", "application/json", []string{"Origin", "https://evil.example"}, 403},
			{"foreign origin, form", "POST", "/admin/rooms/a/admit", "text/plain", []string{"Origin", "https://evil.example"}, 403},
			{"origin on another port", "PATCH", "/admin/rooms/a", "application/json", []string{"Origin", "http://127.0.0.1:1"}, 403},
			{"opaque origin", "PATCH", "/admin/rooms/a", "application/json", []string{"Origin", "null"}, 403},
			{"matching origin, host case", "PATCH", "/admin/rooms/a", "application/json", []string{"Origin", "http://" + strings.ToUpper(host)}, 200},
			{"read from anywhere", "GET", "/admin/rooms/a", "", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 200},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("token=%t/%s", token != "", tc.name), func(t *testing.T) {
				body := `{"count":1}`
				if tc.method == "PATCH" {
					body = `{"admit_per_minute":5}`
				} else if tc.method == "GET" {
					body = ""
				}
				req, _ := http.NewRequest(tc.method, r.adm.URL+tc.path, strings.NewReader(body))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				for i := 0; i+1 < len(tc.hdr); i += 2 {
					req.Header.Set(tc.hdr[i], tc.hdr[i+1])
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != tc.want {
					t.Fatalf("got %d %s, want %d", res.StatusCode, b, tc.want)
				}
				if tc.want != 200 && (!strings.Contains(string(b), `"error"`) || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json")) {
					t.Fatalf("refusal is not a JSON error: %s %q", res.Header.Get("Content-Type"), b)
				}
			})
		}
	}
}

// An operator who types the admin listener's address lands on the
// dashboard; the dashboard's charts can start from the gateway's history.
func TestAdminRootAndHistory(t *testing.T) {
	r := newRig(t, rigOpts{rooms: []queue.Room{room("h", 60, 10, "/*")}})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(r.adm.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/admin/" {
		t.Fatalf("GET /: %d Location %q, want 302 to /admin/", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := r.admin(t, http.MethodGet, "/admin/history", "")
	var h struct {
		Rooms map[string][]struct {
			T              int64 `json:"t"`
			AdmitPerMinute int   `json:"admit_per_minute"`
		}
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/history: %d %s", res.StatusCode, body)
	}
	if pts := h.Rooms["h"]; len(pts) == 0 || pts[0].AdmitPerMinute != 60 || pts[0].T == 0 {
		t.Fatalf("history %s: want a first sample of room h taken at start", body)
	}
	if res, _ := newBrowser(t).get(r.adm.URL+"/admin/history", false); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("history without the token: %d", res.StatusCode)
	}
}
