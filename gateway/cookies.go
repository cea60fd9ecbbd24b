package gateway

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// CookieVisitor is the visitor id cookie: id + "." + HMAC(id).
const CookieVisitor = "wr_id"

// visitorIDLen is the length of a visitor id: 16 random bytes, base64url.
const visitorIDLen = 22

// visitorCookies signs and checks the wr_id cookie, and writes every cookie
// with the flags of SPEC. A cookie whose MAC does not match is never
// trusted: the visitor gets a fresh id, so a forged or altered value cannot
// take over someone else's place in the queue. trusted are the proxies
// whose X-Forwarded-Proto (and Host) are believed.
type visitorCookies struct {
	key     []byte
	trusted ProxyRanges
}

// newVisitorCookies signs with key, or with a random one when key is empty
// (one instance only: others could not read its cookies).
func newVisitorCookies(key []byte, trusted ProxyRanges, log zerolog.Logger) visitorCookies {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		log.Warn().Msg("WAITROOM_COOKIE_SECRET is empty: visitor cookies are signed with a random key, so run one instance only")
	}
	return visitorCookies{key: key, trusted: trusted}
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
func (vc visitorCookies) visitorID(r *http.Request) (id string, known bool) {
	if c, err := r.Cookie(CookieVisitor); err == nil {
		if id, ok := vc.decode(c.Value); ok {
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
func (vc visitorCookies) newVisitor(w http.ResponseWriter, r *http.Request) string {
	id := newVisitorID()
	http.SetCookie(w, vc.cookie(r, CookieVisitor, vc.encode(id), 365*24*time.Hour))
	return id
}

// visitor is the request's visitor id, made (and its cookie set) when the
// request has no valid one; known says whether it had.
func (vc visitorCookies) visitor(w http.ResponseWriter, r *http.Request) (id string, known bool) {
	if id, ok := vc.visitorID(r); ok {
		return id, true
	}
	return vc.newVisitor(w, r), false
}

// cookie builds a cookie with the flags of SPEC: HttpOnly, SameSite=Lax,
// Path=/, Secure when the visitor's connection is TLS. maxAge < 0 clears it.
func (vc visitorCookies) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   vc.isTLS(r),
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
func (vc visitorCookies) isTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return vc.trustedPeer(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// trustedPeer reports whether the direct peer is one of the trusted proxies.
func (vc visitorCookies) trustedPeer(r *http.Request) bool {
	if len(vc.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	return vc.trusted.Contains(ap.Addr())
}

// sameOrigin refuses cross-site WebSocket handshakes: a browser always
// sends Origin, and it must name the host the visitor asked for (or, behind
// a trusted proxy, the forwarded host). Clients that send no Origin are not
// browsers and carry no ambient credentials of another site.
func (vc visitorCookies) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if vc.trustedPeer(r) {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && strings.EqualFold(u.Host, fh) {
			return true
		}
	}
	return false
}
