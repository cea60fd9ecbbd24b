package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is the order in which a room admits its waiting visitors.
type Mode string

const (
	// FIFO admits visitors in arrival order.
	FIFO Mode = "fifo"
	// Random shuffles the visitors waiting when the room opens (uniformly,
	// once); later arrivals queue FIFO behind them.
	Random Mode = "random"
)

// Match is how the gateway compares a room's path patterns with a
// request's (cleaned) path. The queue itself never looks at it.
type Match string

const (
	// MatchInsensitive (also the zero value ""): patterns match whatever the
	// case, so /Events/42 is in the room of /events/* — many origins serve
	// both as one page, and a room must catch every variant.
	MatchInsensitive Match = "insensitive"
	// MatchExact: patterns match byte for byte, for a room on a
	// case-sensitive origin whose paths differ only in case.
	MatchExact Match = "exact"
)

// State is where a visitor (or a room) stands.
type State string

const (
	// StateNone: the visitor is neither waiting nor admitted (never joined,
	// or their admission or session ran out).
	StateNone State = "none"
	// StatePrequeue: the room has not opened yet; no position is given.
	StatePrequeue State = "prequeue"
	// StateQueued: waiting with a position.
	StateQueued State = "queued"
	// StateAdmitted: admitted and not yet expired or revoked.
	StateAdmitted State = "admitted"
	// StatePaused: the operator stopped admission; places are kept.
	StatePaused State = "paused"
	// StateClosed: the room is closed; places are kept.
	StateClosed State = "closed"
	// StateLimited: the visitor's client may take no new place now (the
	// room's per-client limits); see Status.Reason and RetryAt. Nothing is
	// taken.
	StateLimited State = "limited"
	// StateToll: a new place in this room costs a solved toll challenge,
	// and none (or a spent one) came with the join. The place is kept, in
	// arrival order, until Status.PayBy: paid by then, it counts.
	StateToll State = "toll"
)

// Room is a room's configuration as the operator wrote it (rooms file or the
// gateway's defaults). Live changes made with Update are kept in Redis and
// win over these values until Reset. A zero SessionTTL or AbandonAfter means
// DefaultSessionTTL or DefaultAbandonAfter, an empty Mode FIFO; a zero
// AdmitPerMinute admits nobody by rate and a zero MaxActive nobody at all.
type Room struct {
	Name           string        // [a-z0-9-]{1,32}
	Paths          []string      // path patterns; used by the gateway, not by the queue
	Match          Match         // how Paths match: "" (insensitive) or MatchExact; gateway only
	AdmitPerMinute int           // new visitors admitted per minute
	MaxActive      int           // most visitors holding a live admission at once
	SessionTTL     time.Duration // how long a pass lives; renewed while active
	AbandonAfter   time.Duration // a queued visitor silent this long is skipped at the front
	Mode           Mode          // FIFO or Random
	OpensAt        time.Time     // zero: open now; before it, visitors wait in a pre-queue
	Paused         bool          // admission stopped, places kept
	Closed         bool          // room closed, places kept

	// Fairness against scripts that grab places (0: no limit). A client is
	// the network a visitor comes from, as the gateway names it (Arrival).
	ClientPlacesPerMinute int     // new places one client may take per minute (burst: half a minute's worth)
	ClientPlacesHeld      int     // places one client's visitors may hold in the line at once
	Toll                  bool    // a new place costs a solved proof-of-work challenge
	TollSeconds           float64 // the toll's difficulty: expected solve time on a mid-range phone
	BindNetwork           bool    // a pass admits only from the network it was issued to (gateway only)
}

// Patch is a live change to a room; nil fields are left as they are.
// ClearOpensAt removes the opening time (the room opens now).
type Patch struct {
	AdmitPerMinute *int
	MaxActive      *int
	SessionTTL     *time.Duration
	AbandonAfter   *time.Duration
	Mode           *Mode
	OpensAt        *time.Time
	ClearOpensAt   bool
	Paused         *bool
	Closed         *bool

	ClientPlacesPerMinute *int
	ClientPlacesHeld      *int
	Toll                  *bool
	TollSeconds           *float64
	BindNetwork           *bool
}

