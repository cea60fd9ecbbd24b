package ticketd

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The site speaks Korean to a browser that prefers it and English otherwise,
// and the event page carries a Buy form wired to the order API.
func TestSiteLanguages(t *testing.T) {
	b := newBackend(t, "sqlite")
	id := b.createEvent(t, "Busan Rock Festival", "default", 50)
	tests := []struct {
		name, path, acceptLanguage string
		want                       []string
	}{
		{"index english", "/", "en-US,en;q=0.9", []string{`lang="en"`, "Busan Rock Festival", "₩50,000", "Left 50 / 50"}},
		{"index korean", "/", "ko-KR,ko;q=0.9,en;q=0.8", []string{`lang="ko"`, "공연 목록", "잔여 50 / 50"}},
		{"english preferred over korean by q", "/", "ko;q=0.3,en;q=0.9", []string{`lang="en"`}},
		{"unknown language falls back to english", "/", "fr-FR", []string{`lang="en"`}},
		{"query wins", "/?lang=ko", "en", []string{`lang="ko"`}},
		{"event page", "/events/" + itoa(id), "ko", []string{"예매하기", `data-event="` + itoa(id) + `"`, `/static/ticketd.js`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", b.http.URL+tt.path, nil)
			req.Header.Set("Accept-Language", tt.acceptLanguage)
			status, body, hdr := b.send(t, req)
			if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d type %q", status, hdr.Get("Content-Type"))
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
	for _, path := range []string{"/events/999", "/events/x"} {
		if status, _ := b.do(t, "GET", path, nil, nil); status != 404 {
			t.Errorf("%s: %d, want 404", path, status)
		}
	}
	for _, asset := range []string{"/static/ticketd.js", "/static/ticketd.css"} {
		resp, err := http.Get(b.http.URL + asset)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(data) == 0 {
			t.Errorf("%s: %d", asset, resp.StatusCode)
		}
	}
}

// Event names are escaped: an operator typo (or a compromised admin token)
// cannot inject script into the site.
func TestSiteEscapesEventNames(t *testing.T) {
	b := newBackend(t, "sqlite")
	id := b.createEvent(t, `<script>alert(1)</script>`, "default", 5)
	_, body := b.do(t, "GET", "/events/"+itoa(id), nil, nil)
	if strings.Contains(string(body), "<script>alert(1)") {
		t.Fatal("event name rendered unescaped")
	}
}

func TestLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                       "en",
		"ko":                     "ko",
		"ko-KR":                  "ko",
		"en-GB,ko;q=0.5":         "en",
		"de,ko;q=0.1":            "ko",
		"ko;q=0,en;q=0.1":        "en",
		"ko;q=bogus, en;q=0.2":   "en",
		"KO-kr;q=0.8, EN;q=0.7 ": "ko",
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", header)
		if got := language(r); got != want {
			t.Errorf("language(%q) = %s, want %s", header, got, want)
		}
	}
}
