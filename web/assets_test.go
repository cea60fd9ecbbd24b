package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/web"
)

// get fetches an asset by name through the handler, as mounted by the
// gateway (prefix already stripped).
func get(t *testing.T, h http.Handler, name string) (body, contentType string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+name, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", name, rec.Code)
	}
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

// Assets are served with the types browsers need (a stylesheet served as
// text/plain is ignored under nosniff).
func TestAssetsContentTypes(t *testing.T) {
	h := newPages(t, "").Assets()
	tests := []struct{ name, ctype string }{
		{"queue.css", "text/css; charset=utf-8"},
		{"queue.js", "text/javascript; charset=utf-8"},
		{"dashboard.js", "text/javascript; charset=utf-8"},
		{"dashboard.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+tt.name, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("GET %s: %d %q, want 200 %q", tt.name, rec.Code, rec.Header().Get("Content-Type"), tt.ctype)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tt.name)
		}
	}
}

// Only known asset names are served: templates, other files and paths that
// try to climb out are 404; methods other than GET and HEAD are 405.
func TestAssetsRefuse(t *testing.T) {
	h := newPages(t, "").Assets()
	tests := []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/queue.html", http.StatusNotFound},
		{http.MethodGet, "/../pages.go", http.StatusNotFound},
		{http.MethodGet, "/files/queue.css", http.StatusNotFound},
		{http.MethodGet, "/..%2fpages.go", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/nope.css", http.StatusNotFound},
		{http.MethodPost, "/queue.css", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/queue.css", http.StatusMethodNotAllowed},
		{http.MethodHead, "/queue.css", http.StatusOK},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.target, rec.Code, tt.want)
		}
	}
}

// The pages link versioned asset URLs, which browsers may keep for a year;
// an unversioned or stale URL revalidates, and a revalidation is a 304.
func TestAssetsCaching(t *testing.T) {
	p := newPages(t, "")
	var page bytes.Buffer
	if err := p.RenderQueue(&page, web.QueueData{Room: "r", Status: queued(1)}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`href="` + regexp.QuoteMeta(web.AssetPrefix) + `(queue\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page.String())
	if m == nil {
		t.Fatal("queue page links no versioned queue.css")
	}
	h := p.Assets()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+m[1], nil))
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned asset Cache-Control = %q", cc)
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}

	for _, target := range []string{"/queue.css", "/queue.css?v=stale"} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
			t.Errorf("%s Cache-Control = %q, want revalidation", target, cc)
		}
	}

	req := httptest.NewRequest(http.MethodGet, "/queue.css", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation = %d, want 304", rec.Code)
	}
}

// Browsers that accept gzip get the script compressed, and it decompresses
// to the same bytes; those that refuse it get it plain.
func TestAssetsGzip(t *testing.T) {
	h := newPages(t, "").Assets()
	plain, _ := get(t, h, "queue.js")
	tests := []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.8", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/queue.js", nil)
		req.Header.Set("Accept-Encoding", tt.acceptEncoding)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding") == "gzip"; got != tt.gzipped {
			t.Errorf("Accept-Encoding %q: gzip = %v, want %v", tt.acceptEncoding, got, tt.gzipped)
			continue
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary", tt.acceptEncoding)
		}
		body := rec.Body.Bytes()
		if tt.gzipped {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != plain {
			t.Errorf("Accept-Encoding %q: body differs from the plain script", tt.acceptEncoding)
		}
	}
}
