package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Sizes of a rooms file.
const (
	// MaxRoomsFile is the largest rooms file ParseRooms reads.
	MaxRoomsFile = 1 << 20
	// MaxRooms is the most rooms one file may define.
	MaxRooms = 1000
)

type roomsFile struct {
	Rooms []roomEntry `yaml:"rooms"`
}

type roomEntry struct {
	Name           string   `yaml:"name"`
	Paths          []string `yaml:"paths"`
	Match          string   `yaml:"match"`
	AdmitPerMinute *int     `yaml:"admit_per_minute"`
	MaxActive      *int     `yaml:"max_active"`
	SessionTTL     string   `yaml:"session_ttl"`
	AbandonAfter   string   `yaml:"abandon_after"`
	Mode           string   `yaml:"mode"`
	OpensAt        string   `yaml:"opens_at"`

	ClientPlacesPerMinute *int     `yaml:"client_places_per_minute"`
	ClientPlacesHeld      *int     `yaml:"client_places_held"`
	Toll                  *bool    `yaml:"toll"`
	TollSeconds           *float64 `yaml:"toll_seconds"`
	BindPassToNetwork     *bool    `yaml:"bind_pass_to_network"`
}

// RoomsError lists every problem of a rooms file, each naming the room and
// the field.
type RoomsError struct {
	Problems []string
}

func (e *RoomsError) Error() string {
	return "rooms file: " + strings.Join(e.Problems, "; ")
}

// ParseRooms parses a rooms file (YAML, see SPEC "Rooms file") and checks
// every room; the error names every problem found, with the room and field.
// Durations and rates left out take the defaults given in def.
// Unknown fields are errors, so a misspelt setting never goes unnoticed.
func ParseRooms(data []byte, def Room) ([]Room, error) {
	f, err := decodeRooms(data)
	if err != nil {
		return nil, err
	}
	c := roomsCheck{names: map[string]int{}, paths: map[string]string{}}
	if len(f.Rooms) == 0 {
		c.problems = append(c.problems, "rooms: no rooms defined")
	}
	rooms := make([]Room, 0, len(f.Rooms))
	for i, e := range f.Rooms {
		rooms = append(rooms, c.room(i, e, def))
	}
	if len(c.problems) > 0 {
		return nil, &RoomsError{Problems: c.problems}
	}
	return rooms, nil
}

