package route

import (
	"net/url"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/queue"
)

// cleanPath: one spelling per path, 400 for what has no safe meaning. The
// inputs are request targets as they come on the wire.
func TestCleanPath(t *testing.T) {
	cases := []struct{ target, want string }{ // want "" = refused
		{"/", "/"},
		{"/events/42", "/events/42"},
		{"/events/42/", "/events/42/"},
		{"/events//42", "/events/42"},
		{"//events/42", "/events/42"},
		{"/events/42//", "/events/42/"},
		{"/static/../events/1", "/events/1"},
		{"/static/./../events/1", "/events/1"},
		{"/static//../events/1", "/events/1"},
		{"/static/%2e%2e/events/1", "/events/1"},
		{"/static/%2E%2E/events/1", "/events/1"},
		{"/static/..;/events/1", "/events/1"},
		{"/events/1/.", "/events/1/"},
		{"/events/1/..", "/events/"},
		{"/a/..", "/"},
		{"/.", "/"},
		{"/events/42;x", "/events/42"},
		{"/events;a=b/42", "/events/42"},
		{"/events/;x/42", "/events/42"},
		{"/events/42.", "/events/42"},
		{"/events/42..", "/events/42"},
		{"/events/42%20", "/events/42"},
		{"/events/42.%20.", "/events/42"},
		{"/events/%34%32", "/events/42"},
		{"/Events/42", "/Events/42"},
		{"/.well-known/x", "/.well-known/x"},
		{"/a/..b/c", "/a/..b/c"},
		{"/a%3Fb", "/a?b"},
		{"/100%25", "/100%"},
		{"/50%25off", "/50%off"},

		{"/static/..%2fevents/1", ""},
		{"/static/%2e%2e%2fevents/1", ""},
		{"/a%2Fb", ""},
		{"/static/%5c../events/1", ""},
		{`/static\..\events/1`, ""},
		{"/../events/1", ""},
		{"/static/../../events/1", ""},
		{"/..", ""},
		{"/a/...", ""},
		{"/a/.%20/b", ""},
		{"/events/1%00", ""},
		{"/events/1%0a", ""},
		{"/events/1%7f", ""},
		{"/static/%252e%252e/events/1", ""},
		{"/%2565vents/1", ""},
	}
	for _, tc := range cases {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		got, err := cleanPath(u.Path, u.RawPath)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: cleaned to %q, want refused", tc.target, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.target, got, err, tc.want)
		}
	}
	for _, p := range []string{"", "/"} {
		if got, err := cleanPath(p, ""); got != "/" || err != nil {
			t.Errorf("%q: %q, %v; want /", p, got, err)
		}
	}
	for _, p := range []string{"*", "events/1", "a/../b"} {
		if got, err := cleanPath(p, ""); err == nil {
			t.Errorf("%q: cleaned to %q, want refused", p, got)
		}
	}
}

// A clean path costs no allocation: it is the path every visitor sends.
func TestCleanPathCleanIsFree(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = cleanPath("/events/42/buy", "") }); n != 0 {
		t.Errorf("%v allocations for a clean path", n)
	}
}

// Rooms match whatever the case unless match: exact; pass-through matches
// byte for byte, so a case trick never widens it.
func TestRouterCase(t *testing.T) {
	rt := mustRouter(t, []queue.Room{
		{Name: "exact", Paths: []string{"/Tickets/*"}, Match: queue.MatchExact},
		{Name: "events", Paths: []string{"/events/*", "/Shop"}},
		{Name: "default", Paths: []string{"/*"}},
	}, []string{"/static/*", "/favicon.ico"})
	for path, want := range map[string]string{
		"/events/42":     "events",
		"/Events/42":     "events",
		"/EVENTS/42":     "events",
		"/shop":          "events",
		"/SHOP":          "events",
		"/ſhop":          "events", // long s: upper case S
		"/events/\u212a": "events", // Kelvin sign
		"/Tickets/1":     "exact",
		"/tickets/1":     "default",
		"/TICKETS/1":     "default",
		"/static/app.js": "",
		"/Static/app.js": "default",
		"/STATIC/app.js": "default",
		"/favicon.ico":   "",
		"/Favicon.ico":   "default",
	} {
		r, ok := rt.Match(path)
		if got := map[bool]string{true: r.Name}[ok]; got != want {
			t.Errorf("%s: room %q, want %q", path, got, want)
		}
	}
}

// A pattern that no cleaned path can match is a start-up error that says
// how to write it.
func TestCheckPatterns(t *testing.T) {
	if err := CheckPatterns([]queue.Room{{Name: "a", Paths: []string{"/*", "/events/42", "/events/42/*", "/.well-known/*"}}},
		[]string{"/favicon.ico", "/static/*", " /assets/* "}); err != nil {
		t.Fatalf("good patterns refused: %v", err)
	}
	err := CheckPatterns([]queue.Room{{Name: "a", Paths: []string{"/a//b/*", "/c/./d", "/e;x", "/f.", "/../g"}}},
		[]string{"/static//*"})
	if err == nil {
		t.Fatal("bad patterns accepted")
	}
	for _, want := range []string{`WAITROOM_PASS_THROUGH: pattern "/static//*"`, `write "/static/*"`,
		`room "a": pattern "/a//b/*"`, `write "/a/b/*"`, `write "/c/d"`, `write "/e"`, `write "/f"`, `"/../g" never matches`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// The cleaner reads what any visitor sends: it never panics, and what it
// returns is clean — it starts with "/", has no empty, "." or ".." segment,
// no ";", no control byte or backslash — and cleaning it again changes
// nothing.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/events/42", "//a//b/", "/static/../events/1", "/static/%2e%2e/events/1",
		"/a/..%2fb", "/a;b/c.", "/a/.../b", "/%00", `/a\b`, "/a/%252e", "*", "", "/ſ/K", "/a/b/../../..", "/a/./"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, raw := target, ""
		if u, err := url.ParseRequestURI(target); err == nil {
			p, raw = u.Path, u.RawPath
		}
		out, err := cleanPath(p, raw)
		if err != nil {
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("%q: %q does not start with /", target, out)
		}
		if strings.Contains(out, "//") {
			t.Fatalf("%q: %q has //", target, out)
		}
		for _, seg := range strings.Split(out[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q: %q has a dot-segment", target, out)
			}
		}
		if strings.ContainsAny(out, ";\\\x00") {
			t.Fatalf("%q: %q has ; or \\ or NUL", target, out)
		}
		again, err := cleanPath(out, "")
		if err != nil || again != out {
			t.Fatalf("%q: cleaned %q, again %q (%v)", target, out, again, err)
		}
		_, _ = cleanPath(target, target) // raw and decoded out of step: no panic either
	})
}

func mustRouter(t *testing.T, rooms []queue.Room, passThrough []string) *Router {
	t.Helper()
	rt, err := New(rooms, passThrough)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// Path patterns: exact, prefix with "*", pass-through wins, first room wins.
func TestRouterMatch(t *testing.T) {
	rt := mustRouter(t, []queue.Room{
		{Name: "a", Paths: []string{"/events/42", "/events/42/*"}},
		{Name: "b", Paths: []string{"/events/*"}},
	}, []string{"/events/42/static/*", "/favicon.ico"})
	cases := map[string]string{
		"/events/42":          "a",
		"/events/42/buy":      "a",
		"/events/421":         "b",
		"/events/42/static/x": "",
		"/favicon.ico":        "",
		"/other":              "",
		"/events":             "",
	}
	for path, want := range cases {
		r, ok := rt.Match(path)
		got := ""
		if ok {
			got = r.Name
		}
		if got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}
