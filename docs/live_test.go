package docs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/internal/ticketd"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// The reference against running servers: a gateway (both listeners) on
// the test Redis in front of a recording origin, and ticketd on SQLite.
// Every route the reference lists is asked, and must not get the "not
// found" answer; paths and methods it does not list must get it.

const adminToken = "reference-admin-token"

// recorder is an origin that keeps the headers of the last request to each
// path. /revoke answers with Waitroom-Command: revoke.
type recorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]http.Header
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{got: map[string]http.Header{}}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.got[r.URL.Path] = r.Header.Clone()
		rec.mu.Unlock()
		if r.URL.Path == "/revoke" {
			w.Header().Set("Waitroom-Command", "revoke")
			w.Header().Set("Waitroom-Other", "from the origin")
			w.Header()["Waitroom_Alias"] = []string{"from the origin"}
		}
		_, _ = io.WriteString(w, "origin "+r.URL.Path)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) headers(path string) http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.got[path]
}

// liveGateway is one gateway with four rooms: "held" (paused: everyone
// waits) on /held/*, "toll" (a new place costs the toll) on /toll/*,
// "limited" (one place per client, paused) on /limited/*, and "default"
// (idle: everyone goes through) on /*.
type liveGateway struct {
	pub, adm *httptest.Server
	origin   *recorder
}

func startGateway(t *testing.T, trusted bool) *liveGateway {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	origin := newRecorder(t)
	cfg := gateway.DefaultConfig(origin.srv.URL)
	cfg.Redis, cfg.RedisPrefix = rdb, prefix
	room := func(name string, paused bool, paths ...string) queue.Room {
		return queue.Room{Name: name, Paths: paths, AdmitPerMinute: 6000, MaxActive: 1000,
			SessionTTL: 10 * time.Minute, AbandonAfter: time.Minute, Mode: queue.FIFO, Paused: paused}
	}
	tolled, limited := room("toll", true, "/toll/*"), room("limited", true, "/limited/*")
	tolled.Toll, tolled.TollSeconds = true, 0.01
	limited.ClientPlacesHeld = 1
	cfg.Rooms = []queue.Room{room("held", true, "/held/*"), tolled, limited, room("default", false, "/*")}
	cfg.CookieSecret = "reference-cookie-secret-0123456789abcdef"
	cfg.AdminToken = adminToken
	cfg.AdmitInterval = 50 * time.Millisecond
	if trusted {
		cfg.TrustedProxies = gateway.ProxyRanges{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := gateway.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	g.Start(ctx)
	lg := &liveGateway{pub: httptest.NewServer(g.Public()), adm: httptest.NewServer(g.Admin()), origin: origin}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(sctx)
		lg.pub.Close()
		lg.adm.Close()
	})
	return lg
}

// client never follows redirects: the reference documents them.
var client = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// visitor keeps its cookies by hand (a cookie jar would not send Secure
// cookies over plain HTTP) and every cookie it was ever sent.
type visitor struct {
	jar map[string]string
	set []*http.Cookie
}

// answer is a response with its body read.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (v *visitor) do(t *testing.T, method, url string, body string, h http.Header) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if v != nil {
		for _, name := range sorted(v.jar) {
			req.AddCookie(&http.Cookie{Name: name, Value: v.jar[name]})
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if v != nil {
		if v.jar == nil {
			v.jar = map[string]string{}
		}
		for _, c := range resp.Cookies() {
			v.set = append(v.set, c)
			if c.MaxAge < 0 || c.Value == "" {
				delete(v.jar, c.Name)
			} else {
				v.jar[c.Name] = c.Value
			}
		}
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: b}
}

// keys lists the names of a JSON object.
func keys(t *testing.T, what string, body []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: not a JSON object (%v): %s", what, err, body)
	}
	return sorted(m)
}

// route is one row of a route table.
type route struct {
	cell, method, path string
	codes              []int
}

