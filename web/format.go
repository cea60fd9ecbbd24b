package web

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// fill replaces {name} placeholders in a catalog string.
func fill(s string, pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, "{"+pairs[i]+"}", pairs[i+1])
	}
	return s
}

// number writes n with thousands separators, as both languages do.
func number(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// etaText says how long the wait is likely to be; seconds < 0 means the
// gateway cannot tell (no rate yet, paused, closed).
func etaText(t map[string]string, state string, seconds int64) string {
	switch {
	case state == "paused":
		return t["eta_paused"]
	case seconds < 0 || state == "closed":
		return t["eta_unknown"]
	case seconds < 60:
		return t["eta_soon"]
	case seconds < 3600:
		return fill(t["eta_minutes"], "n", strconv.FormatInt((seconds+59)/60, 10))
	default:
		minutes := (seconds + 59) / 60
		return fill(t["eta_hours"], "h", strconv.FormatInt(minutes/60, 10), "m", strconv.FormatInt(minutes%60, 10))
	}
}

// opensAtText shows the opening time as the operator wrote it (the page's
// script replaces it with the visitor's local time).
func opensAtText(lang, rfc3339 string) string {
	at, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return ""
	}
	if lang == "ko" {
		return at.Format("2006. 1. 2. 15:04 (MST)")
	}
	return at.Format("2 Jan 2006, 15:04 MST")
}

// sameSiteURL reduces a URL to its path and query, so that whatever the
// gateway passes in, the page only ever navigates, connects or polls on its
// own site: "javascript:", other hosts and protocol-relative "//host" forms
// all become plain paths.
func sameSiteURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
		return "/"
	}
	p := u.EscapedPath()
	// "//host" and "/\host" would leave the site once a browser resolves them.
	p = "/" + strings.TrimLeft(p, "/\\")
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}