// Status is one visitor's view of a room.
type Status struct {
	Room  string
	State State
	// Ticket is the visitor's place number: Position = Ticket - Front + 1
	// (see Figures). 0 when not waiting, and while waiting without a number
	// yet (pre-queue, or a shuffle being numbered: Position is still right).
	Ticket int64
	// Position is 1 for the next to be admitted; it is kept while the room is
	// paused or closed, and 0 in the pre-queue before the opening, when
	// admitted and when not waiting (StateNone).
	Position int64
	Waiting  int64 // visitors waiting in the room (queued and pre-queued; places whose toll is unpaid do not count)
	// ETA is the expected wait from the admission rate actually achieved
	// recently (the configured rate when nothing was admitted yet); -1 when
	// unknown (paused, closed, prequeue, or a rate of zero).
	ETA            time.Duration
	AdmitPerMinute int       // the room's effective configured rate
	OpensAt        time.Time // zero when the room has no opening time
	// Until is, for an admitted visitor, when the admission or session ends
	// unless renewed; zero otherwise.
	Until time.Time
	// Reshuffles is the room's reshuffle count (Figures.Reshuffles) when
	// this was read: the numbering Ticket belongs to.
	Reshuffles int64
	// Reason says why a new place was refused (StateLimited): "rate" (the
	// client took places too fast) or "held" (the client holds too many).
	Reason string
	// RetryAt is, for StateLimited, when the client may try again.
	RetryAt time.Time
	// TollSeconds is, for StateToll, the difficulty of the toll to pay,
	// and PayBy when it must be paid for the place (Ticket, Position) kept
	// meanwhile; a place not paid for by then is lost.
	TollSeconds float64
	PayBy       time.Time
	// Epoch is the room's line epoch (Figures.Epoch) when this was read:
	// like Reshuffles, the numbering Ticket belongs to. A ticket of
	// another epoch means nothing in this one.
	Epoch string
}

// Arrival is what the gateway knows of a visitor who asks for a place.
type Arrival struct {
	// Client is the network the visitor comes from (an IPv4 address, an
	// IPv6 /64); the room's per-client limits count by it. "" counts
	// nothing.
	Client string
	// Toll is the challenge of a toll solution the gateway verified, or "".
	// It is spent by the join that uses it (once, ever, until TollUntil).
	Toll      string
	TollUntil time.Time
	// Receipt is what a receipt the gateway verified says of the visitor's
	// place before Redis forgot the room (zero: none). Within the recovery
	// window after the loss that epoch's tickets are kept for their
	// holders: a visitor who shows one, once, gets that ticket back, ahead
	// of everyone who first arrived after the loss.
	Receipt Receipt
}

// Receipt is a visitor's place in a room's line: the line epoch and the
// ticket. The gateway signs it for the visitor (see gateway), so the queue
// trusts what it is given.
type Receipt struct {
	Epoch  string
	Ticket int64
}

