package origin

import "net/http"

// originTransport is the proxy's RoundTripper: the standard transport,
// tuned for one busy origin (newTransport: keep-alive connections sized to
// the load), with the gateway's own headers taken out of what the origin
// sends beside its final response header — its 1xx answers and its
// trailers, which ModifyResponse never sees (respheaders.go).
//
// http.Transport keeps a reader on every idle connection, so no byte an
// origin sends unasked (a second response, a body after a HEAD answer, an
// unsolicited 1xx or 408) ever reaches another request, and it caps
// response headers (MaxResponseHeaderBytes, 10 MB). The gateway once sent
// GET and HEAD over a hand-written synchronous path instead; once it was
// made as safe, it no longer beat this transport by the 15 % that would
// have paid for it (docs/benchmarks-gateway.md), and it was removed.
// transport_diff_test.go holds this transport to a plain http.Transport's
// behaviour against a hostile origin.
type originTransport struct {
	std *http.Transport
}

var _ http.RoundTripper = (*originTransport)(nil)

func newOriginTransport(std *http.Transport) *originTransport {
	return &originTransport{std: std}
}

func (t *originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.std.RoundTrip(strip1xx(req))
	if err == nil {
		stripTrailers(res)
	}
	return res, err
}

// CloseIdleConnections closes the idle keep-alive connections to the origin.
func (t *originTransport) CloseIdleConnections() { t.std.CloseIdleConnections() }