var codeRE = regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)

func routes(t *testing.T, table string) []route {
	t.Helper()
	var out []route
	for _, r := range checked(t, table) {
		spans := ticks(r[0])
		if len(spans) == 0 || len(r) < 2 {
			t.Fatalf("%s: a row of %q has no route: %v", referenceFile, table, r)
		}
		rt := route{cell: spans[0], path: spans[0]}
		if m, p, ok := strings.Cut(spans[0], " "); ok && m == strings.ToUpper(m) {
			rt.method, rt.path = m, p
		}
		for _, c := range codeRE.FindAllString(r[1], -1) {
			n, _ := strconv.Atoi(c)
			rt.codes = append(rt.codes, n)
		}
		if len(rt.codes) == 0 {
			t.Fatalf("%s: route %q lists no status codes", referenceFile, rt.cell)
		}
		out = append(out, rt)
	}
	return out
}

// fill puts real values in a documented path: {name} and NAME a room,
// {id} an id, a final * a file that exists.
func fill(path, room, id, file string) string {
	path = strings.NewReplacer("{name}", room, "NAME", room, "{id}", id).Replace(path)
	if strings.HasSuffix(path, "*") {
		path = strings.TrimSuffix(path, "*") + file
	}
	return path
}

// gatewayNotFound reports whether an answer is the gateway's own "not
// found" (public /_waitroom/ paths, admin listener).
func gatewayNotFound(a answer) bool {
	var e struct{ Error string }
	return a.code == http.StatusNotFound && json.Unmarshal(a.body, &e) == nil && e.Error == "not found"
}

// otherMethods are the methods a path is asked with that its row does not
// list.
var otherMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// documentedMethods maps each path to the methods its rows list.
func documentedMethods(rs []route) map[string][]string {
	m := map[string][]string{}
	for _, r := range rs {
		if r.method != "" {
			m[r.path] = append(m[r.path], r.method)
		}
	}
	return m
}

func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + adminToken}}
}