// Figures are a room's shared numbers, cheap to read every tick.
type Figures struct {
	Room           string
	State          State // the room's state: prequeue, queued (open), paused or closed
	Waiting        int64 // visitors waiting (queued and pre-queued)
	Active         int64 // visitors holding a live admission or session
	AdmittedTotal  int64 // visitors admitted since the room was created or reset
	AbandonedTotal int64 // visitors skipped as abandoned
	// Front is the ticket of the next visitor to be admitted: a queued
	// visitor's position is Ticket - Front + 1.
	Front          int64
	AdmitPerMinute int // effective configured rate
	MaxActive      int // effective max active
	// AchievedPerMinute is the admissions of the last minute, per minute
	// (over the time since the first admission in that minute when it is
	// shorter, but at least 10 s, so a line that just started shows its
	// pace). Status bases ETAs on it once it spans 30 s.
	AchievedPerMinute float64
	OpensAt           time.Time
	Config            Room // the effective configuration (file values merged with live changes)
	// Unnumbered counts waiting visitors without a ticket yet: the
	// pre-queue, and after the opening those still being numbered. Their
	// Status has Ticket 0 until numbered; read Status again to get it.
	Unnumbered int64
	// ETAPerMinute is the rate Status bases ETAs on (AchievedPerMinute once
	// measured over 30 s, AdmitPerMinute before): a hub computing ETAs from
	// Figures should use it, so sockets and status polls agree.
	ETAPerMinute float64
	// Reshuffles counts the random-mode reshuffles of the room's line. When
	// it changes, every cached Ticket of the room is stale: read Status.
	Reshuffles int64
	// RefusedTotal counts the new places refused by the per-client limits,
	// TollsTotal the tolls paid (solutions spent), since the room was
	// created or its counters reset.
	RefusedTotal, TollsTotal int64

	// Epoch is the room's line epoch: 64 random bits (16 hex digits) given
	// by the first script that touched the room's state, kept with its keys.
	// When it changes, Redis forgot the room (restarted empty, a replica
	// promoted before it caught up, the keys expired): every place, ticket,
	// session and total read before is gone. EpochSince is when it began;
	// the totals above count from then.
	Epoch      string
	EpochSince time.Time
	// Lost is what the gateways that noticed the change last read of the
	// epoch before (nil when none noticed: a new room, or no caller knew
	// the earlier epoch).
	Lost *LostEpoch
	// Held is the slots admission keeps for sessions of the lost epoch that
	// have not come back yet (Confirm), until their passes have expired:
	// Active + Held never exceeds MaxActive through admission.
	Held int64
	// Sessions counts the live sessions among Active (admissions entered:
	// visitors holding a pass); the rest were admitted and have not come
	// in yet.
	Sessions int64
	// LastTicket is the last ticket handed out.
	LastTicket int64
	// Ahead counts the places given back against receipts (Arrival.Receipt)
	// whose ticket the front had passed when their holder came back: they
	// are admitted next, so a queued visitor's position is
	// Ticket - Front + 1 + Ahead. 0 outside a recovery.
	Ahead int64
	// Recovered counts the places given back against receipts in this
	// epoch.
	Recovered int64
}

// LostEpoch is what a room held before Redis forgot it, as last read (at
// most a board tick before the loss) by the gateways that noticed; when
// several did, the largest of each figure.
type LostEpoch struct {
	Epoch     string    // the epoch that was lost
	NoticedAt time.Time // when the first caller noticed (Redis's clock)
	// The totals of that epoch, and its active visitors, as last read.
	AdmittedTotal, AbandonedTotal, RefusedTotal, TollsTotal, Active int64
}

// Admission is what one admission step did.
type Admission struct {
	Admitted []string // visitor ids admitted, in order
	Skipped  int      // abandoned visitors skipped at the front
}

// Config configures a Queue.
type Config struct {
	// Prefix starts every Redis key ("wr:" by default), so deployments and
	// tests can share one Redis.
	Prefix string
	// AdmitWindow is how long an admitted visitor has to arrive before the
	// slot is given back (default 60s).
	AdmitWindow time.Duration
	// KeyTTL is how long a room's keys outlive the room's last join or
	// admission step (default 7 days; a pre-queue lives until its opening
	// plus KeyTTL). Gateways run an admission step every tick, so a room in
	// use never expires.
	KeyTTL time.Duration
	// Batch is how many visitors one admission step numbers or reshuffles
	// at most (default 2,000): it bounds how long one script holds Redis.
	Batch int
}

// ErrNotAdmitted is returned by Enter and Renew for a visitor who holds no
// live admission in the room.
var ErrNotAdmitted = errors.New("queue: visitor is not admitted")

// Queue is the engine. It is safe for concurrent use.
type Queue struct {
	rdb      Client
	cfg      Config
	roomKeys *sync.Map // room name -> []string of its script keys
	// epochs is what this Queue (and every Queue made with On from the
	// same New) knows of each room's line epoch: room name -> *knownEpoch.
	epochs *sync.Map
}

