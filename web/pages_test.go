package web_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/web"
)

func newPages(t testing.TB, dir string) *web.Pages {
	t.Helper()
	p, err := web.New(dir)
	if err != nil {
		t.Fatalf("web.New(%q): %v", dir, err)
	}
	return p
}

func renderQueue(t testing.TB, p *web.Pages, d web.QueueData) string {
	t.Helper()
	var buf bytes.Buffer
	if err := p.RenderQueue(&buf, d); err != nil {
		t.Fatalf("RenderQueue: %v", err)
	}
	return buf.String()
}

type pageConfig struct {
	Lang      string            `json:"lang"`
	Room      string            `json:"room"`
	Status    map[string]any    `json:"status"`
	StatusURL string            `json:"status_url"`
	WSURL     string            `json:"ws_url"`
	ReturnURL string            `json:"return_url"`
	Text      map[string]string `json:"text"`
}

var configElement = regexp.MustCompile(`(?s)<script type="application/json" id="wr-config">(.*?)</script>`)

// pageConfigOf reads the JSON the page's script starts from.
func pageConfigOf(t testing.TB, page string) pageConfig {
	t.Helper()
	m := configElement.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no wr-config element in page:\n%s", page)
	}
	var cfg pageConfig
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("wr-config is not JSON: %v\n%s", err, m[1])
	}
	return cfg
}

func queued(position int64) web.Status {
	return web.Status{
		Room: "concert-42", State: "queued", Position: position, Waiting: 1234,
		ETA: 95, AdmitPerMinute: 600, Ticket: 5000 + position,
	}
}

// statusOf reads a status written as its JSON fields (as the pages' script
// and the status API see it).
func statusOf(t testing.TB, m map[string]any) web.Status {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var s web.Status
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("status %s: %v", b, err)
	}
	return s
}

// Room names, URLs and status values come (indirectly) from visitors and
// operators; none of them may inject markup or script into the page, and the
// page's script must read them back exactly (or, for URLs, as a same-site path).
func TestRenderQueueEscapesHostileValues(t *testing.T) {
	const xss = `</script><script>alert(1)</script><img src=x onerror=alert(2)>`
	tests := []struct {
		name       string
		data       web.QueueData
		wantReturn string
	}{
		{"room", web.QueueData{Room: xss, Status: queued(3), ReturnURL: "/events/42"}, "/events/42"},
		{"status", web.QueueData{Room: "r", Status: web.Status{Room: xss, State: "queued", Position: 2}, ReturnURL: "/"}, "/"},
		{"status state", web.QueueData{Room: "r", Status: web.Status{Room: "r", State: xss, Position: 1}}, "/"},
		{"javascript return", web.QueueData{Room: "r", Status: queued(1), ReturnURL: "javascript:alert(1)"}, "/"},
		{"other host return", web.QueueData{Room: "r", Status: queued(1), ReturnURL: "//evil.example/x?y=1"}, "/x?y=1"},
		{"quote in return", web.QueueData{Room: "r", Status: queued(1), ReturnURL: `/x"onmouseover="alert(1)`}, "/x%22onmouseover=%22alert%281%29"},
		{"ws elsewhere", web.QueueData{Room: "r", Status: queued(1), WSURL: "wss://evil.example/ws", StatusURL: "https://evil.example/s"}, "/"},
		{"line separators", web.QueueData{Room: "a\u2028b\u2029c", Status: queued(1)}, "/"},
	}
	p := newPages(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderQueue(t, p, tt.data)
			for _, bad := range []string{"<script>alert", "<img src=x", "javascript:", "evil.example"} {
				if strings.Contains(page, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			// U+2028 ends a line in older JavaScript parsers; in the JSON it must be escaped.
			if m := configElement.FindString(page); strings.ContainsAny(m, "\u2028\u2029") {
				t.Error("config JSON holds a raw line separator")
			}
			if n := strings.Count(page, "<script"); n != 2 {
				t.Errorf("page has %d <script> elements, want 2 (config and queue.js)", n)
			}
			cfg := pageConfigOf(t, page)
			if cfg.Room != tt.data.Room {
				t.Errorf("room in config = %q, want %q", cfg.Room, tt.data.Room)
			}
			if cfg.ReturnURL != tt.wantReturn {
				t.Errorf("return_url = %q, want %q", cfg.ReturnURL, tt.wantReturn)
			}
			for _, u := range []string{cfg.StatusURL, cfg.WSURL} {
				if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
					t.Errorf("page would talk to %q, not a same-site path", u)
				}
			}
		})
	}
}

