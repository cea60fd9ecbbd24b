package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// CookieVisitor is the visitor id cookie: id + "." + HMAC(id).
const CookieVisitor = "wr_id"

// visitorIDLen is the length of a visitor id: 16 random bytes, base64url.
const visitorIDLen = 22

// visitorCookies signs and checks the wr_id cookie. A cookie whose MAC does
// not match is never trusted: the visitor gets a fresh id, so a forged or
// altered value cannot take over someone else's place in the queue.
type visitorCookies struct {
	key []byte
}

func (vc visitorCookies) mac(id string) string {
	m := hmac.New(sha256.New, vc.key)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (vc visitorCookies) encode(id string) string { return id + "." + vc.mac(id) }

// decode returns the visitor id of a cookie value, or ok=false when the
// value is malformed or its MAC is wrong.
func (vc visitorCookies) decode(v string) (string, bool) {
	if len(v) != visitorIDLen+1+43 {
		return "", false
	}
	id, sig, ok := strings.Cut(v, ".")
	if !ok || len(id) != visitorIDLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(id); err != nil {
		return "", false
	}
	return id, hmac.Equal([]byte(sig), []byte(vc.mac(id)))
}

func newVisitorID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// visitorID returns the id of the request's wr_id cookie; known is false
// when it has none or its MAC is wrong (a forged or altered value is never
// trusted).
func (g *Gateway) visitorID(r *http.Request) (id string, known bool) {
	if c, err := r.Cookie(CookieVisitor); err == nil {
		if id, ok := g.cookies.decode(c.Value); ok {
			return id, true
		}
	}
	return "", false
}

// visitorCookie is the raw value of the request's wr_id cookie, "" when it
// has none (not checked: compare it with a known good value, or decode it).
func visitorCookie(r *http.Request) string {
	if c, err := r.Cookie(CookieVisitor); err == nil {
		return c.Value
	}
	return ""
}

// newVisitor makes a visitor id and sets its wr_id cookie on w.
func (g *Gateway) newVisitor(w http.ResponseWriter, r *http.Request) string {
	id := newVisitorID()
	http.SetCookie(w, g.cookie(r, CookieVisitor, g.cookies.encode(id), 365*24*time.Hour))
	return id
}

// cookie builds a cookie with the flags of SPEC: HttpOnly, SameSite=Lax,
// Path=/, Secure when the visitor's connection is TLS. maxAge < 0 clears it.
func (g *Gateway) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   g.isTLS(r),
	}
	if maxAge < 0 {
		c.MaxAge = -1
		c.Value = ""
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// isTLS reports whether the visitor reached us over TLS: directly, or per a
// trusted proxy's X-Forwarded-Proto.
func (g *Gateway) isTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return g.trustedPeer(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// trustedPeer reports whether the direct peer is one of the trusted proxies.
func (g *Gateway) trustedPeer(r *http.Request) bool {
	if len(g.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