// Client is what the engine needs of a go-redis client: scripts,
// pipelines, a few plain commands and pub/sub. *redis.Client,
// *redis.ClusterClient, a Sentinel failover client and every
// redis.UniversalClient fit.
type Client interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
	Del(ctx context.Context, keys ...string) *redis.IntCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
	Publish(ctx context.Context, channel string, message any) *redis.IntCmd
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// New returns a Queue on rdb (a single Redis, Sentinel or Cluster client).
func New(rdb Client, cfg Config) *Queue {
	if cfg.Prefix == "" {
		cfg.Prefix = "wr:"
	}
	if cfg.AdmitWindow <= 0 {
		cfg.AdmitWindow = 60 * time.Second
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 7 * 24 * time.Hour
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 2000
	}
	return &Queue{rdb: rdb, cfg: cfg, roomKeys: new(sync.Map), epochs: new(sync.Map)}
}

// On returns a Queue on another client (another pool to the same Redis)
// that shares this one's configuration and what it knows of the rooms'
// line epochs, so a loss either of them notices is known to both.
func (q *Queue) On(rdb Client) *Queue {
	return &Queue{rdb: rdb, cfg: q.cfg, roomKeys: q.roomKeys, epochs: q.epochs}
}

// Join puts the visitor in the room's line (idempotent: one place per
// visitor) and returns their status. When nobody is waiting, fewer than
// MaxActive are active and the rate allows one more now, the visitor is
// admitted at once (State admitted). Joining records a heartbeat. A paused
// or closed room still gives places (State paused or closed); before
// OpensAt the visitor joins the pre-queue (State prequeue, no position).
func (q *Queue) Join(ctx context.Context, room Room, visitor string) (Status, error) {
	return q.arrive(ctx, room, visitor, Arrival{}, time.Time{})
}

// Arrive is Join with what the gateway knows of the visitor's arrival:
// the client it comes from (counted against the room's per-client limits:
// a refusal is StateLimited and takes nothing) and a verified toll solution
// (in a room with a toll, a new place needs one, spent once: without it the
// answer is StateToll, with the place kept until PayBy while it is paid).
// A visitor whose place counts, or who is admitted, is neither counted nor
// asked again.
func (q *Queue) Arrive(ctx context.Context, room Room, visitor string, a Arrival) (Status, error) {
	return q.arrive(ctx, room, visitor, a, time.Time{})
}

func (q *Queue) join(ctx context.Context, room Room, visitor string, at time.Time) (Status, error) {
	return q.arrive(ctx, room, visitor, Arrival{}, at)
}

func (q *Queue) arrive(ctx context.Context, room Room, visitor string, a Arrival, at time.Time) (Status, error) {
	if !ValidName(room.Name) {
		return Status{}, ErrBadRoom
	}
	if err := checkVisitor(visitor); err != nil {
		return Status{}, err
	}
	if len(a.Client) > MaxVisitorLen || len(a.Toll) > MaxVisitorLen {
		return Status{}, fmt.Errorf("queue: join %s: client or toll longer than %d bytes", room.Name, MaxVisitorLen)
	}
	keys, args := q.joinArgs(room, visitor, a, at)
	res, err := joinScript.Run(ctx, q.rdb, keys, args...).Slice()
	if err != nil {
		return Status{}, fmt.Errorf("queue: join %s: %w", room.Name, err)
	}
	return q.parseStatus(room.Name, res)
}

// joinArgs are join.lua's KEYS and ARGV.
func (q *Queue) joinArgs(room Room, visitor string, a Arrival, at time.Time) ([]string, []any) {
	keys := append(append(make([]string, 0, 12), q.keys(room.Name)...), q.spentKey(room.Name, a.TollUntil))
	keep := int64(1000)
	if a.Toll != "" {
		// until the end of the minute the challenge expires in
		end := time.UnixMilli((a.TollUntil.Unix()/60 + 1) * 60_000)
		if d := time.Until(end); d > time.Second {
			keep = d.Milliseconds()
		}
	}
	return keys, append(q.roomArgs(room, at), visitor, randomScore(), a.Client, a.Toll, keep,
		a.Receipt.Ticket, a.Receipt.Epoch)
}