// A visitor sees the figures of their state in their language on the first
// paint, before (or without) any script.
func TestRenderQueueFirstPaint(t *testing.T) {
	opens := "2026-12-01T10:00:00+09:00"
	tests := []struct {
		name string
		data web.QueueData
		want []string
		not  []string
	}{
		{"queued en", web.QueueData{Lang: "en", Room: "concert-42", State: "queued", Status: queued(1234)},
			[]string{`<html lang="en">`, "You&#39;re in line", `id="wr-position" aria-describedby="wr-position-label">1,234<`,
				`id="wr-ahead">1,233<`, `id="wr-eta">About 2 min<`, `id="wr-ticket">#6,234<`, `id="wr-waiting">1,234<`,
				`role="progressbar"`, `aria-valuenow="0"`, `aria-live="polite"`, `<noscript><meta http-equiv="refresh" content="15"></noscript>`},
			[]string{`id="wr-line" hidden`}},
		{"queued ko", web.QueueData{Lang: "ko", Room: "concert-42", State: "queued", Status: queued(7)},
			[]string{`<html lang="ko">`, "입장을 기다리고 있습니다", "나의 대기 순번", `id="wr-eta">약 2분<`, "자바스크립트가 꺼져 있어"},
			[]string{"You&#39;re in line"}},
		{"prequeue", web.QueueData{Lang: "en", Room: "r", State: "prequeue",
			Status: statusOf(t, map[string]any{"state": "prequeue", "position": 0, "waiting": 10, "eta_seconds": -1, "opens_at": opens, "ticket": 0})},
			[]string{"Sales open soon", `<time datetime="2026-12-01T10:00:00&#43;09:00">`, "Opening time: 1 Dec 2026, 10:00", `id="wr-line" hidden`},
			[]string{`id="wr-countdown" hidden`}},
		{"paused keeps the place", web.QueueData{Lang: "en", Room: "r", State: "paused", Status: queued(5)},
			[]string{"Entry is paused", `data-state="paused"`, `id="wr-position" aria-describedby="wr-position-label">5<`, "On hold", `aria-valuenow="17"`},
			[]string{`id="wr-line" hidden`}},
		{"closed", web.QueueData{Lang: "ko", Room: "r", State: "closed", Status: queued(5)},
			[]string{"대기열이 닫혔습니다", `data-state="closed"`, "마감"}, nil},
		{"state from status", web.QueueData{Lang: "xx", Room: "r", Status: statusOf(t, map[string]any{"state": "paused", "position": 3})},
			[]string{`<html lang="en">`, `data-state="paused"`}, nil},
		{"unknown state", web.QueueData{Room: "r", State: "bogus", Status: queued(2)},
			[]string{`data-state="queued"`}, []string{"bogus"}},
		{"no status", web.QueueData{Room: "r", State: "queued"},
			[]string{`data-state="queued"`, `id="wr-line" hidden`}, nil},
	}
	p := newPages(t, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderQueue(t, p, tt.data)
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(page, s) {
					t.Errorf("page contains %q", s)
				}
			}
			cfg := pageConfigOf(t, page)
			if cfg.Text["heading_queued"] == "" {
				t.Error("config has no strings for the script")
			}
		})
	}
}

// The page works without any third-party host: every stylesheet and script
// comes from the gateway's own asset path.
func TestPagesLoadNothingFromElsewhere(t *testing.T) {
	p := newPages(t, "")
	var pages []string
	pages = append(pages, renderQueue(t, p, web.QueueData{Room: "r", Status: queued(1)}))
	for _, render := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return p.RenderUnavailable(b, "en", 10) },
		func(b *bytes.Buffer) error { return p.RenderBadGateway(b, "ko", "req-1") },
		func(b *bytes.Buffer) error { return p.RenderDashboard(b, "ko") },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, b.String())
	}
	ref := regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	for _, page := range pages {
		for _, m := range ref.FindAllStringSubmatch(page, -1) {
			if u := m[1]; u != "" && !strings.HasPrefix(u, web.AssetPrefix) && !strings.HasPrefix(u, "#") && u != web.DashboardRoomsURL {
				t.Errorf("page refers to %q", u)
			}
		}
	}
}

