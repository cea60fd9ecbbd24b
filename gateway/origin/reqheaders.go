package origin

import "net/http"

// Headers an origin may take as the word of the gateway or of a proxy in
// front of it. A visitor must not be able to send any of them through:
//
//   - Waitroom-* is the gateway's own namespace (the verified pass travels
//     in Waitroom-Pass), never a visitor's;
//   - X-Real-IP, True-Client-IP and Forwarded name the client's address or
//     scheme to origins and frameworks that believe them; they pass only
//     from a trusted proxy (X-Forwarded-* are rebuilt by the proxy itself);
//   - a name that reads as one of these once '_' is taken for '-' and case
//     is ignored (Waitroom_Pass, X_Forwarded_For) is an alias: CGI-style
//     servers (WSGI, PHP, many frameworks) fold it into the same variable,
//     so it is dropped whoever sent it.
var (
	ownPrefix       = "waitroom-"
	clientAddrNames = []string{"x-real-ip", "true-client-ip", "forwarded"}
	forwardedPrefix = "x-forwarded-"
)

// dropSpoofable removes from h (an outbound request's headers) every header
// the client has no business setting; trusted says whether the direct peer
// is a trusted proxy. It reads each name without allocating.
func dropSpoofable(h http.Header, trusted bool) {
	for k := range h {
		if hasFoldedPrefix(k, ownPrefix) {
			delete(h, k)
			continue
		}
		alias := containsUnderscore(k)
		if hasFoldedPrefix(k, forwardedPrefix) {
			if alias {
				delete(h, k)
			}
			continue
		}
		for _, n := range clientAddrNames {
			if foldedEqual(k, n) {
				if alias || !trusted {
					delete(h, k)
				}
				break
			}
		}
	}
}

// fold lower-cases an ASCII letter and reads '_' as '-'.
func fold(c byte) byte {
	switch {
	case c == '_':
		return '-'
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	}
	return c
}

func hasFoldedPrefix(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if fold(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func foldedEqual(s, lower string) bool {
	return len(s) == len(lower) && hasFoldedPrefix(s, lower)
}

func containsUnderscore(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			return true
		}
	}
	return false
}
