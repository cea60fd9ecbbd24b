package route

import (
	"net/http"
	"strings"

	"github.com/waitroom/waitroom/internal/httpx"
)

// One cleaned path per request.
//
// Routing, room matching and the origin must all see the same path, or a
// visitor can pick a spelling that the gateway reads as a pass-through path
// and the origin reads as a protected page (/static/../events/1 and the
// like). So the path is cleaned once, before anything routes — before the
// /_waitroom/ dispatch too — and the request that goes on carries exactly the
// cleaned path: what was matched is what the origin gets. Because the origin
// receives a path without dot-segments, doubled slashes, ;params or trailing
// dots, its own normalisation has nothing left to resolve differently.
//
// The rules, in the order they apply:
//
//   - The path must start with "/" (an empty path, as in the absolute form
//     "GET http://host HTTP/1.1", is "/"). "GET * HTTP/1.1" and other
//     targets that are not a path get 400. net/http answers "OPTIONS *"
//     itself before any handler runs, so it keeps working.
//   - 400 for what has no single safe meaning: an encoded slash or
//     backslash (%2F, %5C) in the raw path (an origin may decode it into a
//     separator, or not); a backslash at all (Windows and several frameworks
//     read it as "/", others as a character); a control byte after decoding
//     (%00, %0A …); and an escape still present after decoding (%252e is
//     "%2e" once decoded — a second decoding in the origin would turn it
//     into a dot, so %25 followed by two hex digits is refused).
//   - ";params" are cut from every segment (/events/42;x is /events/42,
//     /static/..;/x is /static/../x), as Tomcat, Jetty and Spring do before
//     they route; the origin receives the path without them.
//   - Trailing dots and spaces are cut from every segment (/events/42. is
//     /events/42), as Windows and IIS do when they map a path to a file. A
//     segment of nothing but dots and spaces that is not "." or ".."
//     ("...", ". ") gets 400.
//   - Empty segments collapse (//events//42 is /events/42); "." segments go;
//     ".." removes the segment before it, and a ".." with nothing left to
//     remove (/../x, /a/../../x) gets 400 instead of being clamped at the
//     root the way path.Clean would.
//   - A trailing slash is kept (/events/42/ stays /events/42/; so does the
//     slash implied by a final "." or "..": /events/42/. is /events/42/):
//     origins route /x and /x/ differently, and the room patterns "/x" and
//     "/x/*" tell them apart.
//   - Case is left as sent; case-insensitive matching is the router's job
//     (routing.go), so an origin that cares about case gets what it was sent.
//
// The query string is never touched.

// pathError says why a request path cannot be cleaned safely (answered 400).
type pathError string

func (e pathError) Error() string { return "bad request path: " + string(e) }

// cleanPath returns the cleaned form of a request path. p is the decoded
// path (url.URL.Path); raw is its form on the wire when that differs from
// the default encoding (url.URL.RawPath), else "". A path that is already
// clean is returned as it is, without allocating.
func cleanPath(p, raw string) (string, error) {
	if p == "" {
		p = "/"
	}
	if p[0] != '/' {
		return "", pathError("must start with /")
	}
	// What decoding hid: an encoded "/" would be a separator here.
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] == '%' {
			switch {
			case raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F'):
				return "", pathError("encoded slash (%2F)")
			case raw[i+1] == '5' && (raw[i+2] == 'c' || raw[i+2] == 'C'):
				return "", pathError("encoded backslash (%5C)")
			}
		}
	}
	dirty := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return "", pathError("control character")
		case c == '\\':
			return "", pathError("backslash")
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			return "", pathError("escaped escape (%25 and two hex digits)")
		case c == ';':
			dirty = true
		case c == '/':
			// "//", or a segment that starts with "." (".", ".." and
			// ".x" alike: the slow path sorts them out).
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				dirty = true
			}
			// A segment ending in "." or " ".
			if i > 0 && (p[i-1] == '.' || p[i-1] == ' ') {
				dirty = true
			}
		}
	}
	if last := p[len(p)-1]; last == '.' || last == ' ' {
		dirty = true
	}
	if !dirty {
		return p, nil
	}

	segs := make([]string, 0, strings.Count(p, "/"))
	trailing := false // the cleaned path ends in "/"
	rest := p[1:]
	for {
		seg, after, more := strings.Cut(rest, "/")
		rest = after
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		trailing = !more
		switch seg {
		case "", ".":
		case "..":
			if len(segs) == 0 {
				return "", pathError("dot-segments climb above the root")
			}
			segs = segs[:len(segs)-1]
		default:
			seg = strings.TrimRight(seg, ". ")
			if seg == "" {
				return "", pathError("a segment of only dots and spaces")
			}
			segs = append(segs, seg)
			trailing = false
		}
		if !more {
			break
		}
	}
	n := len(segs)
	for _, s := range segs {
		n += len(s)
	}
	if trailing && len(segs) > 0 {
		n++
	}
	var b strings.Builder
	b.Grow(max(n, 1))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// CleanRequests puts the cleaned path on the request before anything
// routes, or answers 400. The request that goes on has URL.Path = the
// cleaned path and no RawPath, so the proxy re-encodes exactly that path
// for the origin; the query is left as sent. The access log, earlier in the
// chain, records the path as it came.
func CleanRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clean, err := cleanPath(r.URL.Path, r.URL.RawPath)
		if err != nil || r.URL.Opaque != "" {
			if err == nil {
				err = pathError("must start with /")
			}
			httpx.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if clean != r.URL.Path || r.URL.RawPath != "" {
			u := *r.URL
			u.Path, u.RawPath = clean, ""
			r2 := new(http.Request)
			*r2 = *r
			r2.URL = &u
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}