// Status returns the visitor's status and records a heartbeat.
func (q *Queue) Status(ctx context.Context, room Room, visitor string) (Status, error) {
	return q.status(ctx, room, visitor, time.Time{})
}

func (q *Queue) status(ctx context.Context, room Room, visitor string, at time.Time) (Status, error) {
	if !ValidName(room.Name) {
		return Status{}, ErrBadRoom
	}
	if err := checkVisitor(visitor); err != nil {
		return Status{}, err
	}
	args := append(q.roomArgs(room, at), visitor)
	res, err := statusScript.Run(ctx, q.rdb, q.keys(room.Name), args...).Slice()
	if err != nil {
		return Status{}, fmt.Errorf("queue: status %s: %w", room.Name, err)
	}
	return q.parseStatus(room.Name, res)
}

// Heartbeat records that these visitors are still there (a WebSocket hub
// calls it for all its connected visitors in one round trip, every few
// seconds).
func (q *Queue) Heartbeat(ctx context.Context, room string, visitors []string) error {
	_, err := q.heartbeat(ctx, room, visitors, time.Time{})
	return err
}

// HeartbeatUnknown is Heartbeat, and returns the visitors the line does
// not hold: admitted, skipped as abandoned — or forgotten by Redis (a
// restart, a failover to a replica that had not caught up), whose pages
// still show a place. The hub looks those up again, which puts a
// forgotten visitor back in line rather than letting their heartbeat fall
// on nothing.
func (q *Queue) HeartbeatUnknown(ctx context.Context, room string, visitors []string) ([]string, error) {
	return q.heartbeat(ctx, room, visitors, time.Time{})
}