// decodeRooms decodes the YAML strictly (an unknown field is an error).
// A file too big, not YAML or with too many rooms is refused whole: its
// rooms are not worth checking one by one.
func decodeRooms(data []byte) (roomsFile, error) {
	var f roomsFile
	if len(data) > MaxRoomsFile {
		return f, &RoomsError{Problems: []string{fmt.Sprintf("larger than %d bytes", MaxRoomsFile)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return f, &RoomsError{Problems: []string{"rooms: no rooms defined"}}
		}
		return f, &RoomsError{Problems: []string{strings.ReplaceAll(err.Error(), "\n", " ")}}
	}
	if len(f.Rooms) > MaxRooms {
		return f, &RoomsError{Problems: []string{fmt.Sprintf("rooms: more than %d rooms", MaxRooms)}}
	}
	return f, nil
}

// roomsCheck collects the problems of a rooms file, and what its rooms
// have claimed so far: two rooms must share neither a name nor a path.
type roomsCheck struct {
	problems []string
	names    map[string]int    // room name -> index of the room that has it
	paths    map[string]string // pattern key (see claimPaths) -> room name
}

// room reads entry i into a Room on the defaults in def, reporting every
// problem under the room's name (its index when it has none).
func (c *roomsCheck) room(i int, e roomEntry, def Room) Room {
	at := fmt.Sprintf("rooms[%d]", i)
	if e.Name != "" {
		at = fmt.Sprintf("room %q", e.Name)
	}
	bad := func(field, format string, a ...any) {
		c.problems = append(c.problems, at+": "+field+": "+fmt.Sprintf(format, a...))
	}
	r := Room{
		Name:           e.Name,
		Paths:          e.Paths,
		AdmitPerMinute: def.AdmitPerMinute,
		MaxActive:      def.MaxActive,
		SessionTTL:     def.SessionTTL,
		AbandonAfter:   def.AbandonAfter,
		Mode:           def.Mode,

		ClientPlacesPerMinute: def.ClientPlacesPerMinute,
		ClientPlacesHeld:      def.ClientPlacesHeld,
		Toll:                  def.Toll,
		TollSeconds:           def.TollSeconds,
		BindNetwork:           def.BindNetwork,
	}
	c.claimName(i, e.Name, bad)
	switch Match(e.Match) {
	case "", MatchInsensitive:
	case MatchExact:
		r.Match = MatchExact
	default:
		bad("match", "must be exact or insensitive, not %q", e.Match)
	}
	c.claimPaths(r, bad)
	e.settings(&r, bad)
	return r
}

// claimName checks the name of room i and that no earlier room has it.
func (c *roomsCheck) claimName(i int, name string, bad func(field, format string, a ...any)) {
	switch {
	case name == "":
		bad("name", "missing")
	case !ValidName(name):
		bad("name", "must be 1 to 32 of a-z, 0-9 and -")
	default:
		if j, dup := c.names[name]; dup {
			bad("name", "also used by rooms[%d]", j)
		}
		c.names[name] = i
	}
}

// claimPaths checks the room's path patterns and that no earlier room has
// any of them: with two rooms matching the same paths, the first would
// take them all. Patterns of rooms matched regardless of case collide in
// any case.
func (c *roomsCheck) claimPaths(r Room, bad func(field, format string, a ...any)) {
	if len(r.Paths) == 0 {
		bad("paths", "at least one path pattern is needed")
	}
	for _, pat := range r.Paths {
		if err := checkPattern(pat); err != "" {
			bad("paths", "%q %s", pat, err)
			continue
		}
		key := pat
		if r.Match != MatchExact {
			key = "i:" + strings.ToLower(pat)
		}
		if other, dup := c.paths[key]; dup {
			bad("paths", "%q is also in room %q", pat, other)
		}
		c.paths[key] = r.Name
	}
}

// fairness reads the entry's per-client limits, toll and pass binding.
func (e roomEntry) fairness(r *Room, check func(field string, err error)) {
	if e.ClientPlacesPerMinute != nil {
		r.ClientPlacesPerMinute = *e.ClientPlacesPerMinute
		check("client_places_per_minute", CheckClientPlacesPerMinute(r.ClientPlacesPerMinute))
	}
	if e.ClientPlacesHeld != nil {
		r.ClientPlacesHeld = *e.ClientPlacesHeld
		check("client_places_held", CheckClientPlacesHeld(r.ClientPlacesHeld))
	}
	if e.Toll != nil {
		r.Toll = *e.Toll
	}
	if e.TollSeconds != nil {
		r.TollSeconds = *e.TollSeconds
		check("toll_seconds", CheckTollSeconds(r.TollSeconds))
	}
	if r.Toll {
		check("toll_seconds", CheckTollSeconds(r.TollSeconds))
	}
	if e.BindPassToNetwork != nil {
		r.BindNetwork = *e.BindPassToNetwork
	}
}

// settings reads the entry's rate, limits, durations, mode and opening
// into r, reporting each value the limits refuse.
func (e roomEntry) settings(r *Room, bad func(field, format string, a ...any)) {
	check := func(field string, err error) {
		if err != nil {
			bad(field, "%v", err)
		}
	}
	if e.AdmitPerMinute != nil {
		r.AdmitPerMinute = *e.AdmitPerMinute
		check("admit_per_minute", CheckAdmitPerMinute(r.AdmitPerMinute))
	}
	if e.MaxActive != nil {
		r.MaxActive = *e.MaxActive
		check("max_active", CheckMaxActive(r.MaxActive))
	}
	e.fairness(r, check)
	for _, d := range []struct {
		field, value string
		into         *time.Duration
		limit        func(time.Duration) error
	}{
		{"session_ttl", e.SessionTTL, &r.SessionTTL, CheckSessionTTL},
		{"abandon_after", e.AbandonAfter, &r.AbandonAfter, CheckAbandonAfter},
	} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil {
			bad(d.field, "must be a duration such as 90s or 10m, not %q", d.value)
			continue
		}
		*d.into = v
		check(d.field, d.limit(v))
	}
	if e.Mode != "" {
		r.Mode = Mode(e.Mode)
		check("mode", CheckMode(r.Mode))
	}
	if r.Mode == "" {
		r.Mode = FIFO
	}
	if e.OpensAt != "" {
		t, err := time.Parse(time.RFC3339, e.OpensAt)
		if err != nil {
			bad("opens_at", "must be an RFC 3339 time such as 2026-12-01T10:00:00+09:00, not %q", e.OpensAt)
		} else {
			check("opens_at", CheckOpensAt(t))
		}
		r.OpensAt = t
	}
}

// checkPattern accepts "/exact/path" and "/prefix/*"; a '*' anywhere else is
// an error, as are spaces, control characters and a query or fragment.
func checkPattern(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "must start with /"
	}
	if len(p) > 1024 {
		return "is longer than 1024 bytes"
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return "must not contain spaces or control characters"
		case c == '?' || c == '#':
			return "must not contain a query or fragment"
		case c == '*' && (i != len(p)-1 || p[i-1] != '/'):
			return "may only end in /* (a prefix match)"
		}
	}
	return ""
}

// ValidName reports whether name is a valid room name ([a-z0-9-]{1,32}).
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
