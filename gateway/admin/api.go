package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/web"
)

func writeJSON(w http.ResponseWriter, code int, v any) { httpx.WriteJSON(w, code, v) }

// Queue is what the admin API needs of the queue engine (on the control
// plane).
type Queue interface {
	Figures(ctx context.Context, rooms []queue.Room) ([]queue.Figures, error)
	Update(ctx context.Context, room string, p queue.Patch) error
	AdmitNext(ctx context.Context, room queue.Room, n int) (queue.Admission, error)
	Reset(ctx context.Context, room string) error
}

// Rooms are the rooms the gateway serves.
type Rooms interface {
	All() []queue.Room
	Room(name string) (queue.Room, bool)
}

// Config configures the admin API.
type Config struct {
	Token string // WAITROOM_ADMIN_TOKEN; empty: only loopback Host names are served
	Queue Queue
	Rooms Rooms
	// Ping asks Redis whether it answers (/readyz).
	Ping func(ctx context.Context) error
	// Origin asks whether the origin accepts connections (/readyz tells,
	// without failing readiness: the queue works while the site is down).
	Origin func(ctx context.Context) error
	// Failed is told of a failed Redis call (the gateway's probe).
	Failed func(err error)
	// Admitted announces visitors an operator admitted, to this
	// instance's sockets and every other instance.
	Admitted func(room string, visitors []string)
	// History is every room's figures of the last minutes, oldest first
	// (board.History), for the dashboard's charts.
	History func() any
	Metrics http.Handler // GET /metrics
	Pages   *web.Pages   // the dashboard and its assets
	Log     zerolog.Logger
}

// API is the admin listener's handlers and guards. Build it with New.
type API struct{ cfg Config }

// New returns the admin API.
func New(cfg Config) *API { return &API{cfg: cfg} }

// Probes answers /healthz (the process runs) and /readyz (Redis answers;
// the body also says whether the origin does) before anything else in the
// admin chain.
func (a *API) Probes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case "/readyz":
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			origin := "answers"
			if a.cfg.Origin != nil {
				if err := a.cfg.Origin(ctx); err != nil {
					origin = "does not answer: " + err.Error()
				}
			}
			if err := a.cfg.Ping(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "redis unreachable", "origin": origin})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "origin": origin})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// RequireToken guards /admin/* and /debug/pprof/*: "Authorization: Bearer TOKEN", or HTTP Basic
// with the token as the password (so the dashboard works in a browser,
// which then sends the same credentials with its own fetches). The
// comparison is constant-time over hashes, so neither the token's content
// nor its length leaks through timing.
func (a *API) RequireToken(next http.Handler) http.Handler {
	token := httpx.NewTokenMatcher(a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token == "" || !(strings.HasPrefix(r.URL.Path, "/admin/") || strings.HasPrefix(r.URL.Path, "/debug/")) {
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

// SameOriginWrites refuses state-changing /admin/* requests that a browser
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
func SameOriginWrites(next http.Handler) http.Handler {
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

// Routes is the admin listener's mux (behind the guards the gateway puts
// in front: Probes, LocalHostOnly, SameOriginWrites, RequireToken).
func (a *API) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.cfg.Metrics)
	mux.HandleFunc("GET /admin/{$}", a.serveDashboard)
	mux.Handle("GET /{$}", http.RedirectHandler("/admin/", http.StatusFound))
	mux.HandleFunc("GET /admin/history", a.serveHistory)
	mux.HandleFunc("GET /admin/rooms", a.serveRooms)
	mux.HandleFunc("GET /admin/rooms/{name}", a.serveRoom)
	mux.HandleFunc("PATCH /admin/rooms/{name}", a.patchRoom)
	mux.HandleFunc("POST /admin/rooms/{name}/admit", a.admitRoom)
	mux.HandleFunc("POST /admin/rooms/{name}/reset", a.resetRoom)
	// Profiles for the operator (behind the admin token like /admin/*).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET "+web.AssetPrefix, http.StripPrefix(web.AssetPrefix, a.cfg.Pages.Assets()))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	})
	return mux
}

// serveHistory is GET /admin/history: {"rooms": {name: [samples]}}, the
// figures the dashboard's charts start from.
func (a *API) serveHistory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rooms": a.cfg.History()})
}

func (a *API) serveDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = a.cfg.Pages.RenderDashboard(w, web.Lang(r.Header.Get("Accept-Language")))
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
	// Match is how the room's paths match: "insensitive" or "exact".
	Match string `json:"match"`

	// Fairness: the per-client limits (0: none), the toll and the pass
	// binding, and what they did (every instance's refusals and tolls).
	ClientPlacesPerMinute int     `json:"client_places_per_minute"`
	ClientPlacesHeld      int     `json:"client_places_held"`
	Toll                  bool    `json:"toll"`
	TollSeconds           float64 `json:"toll_seconds"`
	BindPassToNetwork     bool    `json:"bind_pass_to_network"`
	RefusedTotal          int64   `json:"refused_total"`
	TollsPaidTotal        int64   `json:"tolls_paid_total"`

	// The line epoch: Redis's memory of the room. The totals above count
	// from EpochStartedAt; when Redis forgot the room before (Lost), what
	// it held then is in Lost, not in the totals, and CountersLost says so.
	Epoch          string     `json:"epoch"`
	EpochStartedAt *time.Time `json:"epoch_started_at"`
	CountersLost   bool       `json:"counters_lost"`
	Lost           *LostJSON  `json:"lost"`
	HeldSlots      int64      `json:"held_slots"`
	// Recovered counts the places given back against receipts of the
	// lost epoch.
	Recovered int64 `json:"recovered"`
}

