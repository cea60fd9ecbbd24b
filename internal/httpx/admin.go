package httpx

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// BearerToken is the credential of a request: "Authorization: Bearer
// TOKEN" (the scheme in any case, RFC 9110 11.1), or, when allowBasic, the
// password of HTTP Basic (a browser re-sends it with its own fetches, which
// is how a dashboard logs in). "" when there is none.
func BearerToken(r *http.Request, allowBasic bool) string {
	if scheme, b, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(b)
	}
	if allowBasic {
		if _, pw, ok := r.BasicAuth(); ok {
			return pw
		}
	}
	return ""
}

// TokenMatcher compares presented tokens with one secret in constant time
// over hashes, so neither the secret's content nor its length leaks
// through timing.
type TokenMatcher struct{ want [sha256.Size]byte }

// NewTokenMatcher returns a matcher of secret (which must not be empty).
func NewTokenMatcher(secret string) TokenMatcher {
	return TokenMatcher{want: sha256.Sum256([]byte(secret))}
}

// Match reports whether got is the secret; "" never is.
func (m TokenMatcher) Match(got string) bool {
	sum := sha256.Sum256([]byte(got))
	return got != "" && subtle.ConstantTimeCompare(sum[:], m.want[:]) == 1
}
