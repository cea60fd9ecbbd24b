package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var defaults = Room{AdmitPerMinute: 600, MaxActive: 1000, SessionTTL: 10 * time.Minute, AbandonAfter: time.Minute, Mode: FIFO}

// The rooms file of the SPEC parses, with defaults for what it leaves out.
func TestParseRooms(t *testing.T) {
	rooms, err := ParseRooms([]byte(`
rooms:
  - name: concert-42            # [a-z0-9-]{1,32}
    paths: ["/events/42", "/events/42/*", "/api/events/42/*"]
    admit_per_minute: 1200
    max_active: 500
    session_ttl: 10m
    abandon_after: 60s
    mode: random
    opens_at: 2026-12-01T10:00:00+09:00
    match: exact
  - name: shop
    paths: ["/*"]
  - name: spelt-out
    paths: ["/s/*"]
    match: insensitive
`), defaults)
	if err != nil {
		t.Fatal(err)
	}
	opens, _ := time.Parse(time.RFC3339, "2026-12-01T10:00:00+09:00")
	c := rooms[0]
	if c.Name != "concert-42" || len(c.Paths) != 3 || c.AdmitPerMinute != 1200 || c.MaxActive != 500 ||
		c.SessionTTL != 10*time.Minute || c.AbandonAfter != time.Minute || c.Mode != Random || !c.OpensAt.Equal(opens) || c.Match != MatchExact {
		t.Fatalf("concert-42: %+v", c)
	}
	s := rooms[1]
	if s.AdmitPerMinute != 600 || s.MaxActive != 1000 || s.SessionTTL != 10*time.Minute || s.Mode != FIFO || !s.OpensAt.IsZero() || s.Match != "" {
		t.Fatalf("shop (defaults): %+v", s)
	}
	if m := rooms[2].Match; m != "" && m != MatchInsensitive {
		t.Fatalf("spelt-out: match %q", m)
	}
}

// Every problem of a rooms file is reported at once, naming room and field.
func TestParseRoomsProblems(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty", ``, []string{"no rooms"}},
		{"no rooms", `rooms: []`, []string{"no rooms"}},
		{"unknown field", "rooms:\n  - name: a\n    paths: [/a]\n    admit_per_minut: 5\n", []string{"admit_per_minut"}},
		{"unknown top level", "room: []\n", []string{"room"}},
		{"not yaml", "rooms: [", []string{"rooms file"}},
		{"every field wrong", `
rooms:
  - name: Bad_Name
    paths: ["events", "/a*b", "/x?y=1"]
    admit_per_minute: -1
    max_active: -1
    session_ttl: forever
    abandon_after: 1ms
    mode: lifo
    opens_at: tomorrow
    match: sensitive
`, []string{`room "Bad_Name": match: must be exact or insensitive, not "sensitive"`, `room "Bad_Name": name`, `paths: "events" must start with /`, `"/a*b" may only end in /*`, `"/x?y=1"`,
			"admit_per_minute: must be 0..", "max_active: must be 1..", "session_ttl: must be a duration",
			"abandon_after: must be between 5s", "mode: must be fifo or random", "opens_at: must be an RFC 3339"}},
		{"duplicates", `
rooms:
  - name: a
    paths: [/a]
  - name: a
    paths: [/a]
  - paths: []
`, []string{`room "a": name: also used by rooms[0]`, `"/a" is also in room "a"`, "rooms[2]: name: missing", "rooms[2]: paths: at least one"}},
		{"the same paths in another case", `
rooms:
  - name: a
    paths: [/Events/*]
  - name: b
    paths: [/events/*]
`, []string{`"/events/*" is also in room "a"`}},
		{"wrong types", "rooms:\n  - name: a\n    paths: /a\n    max_active: lots\n", []string{"cannot unmarshal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRooms([]byte(c.yaml), defaults)
			var re *RoomsError
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want a RoomsError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Oversized files and alias bombs are refused without blowing up.
func TestParseRoomsHostile(t *testing.T) {
	big := "rooms:\n" + strings.Repeat("# padding\n", MaxRoomsFile/10+1)
	if _, err := ParseRooms([]byte(big), defaults); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	bomb := `
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
rooms: [*g]
`
	if _, err := ParseRooms([]byte(bomb), defaults); err == nil {
		t.Fatal("alias bomb accepted")
	}
	many := "rooms:\n" + strings.Repeat("  - {name: a, paths: [/a]}\n", MaxRooms+1)
	if _, err := ParseRooms([]byte(many), defaults); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("too many rooms: %v", err)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "concert-42": true, strings.Repeat("z", 32): true, "0-0": true,
		"": false, strings.Repeat("z", 33): false, "A": false, "a_b": false, "a b": false,
		"a{b": false, "a}b": false, "ü": false, "a\n": false, "a:b": false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

// Whatever the bytes, ParseRooms either fails with a RoomsError or returns
// rooms that all pass validation.
func FuzzParseRooms(f *testing.F) {
	f.Add([]byte("rooms:\n  - name: a\n    paths: [/a, /b/*]\n    admit_per_minute: 10\n    session_ttl: 1m\n"))
	f.Add([]byte("rooms:\n  - name: concert-42\n    paths: [\"/events/42\"]\n    opens_at: 2026-12-01T10:00:00+09:00\n    mode: random\n"))
	f.Add([]byte("rooms: [{name: x, paths: [/], max_active: 3, abandon_after: 5s}]"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rooms, err := ParseRooms(data, defaults)
		if err != nil {
			var re *RoomsError
			if !errors.As(err, &re) || len(re.Problems) == 0 {
				t.Fatalf("error %v is not a RoomsError with problems", err)
			}
			return
		}
		if len(rooms) == 0 {
			t.Fatal("no rooms and no error")
		}
		for _, r := range rooms {
			if !ValidName(r.Name) || len(r.Paths) == 0 || r.AdmitPerMinute < 1 || r.MaxActive < 1 ||
				r.SessionTTL < time.Second || r.AbandonAfter < time.Second || (r.Mode != FIFO && r.Mode != Random) {
				t.Fatalf("invalid room accepted: %+v", r)
			}
			for _, p := range r.Paths {
				if checkPattern(p) != "" {
					t.Fatalf("invalid path %q accepted", p)
				}
			}
		}
	})
}

// A name ValidName accepts is safe inside a key's {hash tag}.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "concert-42", "", "A", "a}b{", strings.Repeat("x", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !ValidName(name) {
			return
		}
		if len(name) > 32 || strings.ContainsAny(name, "{}:* \n") || strings.ToLower(name) != name {
			t.Fatalf("ValidName accepted %q", name)
		}
	})
}
