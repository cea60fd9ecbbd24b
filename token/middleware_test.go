package token

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The middleware lets through only requests with a valid pass for its room,
// from the header or the room's cookie, and tells everyone else why in JSON.
func TestMiddleware(t *testing.T) {
	s := mustEd(mustKey(t))
	now := time.Now()
	good, _, _ := s.Sign(now, "visitor-7", "concert-42", "sid-1", 10*time.Minute)
	expired, _, _ := s.Sign(now.Add(-time.Hour), "visitor-7", "concert-42", "sid-1", 10*time.Minute)
	otherRoom, _, _ := s.Sign(now, "visitor-7", "other", "sid-1", 10*time.Minute)
	forged, _, _ := mustEd(mustKey(t)).Sign(now, "visitor-7", "concert-42", "sid-1", 10*time.Minute)

	origin := Middleware(s.Verifier(), "concert-42")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok {
			t.Error("no claims in context")
		}
		_, _ = io.WriteString(w, c.Visitor)
	}))

	tests := []struct {
		name       string
		header     string
		cookie     string
		wantStatus int
		wantBody   string // visitor on success
		wantError  string
		wantReason string
	}{
		{"header", good, "", 200, "visitor-7", "", ""},
		{"cookie", "", good, 200, "visitor-7", "", ""},
		{"header wins over cookie", good, "garbage", 200, "visitor-7", "", ""},
		{"missing", "", "", 401, "", "pass_missing", ""},
		{"expired", expired, "", 401, "", "pass_invalid", "expired"},
		{"forged", forged, "", 401, "", "pass_invalid", "unknown_key"},
		{"garbage", "not.a.pass", "", 401, "", "pass_invalid", "malformed"},
		{"other room", otherRoom, "", 403, "", "wrong_room", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/events/42/orders", nil)
			if tt.header != "" {
				r.Header.Set(HeaderPass, tt.header)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: CookieName("concert-42"), Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			origin.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == 200 {
				if w.Body.String() != tt.wantBody {
					t.Fatalf("body %q", w.Body)
				}
				return
			}
			var got struct{ Error, Reason string }
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body not JSON: %q", w.Body)
			}
			if got.Error != tt.wantError || got.Reason != tt.wantReason {
				t.Fatalf("error %+v, want %s/%s", got, tt.wantError, tt.wantReason)
			}
			if w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestCookieName(t *testing.T) {
	if CookieName("concert-42") != "wr_pass_concert-42" {
		t.Fatal(CookieName("concert-42"))
	}
}
