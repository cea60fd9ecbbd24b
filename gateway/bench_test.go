package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/waitroom/waitroom/queue"
)

// admittedRequest returns a request to path that carries a valid pass.
func admittedCookies(b *testing.B, r *rig) []*http.Cookie {
	b.Helper()
	v := newBrowser(b)
	res, _ := v.get(r.pub.URL+"/bench", false)
	if res.StatusCode != http.StatusOK {
		b.Fatalf("not admitted: %d", res.StatusCode)
	}
	req := httptest.NewRequest(http.MethodGet, r.pub.URL, nil)
	return v.jar.Cookies(req.URL)
}

// BenchmarkProxyAdmitted: an admitted visitor's request through the
// gateway's handler to a real (loopback) origin: pass lookup in the cache,
// rewrite, round trip, copy.
func BenchmarkProxyAdmitted(b *testing.B) {
	r := newRig(b, rigOpts{rooms: []queue.Room{room("bench", 6000, 1_000_000, "/*")}})
	cookies := admittedCookies(b, r)
	h := r.g.Public()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/bench/page", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkStatusAPI: GET /_waitroom/api/status for a queued visitor
// (one q.Status round trip to the real Redis).
func BenchmarkStatusAPI(b *testing.B) {
	r := newRig(b, rigOpts{rooms: []queue.Room{room("bench", 0, 10, "/*")}})
	v := newBrowser(b)
	v.get(r.pub.URL+"/x", false)
	req0 := httptest.NewRequest(http.MethodGet, r.pub.URL, nil)
	cookies := v.jar.Cookies(req0.URL)
	h := r.g.Public()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/_waitroom/api/status?room=bench", nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
