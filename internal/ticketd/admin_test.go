package ticketd

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Creating events needs the bearer token; bad events are refused with a
// message naming every problem; a new event shows on the read path at once.
func TestAdminCreateEvent(t *testing.T) {
	b := newBackend(t, "sqlite")
	auth := map[string]string{"Authorization": "Bearer " + testAdminToken}
	good := map[string]any{"name": "Jazz", "room": "jazz-1", "total": 30, "price": 70000, "starts_at": "2026-12-31T20:00:00+09:00"}
	tests := []struct {
		name     string
		headers  map[string]string
		body     any
		want     int
		wantCode string
	}{
		{"no token", nil, good, 401, "unauthorized"},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, good, 401, "unauthorized"},
		{"token without Bearer", map[string]string{"Authorization": testAdminToken}, good, 401, "unauthorized"},
		{"bad room", auth, map[string]any{"name": "x", "room": "Bad Room!", "total": 1, "price": 1, "starts_at": "2026-12-31T20:00:00Z"}, 400, "invalid_event"},
		{"zero total", auth, map[string]any{"name": "x", "total": 0, "price": 1, "starts_at": "2026-12-31T20:00:00Z"}, 400, "invalid_event"},
		{"negative price", auth, map[string]any{"name": "x", "total": 1, "price": -1, "starts_at": "2026-12-31T20:00:00Z"}, 400, "invalid_event"},
		{"no starts_at", auth, map[string]any{"name": "x", "total": 1, "price": 1}, 400, "invalid_event"},
		{"bad starts_at", auth, map[string]any{"name": "x", "total": 1, "price": 1, "starts_at": "tomorrow"}, 400, "invalid_type"},
		{"unknown field", auth, map[string]any{"name": "x", "total": 1, "price": 1, "starts_at": "2026-12-31T20:00:00Z", "remaining": 5}, 400, "unknown_field"},
		{"oversized body", auth, map[string]any{"name": strings.Repeat("x", 20<<10), "total": 1, "price": 1, "starts_at": "2026-12-31T20:00:00Z"}, 400, "body_too_large"},
		{"name too long", auth, map[string]any{"name": strings.Repeat("가", 201), "total": 1, "price": 1, "starts_at": "2026-12-31T20:00:00Z"}, 400, "invalid_event"},
		{"good", auth, good, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := b.do(t, "POST", "/admin/events", tt.headers, tt.body)
			if status != tt.want || (tt.wantCode != "" && errorCode(body) != tt.wantCode) {
				t.Fatalf("%d %s, want %d %s", status, body, tt.want, tt.wantCode)
			}
		})
	}
	status, body := b.do(t, "GET", "/api/events", nil, nil)
	var events []Event
	_ = json.Unmarshal(body, &events)
	if status != 200 || len(events) != 1 || events[0].Room != "jazz-1" || events[0].Remaining != 30 || events[0].Total != 30 {
		t.Fatalf("events after create: %d %s", status, body)
	}
	status, body = b.do(t, "GET", "/api/events/"+itoa(events[0].ID), nil, nil)
	for _, field := range []string{`"id"`, `"name"`, `"room"`, `"starts_at"`, `"price"`, `"total"`, `"remaining"`} {
		if status != 200 || !strings.Contains(string(body), field) {
			t.Fatalf("event JSON lacks %s: %s", field, body)
		}
	}
}

// Without a configured token the admin API is off rather than open.
func TestAdminDisabledWithoutToken(t *testing.T) {
	b := newBackend(t, "sqlite", func(c *Config) { c.AdminToken = "" })
	status, body := b.do(t, "POST", "/admin/events", map[string]string{"Authorization": "Bearer "},
		map[string]any{"name": "x", "total": 1, "price": 1, "starts_at": "2026-12-31T20:00:00Z"})
	if status != http.StatusForbidden || errorCode(body) != "admin_disabled" {
		t.Fatalf("%d %s", status, body)
	}
}

// Demo seeding creates events once, not again on the next start.
func TestSeedDemo(t *testing.T) {
	url := databaseURL(t, "sqlite")
	for range 2 {
		b := newBackend(t, "sqlite", func(c *Config) { c.DatabaseURL = url; c.SeedDemo = true })
		_, body := b.do(t, "GET", "/api/events", nil, nil)
		var events []Event
		_ = json.Unmarshal(body, &events)
		if len(events) != len(demoEvents(t0())) {
			t.Fatalf("%d events", len(events))
		}
		b.http.Close()
		_ = b.srv.Close()
	}
}
