package web

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom/gateway/toll"
)

//go:embed files
var embedded embed.FS

// AssetPrefix is where the gateway mounts Assets on the public listener;
// the pages link their CSS and JavaScript under it.
const AssetPrefix = "/_waitroom/assets/"

// DashboardRoomsURL is what the dashboard polls for its figures, and
// DashboardHistoryURL what it reads its charts' past from when it opens.
const (
	DashboardRoomsURL   = "/admin/rooms"
	DashboardHistoryURL = "/admin/history"
)

// RefreshSeconds is how often the queue page reloads itself for visitors
// without JavaScript.
const RefreshSeconds = 15

// maxFileSize bounds each file read from an operator's page directory.
const maxFileSize = 4 << 20

// The page templates. Any other file in the embedded set or the operator's
// directory is an asset.
const (
	queuePage       = "queue.html"
	unavailablePage = "unavailable.html"
	badGatewayPage  = "badgateway.html"
	dashboardPage   = "dashboard.html"
)

var pageNames = []string{queuePage, unavailablePage, badGatewayPage, dashboardPage}

// tollWorker is the queue page's toll solver, run as a Web Worker.
const tollWorker = "toll-worker.js"

// fileName is what a file in the page directory may be called: one flat
// namespace, no paths, no hidden files.
var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Pages renders waitroom's pages and serves their assets. It is built once
// by New and safe for concurrent use.
type Pages struct {
	templates map[string]*template.Template
	assets    map[string]*asset
	textJSON  map[string]json.RawMessage // each language's catalog, marshalled once
	bufs      sync.Pool
}

