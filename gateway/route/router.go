package route

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/waitroom/waitroom/queue"
)

// pathPattern is one path pattern of a room or of the pass-through list:
// "/events/42" matches that path exactly, "/events/42/*" (any pattern ending
// in "*") matches every path that starts with what comes before the "*".
// Patterns are compared with the cleaned request path (paths.go).
//
// Case: a room's patterns match whatever the case unless the room says
// match: exact, because a room must catch every spelling an origin may serve
// as the protected page (/Events/42 is /events/42 on many origins).
// Pass-through patterns always match byte for byte: pass-through is the
// list that lets a request skip the queue, so a case trick must not widen
// it — /Static/app.js is queued by the room that covers it. That direction
// is safe on every origin: a case-insensitive one serves the same file
// to a visitor who waits, a case-sensitive one never had /Static.
type pathPattern struct {
	text   string // the exact path, or the prefix before "*"; folded when fold
	prefix bool
	fold   bool // compare case-insensitively (foldCase on both sides)
}

func compilePattern(p string, fold bool) pathPattern {
	p = strings.TrimSpace(p)
	pat := pathPattern{text: p, fold: fold}
	if strings.HasSuffix(p, "*") {
		pat.text, pat.prefix = strings.TrimSuffix(p, "*"), true
	}
	if fold {
		pat.text = foldCase(pat.text)
	}
	return pat
}

// match reports whether the pattern matches path; folded is foldCase(path).
func (p pathPattern) match(path, folded string) bool {
	if p.fold {
		path = folded
	}
	if p.prefix {
		return strings.HasPrefix(path, p.text)
	}
	return path == p.text
}

// foldCase maps s to one spelling per case-insensitive class: ASCII letters
// to lower case and, past ASCII, each rune to the lower case of its upper
// case (so the long s "ſ" meets "s" and the Kelvin sign "K" meets "k", as
// they do on origins that compare case-insensitively). A string with nothing
// to fold is returned as it is, without allocating.
func foldCase(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	return strings.ToLower(s) // ASCII only
}

// Router maps a request path to its room, in the order the rooms were
// given. It never changes after New.
type Router struct {
	passThrough []pathPattern
	rooms       []routedRoom
	fold        bool // some room matches case-insensitively
}

type routedRoom struct {
	room     queue.Room
	patterns []pathPattern
}

// Reserved is the gateway's own path space; it is never proxied.
const Reserved = "/_waitroom/"

// New returns the router of rooms and the pass-through patterns, after
// checking every pattern (CheckPatterns).
func New(rooms []queue.Room, passThrough []string) (*Router, error) {
	if err := CheckPatterns(rooms, passThrough); err != nil {
		return nil, err
	}
	rt := &Router{}
	for _, p := range passThrough {
		if strings.TrimSpace(p) != "" {
			rt.passThrough = append(rt.passThrough, compilePattern(p, false))
		}
	}
	for _, r := range rooms {
		rr := routedRoom{room: r}
		fold := r.Match != queue.MatchExact
		rt.fold = rt.fold || fold
		for _, p := range r.Paths {
			rr.patterns = append(rr.patterns, compilePattern(p, fold))
		}
		rt.rooms = append(rt.rooms, rr)
	}
	return rt, nil
}

// CheckPatterns refuses a pattern that no cleaned request path can match
// ("/a//b", "/a/./b", "/a;x", "/a.", "/a%2Fb" …), naming the room or
// WAITROOM_PASS_THROUGH and the pattern's cleaned spelling.
func CheckPatterns(rooms []queue.Room, passThrough []string) error {
	var bad []string
	check := func(where, p string) {
		p = strings.TrimSpace(p)
		base := strings.TrimSuffix(p, "*")
		clean, err := cleanPath(base, "")
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: pattern %q never matches: %v", where, p, err))
		case clean != base:
			bad = append(bad, fmt.Sprintf("%s: pattern %q never matches a cleaned request path; write %q",
				where, p, clean+p[len(base):]))
		}
	}
	for _, p := range passThrough {
		if strings.TrimSpace(p) != "" {
			check("WAITROOM_PASS_THROUGH", p)
		}
	}
	for _, r := range rooms {
		for _, p := range r.Paths {
			check(fmt.Sprintf("room %q", r.Name), p)
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Match returns the room that protects path (a cleaned path, see
// CleanRequests); ok is false for pass-through paths and paths no room
// matches (both are proxied without queueing). Pass-through is checked
// first.
func (rt *Router) Match(path string) (queue.Room, bool) {
	for _, p := range rt.passThrough {
		if p.match(path, path) {
			return queue.Room{}, false
		}
	}
	folded := path
	if rt.fold {
		folded = foldCase(path)
	}
	for i := range rt.rooms {
		for _, p := range rt.rooms[i].patterns {
			if p.match(path, folded) {
				return rt.rooms[i].room, true
			}
		}
	}
	return queue.Room{}, false
}

// Room finds a room by name.
func (rt *Router) Room(name string) (queue.Room, bool) {
	for i := range rt.rooms {
		if rt.rooms[i].room.Name == name {
			return rt.rooms[i].room, true
		}
	}
	return queue.Room{}, false
}

// All returns the rooms, in order.
func (rt *Router) All() []queue.Room {
	out := make([]queue.Room, len(rt.rooms))
	for i := range rt.rooms {
		out[i] = rt.rooms[i].room
	}
	return out
}
