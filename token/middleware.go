package token

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// HeaderPass is the request header the gateway puts the pass in when it
// proxies to the origin.
const HeaderPass = "Waitroom-Pass"

// cookiePrefix starts the name of every pass cookie.
const cookiePrefix = "wr_pass_"

// CookieName returns the name of the cookie that holds the pass of room:
// "wr_pass_" + room.
func CookieName(room string) string { return cookiePrefix + room }

// FromRequest returns the pass a request carries for room: the Waitroom-Pass
// header if present, else the wr_pass_<room> cookie, else "". With room ""
// the first wr_pass_* cookie is taken.
func FromRequest(r *http.Request, room string) string {
	if p := r.Header.Get(HeaderPass); p != "" {
		return p
	}
	if room != "" {
		if c, err := r.Cookie(CookieName(room)); err == nil {
			return c.Value
		}
		return ""
	}
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, cookiePrefix) {
			return c.Value
		}
	}
	return ""
}

type contextKey struct{}

// NewContext returns ctx carrying c; FromContext reads it back.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// FromContext returns the claims Middleware verified for this request.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(contextKey{}).(Claims)
	return c, ok
}

// Middleware admits only requests that carry a valid pass for room (from the
// Waitroom-Pass header, or the wr_pass_<room> cookie when the header is
// absent) and puts the claims in the request context (FromContext). Other
// requests get a JSON error and never reach next:
//
//	401 {"error":"pass_missing"}
//	401 {"error":"pass_invalid","reason":"expired"}   (any Reason)
//	403 {"error":"wrong_room"}
//
// room "" accepts a pass for any room.
func Middleware(v *Verifier, room string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := FromRequest(r, room)
			if tok == "" {
				writeRefusal(w, http.StatusUnauthorized, "pass_missing", "")
				return
			}
			c, err := v.Verify(tok, room)
			switch {
			case errors.Is(err, ErrWrongRoom):
				writeRefusal(w, http.StatusForbidden, "wrong_room", "")
				return
			case err != nil:
				writeRefusal(w, http.StatusUnauthorized, "pass_invalid", Reason(err))
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}

func writeRefusal(w http.ResponseWriter, status int, code, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error  string `json:"error"`
		Reason string `json:"reason,omitempty"`
	}{code, reason})
}
