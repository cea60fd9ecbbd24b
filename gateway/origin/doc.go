// Package origin is the gateway's reverse proxy to the site behind it.
//
// It is httputil.ReverseProxy on a tuned http.Transport (keep-alive
// connections sized to a busy origin, a buffer pool), with the gateway's
// rules about headers in both directions:
//
//   - towards the origin: X-Forwarded-* rebuilt by the proxy (incoming ones
//     kept only from a trusted proxy), X-Real-IP, True-Client-IP and
//     Forwarded dropped from an untrusted peer, any Waitroom-* header and
//     any underscore alias of these dropped always, and the verified pass of
//     an admitted visitor (WithPass) sent as Waitroom-Pass;
//   - towards the visitor: every Waitroom-* header removed from the final
//     answer, from 1xx answers (103 Early Hints) and from trailers, and
//     "Waitroom-Command: revoke" turned into the end of the visitor's
//     session (Config.Revoke) and a cleared pass cookie.
//
// http.Transport keeps a reader on every idle connection and caps response
// headers, so no byte an origin sends unasked reaches another visitor;
// transport_diff_test.go holds the proxy to that against a hostile origin.
// A failed round trip is answered with the gateway's own 502 page.
package origin