// The 503 page retries by itself after the Retry-After the gateway sends,
// kept within sane bounds.
func TestRenderUnavailable(t *testing.T) {
	tests := []struct {
		lang  string
		retry int
		want  []string
	}{
		{"en", 7, []string{`content="7"`, "Temporarily unavailable", "tries again in 7 seconds"}},
		{"ko", 30, []string{`content="30"`, "일시적으로 이용할 수 없습니다", "30초 후에"}},
		{"en", 0, []string{`content="1"`}},
		{"en", -5, []string{`content="1"`}},
		{"en", 1 << 30, []string{`content="3600"`}},
		{"<script>", 5, []string{`<html lang="en">`}},
	}
	p := newPages(t, "")
	for _, tt := range tests {
		var b bytes.Buffer
		if err := p.RenderUnavailable(&b, tt.lang, tt.retry); err != nil {
			t.Fatal(err)
		}
		for _, s := range tt.want {
			if !strings.Contains(b.String(), s) {
				t.Errorf("RenderUnavailable(%q, %d) lacks %q", tt.lang, tt.retry, s)
			}
		}
	}
}

// The 502 page shows the request id a visitor can quote, escaped.
func TestRenderBadGateway(t *testing.T) {
	p := newPages(t, "")
	var b bytes.Buffer
	if err := p.RenderBadGateway(&b, "ko", `id"><script>alert(1)</script>`); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>alert") {
		t.Error("request id not escaped")
	}
	for _, s := range []string{"사이트가 응답하지 않습니다", "요청 ID", "id&#34;&gt;&lt;script&gt;"} {
		if !strings.Contains(page, s) {
			t.Errorf("502 page lacks %q", s)
		}
	}
	b.Reset()
	if err := p.RenderBadGateway(&b, "en", ""); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Request ID") {
		t.Error("502 page shows an empty request id")
	}
}

// The dashboard carries its own script and styles (the admin listener has
// no asset route) and polls the rooms API, in the operator's language.
func TestRenderDashboard(t *testing.T) {
	p := newPages(t, "")
	for _, tc := range []struct{ lang, htmlLang, heading string }{
		{"en", `lang="en"`, "<h2 id=\"rooms-heading\">Rooms</h2>"},
		{"ko", `lang="ko"`, "<h2 id=\"rooms-heading\">대기실</h2>"},
		{"fr", `lang="en"`, "<h2 id=\"rooms-heading\">Rooms</h2>"},
	} {
		var b bytes.Buffer
		if err := p.RenderDashboard(&b, tc.lang); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for _, s := range []string{tc.htmlLang, tc.heading, `data-rooms-url="/admin/rooms"`, `data-poll-ms="2000"`, `data-text="{`,
			"getContext('2d')", "PATCH", "/admit", "admit_per_minute", "<style>", "max_active"} {
			if !strings.Contains(page, s) {
				t.Errorf("%s dashboard lacks %q", tc.lang, s)
			}
		}
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// An operator brands the page from a directory: their template and CSS
// replace the embedded ones, extra assets are served, the rest stays.
func TestOverrideDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"queue.html": `<!doctype html><html lang="{{.Lang}}"><link rel="stylesheet" href="{{asset "queue.css"}}">` +
			`<img src="{{asset "logo.svg"}}" alt="Acme"><h1>ACME {{.Heading}}</h1><p>{{.PositionText}}</p>` +
			`<script type="application/json" id="wr-config">{{.Config}}</script><script src="{{asset "queue.js"}}"></script>`,
		"queue.css":  "body { background: #ACME00; }",
		"logo.svg":   `<svg xmlns="http://www.w3.org/2000/svg"/>`,
		".DS_Store":  "ignored",
		"README.txt": "notes",
	})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPages(t, dir)
	page := renderQueue(t, p, web.QueueData{Room: "r", State: "queued", Status: queued(77)})
	for _, s := range []string{"ACME You&#39;re in line", "<p>77</p>", web.AssetPrefix + "logo.svg?v="} {
		if !strings.Contains(page, s) {
			t.Errorf("custom page lacks %q:\n%s", s, page)
		}
	}
	pageConfigOf(t, page)
	if body, ctype := get(t, p.Assets(), "queue.css"); !strings.Contains(body, "#ACME00") || !strings.HasPrefix(ctype, "text/css") {
		t.Errorf("queue.css = %q (%s), want the operator's", body, ctype)
	}
	if _, ctype := get(t, p.Assets(), "logo.svg"); ctype != "image/svg+xml" {
		t.Errorf("logo.svg served as %q", ctype)
	}
	if body, _ := get(t, p.Assets(), "queue.js"); !strings.Contains(body, "wr-config") {
		t.Error("embedded queue.js not kept")
	}
	var b bytes.Buffer
	if err := p.RenderUnavailable(&b, "en", 3); err != nil || !strings.Contains(b.String(), "Temporarily unavailable") {
		t.Errorf("embedded 503 page not kept: %v", err)
	}
}