// LostJSON is what a room held before Redis forgot it, as the gateways
// that noticed last read it (at most a board tick before the loss).
type LostJSON struct {
	Epoch          string    `json:"epoch"`
	NoticedAt      time.Time `json:"noticed_at"`
	AdmittedTotal  int64     `json:"admitted_total"`
	AbandonedTotal int64     `json:"abandoned_total"`
	RefusedTotal   int64     `json:"refused_total"`
	TollsPaidTotal int64     `json:"tolls_paid_total"`
	Active         int64     `json:"active"`
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
		Match: string(queue.MatchInsensitive),

		ClientPlacesPerMinute: c.ClientPlacesPerMinute, ClientPlacesHeld: c.ClientPlacesHeld,
		Toll: c.Toll, TollSeconds: c.TollSeconds, BindPassToNetwork: c.BindNetwork,
		RefusedTotal: f.RefusedTotal, TollsPaidTotal: f.TollsTotal,

		Epoch: f.Epoch, HeldSlots: f.Held, Recovered: f.Recovered,
	}
	if !f.EpochSince.IsZero() {
		t := f.EpochSince.UTC()
		out.EpochStartedAt = &t
	}
	if l := f.Lost; l != nil {
		out.CountersLost = true
		out.Lost = &LostJSON{
			Epoch: l.Epoch, NoticedAt: l.NoticedAt.UTC(),
			AdmittedTotal: l.AdmittedTotal, AbandonedTotal: l.AbandonedTotal,
			RefusedTotal: l.RefusedTotal, TollsPaidTotal: l.TollsTotal, Active: l.Active,
		}
	}
	if c.Match == queue.MatchExact {
		out.Match = string(queue.MatchExact)
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

func (a *API) serveRooms(w http.ResponseWriter, r *http.Request) {
	figs, err := a.cfg.Queue.Figures(r.Context(), a.cfg.Rooms.All())
	if err != nil {
		a.cfg.Failed(err)
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
func (a *API) adminRoom(w http.ResponseWriter, r *http.Request) (queue.Room, bool) {
	name := r.PathValue("name")
	room, ok := a.cfg.Rooms.Room(name)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such room"})
	}
	return room, ok
}

func (a *API) writeRoom(w http.ResponseWriter, r *http.Request, room queue.Room) {
	figs, err := a.cfg.Queue.Figures(r.Context(), []queue.Room{room})
	if err != nil || len(figs) != 1 {
		a.cfg.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, roomJSON(figs[0]))
}

func (a *API) serveRoom(w http.ResponseWriter, r *http.Request) {
	if room, ok := a.adminRoom(w, r); ok {
		a.writeRoom(w, r, room)
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

	ClientPlacesPerMinute *int     `json:"client_places_per_minute"`
	ClientPlacesHeld      *int     `json:"client_places_held"`
	Toll                  *bool    `json:"toll"`
	TollSeconds           *float64 `json:"toll_seconds"`
	BindPassToNetwork     *bool    `json:"bind_pass_to_network"`
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

// toPatch checks every field and turns the body into a queue.Patch.
// ParsePatch reads a PATCH body (strictly: see httpx) and checks every
// field against the queue's limits; the error names each bad field.
func ParsePatch(body []byte) (queue.Patch, error) {
	var p roomPatch
	if err := httpx.Unmarshal(body, &p); err != nil {
		return queue.Patch{}, err
	}
	return p.toPatch()
}

func (p roomPatch) toPatch() (queue.Patch, error) {
	var out queue.Patch
	var bad []string
	check := func(field string, err error) {
		if err != nil {
			bad = append(bad, field+" "+err.Error())
		}
	}
	if p.AdmitPerMinute != nil {
		check("admit_per_minute", queue.CheckAdmitPerMinute(*p.AdmitPerMinute))
		out.AdmitPerMinute = p.AdmitPerMinute
	}
	if p.MaxActive != nil {
		check("max_active", queue.CheckMaxActive(*p.MaxActive))
		out.MaxActive = p.MaxActive
	}
	if p.SessionTTLSeconds != nil {
		d := secondsOf(*p.SessionTTLSeconds)
		check("session_ttl_seconds", queue.CheckSessionTTL(d))
		out.SessionTTL = &d
	}
	if p.AbandonAfterSeconds != nil {
		d := secondsOf(*p.AbandonAfterSeconds)
		check("abandon_after_seconds", queue.CheckAbandonAfter(d))
		out.AbandonAfter = &d
	}
	if p.Mode != nil {
		m := queue.Mode(*p.Mode)
		check("mode", queue.CheckMode(m))
		out.Mode = &m
	}
	out.Paused, out.Closed = p.Paused, p.Closed
	if p.ClientPlacesPerMinute != nil {
		check("client_places_per_minute", queue.CheckClientPlacesPerMinute(*p.ClientPlacesPerMinute))
	}
	if p.ClientPlacesHeld != nil {
		check("client_places_held", queue.CheckClientPlacesHeld(*p.ClientPlacesHeld))
	}
	if p.TollSeconds != nil {
		check("toll_seconds", queue.CheckTollSeconds(*p.TollSeconds))
	}
	out.ClientPlacesPerMinute, out.ClientPlacesHeld = p.ClientPlacesPerMinute, p.ClientPlacesHeld
	out.Toll, out.TollSeconds, out.BindNetwork = p.Toll, p.TollSeconds, p.BindPassToNetwork
	if len(p.OpensAt) > 0 {
		if bytes.Equal(bytes.TrimSpace(p.OpensAt), []byte("null")) {
			out.ClearOpensAt = true
		} else {
			var t time.Time
			if err := json.Unmarshal(p.OpensAt, &t); err != nil {
				bad = append(bad, "opens_at must be an RFC 3339 time or null")
			} else {
				check("opens_at", queue.CheckOpensAt(t))
				out.OpensAt = &t
			}
		}
	}
	if len(bad) > 0 {
		return out, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

// secondsOf turns a count of seconds into a duration, saturating instead
// of overflowing (so a huge value is refused as too long, not wrapped).
func secondsOf(n int64) time.Duration {
	if n > int64(queue.MaxDuration/time.Second)*2 {
		return queue.MaxDuration * 2
	}
	if n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func (a *API) patchRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := a.adminRoom(w, r)
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
	if err := a.cfg.Queue.Update(r.Context(), room.Name, p); err != nil {
		var invalid *queue.InvalidError
		if errors.As(err, &invalid) {
			// A value the queue refuses is the caller's to fix, not an
			// outage.
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": invalid.Problem})
			return
		}
		a.cfg.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	a.cfg.Log.Info().Str("room", room.Name).RawJSON("patch", mustJSON(body)).Msg("room changed")
	a.writeRoom(w, r, room)
}

func (a *API) admitRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := a.adminRoom(w, r)
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
	adm, err := a.cfg.Queue.AdmitNext(r.Context(), room, body.Count)
	if err != nil {
		a.cfg.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	if len(adm.Admitted) > 0 {
		a.cfg.Admitted(room.Name, adm.Admitted)
	}
	a.cfg.Log.Info().Str("room", room.Name).Int("asked", body.Count).Int("admitted", len(adm.Admitted)).Msg("manual admit")
	writeJSON(w, http.StatusOK, map[string]int{"admitted": len(adm.Admitted), "skipped": adm.Skipped})
}

// resetRoom drops the room's live changes (every PATCH), so the values of
// the rooms file (or the WAITROOM_* defaults) apply again on every
// instance; places, active visitors and totals are kept. The body, if any,
// is ignored. Answers the room as it is now.
func (a *API) resetRoom(w http.ResponseWriter, r *http.Request) {
	room, ok := a.adminRoom(w, r)
	if !ok {
		return
	}
	if err := a.cfg.Queue.Reset(r.Context(), room.Name); err != nil {
		a.cfg.Failed(err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "redis unreachable"})
		return
	}
	a.cfg.Log.Info().Str("room", room.Name).Msg("room reset to its file values")
	a.writeRoom(w, r, room)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
