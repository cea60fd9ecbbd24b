package ticketd

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/waitroom/waitroom/internal/httpx"
)

// roomName is the room name syntax of the gateway's rooms file.
var roomName = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// requireAdmin lets through requests with "Authorization: Bearer <token>".
// With no token configured the admin API is off: an open admin API on a
// public origin would let anyone create events.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	token := httpx.NewTokenMatcher(s.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeError(w, http.StatusForbidden, "admin_disabled", "set TICKETD_ADMIN_TOKEN to use the admin API")
			return
		}
		if !token.Match(httpx.BearerToken(r, false)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ticketd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// createEvent is POST /admin/events.
func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	if !httpx.IsJSON(r) {
		writeError(w, http.StatusBadRequest, "invalid_content_type", "send the body as application/json")
		return
	}
	var e NewEvent
	if code, msg := decodeBody(w, r, maxAdminBody, &e); code != "" {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	if e.Room == "" {
		e.Room = "default"
	}
	if msg := validateNewEvent(e); msg != "" {
		writeError(w, http.StatusBadRequest, "invalid_event", msg)
		return
	}
	start := time.Now()
	id, err := s.store.CreateEvent(r.Context(), e)
	s.metrics.timeDB("create_event", start)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.cache.Invalidate()
	w.Header().Set("Location", "/api/events/"+strconv.FormatInt(id, 10))
	writeJSON(w, http.StatusCreated, struct {
		ID int64 `json:"id"`
	}{id})
}

func validateNewEvent(e NewEvent) string {
	var bad []string
	if n := utf8.RuneCountInString(strings.TrimSpace(e.Name)); n == 0 || n > 200 {
		bad = append(bad, "name must be 1 to 200 characters")
	}
	if !roomName.MatchString(e.Room) {
		bad = append(bad, "room must match [a-z0-9-]{1,32}")
	}
	if e.Total < 1 || e.Total > 1_000_000 {
		bad = append(bad, "total must be 1 to 1000000")
	}
	if e.Price < 0 || e.Price > 1_000_000_000_000 {
		bad = append(bad, "price must be 0 to 1e12")
	}
	if e.StartsAt.IsZero() {
		bad = append(bad, "starts_at is required (RFC 3339)")
	}
	return strings.Join(bad, "; ")
}
