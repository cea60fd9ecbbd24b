// Package queue is waitroom's queue engine: the per-room waiting line, the
// admission rate, the count of active visitors and the operator's live
// changes, all kept in Redis so that any number of gateway instances share
// one queue with no leader.
//
// Every operation is one Lua script call (one round trip) whose keys share
// the room's {hash tag}, so the engine runs unchanged on a single Redis, on
// Sentinel and on Redis Cluster. The clock is Redis's own (TIME inside the
// scripts), so instances with skewed clocks still agree; the *At variants let
// tests steer time.
//
// Places are dense ticket numbers handed out in arrival order, and visitors
// only ever leave the line at its front (admitted, or skipped as abandoned).
// So a queued visitor's position is Ticket - Front + 1, which lets a
// WebSocket hub compute thousands of positions from one read of Figures per
// room and tick.
//
// The package does not speak HTTP and does not sign passes: the gateway does.
package queue

import (
	"context"
	"errors"
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
)

// Room is a room's configuration as the operator wrote it (rooms file or the
// gateway's defaults). Live changes made with Update are kept in Redis and
// win over these values until Reset.
type Room struct {
	Name           string        // [a-z0-9-]{1,32}
	Paths          []string      // path patterns; used by the gateway, not by the queue
	AdmitPerMinute int           // new visitors admitted per minute
	MaxActive      int           // most visitors holding a live admission at once
	SessionTTL     time.Duration // how long a pass lives; renewed while active
	AbandonAfter   time.Duration // a queued visitor silent this long is skipped at the front
	Mode           Mode          // FIFO or Random
	OpensAt        time.Time     // zero: open now; before it, visitors wait in a pre-queue
	Paused         bool          // admission stopped, places kept
	Closed         bool          // room closed, places kept
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
}

// Status is one visitor's view of a room.
type Status struct {
	Room     string
	State    State
	Ticket   int64 // the visitor's place number; 0 when not queued
	Position int64 // 1 = next to be admitted; 0 when not queued (prequeue, admitted, none)
	Waiting  int64 // visitors waiting in the room (queued and pre-queued)
	// ETA is the expected wait from the admission rate actually achieved
	// recently (the configured rate when nothing was admitted yet); -1 when
	// unknown (paused, closed, prequeue, or a rate of zero).
	ETA            time.Duration
	AdmitPerMinute int       // the room's effective configured rate
	OpensAt        time.Time // zero when the room has no opening time
	// Until is, for an admitted visitor, when the admission or session ends
	// unless renewed; zero otherwise.
	Until time.Time
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
	Front             int64
	AdmitPerMinute    int     // effective configured rate
	MaxActive         int     // effective max active
	AchievedPerMinute float64 // admissions over the last minute, per minute
	OpensAt           time.Time
	Config            Room // the effective configuration (file values merged with live changes)
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
}

// ErrNotAdmitted is returned by Enter and Renew for a visitor who holds no
// live admission in the room.
var ErrNotAdmitted = errors.New("queue: visitor is not admitted")

// Queue is the engine. It is safe for concurrent use.
type Queue struct {
	rdb redis.UniversalClient
	cfg Config
}

// New returns a Queue on rdb.
func New(rdb redis.UniversalClient, cfg Config) *Queue {
	if cfg.Prefix == "" {
		cfg.Prefix = "wr:"
	}
	if cfg.AdmitWindow <= 0 {
		cfg.AdmitWindow = 60 * time.Second
	}
	return &Queue{rdb: rdb, cfg: cfg}
}

// Join puts the visitor in the room's line (idempotent: one place per
// visitor) and returns their status. When nobody is waiting, fewer than
// MaxActive are active and the rate allows one more now, the visitor is
// admitted at once (State admitted). Joining records a heartbeat.
func (q *Queue) Join(ctx context.Context, room Room, visitor string) (Status, error) {
	panic("TODO(queue)")
}

// Status returns the visitor's status and records a heartbeat.
func (q *Queue) Status(ctx context.Context, room Room, visitor string) (Status, error) {
	panic("TODO(queue)")
}

// Heartbeat records that these visitors are still there (a WebSocket hub
// calls it for all its connected visitors in one round trip, every few
// seconds).
func (q *Queue) Heartbeat(ctx context.Context, room string, visitors []string) error {
	panic("TODO(queue)")
}

// Admit runs one admission step at Redis's clock: it admits as many visitors
// from the front as the rate and MaxActive allow, skipping abandoned ones.
// Every gateway instance may call it at once; each visitor is admitted once.
func (q *Queue) Admit(ctx context.Context, room Room) (Admission, error) {
	panic("TODO(queue)")
}

// AdmitAt is Admit with the clock set to now (tests).
func (q *Queue) AdmitAt(ctx context.Context, room Room, now time.Time) (Admission, error) {
	panic("TODO(queue)")
}

// AdmitNext admits the next n visitors now, beyond the rate (the operator's
// manual admit). MaxActive still holds.
func (q *Queue) AdmitNext(ctx context.Context, room Room, n int) (Admission, error) {
	panic("TODO(queue)")
}

// Enter turns the visitor's admission into an active session that lasts
// SessionTTL, and returns when it ends. It is called when an admitted
// visitor's pass is issued. ErrNotAdmitted if the visitor holds no live
// admission.
func (q *Queue) Enter(ctx context.Context, room Room, visitor string) (time.Time, error) {
	panic("TODO(queue)")
}

// Renew extends the visitor's session to SessionTTL from now and returns
// the new end. ErrNotAdmitted if the session ended or was revoked.
func (q *Queue) Renew(ctx context.Context, room Room, visitor string) (time.Time, error) {
	panic("TODO(queue)")
}

// Release ends the visitor's session now and frees the slot (revoke).
func (q *Queue) Release(ctx context.Context, room string, visitor string) error {
	panic("TODO(queue)")
}

// Figures reads the shared numbers of the rooms in one round trip.
func (q *Queue) Figures(ctx context.Context, rooms []Room) ([]Figures, error) {
	panic("TODO(queue)")
}

// Update applies a live change to the room; every instance sees it on its
// next call.
func (q *Queue) Update(ctx context.Context, room string, p Patch) error {
	panic("TODO(queue)")
}

// Reset drops the room's live changes, so the file's values apply again.
func (q *Queue) Reset(ctx context.Context, room string) error {
	panic("TODO(queue)")
}