// Status is a visitor's status document (SPEC "Status JSON", plus the
// visitor's queue number): what the status API answers, the WebSocket
// pushes, and the queue page shows on its first paint and hands to its
// script. It is the one type of it: the gateway fills it, this package
// renders it.
type Status struct {
	Room  string `json:"room"`
	State string `json:"state"` // prequeue, queued, admitted, paused, closed; toll or limited for a join not granted
	// Position is 1 for the next visitor to be admitted; 0 when there is
	// none (pre-queue, admitted, not in line).
	Position int64 `json:"position"`
	Waiting  int64 `json:"waiting"`     // visitors waiting in the room
	ETA      int64 `json:"eta_seconds"` // expected wait in seconds; -1 when unknown
	// AdmitPerMinute is the room's effective admission rate (live changes
	// included).
	AdmitPerMinute int        `json:"admit_per_minute"`
	OpensAt        *time.Time `json:"opens_at"` // the room's opening, null when none
	Ticket         int64      `json:"ticket"`   // the visitor's queue number; 0 when none

	// A join the room did not grant: state "toll" carries the challenge to
	// solve (gateway/toll); state "limited" the reason ("rate": too many
	// new places from the visitor's network lately, "held": too many held
	// at once) and when to try again.
	Challenge  *toll.Challenge `json:"challenge,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	RetryAfter int64           `json:"retry_after,omitempty"` // seconds
}

// QueueData is what the queue page shows.
type QueueData struct {
	Lang      string // "en" or "ko" (see Lang); anything else means "en"
	Room      string // the room's name; empty: Status.Room
	State     string // prequeue, queued, paused or closed; empty: Status.State
	Status    Status // the visitor's status
	StatusURL string // status API for polling, e.g. "/_waitroom/api/status?room=concert-42"
	WSURL     string // WebSocket path, e.g. "/_waitroom/ws?room=concert-42"; the page picks ws: or wss:
	ReturnURL string // the URL the visitor asked for; reloaded once admitted
}

// New loads the embedded pages and, when dir is not empty, the operator's
// replacements from dir: a file there named like an embedded one
// (queue.html, queue.css, queue.js, …) replaces it, any other asset
// (logo.png, …) is added, and an .html file that is not one of the pages
// is refused so a misspelt name does not go unnoticed. Every template is
// parsed and test-rendered in every language and state, so a broken
// template is an error here, naming the file, and not a broken page later.
func New(dir string) (*Pages, error) {
	files := map[string][]byte{}
	origin := map[string]string{}
	err := fs.WalkDir(embedded, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		files[path.Base(p)], origin[path.Base(p)] = b, "embedded"
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("web: embedded files: %w", err)
	}
	if dir != "" {
		if err := readDir(dir, files, origin); err != nil {
			return nil, err
		}
	}

	p := &Pages{templates: map[string]*template.Template{}, assets: map[string]*asset{}, textJSON: map[string]json.RawMessage{}}
	for _, lang := range languages {
		b, err := json.Marshal(messages[lang])
		if err != nil {
			return nil, fmt.Errorf("web: %s strings: %w", lang, err)
		}
		p.textJSON[lang] = b
	}
	p.bufs.New = func() any { return new(bytes.Buffer) }
	for name, body := range files {
		if !strings.HasSuffix(name, ".html") {
			p.assets[name] = newAsset(name, body)
		}
	}
	funcs := template.FuncMap{
		"asset":     p.assetURL,
		"inlineCSS": p.inlineCSS,
		"inlineJS":  p.inlineJS,
	}
	for _, name := range pageNames {
		t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(files[name]))
		if err != nil {
			return nil, fmt.Errorf("web: %s (%s): %w", name, origin[name], err)
		}
		p.templates[name] = t
	}
	for _, name := range pageNames {
		if err := p.tryRender(name); err != nil {
			return nil, fmt.Errorf("web: %s (%s) does not render: %w", name, origin[name], err)
		}
	}
	return p, nil
}

// readDir overlays the operator's files on the embedded ones.
func readDir(dir string, files map[string][]byte, origin map[string]string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("web: page directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if !fileName.MatchString(name) {
			return fmt.Errorf("web: page directory %s: file name %q: use letters, digits, '.', '-' and '_' only", dir, name)
		}
		if strings.HasSuffix(name, ".html") && !isPage(name) {
			return fmt.Errorf("web: page directory %s: %s is not one of the pages (%s)", dir, name, strings.Join(pageNames, ", "))
		}
		full := filepath.Join(dir, name)
		info, err := os.Stat(full)
		if err != nil {
			return fmt.Errorf("web: page directory: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if info.Size() > maxFileSize {
			return fmt.Errorf("web: %s is %d bytes; page files are limited to %d", full, info.Size(), maxFileSize)
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return fmt.Errorf("web: page directory: %w", err)
		}
		files[name], origin[name] = b, full
	}
	return nil
}

func isPage(name string) bool {
	for _, p := range pageNames {
		if p == name {
			return true
		}
	}
	return false
}

// tryRender renders a page with sample data in every language (and, for the
// queue page, every state) so execution errors surface at start-up.
func (p *Pages) tryRender(name string) error {
	for _, lang := range languages {
		var err error
		switch name {
		case queuePage:
			for _, state := range []string{"prequeue", "queued", "paused", "closed", "admitted", "toll", "limited"} {
				opens := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("KST", 9*3600))
				err = errors.Join(err, p.RenderQueue(io.Discard, QueueData{
					Lang: lang, Room: "sample", State: state,
					Status: Status{
						Room: "sample", State: state, Position: 42, Waiting: 1234, ETA: 95,
						AdmitPerMinute: 600, OpensAt: &opens, Ticket: 1042,
						Challenge: &toll.Challenge{Algorithm: "SHA-256", MaxNumber: 100}, Reason: "rate", RetryAfter: 30,
					},
					StatusURL: "/_waitroom/api/status?room=sample", WSURL: "/_waitroom/ws?room=sample", ReturnURL: "/sample",
				}))
			}
		case unavailablePage:
			err = p.RenderUnavailable(io.Discard, lang, 10)
		case badGatewayPage:
			err = p.RenderBadGateway(io.Discard, lang, "sample-request-id")
		case dashboardPage:
			if lang == languages[0] {
				err = p.RenderDashboard(io.Discard, languages[0])
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// pageConfig is what queue.js reads from the page (JSON in a
// <script type="application/json"> element).
type pageConfig struct {
	Lang          string          `json:"lang"`
	Room          string          `json:"room"`
	Status        Status          `json:"status"`
	StatusURL     string          `json:"status_url"`
	WSURL         string          `json:"ws_url"`
	ReturnURL     string          `json:"return_url"`
	TollWorkerURL string          `json:"toll_worker_url"`
	Text          json.RawMessage `json:"text"`
}

// queueView is the queue template's data: what an operator's queue.html
// can use. Texts are already filled in, in the page's language; T is the
// whole catalog (messages.go) for anything else.
type queueView struct {
	Lang  string            // "en" or "ko"
	Room  string            // the room's name
	State string            // prequeue, queued, paused, closed, admitted, toll or limited
	T     map[string]string // every string in Lang, by key

	Heading, Lead, StateLabel, StateIcon string // the state in words (and a symbol)

	ShowLine      bool // a position to show (queued, paused or closed with a place)
	ShowCountdown bool // pre-queue: show the countdown to OpensAt
	Admitted      bool
	HasTicket     bool // the visitor has a queue number
	ShowToll      bool // toll: the browser check's progress
	ShowRetry     bool // limited: when the page tries again

	TollText  string // "Checking… 0%"
	RetryText string // "Trying again in 30 s"

	Position                         int64  // 1 = next; 0 when none
	PositionText, AheadText, ETAText string // formatted; "–" when not in line
	TicketText, WaitingText          string
	Progress                         int    // 0..100, as queue.js computes it on a first visit
	ProgressText                     string // "42% of the way"

	OpensAt     string // RFC 3339, empty when none
	OpensAtText string // "Opening time: …", empty when none

	Refresh  int    // seconds between reloads without JavaScript
	ConnText string // the connection line before the script runs
	NoScript string // the note for visitors without JavaScript

	ReturnURL, StatusURL, WSURL string      // reduced to paths on this site
	Config                      template.JS // the JSON queue.js reads from <script id="wr-config">
}

var stateIcons = map[string]string{
	"prequeue": "◷", "queued": "▶", "paused": "❚❚", "closed": "■", "admitted": "✓", "toll": "◔", "limited": "⧖",
}

// RenderQueue writes the queue page. Hostile values (a room name, a return
// URL) are escaped by html/template, and the page only ever navigates to,
// polls and connects to paths on its own site.
func (p *Pages) RenderQueue(w io.Writer, d QueueData) error {
	v := newQueueView(d)
	cfg, err := p.pageConfig(v, d.Status)
	if err != nil {
		return err
	}
	v.Config = cfg
	return p.render(w, queuePage, v)
}

// newQueueView fills the template's data from d, in d's language.
func newQueueView(d QueueData) queueView {
	lang := normalLang(d.Lang)
	t := messages[lang]
	s := d.Status
	state := cmp.Or(d.State, s.State)
	if _, ok := stateIcons[state]; !ok {
		state = "queued"
	}
	v := queueView{
		Lang: lang, Room: cmp.Or(d.Room, s.Room), State: state, T: t,
		Heading:    t["heading_"+state],
		Lead:       cmp.Or(t["lead_"+state+"_"+s.Reason], t["lead_"+state]),
		StateLabel: t["state_"+state],
		StateIcon:  stateIcons[state],
		Admitted:   state == "admitted",
		Position:   s.Position,
		ETAText:    etaText(t, state, s.ETA),
		Refresh:    RefreshSeconds,
		ConnText:   fill(t["conn_static"], "n", strconv.Itoa(RefreshSeconds)),
		NoScript:   fill(t["noscript"], "n", strconv.Itoa(RefreshSeconds)),
		ReturnURL:  sameSiteURL(d.ReturnURL),
		StatusURL:  sameSiteURL(d.StatusURL),
		WSURL:      sameSiteURL(d.WSURL),
	}
	v.ShowLine = s.Position > 0 && (state == "queued" || state == "paused" || state == "closed" || state == "toll")
	v.ShowCountdown = state == "prequeue"
	v.ShowToll, v.ShowRetry = state == "toll", state == "limited"
	v.TollText = fill(t["toll_progress"], "n", "0")
	if v.ShowToll {
		v.NoScript = t["noscript_toll"]
	}
	if v.ShowRetry {
		// Without JavaScript the page reloads when the limit allows.
		v.Refresh = int(min(max(s.RetryAfter, 1), 3600))
		v.RetryText = fill(t["retry_in"], "n", number(int64(v.Refresh)))
		v.NoScript = fill(t["noscript"], "n", strconv.Itoa(v.Refresh))
	}
	v.PositionText, v.AheadText = "–", "–"
	if v.ShowLine {
		v.PositionText = number(s.Position)
		v.AheadText = number(s.Position - 1)
	}
	v.WaitingText = number(max(s.Waiting, 0))
	v.TicketText = "–"
	v.HasTicket = s.Ticket > 0
	if v.HasTicket {
		v.TicketText = "#" + number(s.Ticket)
	}
	v.Progress, v.ProgressText = progress(t, v)
	if s.OpensAt != nil {
		v.OpensAt = s.OpensAt.Format(time.RFC3339)
		if txt := opensAtText(lang, v.OpensAt); txt != "" {
			v.OpensAtText = fill(t["opens_at"], "t", txt)
		}
	}
	return v
}

// progress is how far along the visitor is, as queue.js computes it for a
// first visit: admission is the last step, so position p starts at
// 1/(p+1) of the way.
func progress(t map[string]string, v queueView) (int, string) {
	pct := 0
	switch {
	case v.Admitted:
		pct = 100
	case v.ShowLine:
		pct = int(math.Round(100 / float64(v.Position+1)))
	}
	return pct, fill(t["progress_value"], "n", strconv.Itoa(pct))
}

// pageConfig is the JSON queue.js reads, with the language's catalog.
// json.Marshal escapes <, >, & and U+2028/9, so the JSON cannot end its
// <script> element early, whatever the room or status holds.
func (p *Pages) pageConfig(v queueView, s Status) (template.JS, error) {
	worker, err := p.assetURL(tollWorker)
	if err != nil {
		return "", err
	}
	cfg, err := json.Marshal(pageConfig{
		Lang: v.Lang, Room: v.Room, Status: s,
		StatusURL: v.StatusURL, WSURL: v.WSURL, ReturnURL: v.ReturnURL, TollWorkerURL: worker,
	})
	if err != nil {
		return "", fmt.Errorf("web: queue page config: %w", err)
	}
	text := p.textJSON[v.Lang]
	cfg = append(append(append(cfg[:len(cfg)-1:len(cfg)-1], `,"text":`...), text...), '}')
	return template.JS(cfg), nil
}

type messageView struct {
	Lang, Heading, Lead, RequestID, TryAgain string
	T                                        map[string]string
	RetryAfter                               int
}

// RenderUnavailable writes the "temporarily unavailable" page the gateway
// serves with status 503 when it cannot reach Redis and fails closed. The
// page reloads itself after retryAfterSeconds (clamped to 1…3600), the
// same figure the gateway sends as Retry-After.
func (p *Pages) RenderUnavailable(w io.Writer, lang string, retryAfterSeconds int) error {
	lang = normalLang(lang)
	t := messages[lang]
	retry := min(max(retryAfterSeconds, 1), 3600)
	return p.render(w, unavailablePage, messageView{
		Lang: lang, T: t, RetryAfter: retry,
		Heading:  t["unavailable"],
		Lead:     fill(t["unavailable_lead"], "n", strconv.Itoa(retry)),
		TryAgain: t["try_again"],
	})
}

// RenderBadGateway writes the page the gateway serves with status 502 when
// the origin does not answer; requestID is shown so a visitor can quote it.
func (p *Pages) RenderBadGateway(w io.Writer, lang, requestID string) error {
	lang = normalLang(lang)
	t := messages[lang]
	if len(requestID) > 128 {
		requestID = requestID[:128]
	}
	return p.render(w, badGatewayPage, messageView{
		Lang: lang, T: t,
		Heading:   t["badgateway"],
		Lead:      t["badgateway_lead"],
		RequestID: requestID,
		TryAgain:  t["try_again"],
	})
}

type dashboardView struct {
	Lang           string
	T              map[string]string // the page's strings (dashboardMessages)
	TextJSON       string            // the same, for the script
	RoomsURL       string
	PollMillis     int
	HistoryMinutes int
	HistoryURL     string
}

// RenderDashboard writes the operator's live dashboard (GET /admin/). Its
// CSS and script are inlined, so the admin listener needs no asset route;
// the script polls DashboardRoomsURL every 2 s with the browser's own
// credentials (HTTP Basic, as the gateway asks for them). lang is "en" or
// "ko" (Lang of the operator's Accept-Language); anything else is English.
func (p *Pages) RenderDashboard(w io.Writer, lang string) error {
	cat, ok := dashboardMessages[lang]
	if !ok {
		lang, cat = languages[0], dashboardMessages[languages[0]]
	}
	text, err := json.Marshal(cat)
	if err != nil {
		return err
	}
	return p.render(w, dashboardPage, dashboardView{Lang: lang, T: cat, TextJSON: string(text),
		RoomsURL: DashboardRoomsURL, HistoryURL: DashboardHistoryURL, PollMillis: 2000, HistoryMinutes: 15})
}

// render executes into a pooled buffer first, so a failing template never
// leaves half a page on the wire.
func (p *Pages) render(w io.Writer, name string, data any) error {
	buf := p.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 256<<10 {
			p.bufs.Put(buf)
		}
	}()
	if err := p.templates[name].Execute(buf, data); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// assetURL is the template function "asset": the URL of an asset with its
// content version, so browsers may cache it for good.
func (p *Pages) assetURL(name string) (string, error) {
	a, ok := p.assets[name]
	if !ok {
		return "", fmt.Errorf("asset %q not found (have %s)", name, strings.Join(p.assetNames(), ", "))
	}
	return AssetPrefix + name + "?v=" + a.version, nil
}

func (p *Pages) inlineCSS(name string) (template.CSS, error) {
	a, ok := p.assets[name]
	if !ok {
		return "", fmt.Errorf("asset %q not found", name)
	}
	return template.CSS(a.body), nil
}

func (p *Pages) inlineJS(name string) (template.JS, error) {
	a, ok := p.assets[name]
	if !ok {
		return "", fmt.Errorf("asset %q not found", name)
	}
	return template.JS(a.body), nil
}

func (p *Pages) assetNames() []string {
	names := make([]string, 0, len(p.assets))
	for n := range p.assets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
