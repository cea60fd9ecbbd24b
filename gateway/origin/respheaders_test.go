package origin

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The gateway's namespace is matched on the name lower-cased with '_'
// read as '-', so no spelling of Waitroom-Command slips through.
func TestStripOriginHeaders(t *testing.T) {
	h := http.Header{}
	strip := []string{"Waitroom-Command", "Waitroom-Pass", "Waitroom-State", "WAITROOM-COMMAND", "waitroom_pass", "Waitroom_Pass", "Waitroom-"}
	keep := []string{"Link", "Waitroom", "Waitroomx-Pass", "X-Waitroom-Pass", "Set-Cookie", "Waitroom.Pass"}
	for _, k := range append(strip, keep...) {
		h[k] = []string{"v"}
	}
	stripOriginHeaders(h)
	for _, k := range strip {
		if _, ok := h[k]; ok {
			t.Errorf("%s was kept", k)
		}
	}
	for _, k := range keep {
		if _, ok := h[k]; !ok {
			t.Errorf("%s was stripped", k)
		}
	}
	stripOriginHeaders(nil) // a response without trailers
}

// An origin's 103 Early Hints reaches the visitor with its Link header but
// without the gateway's own headers (Waitroom-Command, Waitroom_Pass, …),
// for a GET and for a POST with a body alike. So do its trailers:
// X-Checksum passes, Waitroom-Command does not.
func TestOriginHeadersStrippedFrom1xxAndTrailers(t *testing.T) {
	sc := hostileScenario{answer: func(_ int, v, _ string) (string, bool) {
		body := "page for " + v
		return "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\nWaitroom-Command: revoke\r\n" +
			"Waitroom_Pass: x\r\nwaitroom-state: queued\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, Waitroom-Command\r\n\r\n" +
			strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\nX-Checksum: sum\r\nWaitroom-Command: revoke\r\nWaitroom_Pass: y\r\n\r\n", false
	}}
	o := newHostileOrigin(t, sc)
	front := httptest.NewServer(testProxy(t, o.url(), nil))
	defer front.Close()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		s := visit(t, front.URL, method, "alpha")
		if s.Status != http.StatusOK || s.Body != "page for alpha" {
			t.Fatalf("%s: %s", method, show(s))
		}
		if len(s.Hints) != 1 || !strings.Contains(s.Hints[0], "Link: </app.css>; rel=preload") {
			t.Errorf("%s: the visitor's 1xx answers %q, want one 103 with the Link header", method, s.Hints)
		}
		for _, hint := range s.Hints {
			if strings.Contains(strings.ToLower(hint), "waitroom") {
				t.Errorf("%s: an internal header reached the visitor in a 1xx answer: %s", method, hint)
			}
		}
		if s.Trailer.Get("X-Checksum") != "sum" {
			t.Errorf("%s: trailers %v, want X-Checksum: sum", method, s.Trailer)
		}
		for k := range s.Trailer {
			if internalHeader(k) {
				t.Errorf("%s: an internal header reached the visitor as a trailer: %s", method, k)
			}
		}
	}
}
