package ticketd

import (
	"encoding/json"
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

// The site draws no emoji: without an emoji font (most servers, many
// Linux desktops, kiosk browsers) one renders as an empty box. Pictures are
// inline SVG instead.
func TestSiteHasNoEmoji(t *testing.T) {
	b := newBackend(t, "sqlite")
	id := b.createEvent(t, "Busan Rock Festival", "default", 5)
	for _, path := range []string{"/?lang=en", "/?lang=ko", "/events/" + itoa(id) + "?lang=en", "/events/" + itoa(id) + "?lang=ko", "/static/ticketd.js", "/static/ticketd.css"} {
		status, body := b.do(t, "GET", path, nil, nil)
		if status != 200 {
			t.Fatalf("%s: %d", path, status)
		}
		for i, r := range string(body) {
			if isEmoji(r) {
				t.Errorf("%s: emoji %U at byte %d: %q", path, r, i, around(string(body), i))
			}
		}
	}
	if !isEmoji('🎫') || isEmoji('₩') || isEmoji('←') || isEmoji('…') || isEmoji('한') {
		t.Fatal("isEmoji misjudges")
	}
}

// isEmoji reports runes that browsers draw from an emoji font: the
// pictographic planes, the dingbat and miscellaneous-symbol blocks, and the
// emoji presentation selector and joiner.
func isEmoji(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF, r >= 0x2600 && r <= 0x27BF, r >= 0x2B00 && r <= 0x2BFF:
		return true
	case r == 0xFE0F, r == 0x200D, r == 0x20E3:
		return true
	}
	return false
}

func around(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+20)
	return s[lo:hi]
}

// A created order says how many tickets are left, and so does a sold-out
// refusal: the shop page shows that figure because, behind the gateway, it
// cannot ask again once the order has ended the visitor's admission.
func TestOrderAnswersCarryStock(t *testing.T) {
	b := newBackend(t, "sqlite")
	id := b.createEvent(t, "Busan Rock Festival", "concert-42", 5)
	for _, tt := range []struct {
		quantity, status, remaining int
	}{
		{2, 201, 3},
		{4, 409, 3},
		{3, 201, 0},
	} {
		status, body, _ := b.buy(t, id, b.pass(t, "concert-42"), tt.quantity)
		var got struct {
			OrderID   string `json:"order_id"`
			Remaining *int   `json:"remaining"`
		}
		if err := json.Unmarshal(body, &got); err != nil || status != tt.status || got.Remaining == nil || *got.Remaining != tt.remaining {
			t.Fatalf("buy %d: %d %s, want %d with remaining %d", tt.quantity, status, body, tt.status, tt.remaining)
		}
		if status == 201 && len(got.OrderID) != 32 {
			t.Errorf("order_id %q", got.OrderID)
		}
	}
}
