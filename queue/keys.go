package queue

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxVisitorLen is the longest visitor id the queue stores.
const MaxVisitorLen = 128

// ErrBadVisitor is returned for an empty or oversized visitor id.
var ErrBadVisitor = errors.New("queue: visitor id must be 1 to 128 bytes")

// ErrInvalid matches every *InvalidError (errors.Is): the caller's input is
// at fault, not Redis.
var ErrInvalid = errors.New("queue: invalid value")

// InvalidError is a value no room can have (a Patch field out of its
// range). Problem names the field and its bounds.
type InvalidError struct{ Problem string }

func (e *InvalidError) Error() string        { return e.Problem }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, a ...any) error {
	return &InvalidError{Problem: fmt.Sprintf(format, a...)}
}

// ErrBadRoom is returned for a room name that ValidName rejects.
var ErrBadRoom = errors.New("queue: invalid room name")

func checkVisitor(v string) error {
	if v == "" || len(v) > MaxVisitorLen {
		return ErrBadVisitor
	}
	return nil
}

// MaxSessionLen is the longest session id the queue accepts (its own are
// 22 bytes).
const MaxSessionLen = 128

// ErrBadSession is returned for an empty or oversized session id.
var ErrBadSession = errors.New("queue: session id must be 1 to 128 bytes")

func checkSession(s string) error {
	if s == "" || len(s) > MaxSessionLen {
		return ErrBadSession
	}
	return nil
}

// newSessionID is 128 random bits, base64url (22 bytes).
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// key is a room key: the {room} hash tag puts all of a room's keys in one
// Redis Cluster slot.
func (q *Queue) key(room, name string) string {
	return q.cfg.Prefix + "{" + room + "}:" + name
}

// keys are the room scripts' KEYS, in common.lua's order, built once per
// room (the slice is shared: never modified).
func (q *Queue) keys(room string) []string {
	if k, ok := q.roomKeys.Load(room); ok {
		return k.([]string)
	}
	k := []string{
		q.key(room, "line"), q.key(room, "vis"), q.key(room, "pre"), q.key(room, "act"),
		q.key(room, "st"), q.key(room, "cfg"), q.key(room, "rate"), q.key(room, "ses"),
		q.key(room, "cli"), q.key(room, "due"), q.key(room, "rec"),
	}
	q.roomKeys.Store(room, k)
	return k
}

// revokedKey records a revoked session of the room until its last pass
// expires.
func (q *Queue) revokedKey(room, session string) string {
	return q.key(room, "rev:"+session)
}

// Defaults applied to a Room field left at its zero value.
const (
	DefaultSessionTTL   = 10 * time.Minute
	DefaultAbandonAfter = 60 * time.Second
)

// roomArgs are ARGV 1..19 of the room scripts (see common.lua).
func (q *Queue) roomArgs(r Room, at time.Time) []any {
	known := q.known(r.Name)
	ttl, abandon, mode := r.SessionTTL, r.AbandonAfter, r.Mode
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if abandon <= 0 {
		abandon = DefaultAbandonAfter
	}
	if mode == "" {
		mode = FIFO
	}
	var opens int64
	if !r.OpensAt.IsZero() {
		opens = r.OpensAt.UnixMilli()
	}
	return []any{
		clockArg(at),
		r.AdmitPerMinute, r.MaxActive, ttl.Milliseconds(), abandon.Milliseconds(),
		string(mode), opens, flag(r.Paused), flag(r.Closed),
		q.cfg.AdmitWindow.Milliseconds(), q.cfg.KeyTTL.Milliseconds(),
		r.ClientPlacesPerMinute, r.ClientPlacesHeld, flag(r.Toll), tollMillis(r.TollSeconds), flag(r.BindNetwork),
		known.epochID(), newEpoch(), known.record(),
	}
}

// tollMillis is a toll's difficulty as the room's keys hold it.
func tollMillis(seconds float64) int64 { return int64(seconds*1000 + 0.5) }

// spentKey records the toll solutions spent in a room whose challenges
// expire in the same minute as until (a hash of challenges, dropped when
// that minute is over): one small hash a minute rather than a key per
// solution.
func (q *Queue) spentKey(room string, until time.Time) string {
	return q.key(room, "spent:"+strconv.FormatInt(until.Unix()/60, 10))
}

func clockArg(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	return strconv.FormatInt(at.UnixMilli(), 10)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// randomScore is a pre-queue score: 52 random bits, exact as a float64, so
// the pre-queue's order is a uniform random permutation. Late arrivals get
// 2^52 + sequence and land behind.
func randomScore() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.LittleEndian.Uint64(b[:])>>12, 10)
}