// A broken override stops start-up with an error naming the file, instead
// of failing in front of visitors.
func TestOverrideDirErrorsAtNew(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax", map[string]string{"queue.html": "{{if .State}}unclosed"}, "queue.html"},
		{"unknown function", map[string]string{"badgateway.html": `{{nope .Lang}}`}, "badgateway.html"},
		{"unknown field", map[string]string{"unavailable.html": `<p>{{.NoSuchField}}</p>`}, "unavailable.html"},
		{"unknown text key", map[string]string{"queue.html": `<p>{{.T.no_such_key}}</p>`}, "queue.html"},
		{"unknown asset", map[string]string{"queue.html": `<link href="{{asset "missing.css"}}">`}, "missing.css"},
		{"misspelt page", map[string]string{"queue.htm.html": "x"}, "queue.htm.html"},
		{"bad file name", map[string]string{"my logo.png": "x"}, "my logo.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := web.New(dir)
			if err == nil {
				t.Fatal("New accepted a broken page directory")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
	if _, err := web.New(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("New accepted a missing directory")
	}
}

// An operator's file too big to be a page is refused, not loaded into memory.
func TestOverrideDirRefusesHugeFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := web.New(dir); err == nil || !strings.Contains(err.Error(), "huge.png") {
		t.Errorf("New(%s) = %v, want an error naming huge.png", dir, err)
	}
}

// Rendering the queue page is on the hot path of every queued HTML request.
func BenchmarkRenderQueue(b *testing.B) {
	p := newPages(b, "")
	d := web.QueueData{Lang: "ko", Room: "concert-42", State: "queued", Status: queued(4321),
		StatusURL: "/_waitroom/api/status?room=concert-42", WSURL: "/_waitroom/ws?room=concert-42", ReturnURL: "/events/42"}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := p.RenderQueue(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func FuzzRenderQueue(f *testing.F) {
	f.Add("concert-42", "/events/42", "queued", "</script><script>alert(1)</script>")
	f.Add("\u2028", "javascript:x", "paused", "<!--")
	p := newPages(f, "")
	f.Fuzz(func(t *testing.T, room, returnURL, state, statusRoom string) {
		var b bytes.Buffer
		err := p.RenderQueue(&b, web.QueueData{Room: room, ReturnURL: returnURL, State: state,
			Status: web.Status{State: state, Position: 3, Room: statusRoom}})
		if err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if n := strings.Count(strings.ToLower(page), "<script"); n != 2 {
			t.Fatalf("%d script elements", n)
		}
		cfg := pageConfigOf(t, page)
		if !strings.HasPrefix(cfg.ReturnURL, "/") || strings.HasPrefix(cfg.ReturnURL, "//") {
			t.Fatalf("return_url %q", cfg.ReturnURL)
		}
	})
}
