package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/queue"
)

// probes answers /healthz (the process runs) and /readyz (Redis answers)
// before anything else in the admin chain.
func (g *Gateway) probes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case "/readyz":
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := g.store.control.Ping(ctx).Err(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "redis unreachable"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// requireAdmin guards /admin/* and /debug/pprof/*: "Authorization: Bearer TOKEN", or HTTP Basic
// with the token as the password (so the dashboard works in a browser,
// which then sends the same credentials with its own fetches). The
// comparison is constant-time over hashes, so neither the token's content
// nor its length leaks through timing.
func (g *Gateway) requireAdmin(next http.Handler) http.Handler {
	token := httpx.NewTokenMatcher(g.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cfg.AdminToken == "" || !(strings.HasPrefix(r.URL.Path, "/admin/") || strings.HasPrefix(r.URL.Path, "/debug/")) {
			next.ServeHTTP(w, r)
			return
		}
		if !token.Match(httpx.BearerToken(r, true)) {
			w.Header().Set("WWW-Authenticate", `Basic realm="waitroom admin", charset="UTF-8"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOriginWrites refuses state-changing /admin/* requests that a browser
// could have sent on behalf of another site. The dashboard logs in with HTTP
// Basic, which the browser re-sends on its own, and a loopback admin
// listener without a token has no credentials at all, so a page on any site
// could otherwise PATCH a room through the operator's browser.
//
// A write must declare Content-Type: application/json (415 otherwise): an
// HTML form or a "simple" cross-site fetch cannot send that type without a
// CORS preflight, which this listener never grants. It is refused with 403
// when the browser says it comes from another site (Sec-Fetch-Site
// cross-site or same-site) or names an Origin whose host is not the one the
// request was sent to. Clients that are not browsers (curl, surge) send
// neither header and are not affected. Safe methods (GET, HEAD, OPTIONS)
// pass untouched.
func sameOriginWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/admin/") {
			next.ServeHTTP(w, r)
			return
		}
		if reason := crossSite(r); reason != "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": reason})
			return
		}
		if !httpx.IsJSON(r) {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "Content-Type must be application/json"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite says why r looks like a request from another site, or "".
func crossSite(r *http.Request) string {
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return "cross-site request refused"
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return ""
	}
	if len(origins) > 1 {
		return "cross-site request refused: more than one Origin"
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" || !strings.EqualFold(withPort(u.Host, u.Scheme), withPort(r.Host, u.Scheme)) {
		return "cross-site request refused: Origin does not match Host"
	}
	return ""
}

// withPort adds the scheme's default port to a host without one, so
// "http://admin.example" matches "Host: admin.example:80".
func withPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

func (g *Gateway) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.metrics.handler())
	mux.HandleFunc("GET /admin/{$}", g.serveDashboard)
	mux.HandleFunc("GET /admin/rooms", g.serveRooms)
	mux.HandleFunc("GET /admin/rooms/{name}", g.serveRoom)
	mux.HandleFunc("PATCH /admin/rooms/{name}", g.patchRoom)
	mux.HandleFunc("POST /admin/rooms/{name}/admit", g.admitRoom)
	mux.HandleFunc("POST /admin/rooms/{name}/reset", g.resetRoom)
	// Profiles for the operator (behind the admin token like /admin/*).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /_waitroom/assets/", http.StripPrefix("/_waitroom/assets/", g.pages.Assets()))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return mux
}

func (g *Gateway) serveDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = g.pages.RenderDashboard(w, langOf(r))
}

// RoomJSON is one room in the admin API: its effective configuration and
// live figures.
type RoomJSON struct {
	Name                string     `json:"name"`
	Paths               []string   `json:"paths"`
	State               string     `json:"state"`
	Waiting             int64      `json:"waiting"`
	Active              int64      `json:"active"`
	AdmittedTotal       int64      `json:"admitted_total"`
	AbandonedTotal      int64      `json:"abandoned_total"`
	AdmitPerMinute      int        `json:"admit_per_minute"`
	AchievedPerMinute   float64    `json:"achieved_per_minute"`
	MaxActive           int        `json:"max_active"`
	SessionTTLSeconds   int64      `json:"session_ttl_seconds"`
	AbandonAfterSeconds int64      `json:"abandon_after_seconds"`
	Mode                string     `json:"mode"`
	OpensAt             *time.Time `json:"opens_at"`
	Paused              bool       `json:"paused"`
	Closed              bool       `json:"closed"`
}

func roomJSON(f queue.Figures) RoomJSON {
	c := f.Config
	out := RoomJSON{
		Name: f.Room, Paths: c.Paths, State: string(f.State),
		Waiting: f.Waiting, Active: f.Active, AdmittedTotal: f.AdmittedTotal, AbandonedTotal: f.AbandonedTotal,
		AdmitPerMinute: f.AdmitPerMinute, AchievedPerMinute: f.AchievedPerMinute, MaxActive: f.MaxActive,
		SessionTTLSeconds:   int64(c.SessionTTL / time.Second),
		AbandonAfterSeconds: int64(c.AbandonAfter / time.Second),
		Mode:                string(c.Mode), Paused: c.Paused, Closed: c.Closed,
	}
	if out.Paths == nil {
		out.Paths = []string{}
	}
	if !f.OpensAt.IsZero() {
		t := f.OpensAt.UTC()
		out.OpensAt = &t
	}
	return out
}

func (g *Gateway) serveRooms(w http.ResponseWriter, r *http.Request) {
	figs, err := g.store.q.Figures(r.Context(), g.router.all())
	if err != nil {
		g.health.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	out := struct {
		Rooms []RoomJSON `json:"rooms"`
	}{Rooms: make([]RoomJSON, 0, len(figs))}
	for _, f := range figs {
		out.Rooms = append(out.Rooms, roomJSON(f))
	}
	writeJSON(w, http.StatusOK, out)
}

// adminRoom finds the {name} room or answers 404.
func (g *Gateway) adminRoom(w http.ResponseWriter, r *http.Request) (queue.Room, bool) {
	name := r.PathValue("name")
	room, ok := g.router.room(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such room"})
	}
	return room, ok
}

func (g *Gateway) writeRoom(w http.ResponseWriter, r *http.Request, room queue.Room) {
	figs, err := g.store.q.Figures(r.Context(), []queue.Room{room})
	if err != nil || len(figs) != 1 {
		g.health.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, roomJSON(figs[0]))
}

func (g *Gateway) serveRoom(w http.ResponseWriter, r *http.Request) {
	if room, ok := g.adminRoom(w, r); ok {
		g.writeRoom(w, r, room)
	}
}

// roomPatch is the PATCH body; absent fields are left as they are, and
// "opens_at": null removes the opening time.
type roomPatch struct {
	AdmitPerMinute      *int            `json:"admit_per_minute"`
	MaxActive           *int            `json:"max_active"`
	SessionTTLSeconds   *int64          `json:"session_ttl_seconds"`
	AbandonAfterSeconds *int64          `json:"abandon_after_seconds"`
	Paused              *bool           `json:"paused"`
	Closed              *bool           `json:"closed"`
	Mode                *string         `json:"mode"`
	OpensAt             json.RawMessage `json:"opens_at"`
}

// adminBodyLimit bounds an admin request body (a room patch is ~200 bytes).
const adminBodyLimit = 64 << 10

// readBody decodes the request's JSON body strictly into v, or answers the
// refusal itself (400 naming the field, 413 when too large) and returns
// false.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := httpx.DecodeJSON(w, r, adminBodyLimit, v)
	if err == nil {
		return true
	}
	var be *httpx.BodyError
	if !errors.As(err, &be) {
		be = &httpx.BodyError{Status: http.StatusBadRequest, Code: "invalid_json", Message: err.Error()}
	}
	out := map[string]string{"error": be.Message, "code": be.Code}
	if be.Field != "" {
		out["field"] = be.Field
	}
	writeJSON(w, be.Status, out)
	return false
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// toPatch checks every field and turns the body into a queue.Patch.
func (p roomPatch) toPatch() (queue.Patch, error) {
	var out queue.Patch
	var bad []string
	if p.AdmitPerMinute != nil {
		if *p.AdmitPerMinute < 0 || *p.AdmitPerMinute > queue.MaxAdmitPerMinute {
			bad = append(bad, fmt.Sprintf("admit_per_minute must be 0..%d", queue.MaxAdmitPerMinute))
		}
		out.AdmitPerMinute = p.AdmitPerMinute
	}
	if p.MaxActive != nil {
		if *p.MaxActive < 1 || *p.MaxActive > queue.MaxMaxActive {
			bad = append(bad, fmt.Sprintf("max_active must be 1..%d", queue.MaxMaxActive))
		}
		out.MaxActive = p.MaxActive
	}
	if p.SessionTTLSeconds != nil {
		if lo, hi := seconds(queue.MinSessionTTL), seconds(queue.MaxDuration); *p.SessionTTLSeconds < lo || *p.SessionTTLSeconds > hi {
			bad = append(bad, fmt.Sprintf("session_ttl_seconds must be %d..%d", lo, hi))
		}
		d := time.Duration(*p.SessionTTLSeconds) * time.Second
		out.SessionTTL = &d
	}
	if p.AbandonAfterSeconds != nil {
		if lo, hi := seconds(queue.MinAbandonAfter), seconds(queue.MaxDuration); *p.AbandonAfterSeconds < lo || *p.AbandonAfterSeconds > hi {
			bad = append(bad, fmt.Sprintf("abandon_after_seconds must be %d..%d", lo, hi))
		}
		d := time.Duration(*p.AbandonAfterSeconds) * time.Second
		out.AbandonAfter = &d
	}
	if p.Mode != nil {
		m := queue.Mode(*p.Mode)
		if m != queue.FIFO && m != queue.Random {
			bad = append(bad, "mode must be fifo or random")
		}
		out.Mode = &m
	}
	out.Paused, out.Closed = p.Paused, p.Closed
	if len(p.OpensAt) > 0 {
		if bytes.Equal(bytes.TrimSpace(p.OpensAt), []byte("null")) {
			out.ClearOpensAt = true
		} else {
			var t time.Time
			if err := json.Unmarshal(p.OpensAt, &t); err != nil {
				bad = append(bad, "opens_at must be an RFC 3339 time or null")
			} else if t.Unix() <= 0 {
				bad = append(bad, "opens_at must be a time after 1970")
			} else {
				out.OpensAt = &t
			}
		}
	}
	if len(bad) > 0 {
		return out, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

func (g *Gateway) patchRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := g.adminRoom(w, r)
	if !ok {
		return
	}
	var body roomPatch
	if !readBody(w, r, &body) {
		return
	}
	p, err := body.toPatch()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err := g.store.q.Update(r.Context(), room.Name, p); err != nil {
		var invalid *queue.InvalidError
		if errors.As(err, &invalid) {
			// A value the queue refuses is the caller's to fix, not an
			// outage.
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": invalid.Problem})
			return
		}
		g.health.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	g.log.Info().Str("room", room.Name).RawJSON("patch", mustJSON(body)).Msg("room changed")
	g.writeRoom(w, r, room)
}

func (g *Gateway) admitRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := g.adminRoom(w, r)
	if !ok {
		return
	}
	var body struct {
		Count int `json:"count"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if body.Count < 1 || body.Count > 100_000 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "count must be 1..100000"})
		return
	}
	adm, err := g.store.q.AdmitNext(r.Context(), room, body.Count)
	if err != nil {
		g.health.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	if len(adm.Admitted) > 0 {
		g.announceAdmitted(g.run.ctx, room.Name, adm.Admitted, time.Now().Add(admitWindow))
	}
	g.log.Info().Str("room", room.Name).Int("asked", body.Count).Int("admitted", len(adm.Admitted)).Msg("manual admit")
	writeJSON(w, http.StatusOK, map[string]int{"admitted": len(adm.Admitted), "skipped": adm.Skipped})
}

// resetRoom drops the room's live changes (every PATCH), so the values of
// the rooms file (or the WAITROOM_* defaults) apply again on every
// instance; places, active visitors and totals are kept. The body, if any,
// is ignored. Answers the room as it is now.
func (g *Gateway) resetRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := g.adminRoom(w, r)
	if !ok {
		return
	}
	if err := g.store.q.Reset(r.Context(), room.Name); err != nil {
		g.health.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	g.log.Info().Str("room", room.Name).Msg("room reset to its file values")
	g.writeRoom(w, r, room)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