// TestReferenceGateway asks a real gateway every route of the public and
// admin route tables, and checks the cookies, headers, JSON documents and
// the pass it hands out against the reference.
func TestReferenceGateway(t *testing.T) {
	lg := startGateway(t, false)
	answers := map[string]answer{}

	// The public listener, in the table's order: the first visit makes
	// the visitor (wr_id), which the status API and the socket need.
	v := &visitor{}
	pub := routes(t, "public routes")
	for _, r := range pub {
		path := fill(r.path, "default", "", "queue.css")
		if r.path == "/*" {
			path = "/reference/page"
		}
		var a answer
		if strings.HasPrefix(path, "/_waitroom/ws") {
			a = dialStatusSocket(t, lg.pub.URL+path, v)
		} else {
			a = v.do(t, cmp(r.method, http.MethodGet), lg.pub.URL+path, "", http.Header{"Accept": {"application/json"}})
		}
		checkAnswer(t, "public listener", r, a)
		answers["public "+r.cell] = a
	}
	for _, p := range []string{"/_waitroom/", "/_waitroom/api/", "/_waitroom/api/rooms", "/_waitroom/status",
		"/_waitroom/websocket", "/_waitroom/admin/rooms", "/_waitroom/jwks", "/_waitroom/metrics", "/_waitroom/healthz"} {
		if a := v.do(t, http.MethodGet, lg.pub.URL+p, "", nil); !gatewayNotFound(a) {
			t.Errorf("public listener: GET %s answers %d %s; it is not in %s, so it should be the gateway's 404 not found",
				p, a.code, a.body, referenceFile)
		}
	}
	for path, methods := range documentedMethods(pub) {
		for _, m := range otherMethods {
			if slices.Contains(methods, m) {
				continue
			}
			p := fill(path, "default", "", "queue.css")
			if a := v.do(t, m, lg.pub.URL+p, "{}", jsonHeader()); !gatewayNotFound(a) {
				t.Errorf("public listener: %s %s answers %d %s; %s lists only %v for it", m, p, a.code, a.body, referenceFile, methods)
			}
		}
	}

	// The admin listener.
	adm := routes(t, "admin routes")
	for _, r := range adm {
		path := fill(r.path, "default", "", "dashboard.css")
		if r.path == "/debug/pprof/*" {
			path = "/debug/pprof/"
		}
		body := ""
		switch {
		case strings.HasSuffix(r.path, "/admit"):
			body = `{"count":1}`
		case r.method != "" && r.method != http.MethodGet:
			body = `{}`
		}
		a := (*visitor)(nil).do(t, cmp(r.method, http.MethodGet), lg.adm.URL+path, body, jsonHeader())
		checkAnswer(t, "admin listener", r, a)
		answers["admin "+r.cell] = a
	}
	for _, p := range []string{"/admin/rooms/", "/admin/rooms/default/delete", "/admin/rooms/default/admit/now",
		"/admin/rooms/nope/x", "/admin/config", "/admin/users", "/admin/history/1", "/debug/", "/debug/vars",
		"/metrics/x", "/favicon.ico", "/_waitroom/api/status", "/_waitroom/ws"} {
		if a := (*visitor)(nil).do(t, http.MethodGet, lg.adm.URL+p, "", jsonHeader()); !gatewayNotFound(a) {
			t.Errorf("admin listener: GET %s answers %d %s; it is not in %s, so it should be the 404 not found",
				p, a.code, a.body, referenceFile)
		}
	}
	for path, methods := range documentedMethods(adm) {
		for _, m := range otherMethods {
			if slices.Contains(methods, m) {
				continue
			}
			p := fill(path, "default", "", "dashboard.css")
			if a := (*visitor)(nil).do(t, m, lg.adm.URL+p, "{}", jsonHeader()); !gatewayNotFound(a) {
				t.Errorf("admin listener: %s %s answers %d %s; %s lists only %v for it", m, p, a.code, a.body, referenceFile, methods)
			}
		}
	}

	t.Run("json", func(t *testing.T) {
		body := func(key string) []byte {
			t.Helper()
			a, ok := answers[key]
			if !ok {
				t.Fatalf("%s lists no route %q", referenceFile, strings.SplitN(key, " ", 2)[1])
			}
			return a.body
		}
		statusFields, only := stateFields(t, checked(t, "json status"))
		sameSet(t, "status API answer", statusFields, keys(t, "status API", body("public GET /_waitroom/api/status?room=NAME")))
		sameSet(t, "WebSocket message", statusFields, keys(t, "WebSocket", body("public GET /_waitroom/ws?room=NAME")))
		api := http.Header{"Accept": {"application/json"}}
		queued := v.do(t, http.MethodGet, lg.pub.URL+"/held/x", "", api)
		if queued.code != http.StatusTooManyRequests {
			t.Fatalf("a request to a paused room answered %d, want 429", queued.code)
		}
		sameSet(t, "429 queue answer", statusFields, keys(t, "429", queued.body))
		tolled := v.do(t, http.MethodGet, lg.pub.URL+"/toll/x", "", api)
		sameSet(t, "429 toll answer", append(statusFields, only["toll"]...), keys(t, "429 toll", tolled.body))
		(&visitor{}).do(t, http.MethodGet, lg.pub.URL+"/limited/x", "", api) // the one place of 127.0.0.1
		limited := (&visitor{}).do(t, http.MethodGet, lg.pub.URL+"/limited/x", "", api)
		sameSet(t, "429 limited answer", append(statusFields, only["limited"]...), keys(t, "429 limited", limited.body))

		roomFields := firstTicks(t, checked(t, "json room"))
		sameSet(t, "GET /admin/rooms/{name}", roomFields, keys(t, "room", body("admin GET /admin/rooms/{name}")))
		sameSet(t, "PATCH /admin/rooms/{name}", roomFields, keys(t, "room", body("admin PATCH /admin/rooms/{name}")))
		var list struct{ Rooms []json.RawMessage }
		if err := json.Unmarshal(body("admin GET /admin/rooms"), &list); err != nil || len(list.Rooms) == 0 {
			t.Fatalf("GET /admin/rooms: %v %s", err, body("admin GET /admin/rooms"))
		}
		sameSet(t, "GET /admin/rooms", roomFields, keys(t, "rooms[0]", list.Rooms[0]))

		var hist struct{ Rooms map[string][]json.RawMessage }
		if err := json.Unmarshal(body("admin GET /admin/history"), &hist); err != nil {
			t.Fatal(err)
		}
		for name, samples := range hist.Rooms {
			if len(samples) > 0 {
				sameSet(t, "GET /admin/history sample of "+name, firstTicks(t, checked(t, "json history")), keys(t, "sample", samples[0]))
			}
		}

		checkAnswerFields(t, "answers admin", "admin ", answers)
		checkBodyFields(t, "request bodies admin", func(method, path string) answer {
			return (*visitor)(nil).do(t, method, lg.adm.URL+fill(path, "default", "", ""), `{"zz_not_a_field":1}`, jsonHeader())
		})

		var set struct{ Keys []json.RawMessage }
		if err := json.Unmarshal(body("public GET /_waitroom/jwks.json"), &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("jwks.json: %v %s", err, body("public GET /_waitroom/jwks.json"))
		}
		sameSet(t, "a key of /_waitroom/jwks.json", firstTicks(t, checked(t, "jwk")), keys(t, "jwk", set.Keys[0]))
	})

	t.Run("pass", func(t *testing.T) {
		pass := v.jar[token.CookieName("default")]
		if pass == "" {
			t.Fatalf("the visitor of an idle room holds no %s cookie", token.CookieName("default"))
		}
		header, claims := jwtParts(t, pass)
		sameSet(t, "the header of a pass the gateway issued", firstTicks(t, checked(t, "pass header")), header)
		sameSet(t, "the claims of a pass the gateway issued", firstTicks(t, checked(t, "pass claims")), claims)
	})

	t.Run("cookies", func(t *testing.T) {
		// The visitor so far was admitted and has been through the
		// status API; a revoke clears the pass cookie.
		v.do(t, http.MethodGet, lg.pub.URL+"/revoke", "", nil)
		var names []string
		for _, c := range v.set {
			name := strings.Replace(c.Name, "default", "<room>", 1)
			if rest, ok := strings.CutPrefix(name, gateway.ReceiptCookie("")); ok && rest != "<room>" {
				name = gateway.ReceiptCookie("<room>") // a receipt of another room the visitor queued in
			}
			names = append(names, name)
		}
		sameSet(t, "cookies a gateway sets", firstTicks(t, checked(t, "cookies")), sorted(setOf(names)))
		checkCookieFlags(t, v.set, false)
		if _, ok := v.jar[token.CookieName("default")]; ok {
			t.Errorf("an origin's Waitroom-Command: revoke did not clear %s", token.CookieName("default"))
		}
	})
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkAnswer fails unless a route's answer is one of the statuses its row
// lists (so not the "not found" of an unlisted path either).
func checkAnswer(t *testing.T, where string, r route, a answer) {
	t.Helper()
	if gatewayNotFound(a) {
		t.Errorf("%s: %s is in %s but answers the 404 not found", where, r.cell, referenceFile)
		return
	}
	if !slices.Contains(r.codes, a.code) {
		t.Errorf("%s: %s answered %d, which its row in %s does not list (%v): %.200s", where, r.cell, a.code, referenceFile, r.codes, a.body)
	}
}

// checkAnswerFields compares an "answers" table (answer | fields) with
// the answers the route probes got.
func checkAnswerFields(t *testing.T, table, prefix string, answers map[string]answer) {
	t.Helper()
	for _, r := range checked(t, table) {
		key := prefix + ticks(r[0])[0]
		a, ok := answers[key]
		if !ok {
			t.Errorf("%s: %q in %q is not a route of the route table", referenceFile, ticks(r[0])[0], table)
			continue
		}
		sameSet(t, ticks(r[0])[0], ticks(r[1]), keys(t, key, a.body))
	}
}

var allowedRE = regexp.MustCompile(`allowed: ([^)]*)\)`)

// checkBodyFields compares a "request bodies" table (request | fields)
// with the fields the server takes: a body with an unknown field is
// refused with the list of the allowed ones.
func checkBodyFields(t *testing.T, table string, send func(method, path string) answer) {
	t.Helper()
	for _, r := range checked(t, table) {
		method, path, _ := strings.Cut(ticks(r[0])[0], " ")
		a := send(method, path)
		var e struct{ Error, Message, Code string }
		_ = json.Unmarshal(a.body, &e)
		m := allowedRE.FindStringSubmatch(e.Error + e.Message)
		if a.code != http.StatusBadRequest || m == nil {
			t.Errorf("%s %s with an unknown field answered %d %s; want 400 naming the allowed fields", method, path, a.code, a.body)
			continue
		}
		sameSet(t, "the body of "+method+" "+path, ticks(r[1]), strings.Split(m[1], ", "))
	}
}

// dialStatusSocket opens the status WebSocket as the visitor and returns
// the handshake's status and the first message.
func dialStatusSocket(t *testing.T, url string, v *visitor) answer {
	t.Helper()
	h := http.Header{}
	for _, name := range sorted(v.jar) {
		h.Add("Cookie", (&http.Cookie{Name: name, Value: v.jar[name]}).String())
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http"), h)
	if err != nil {
		a := answer{code: 0}
		if resp != nil {
			a.code, a.header = resp.StatusCode, resp.Header
			a.body, _ = io.ReadAll(resp.Body)
		}
		t.Fatalf("WebSocket %s: %v (%d %s)", url, err, a.code, a.body)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("WebSocket %s: no first message: %v", url, err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: msg}
}

// jwtParts decodes a compact JWS's header and payload and lists their
// names.
func jwtParts(t *testing.T, tok string) (header, claims []string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	var out [2][]string
	for i := range 2 {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = keys(t, "JWS part", b)
	}
	return out[0], out[1]
}

// checkCookieFlags checks the flags every cookie of the gateway carries.
func checkCookieFlags(t *testing.T, set []*http.Cookie, secure bool) {
	t.Helper()
	if len(set) == 0 {
		t.Fatal("the gateway set no cookie")
	}
	for _, c := range set {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != secure {
			t.Errorf("cookie %s: HttpOnly %v, SameSite %v, Path %q, Secure %v; %s says HttpOnly, SameSite=Lax, Path=/ and Secure %v here",
				c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure, referenceFile, secure)
		}
	}
}

// TestReferenceHeaders sends every client header of the reference through
// a gateway that trusts the test's address and one that does not, as an
// admitted visitor, and compares what the origin got with the table; then
// checks the headers the gateway adds to its own answers.
func TestReferenceHeaders(t *testing.T) {
	rows := checked(t, "client headers")
	for _, trusted := range []bool{true, false} {
		name, col := "untrusted peer", 2
		if trusted {
			name, col = "trusted proxy", 1
		}
		t.Run(name, func(t *testing.T) {
			lg := startGateway(t, trusted)
			v := &visitor{}
			first := v.do(t, http.MethodGet, lg.pub.URL+"/page", "", http.Header{"X-Forwarded-Proto": {"https"}})
			if first.code != http.StatusOK || v.jar[token.CookieName("default")] == "" {
				t.Fatalf("the first visit of an idle room answered %d without a pass: %s", first.code, first.body)
			}
			checkCookieFlags(t, v.set, trusted)

			sent := http.Header{}
			values := map[string]string{}
			for _, r := range rows {
				for _, h := range ticks(r[0]) {
					h = strings.Replace(h, "*", "Probe", 1)
					val := "client-" + strings.ToLower(h)
					switch strings.ToLower(h) {
					case "x-forwarded-for":
						val = "203.0.113.7"
					case "x-forwarded-proto":
						val = "https"
					}
					sent[h] = []string{val} // as spelt: underscores stay
					values[h] = val
				}
			}
			if a := v.do(t, http.MethodGet, lg.pub.URL+"/probe", "", sent); a.code != http.StatusOK {
				t.Fatalf("admitted visitor's request answered %d: %s", a.code, a.body)
			}
			got := lg.origin.headers("/probe")
			for _, r := range rows {
				verdict := strings.ToLower(strings.Trim(strings.Fields(r[col])[0], ";:,"))
				for _, h := range ticks(r[0]) {
					h = strings.Replace(h, "*", "Probe", 1)
					checkForwarded(t, h, verdict, values[h], headerValues(got, h))
				}
			}
			if pass := headerValues(got, token.HeaderPass); len(pass) != 1 || pass[0] != v.jar[token.CookieName("default")] {
				t.Errorf("the origin got %s %q, want the visitor's pass", token.HeaderPass, pass)
			}
		})
	}

	t.Run("answers", func(t *testing.T) {
		lg := startGateway(t, false)
		v := &visitor{}
		proxied := v.do(t, http.MethodGet, lg.pub.URL+"/page", "", nil)
		queued := v.do(t, http.MethodGet, lg.pub.URL+"/held/page", "", http.Header{"Accept": {"application/json"}})
		status := v.do(t, http.MethodGet, lg.pub.URL+"/_waitroom/api/status?room=held", "", nil)
		seen := http.Header{}
		for _, a := range []answer{proxied, queued, status} {
			for k, vs := range a.header {
				seen[k] = vs
			}
		}
		for _, r := range checked(t, "gateway headers") {
			h := ticks(r[0])[0]
			if seen.Get(h) == "" {
				t.Errorf("%s documents the response header %s, which none of a proxied, a queued (429) and a status answer carries", referenceFile, h)
			}
		}
		if queued.header.Get("Cache-Control") != "no-store" {
			t.Errorf("the 429 queue answer has Cache-Control %q, want no-store", queued.header.Get("Cache-Control"))
		}

		revoked := v.do(t, http.MethodGet, lg.pub.URL+"/revoke", "", nil)
		for k := range revoked.header {
			if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "waitroom-") {
				t.Errorf("the origin's header %s reached the visitor", k)
			}
		}
	})
}

// headerValues are the values of the header named exactly h (any case;
// underscores stay underscores).
func headerValues(h http.Header, name string) []string {
	var out []string
	for k, vs := range h {
		if strings.EqualFold(k, name) {
			out = append(out, vs...)
		}
	}
	return out
}

// checkForwarded checks what the origin got of a client header against
// the reference's verdict for it.
func checkForwarded(t *testing.T, name, verdict, sent string, got []string) {
	t.Helper()
	ok := false
	switch verdict {
	case "kept":
		ok = len(got) == 1 && got[0] == sent
	case "dropped":
		ok = !slices.Contains(got, sent)
	case "replaced":
		ok = len(got) == 1 && got[0] != sent && got[0] != ""
	case "appended":
		ok = len(got) == 1 && strings.HasPrefix(got[0], sent+", ") && len(got[0]) > len(sent)+2
	default:
		t.Errorf("%s: %s is %q; the client headers table knows kept, dropped, replaced and appended", referenceFile, name, verdict)
		return
	}
	if !ok {
		t.Errorf("%s: the client sent %q and the origin got %q; %s says %s", name, sent, got, referenceFile, verdict)
	}
}

// TestReferenceTicketd asks a real ticketd every route of its table and
// checks its JSON documents against the reference.
func TestReferenceTicketd(t *testing.T) {
	const secret = "reference-pass-secret-0123456789abcdef"
	cfg := ticketd.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DatabaseURL = "sqlite://" + filepath.Join(t.TempDir(), "ticketd.db")
	cfg.PassSecret = secret
	cfg.AdminToken = adminToken
	cfg.SeedDemo = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := ticketd.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	signer, err := token.NewHS256Signer([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	sessions := 0
	passHeader := func(room string) http.Header {
		sessions++
		p, _, err := signer.Sign(time.Now(), "reference-visitor", room, "reference-session-"+strconv.Itoa(sessions), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Content-Type": {"application/json"}, token.HeaderPass: {p}}
	}
	const newEvent = `{"name":"Reference night","room":"default","total":100,"price":5000,"starts_at":"2030-01-02T19:00:00Z"}`
	created := (*visitor)(nil).do(t, http.MethodPost, hs.URL+"/admin/events", newEvent, jsonHeader())
	var ev struct{ ID int64 }
	if err := json.Unmarshal(created.body, &ev); err != nil || created.code != http.StatusCreated {
		t.Fatalf("POST /admin/events: %d %s", created.code, created.body)
	}
	eventID := strconv.FormatInt(ev.ID, 10)
	ordered := (*visitor)(nil).do(t, http.MethodPost, hs.URL+"/api/events/"+eventID+"/orders", `{"quantity":1}`, passHeader("default"))
	var order struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(ordered.body, &order); err != nil || ordered.code != http.StatusCreated {
		t.Fatalf("POST order: %d %s", ordered.code, ordered.body)
	}

	notServed := func(a answer) bool {
		return a.code == http.StatusMethodNotAllowed || a.code == http.StatusNotFound && string(a.body) == "404 page not found\n"
	}
	answers := map[string]answer{}
	rs := routes(t, "ticketd routes")
	for _, r := range rs {
		id := eventID
		if strings.HasPrefix(r.path, "/api/orders/") {
			id = order.OrderID
		}
		path := fill(r.path, "default", id, "ticketd.css")
		var a answer
		switch r.cell {
		case "POST /api/events/{id}/orders":
			a = (*visitor)(nil).do(t, r.method, hs.URL+path, `{"quantity":1}`, passHeader("default"))
		case "POST /admin/events":
			a = (*visitor)(nil).do(t, r.method, hs.URL+path, newEvent, jsonHeader())
		default:
			a = (*visitor)(nil).do(t, cmp(r.method, http.MethodGet), hs.URL+path, "", nil)
		}
		if notServed(a) {
			t.Errorf("ticketd: %s is in %s but answers %d %s", r.cell, referenceFile, a.code, a.body)
		} else if !slices.Contains(r.codes, a.code) {
			t.Errorf("ticketd: %s answered %d, which its row in %s does not list (%v): %.200s", r.cell, a.code, referenceFile, r.codes, a.body)
		}
		answers[r.cell] = a
	}
	for _, p := range []string{"/api/", "/api/orders", "/api/events/" + eventID + "/order", "/admin/events/" + eventID,
		"/admin/", "/events/", "/favicon.ico", "/debug/pprof/", "/_waitroom/api/status"} {
		if a := (*visitor)(nil).do(t, http.MethodGet, hs.URL+p, "", nil); !notServed(a) {
			t.Errorf("ticketd: GET %s answers %d %.100s; it is not in %s", p, a.code, a.body, referenceFile)
		}
	}
	for path, methods := range documentedMethods(rs) {
		for _, m := range otherMethods {
			if slices.Contains(methods, m) {
				continue
			}
			p := fill(path, "default", eventID, "ticketd.css")
			if a := (*visitor)(nil).do(t, m, hs.URL+p, "{}", jsonHeader()); !notServed(a) {
				t.Errorf("ticketd: %s %s answers %d %.100s; %s lists only %v for it", m, p, a.code, a.body, referenceFile, methods)
			}
		}
	}

	eventFields := firstTicks(t, checked(t, "json event"))
	sameSet(t, "GET /api/events/{id}", eventFields, keys(t, "event", answers["GET /api/events/{id}"].body))
	var events []json.RawMessage
	if err := json.Unmarshal(answers["GET /api/events"].body, &events); err != nil || len(events) == 0 {
		t.Fatalf("GET /api/events: %v %s", err, answers["GET /api/events"].body)
	}
	sameSet(t, "GET /api/events", eventFields, keys(t, "events[0]", events[0]))
	sameSet(t, "GET /api/orders/{id}", firstTicks(t, checked(t, "json order")), keys(t, "order", answers["GET /api/orders/{id}"].body))
	checkAnswerFields(t, "answers ticketd", "", answers)
	checkBodyFields(t, "request bodies ticketd", func(method, path string) answer {
		h := jsonHeader()
		if strings.Contains(path, "/orders") {
			h = passHeader("default")
		}
		return (*visitor)(nil).do(t, method, hs.URL+fill(path, "default", eventID, ""), `{"zz_not_a_field":1}`, h)
	})

	// Error bodies: a few refusals, each within the documented fields.
	errorFields := firstTicks(t, checked(t, "json ticketd error"))
	for _, a := range []answer{
		(*visitor)(nil).do(t, http.MethodPost, hs.URL+"/api/events/"+eventID+"/orders", `{"quantity":1}`, http.Header{"Content-Type": {"application/json"}}),
		(*visitor)(nil).do(t, http.MethodPost, hs.URL+"/api/events/"+eventID+"/orders", `{"quantity":1}`,
			http.Header{"Content-Type": {"application/json"}, token.HeaderPass: {"not-a-pass"}}),
		(*visitor)(nil).do(t, http.MethodPost, hs.URL+"/api/events/"+eventID+"/orders", `{"quantity":1000}`, passHeader("default")),
		(*visitor)(nil).do(t, http.MethodGet, hs.URL+"/api/events/999999", "", nil),
	} {
		for _, k := range keys(t, "ticketd error", a.body) {
			if !slices.Contains(errorFields, k) {
				t.Errorf("ticketd's error %s has the field %q, which %s does not document", a.body, k, referenceFile)
			}
		}
	}
	var pe struct{ Error, Reason string }
	bad := (*visitor)(nil).do(t, http.MethodPost, hs.URL+"/api/events/"+eventID+"/orders", `{"quantity":1}`,
		http.Header{"Content-Type": {"application/json"}, token.HeaderPass: {"not-a-pass"}})
	if err := json.Unmarshal(bad.body, &pe); err != nil || pe.Error != "pass_invalid" || !slices.Contains(firstTicks(t, checked(t, "pass reasons")), pe.Reason) {
		t.Errorf("a bad pass answered %s; want pass_invalid with a documented reason", bytes.TrimSpace(bad.body))
	}
}

// stateFields splits the status document's fields into those of every
// answer and those documented as one state's only ("state `toll` only: …").
func stateFields(t *testing.T, rows []row) (always []string, only map[string][]string) {
	t.Helper()
	only = map[string][]string{}
	for _, r := range rows {
		name := firstTicks(t, []row{r})
		if len(name) == 0 || len(r) < 2 {
			continue
		}
		if rest, ok := strings.CutPrefix(r[1], "state `"); ok {
			if state, tail, ok := strings.Cut(rest, "`"); ok && strings.HasPrefix(tail, " only") {
				only[state] = append(only[state], name[0])
				continue
			}
		}
		always = append(always, name[0])
	}
	return always, only
}
