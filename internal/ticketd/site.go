package ticketd

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

//go:embed site
var siteFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"price": formatPrice,
}).ParseFS(siteFS, "site/*.html"))

// staticHandler serves the site's CSS and JS under /static/.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(siteFS, "site/static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// text is the site's wording in one language.
type text struct {
	Lang, Title, Events, Starts, Price, Left, SoldOut, Buy, Quantity, Back, NoEvents string
	// Messages are shown by the Buy button's script, by result code.
	Messages map[string]string
}

var texts = map[string]text{
	"en": {
		Lang: "en", Title: "Tickets", Events: "Events", Starts: "Starts", Price: "Price", Left: "Left",
		SoldOut: "Sold out", Buy: "Buy", Quantity: "Tickets", Back: "All events", NoEvents: "No events yet.",
		Messages: map[string]string{
			"created":      "Order confirmed: {quantity} ticket(s). Order number {order_id}",
			"sold_out":     "Sorry, sold out.",
			"pass_used":    "This admission pass has already been used for an order.",
			"pass_missing": "You need an admission pass: reload the page to join the waiting room.",
			"pass_invalid": "Your admission pass has expired or is not valid: reload the page to join the waiting room.",
			"wrong_room":   "Your admission pass is for another event.",
			"busy":         "The ticket system is busy. Please try again.",
			"error":        "Something went wrong ({error}).",
			"pending":      "Placing your order…",
		},
	},
	"ko": {
		Lang: "ko", Title: "티켓", Events: "공연 목록", Starts: "일시", Price: "가격", Left: "잔여",
		SoldOut: "매진", Buy: "예매하기", Quantity: "매수", Back: "전체 공연", NoEvents: "아직 공연이 없습니다.",
		Messages: map[string]string{
			"created":      "예매가 완료되었습니다: {quantity}매. 주문 번호 {order_id}",
			"sold_out":     "죄송합니다. 매진되었습니다.",
			"pass_used":    "이 입장권으로 이미 예매하셨습니다.",
			"pass_missing": "입장권이 필요합니다. 페이지를 새로 고쳐 대기열에 참여하세요.",
			"pass_invalid": "입장권이 만료되었거나 유효하지 않습니다. 페이지를 새로 고쳐 대기열에 참여하세요.",
			"wrong_room":   "다른 공연의 입장권입니다.",
			"busy":         "예매 시스템이 혼잡합니다. 잠시 후 다시 시도하세요.",
			"error":        "오류가 발생했습니다 ({error}).",
			"pending":      "예매 중…",
		},
	},
}

// language picks "ko" or "en" from ?lang= or Accept-Language (highest q
// wins; ties go to the earlier tag), defaulting to English.
func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "ko" || l == "en" {
		return l
	}
	type pref struct {
		lang string
		q    float64
		i    int
	}
	var prefs []pref
	for i, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (primary == "ko" || primary == "en") && q > 0 {
			prefs = append(prefs, pref{primary, q, i})
		}
	}
	if len(prefs) == 0 {
		return "en"
	}
	sort.SliceStable(prefs, func(a, b int) bool { return prefs[a].q > prefs[b].q })
	return prefs[0].lang
}

type pageData struct {
	T        text
	Messages template.JS
	Events   []Event
	Event    Event
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, d pageData) {
	d.T = texts[language(r)]
	msgs, _ := json.Marshal(d.T.Messages)
	d.Messages = template.JS(msgs)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.T.Lang)
	h.Set("Vary", "Accept-Language")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("render")
	}
}

func (s *Server) pageIndex(w http.ResponseWriter, r *http.Request) {
	events, err := s.cache.All(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.render(w, r, "index.html", pageData{Events: events})
}

func (s *Server) pageEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := eventID(r)
	var e Event
	var err error = ErrNotFound
	if ok {
		e, err = s.findEvent(r.Context(), id)
	}
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.render(w, r, "event.html", pageData{Event: e})
}

// formatPrice writes 110000 as "₩110,000".
func formatPrice(p int64) string {
	s := strconv.FormatInt(p, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return "₩" + b.String()
}
