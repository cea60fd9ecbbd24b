package queue

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// A room's line epoch (Figures.Epoch) tells a caller that Redis forgot the
// room. Every Queue remembers the last epoch it read of each room, with
// what it last read of the room in that epoch, and hands both to every
// room script: the first script to find another epoch in Redis records the
// loss in the new epoch (Figures.Lost) and holds the slots of the sessions
// that were live (Figures.Held), so admission does not give them away
// while the passes of those sessions still work. See common.lua.

// knownEpoch is what a Queue knows of a room's epoch: its id, and the
// record the scripts keep if Redis turns out to hold another one
// ("active:hold ms:admitted:abandoned:refused:tolls:front", then
// ":last ticket"; "" = nothing read). The last ticket is the largest this
// Queue saw, in the figures or handed to a visitor since (the figures are
// up to a board tick old, and a place given then must be kept too).
type knownEpoch struct {
	epoch, lost string
	last        atomic.Int64
}

// epochID is the epoch's id, "" when none is known.
func (k *knownEpoch) epochID() string {
	if k == nil {
		return ""
	}
	return k.epoch
}

// record is the record the scripts are given (ARGV[19]).
func (k *knownEpoch) record() string {
	if k == nil || k.lost == "" {
		return ""
	}
	return k.lost + ":" + strconv.FormatInt(k.last.Load(), 10)
}

// lostSessionsLeeway is added to the session TTL to bound how long the
// slots of a lost epoch's sessions are held: a pass expires at most a
// session TTL after it was issued, and verifiers accept it for up to 30 s
// more (token.Leeway).
const lostSessionsLeeway = 30 * time.Second

func (q *Queue) known(room string) *knownEpoch {
	if k, ok := q.epochs.Load(room); ok {
		return k.(*knownEpoch)
	}
	return nil
}

// learn records the epoch a reply carried, and a ticket it named. Another
// epoch than the one known replaces it, and nothing is known of the new
// one's figures yet.
func (q *Queue) learn(room, epoch string, ticket int64) {
	if epoch == "" {
		return
	}
	if k, ok := q.epochs.Load(room); ok && k.(*knownEpoch).epoch == epoch {
		k := k.(*knownEpoch)
		for {
			last := k.last.Load()
			if ticket <= last || k.last.CompareAndSwap(last, ticket) {
				return
			}
		}
	}
	k := &knownEpoch{epoch: epoch}
	k.last.Store(ticket)
	q.epochs.Store(room, k)
}

// learnFigures records the epoch and the figures read in it.
func (q *Queue) learnFigures(f Figures) {
	if f.Epoch == "" {
		return
	}
	hold := max(f.Config.SessionTTL, q.cfg.AdmitWindow) + lostSessionsLeeway
	// Only sessions have passes that still work after a loss: an admission
	// not entered yet is lost with the rest (the visitor is placed again).
	lost := strconv.FormatInt(f.Sessions+f.Held, 10) + ":" + strconv.FormatInt(hold.Milliseconds(), 10) + ":" +
		strconv.FormatInt(f.AdmittedTotal, 10) + ":" + strconv.FormatInt(f.AbandonedTotal, 10) + ":" +
		strconv.FormatInt(f.RefusedTotal, 10) + ":" + strconv.FormatInt(f.TollsTotal, 10) + ":" +
		strconv.FormatInt(f.Front, 10)
	k := &knownEpoch{epoch: f.Epoch, lost: lost}
	k.last.Store(f.LastTicket)
	if old, ok := q.epochs.Load(f.Room); ok {
		o := old.(*knownEpoch)
		if o.epoch == f.Epoch {
			if o.lost == lost {
				q.learn(f.Room, f.Epoch, f.LastTicket)
				return
			}
			k.last.Store(max(f.LastTicket, o.last.Load()))
		}
	}
	q.epochs.Store(f.Room, k)
}

// newEpoch is a fresh epoch id: 64 random bits as 16 hex digits. It need
// not be secret, only different from every earlier epoch of the room.
func newEpoch() string {
	const hexDigits = "0123456789abcdef"
	var b [16]byte
	x := mrand.Uint64()
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[x&15]
		x >>= 4
	}
	return string(b[:])
}

// Confirmation is what Redis holds of the session of a pass (Confirm).
type Confirmation string

// The answers of Confirm.
const (
	// ConfirmLive: Redis holds the session (or an admission of the visitor
	// not entered yet, which became this session).
	ConfirmLive Confirmation = "live"
	// ConfirmResumed: Redis had forgotten the session (the store lost the
	// room's state) and it is registered again, until the pass expires.
	ConfirmResumed Confirmation = "resumed"
	// ConfirmRevoked: the session was revoked.
	ConfirmRevoked Confirmation = "revoked"
	// ConfirmOther: the visitor holds another live session now.
	ConfirmOther Confirmation = "other"
	// ConfirmEnded: the pass has expired.
	ConfirmEnded Confirmation = "ended"
)

// Confirm checks the session of a pass the caller verified (visitor,
// session, its exp) against Redis, in one round trip: revoked, live, or —
// a pass never outlives its session unless the session was revoked or
// Redis forgot it — forgotten, and then registered again until exp, so
// admission counts it before it admits anyone new (it takes one of the
// slots Figures.Held keeps for the lost epoch's sessions). A revocation
// record Redis lost with the rest is not known here: the gateway keeps the
// sessions it saw revoked in memory too.
func (q *Queue) Confirm(ctx context.Context, room Room, visitor, session string, exp time.Time) (Confirmation, error) {
	if !ValidName(room.Name) {
		return "", ErrBadRoom
	}
	if err := checkVisitor(visitor); err != nil {
		return "", err
	}
	if err := checkSession(session); err != nil {
		return "", err
	}
	keys := append(append(make([]string, 0, 11), q.keys(room.Name)...), q.revokedKey(room.Name, session))
	args := append(q.roomArgs(room, time.Time{}), visitor, session, exp.UnixMilli())
	res, err := confirmScript.Run(ctx, q.rdb, keys, args...).Slice()
	if err != nil {
		return "", fmt.Errorf("queue: confirm %s: %w", room.Name, err)
	}
	if len(res) < 2 {
		return "", fmt.Errorf("queue: confirm %s: short reply", room.Name)
	}
	q.learn(room.Name, toString(res[1]), 0)
	return Confirmation(toString(res[0])), nil
}