// shuffleSeed seeds the Lua generator of a reshuffle batch: [1, 2^31-2].
func shuffleSeed() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.LittleEndian.Uint64(b[:])%2147483646+1, 10)
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// parseStatus reads the reply of join and status:
// {state, ticket, position, waiting, apm, opens, until, eta rate, gen,
// reason, toll difficulty, epoch}, and learns the epoch.
func (q *Queue) parseStatus(room string, res []any) (Status, error) {
	if len(res) < 12 {
		return Status{}, fmt.Errorf("queue: status %s: short reply", room)
	}
	s := Status{
		Room:           room,
		State:          State(toString(res[0])),
		Ticket:         toInt(res[1]),
		Position:       toInt(res[2]),
		Waiting:        toInt(res[3]),
		AdmitPerMinute: int(toInt(res[4])),
		OpensAt:        fromMillis(toInt(res[5])),
		Until:          fromMillis(toInt(res[6])),
		ETA:            -1,
		Reshuffles:     toInt(res[8]),
	}
	s.Reason = toString(res[9])
	s.TollSeconds = float64(toInt(res[10])) / 1000
	s.Epoch = toString(res[11])
	q.learn(room, s.Epoch, s.Ticket)
	switch s.State {
	case StateLimited:
		s.RetryAt, s.Until = s.Until, time.Time{}
	case StateToll:
		s.PayBy, s.Until = s.Until, time.Time{}
	}
	if s.State != StateQueued {
		s.Position = positionKept(s)
	}
	if (s.State == StateQueued || s.State == StateToll) && s.Position > 0 {
		if rate := float64(toInt(res[7])) / 1000; rate > 0 {
			s.ETA = time.Duration(float64(s.Position) / rate * float64(time.Minute)).Round(time.Second)
		}
	}
	return s, nil
}

// positionKept: paused and closed rooms keep places, and so does the toll
// while it is paid, so those visitors still see their position; everyone
// else has none.
func positionKept(s Status) int64 {
	if s.State == StatePaused || s.State == StateClosed || s.State == StateToll {
		return s.Position
	}
	return 0
}

// ValidatePatch reports every value of p no room can have (nil when none);
// Update refuses the same.
func ValidatePatch(p Patch) error {
	_, err := p.fields()
	return err
}

// fields turns a Patch into the override hash's field, value pairs,
// rejecting values no room can have (the limits of limits.go, each error
// an *InvalidError naming the field).
func (p Patch) fields() ([]any, error) {
	var out []any
	var errs []error
	check := func(field string, err error) {
		if err != nil {
			errs = append(errs, invalid("%s %v", field, err))
		}
	}
	if p.AdmitPerMinute != nil {
		check("admit_per_minute", CheckAdmitPerMinute(*p.AdmitPerMinute))
		out = append(out, "apm", *p.AdmitPerMinute)
	}
	if p.MaxActive != nil {
		check("max_active", CheckMaxActive(*p.MaxActive))
		out = append(out, "max", *p.MaxActive)
	}
	if p.SessionTTL != nil {
		check("session_ttl", CheckSessionTTL(*p.SessionTTL))
		out = append(out, "ttl", p.SessionTTL.Milliseconds())
	}
	if p.AbandonAfter != nil {
		check("abandon_after", CheckAbandonAfter(*p.AbandonAfter))
		out = append(out, "abandon", p.AbandonAfter.Milliseconds())
	}
	if p.Mode != nil {
		check("mode", CheckMode(*p.Mode))
		out = append(out, "mode", string(*p.Mode))
	}
	if p.OpensAt != nil && p.ClearOpensAt {
		errs = append(errs, invalid("opens_at: both set and cleared"))
	}
	if p.OpensAt != nil {
		check("opens_at", CheckOpensAt(*p.OpensAt))
		out = append(out, "opens", p.OpensAt.UnixMilli())
	}
	if p.ClearOpensAt {
		out = append(out, "opens", 0)
	}
	if p.ClientPlacesPerMinute != nil {
		check("client_places_per_minute", CheckClientPlacesPerMinute(*p.ClientPlacesPerMinute))
		out = append(out, "cpm", *p.ClientPlacesPerMinute)
	}
	if p.ClientPlacesHeld != nil {
		check("client_places_held", CheckClientPlacesHeld(*p.ClientPlacesHeld))
		out = append(out, "chd", *p.ClientPlacesHeld)
	}
	if p.Toll != nil {
		out = append(out, "toll", flag(*p.Toll))
	}
	if p.TollSeconds != nil {
		check("toll_seconds", CheckTollSeconds(*p.TollSeconds))
		out = append(out, "tolld", tollMillis(*p.TollSeconds))
	}
	if p.BindNetwork != nil {
		out = append(out, "bind", flag(*p.BindNetwork))
	}
	if p.Paused != nil {
		out = append(out, "paused", flag(*p.Paused))
	}
	if p.Closed != nil {
		out = append(out, "closed", flag(*p.Closed))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