func (q *Queue) heartbeat(ctx context.Context, room string, visitors []string, at time.Time) ([]string, error) {
	if !ValidName(room) {
		return nil, ErrBadRoom
	}
	if len(visitors) == 0 {
		return nil, nil
	}
	// 1,000 visitors per script keeps each one short; the pipeline keeps
	// the whole call one round trip.
	const chunk = 1000
	keys := []string{q.key(room, "vis")}
	var cmds []*redis.Cmd
	run := func() error {
		cmds = cmds[:0]
		pipe := q.rdb.Pipeline()
		for i := 0; i < len(visitors); i += chunk {
			args := make([]any, 0, chunk+1)
			args = append(args, clockArg(at))
			for _, v := range visitors[i:min(i+chunk, len(visitors))] {
				if checkVisitor(v) == nil {
					args = append(args, v)
				}
			}
			cmds = append(cmds, heartbeatScript.EvalSha(ctx, pipe, keys, args...))
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = heartbeatScript.Load(ctx, q.rdb).Err(); err == nil {
			err = run()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("queue: heartbeat %s: %w", room, err)
	}
	var unknown []string
	for _, c := range cmds {
		ids, _ := c.StringSlice()
		unknown = append(unknown, ids...)
	}
	return unknown, nil
}

// Admit runs one admission step at Redis's clock: it admits as many visitors
// from the front as the rate and MaxActive allow, skipping abandoned ones.
// Every gateway instance may call it at once; each visitor is admitted once.
//
// The same step does the room's housekeeping in bounded batches: after the
// opening it numbers the pre-queue in its shuffled order, and it carries out
// a pending random-mode shuffle (no one is admitted until that is done).
func (q *Queue) Admit(ctx context.Context, room Room) (Admission, error) {
	return q.admit(ctx, room, 0, time.Time{})
}

// AdmitAt is Admit with the clock set to now (tests).
func (q *Queue) AdmitAt(ctx context.Context, room Room, now time.Time) (Admission, error) {
	if now.IsZero() {
		return Admission{}, errors.New("queue: AdmitAt needs a time")
	}
	return q.admit(ctx, room, 0, now)
}

// AdmitNext admits the next n visitors now, beyond the rate (the operator's
// manual admit). MaxActive still holds; a paused room admits, a closed one
// does not.
func (q *Queue) AdmitNext(ctx context.Context, room Room, n int) (Admission, error) {
	if n <= 0 {
		return Admission{}, nil
	}
	return q.admit(ctx, room, n, time.Time{})
}

func (q *Queue) admit(ctx context.Context, room Room, manual int, at time.Time) (Admission, error) {
	if !ValidName(room.Name) {
		return Admission{}, ErrBadRoom
	}
	args := append(q.roomArgs(room, at), manual, shuffleSeed(), q.cfg.Batch)
	res, err := admitScript.Run(ctx, q.rdb, q.keys(room.Name), args...).Slice()
	if err != nil {
		return Admission{}, fmt.Errorf("queue: admit %s: %w", room.Name, err)
	}
	if len(res) < 2 {
		return Admission{}, fmt.Errorf("queue: admit %s: short reply", room.Name)
	}
	a := Admission{Skipped: int(toInt(res[0]))}
	if len(res) > 2 {
		q.learn(room.Name, toString(res[2]), 0)
	}
	if len(res) > 3 {
		a.Admitted = make([]string, 0, len(res)-3)
		for _, v := range res[3:] {
			s, _ := v.(string)
			a.Admitted = append(a.Admitted, s)
		}
	}
	return a, nil
}

// Session is an admitted visitor's session: one admission is one session.
type Session struct {
	// ID is the session id (128 random bits, base64url): the same for every
	// Enter of one admission, so every pass issued for it can name it.
	ID string
	// Until is when the session ends unless renewed.
	Until time.Time
}

// Enter turns the visitor's admission into an active session that lasts
// SessionTTL, or, when the visitor already holds a live session, extends
// that one and returns it: one admission never makes a second session,
// whichever instance asks and however often. It is called when an admitted
// visitor's pass is issued. ErrNotAdmitted if the visitor holds no live
// admission or session.
func (q *Queue) Enter(ctx context.Context, room Room, visitor string) (Session, error) {
	return q.EnterBound(ctx, room, visitor, "")
}

// EnterBound is Enter for a session bound to something the caller names
// with tag (the gateway: the visitor's network, for a room whose passes
// are bound to it). A new session's ID ends in "~" + tag, and Bound reads
// it back: an existing session keeps the tag it was made with, so the
// caller can tell a session made elsewhere. tag is at most 32 characters
// of [A-Za-z0-9_-]; "" binds nothing.
func (q *Queue) EnterBound(ctx context.Context, room Room, visitor, tag string) (Session, error) {
	if len(tag) > 32 || strings.IndexFunc(tag, func(r rune) bool { return !isTagRune(r) }) >= 0 {
		return Session{}, fmt.Errorf("queue: session tag %q: want at most 32 of [A-Za-z0-9_-]", tag)
	}
	return q.session(ctx, room, visitor, "", tag, time.Time{})
}

// Bound is the tag a session was made with (EnterBound), or "".
func (s Session) Bound() string {
	_, tag, _ := strings.Cut(s.ID, "~")
	return tag
}

func isTagRune(r rune) bool {
	return r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// Renew extends the visitor's session, the one whose id is session, to
// SessionTTL from now. ErrNotAdmitted if that session ended, was revoked,
// or is no longer the visitor's (a later admission made a new one).
func (q *Queue) Renew(ctx context.Context, room Room, visitor, session string) (Session, error) {
	if err := checkSession(session); err != nil {
		return Session{}, err
	}
	return q.session(ctx, room, visitor, session, "", time.Time{})
}

func (q *Queue) session(ctx context.Context, room Room, visitor, held, tag string, at time.Time) (Session, error) {
	if !ValidName(room.Name) {
		return Session{}, ErrBadRoom
	}
	if err := checkVisitor(visitor); err != nil {
		return Session{}, err
	}
	fresh := newSessionID()
	if tag != "" {
		fresh += "~" + tag
	}
	args := append(q.roomArgs(room, at), visitor, fresh, held)
	res, err := sessionScript.Run(ctx, q.rdb, q.keys(room.Name), args...).Slice()
	if err != nil {
		return Session{}, fmt.Errorf("queue: session %s: %w", room.Name, err)
	}
	if len(res) < 2 {
		return Session{}, fmt.Errorf("queue: session %s: short reply", room.Name)
	}
	end := toInt(res[0])
	if end == 0 {
		return Session{}, ErrNotAdmitted
	}
	return Session{ID: toString(res[1]), Until: time.UnixMilli(end)}, nil
}

// Revoke ends the visitor's session named session (the origin is done with
// the visitor): when it is still the visitor's live session its slot is
// freed at once, so the next visitor is admitted sooner; a second Revoke of
// the same session frees nothing. The session is also recorded as revoked
// (see Revoked) for as long as any of its passes can verify: until the
// later of passExp and the session's end, plus leeway. freed reports
// whether a slot was freed by this call.
func (q *Queue) Revoke(ctx context.Context, room, visitor, session string, passExp time.Time, leeway time.Duration) (freed bool, err error) {
	if !ValidName(room) {
		return false, ErrBadRoom
	}
	if err := checkVisitor(visitor); err != nil {
		return false, err
	}
	if err := checkSession(session); err != nil {
		return false, err
	}
	return q.revoke(ctx, room, visitor, session, passExp, leeway, time.Time{})
}

func (q *Queue) revoke(ctx context.Context, room, visitor, session string, passExp time.Time, leeway time.Duration, at time.Time) (bool, error) {
	keys := append(append(make([]string, 0, 9), q.keys(room)...), q.revokedKey(room, session))
	args := append(q.roomArgs(Room{Name: room}, at), visitor, session, passExp.UnixMilli(), leeway.Milliseconds())
	n, err := revokeScript.Run(ctx, q.rdb, keys, args...).Int64()
	if err != nil {
		return false, fmt.Errorf("queue: revoke %s: %w", room, err)
	}
	return n == 1, nil
}

// Revoked reports whether the session was revoked (and any of its passes
// could still verify).
func (q *Queue) Revoked(ctx context.Context, room, session string) (bool, error) {
	if !ValidName(room) {
		return false, ErrBadRoom
	}
	if err := checkSession(session); err != nil {
		return false, err
	}
	n, err := q.rdb.Exists(ctx, q.revokedKey(room, session)).Result()
	if err != nil {
		return false, fmt.Errorf("queue: revoked %s: %w", room, err)
	}
	return n > 0, nil
}

// Figures reads the shared numbers of the rooms in one round trip.
func (q *Queue) Figures(ctx context.Context, rooms []Room) ([]Figures, error) {
	return q.figures(ctx, rooms, time.Time{})
}

func (q *Queue) figures(ctx context.Context, rooms []Room, at time.Time) ([]Figures, error) {
	if len(rooms) == 0 {
		return nil, nil
	}
	for _, r := range rooms {
		if !ValidName(r.Name) {
			return nil, fmt.Errorf("%w: %q", ErrBadRoom, r.Name)
		}
	}
	run := func() ([]*redis.Cmd, error) {
		pipe := q.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(rooms))
		for i, r := range rooms {
			cmds[i] = figuresScript.EvalSha(ctx, pipe, q.keys(r.Name), q.roomArgs(r, at)...)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := figuresScript.Load(ctx, q.rdb).Err(); err != nil {
			return nil, fmt.Errorf("queue: figures: %w", err)
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, fmt.Errorf("queue: figures: %w", err)
	}
	out := make([]Figures, len(rooms))
	for i, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil {
			return nil, fmt.Errorf("queue: figures %s: %w", rooms[i].Name, err)
		}
		if out[i], err = parseFigures(rooms[i], res); err != nil {
			return nil, err
		}
		q.learnFigures(out[i])
	}
	return out, nil
}

// parseFigures reads figures.lua's reply for room r: the figures, with the
// settings in force (the file's, overridden by live changes).
func parseFigures(r Room, res []any) (Figures, error) {
	if len(res) < 39 {
		return Figures{}, fmt.Errorf("queue: figures %s: short reply", r.Name)
	}
	cfg := r
	cfg.AdmitPerMinute = int(toInt(res[7]))
	cfg.MaxActive = int(toInt(res[8]))
	cfg.SessionTTL = time.Duration(toInt(res[9])) * time.Millisecond
	cfg.AbandonAfter = time.Duration(toInt(res[10])) * time.Millisecond
	cfg.Mode = Mode(toString(res[11]))
	cfg.OpensAt = fromMillis(toInt(res[12]))
	cfg.Paused = toInt(res[13]) == 1
	cfg.Closed = toInt(res[14]) == 1
	cfg.ClientPlacesPerMinute = int(toInt(res[18]))
	cfg.ClientPlacesHeld = int(toInt(res[19]))
	cfg.Toll = toInt(res[20]) == 1
	cfg.TollSeconds = float64(toInt(res[21])) / 1000
	cfg.BindNetwork = toInt(res[22]) == 1
	f := Figures{
		Room:              r.Name,
		State:             State(toString(res[0])),
		Waiting:           toInt(res[1]),
		Active:            toInt(res[2]),
		AdmittedTotal:     toInt(res[3]),
		AbandonedTotal:    toInt(res[4]),
		Front:             toInt(res[5]),
		AchievedPerMinute: float64(toInt(res[6])) / 1000,
		AdmitPerMinute:    cfg.AdmitPerMinute,
		MaxActive:         cfg.MaxActive,
		OpensAt:           cfg.OpensAt,
		Config:            cfg,
		Unnumbered:        toInt(res[15]),
		Reshuffles:        toInt(res[16]),
		ETAPerMinute:      float64(toInt(res[17])) / 1000,
		RefusedTotal:      toInt(res[23]),
		TollsTotal:        toInt(res[24]),
		Epoch:             toString(res[25]),
		EpochSince:        fromMillis(toInt(res[26])),
		Held:              toInt(res[34]),
		Sessions:          toInt(res[35]),
		LastTicket:        toInt(res[36]),
		Ahead:             toInt(res[37]),
		Recovered:         toInt(res[38]),
	}
	if prev := toString(res[27]); prev != "" {
		f.Lost = &LostEpoch{
			Epoch: prev, NoticedAt: fromMillis(toInt(res[28])),
			AdmittedTotal: toInt(res[29]), AbandonedTotal: toInt(res[30]),
			RefusedTotal: toInt(res[31]), TollsTotal: toInt(res[32]), Active: toInt(res[33]),
		}
	}
	return f, nil
}

// Update applies a live change to the room; every instance sees it on its
// next call. Switching the room to random mode, or reopening a closed room
// that is in random mode, shuffles the visitors waiting at that moment once
// (see the package documentation).
func (q *Queue) Update(ctx context.Context, room string, p Patch) error {
	if !ValidName(room) {
		return ErrBadRoom
	}
	fields, err := p.fields()
	if err != nil {
		return fmt.Errorf("queue: update %s: %w", room, err)
	}
	if len(fields) == 0 {
		return nil
	}
	args := append([]any{q.cfg.KeyTTL.Milliseconds()}, fields...)
	keys := []string{q.key(room, "cfg"), q.key(room, "st")}
	if err := updateScript.Run(ctx, q.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("queue: update %s: %w", room, err)
	}
	return nil
}

// Reset drops the room's live changes, so the file's values apply again.
// Places, active visitors and the totals are kept.
func (q *Queue) Reset(ctx context.Context, room string) error {
	if !ValidName(room) {
		return ErrBadRoom
	}
	if err := q.rdb.Del(ctx, q.key(room, "cfg")).Err(); err != nil {
		return fmt.Errorf("queue: reset %s: %w", room, err)
	}
	return nil
}
