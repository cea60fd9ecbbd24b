package ticketd

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzOrderBody: no body makes the order parser panic, accept a quantity
// outside 1..4, or answer without an error code a client can act on.
func FuzzOrderBody(f *testing.F) {
	for _, s := range []string{`{"quantity":1}`, `{"quantity":4}`, `{}`, `{"quantity":1e3}`, `[1]`, `{"quantity":1}{}`, `{"quantity":null}`, `{"Quantity":2}`, "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/api/events/1/orders", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		qty, code, _ := readOrderBody(httptest.NewRecorder(), r)
		if code == "" && (qty < 1 || qty > 4) {
			t.Fatalf("accepted quantity %d from %q", qty, body)
		}
		if code != "" && qty != 0 {
			t.Fatalf("refused %q but returned quantity %d", body, qty)
		}
	})
}

// FuzzAdminEvent: the admin event parser never panics and never lets an
// invalid event through.
func FuzzAdminEvent(f *testing.F) {
	f.Add(`{"name":"x","room":"r","total":1,"price":1,"starts_at":"2026-12-31T20:00:00Z"}`)
	f.Add(`{"name":"","total":-1}`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/admin/events", strings.NewReader(body))
		var e NewEvent
		if code, _ := decodeBody(httptest.NewRecorder(), r, maxAdminBody, &e); code != "" {
			return
		}
		if e.Room == "" {
			e.Room = "default"
		}
		if validateNewEvent(e) == "" && (e.Total < 1 || e.Price < 0 || !roomName.MatchString(e.Room) || e.StartsAt.IsZero()) {
			t.Fatalf("invalid event accepted: %+v", e)
		}
	})
}

// FuzzAcceptLanguage: any header picks one of the two languages.
func FuzzAcceptLanguage(f *testing.F) {
	f.Add("ko-KR,ko;q=0.9,en;q=0.8")
	f.Add(";q=,,;")
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Accept-Language": {h}}, URL: httptest.NewRequest("GET", "/", nil).URL}
		if l := language(r); l != "en" && l != "ko" {
			t.Fatalf("language %q", l)
		}
	})
}
