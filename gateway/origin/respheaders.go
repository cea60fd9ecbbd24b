package origin

import (
	"io"
	"net/http"
	"net/textproto"
)

// stripOriginHeaders deletes from h every header in the gateway's own
// namespace: any name that, lower-cased and with '_' read as '-', starts
// with "waitroom-" (Waitroom-Command, Waitroom-Pass, Waitroom-State,
// Waitroom_Pass …). An origin's answer must never carry them to the
// browser, whatever spelling a server or a CGI layer put them in.
func stripOriginHeaders(h http.Header) {
	for k := range h {
		if internalHeader(k) {
			delete(h, k)
		}
	}
}

// internalHeader reports whether name is in the gateway's namespace.
func internalHeader(name string) bool {
	const prefix = "waitroom-"
	if len(name) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// strip1xxHeader makes an informational answer (103 Early Hints) that
// http.Transport hands to the request's ClientTrace lose the gateway's
// headers before ReverseProxy's hook passes it on to the visitor: the
// transport's trace (transport.go) calls it, and httptrace.WithClientTrace
// calls the hooks it is given before those already on the context, with
// the same header map, so stripping in place there is enough.
func strip1xxHeader(_ int, h textproto.MIMEHeader) error {
	stripOriginHeaders(http.Header(h))
	return nil
}

// stripTrailerNames takes the gateway's headers out of the trailers a
// response announces, so that ReverseProxy neither announces them to the
// visitor nor passes on their values.
func stripTrailerNames(res *http.Response) {
	if res.Trailer != nil {
		stripOriginHeaders(res.Trailer)
	}
}

// stripTrailers does the same for a response from http.Transport, whose
// trailers (announced or not) arrive at the end of a chunked body.
func stripTrailers(res *http.Response) {
	stripTrailerNames(res)
	if len(res.TransferEncoding) == 0 || res.StatusCode == http.StatusSwitchingProtocols {
		return
	}
	res.Body = &trailerStripper{ReadCloser: res.Body, res: res}
}

// trailerStripper strips the trailers once the body has been read to its
// end, before ReverseProxy copies them.
type trailerStripper struct {
	io.ReadCloser
	res *http.Response
}

func (s *trailerStripper) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if err == io.EOF {
		stripTrailerNames(s.res)
	}
	return n, err
}
