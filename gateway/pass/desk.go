package pass

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/cache"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// Sessions is what the desk needs of the queue engine.
type Sessions interface {
	EnterBound(ctx context.Context, room queue.Room, visitor, tag string) (queue.Session, error)
	Renew(ctx context.Context, room queue.Room, visitor, session string) (queue.Session, error)
	Revoke(ctx context.Context, room, visitor, session string, passExp time.Time, leeway time.Duration) (bool, error)
	Confirm(ctx context.Context, room queue.Room, visitor, session string, exp time.Time) (queue.Confirmation, error)
	PublishRevoked(ctx context.Context, r queue.Revoked) error
}

// Health is what the desk needs to know of Redis: whether it answers (the
// probe's verdict), and where to report a failed call.
type Health interface {
	Up() bool
	Failed(err error)
}

// Config configures a Desk.
type Config struct {
	Signer   *token.Signer
	Sessions Sessions
	Health   Health
	// VisitorCookie is the wr_id cookie value of a visitor id: a pass is
	// honoured only together with exactly that value.
	VisitorCookie func(visitor string) string
	Log           zerolog.Logger
	// Size bounds the passes (and, as many, the sessions) kept in memory;
	// default 100,000.
	Size int
}

// Timings of the desk.
const (
	// RenewEvery bounds how often one pass is renewed (and Redis touched).
	RenewEvery = 5 * time.Second
	// RecheckEvery bounds how often a cached pass is checked again against
	// Redis (queue.Confirm): its revocation record (the fallback for a lost
	// announcement), and its session, which comes back if Redis forgot it.
	RecheckEvery = 5 * time.Second
)

// Desk issues, checks, renews and ends passes. It is safe for concurrent
// use; build it with New, stop its background work with Close.
type Desk struct {
	cfg    Config
	verify *token.Verifier
	passes *cache.Cache[string, *entry]
	// revoked holds the sessions known to be revoked, until their last
	// pass can no longer verify.
	revoked *cache.Cache[string, time.Time]
	// recorded holds the sessions whose revocation this instance knows
	// with their pass's claims (revoked here, or found revoked in Redis),
	// so it can record them again in a Redis that forgot them.
	recorded *cache.Cache[string, token.Claims]
	ends     ender
}

// Pass is a verified pass: its token and what it says.
type Pass struct {
	Token  string
	Claims token.Claims
}

// entry is one verified pass in memory.
type entry struct {
	Pass
	// visitorCookie is the wr_id value the pass must come with (compared
	// instead of checking the cookie's HMAC on every request).
	visitorCookie string
	// renewAt is the unix nano time of the last renewal attempt, so
	// concurrent requests with the same pass renew it once.
	renewAt atomic.Int64
	// noRenew: the session ended in Redis; the pass keeps working until its
	// exp (the signature says so) but is not renewed.
	noRenew atomic.Bool
	// checkedAt is the unix nano time of the last revocation check.
	checkedAt atomic.Int64
}

// New returns a desk.
func New(cfg Config) *Desk {
	if cfg.Size <= 0 {
		cfg.Size = 100_000
	}
	d := &Desk{
		cfg:      cfg,
		verify:   cfg.Signer.Verifier(),
		passes:   cache.New[string, *entry](cfg.Size),
		revoked:  cache.New[string, time.Time](cfg.Size),
		recorded: cache.New[string, token.Claims](cfg.Size),
	}
	d.ends.ctx, d.ends.stop = context.WithCancel(context.Background())
	return d
}

// Verifier verifies the passes this desk signs.
func (d *Desk) Verifier() *token.Verifier { return d.verify }

// JWKS serves the public keys of the desk's EdDSA passes.
func (d *Desk) JWKS() http.Handler { return d.cfg.Signer.JWKS() }

// ErrWrongNetwork: the visitor's session is bound to another network than
// the one a pass is asked for from (a room that binds passes to the
// network, and cookies carried elsewhere).
var ErrWrongNetwork = errors.New("pass: session bound to another network")

// Issue enters the visitor's admission (or finds the live session of it:
// one admission is one session) and signs a pass of that session; network,
// when not "", binds the pass to the client network it is issued to (the
// caller honours it only from there), and the session with it: a later
// pass of the session, from another network, is ErrWrongNetwork, so
// cookies carried to another network do not get a fresh pass there.
// queue.ErrNotAdmitted when the visitor holds no live admission.
func (d *Desk) Issue(ctx context.Context, room queue.Room, visitor, network string, now time.Time) (Pass, error) {
	tag := networkTag(network)
	s, err := d.cfg.Sessions.EnterBound(ctx, room, visitor, tag)
	if err != nil {
		return Pass{}, err
	}
	if b := s.Bound(); network != "" && b != "" && b != tag {
		return Pass{}, ErrWrongNetwork
	}
	return d.sign(room.Name, visitor, network, s, now)
}

// networkTag names a network in a session id: 64 bits of its SHA-256.
func networkTag(network string) string {
	if network == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(network))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// sign makes a pass of session s that lives until the session ends, and
// keeps it as verified.
func (d *Desk) sign(room, visitor, network string, s queue.Session, now time.Time) (Pass, error) {
	ttl := max(s.Until.Sub(now), time.Second)
	tok, claims, err := d.cfg.Signer.SignClaims(now, token.Claims{
		Visitor: visitor, Room: room, Session: s.ID, Network: network, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return Pass{}, err
	}
	e := &entry{Pass: Pass{Token: tok, Claims: claims}, visitorCookie: d.cfg.VisitorCookie(visitor)}
	e.checkedAt.Store(now.UnixNano())
	d.passes.Put(tok, e, claims.ExpiresAt, now)
	return e.Pass, nil
}

// Check reports whether tok is a live pass for room, presented with the
// wr_id cookie value visitorCookie ("" when the request has none). reason
// says why not ("" for an empty tok): a token.Reason label, or
// "wrong_visitor" (a pass copied to another client, or shown without its
// visitor cookie) or "revoked".
func (d *Desk) Check(ctx context.Context, room, tok, visitorCookie string, now time.Time) (p Pass, reason string) {
	e, reason := d.check(ctx, room, tok, visitorCookie, now)
	if e == nil {
		return Pass{}, reason
	}
	return e.Pass, ""
}

// Present is Check, and when the pass has less than half its life left a
// renewal (at most once per RenewEvery per pass): renewed says the Pass
// returned is a new one of the same session, whose cookie the caller sets.
func (d *Desk) Present(ctx context.Context, room queue.Room, tok, visitorCookie string, now time.Time) (p Pass, renewed bool, reason string) {
	e, reason := d.check(ctx, room.Name, tok, visitorCookie, now)
	if e == nil {
		return Pass{}, false, reason
	}
	if n, ok := d.renew(ctx, room, e, now); ok {
		return n, true, ""
	}
	return e.Pass, false, ""
}

func (d *Desk) check(ctx context.Context, room, tok, visitorCookie string, now time.Time) (*entry, string) {
	if tok == "" {
		return nil, ""
	}
	if e, ok := d.passes.Get(tok, now); ok {
		switch {
		case e.Claims.Room != room:
			return nil, "wrong_room"
		case !sameCookie(e.visitorCookie, visitorCookie):
			return nil, "wrong_visitor"
		case d.isRevoked(e.Claims.Session, now) || d.revokedElsewhere(ctx, e, now):
			return nil, "revoked"
		}
		return e, ""
	}
	claims, err := d.verify.VerifyAt(now, tok, room)
	if err != nil {
		return nil, token.Reason(err)
	}
	want := d.cfg.VisitorCookie(claims.Visitor)
	if !sameCookie(want, visitorCookie) {
		return nil, "wrong_visitor"
	}
	if d.isRevoked(claims.Session, now) {
		return nil, "revoked"
	}
	e := &entry{Pass: Pass{Token: tok, Claims: claims}, visitorCookie: want}
	e.checkedAt.Store(now.UnixNano())
	if d.cfg.Health.Up() && d.confirm(ctx, e, now) {
		return nil, "revoked"
	}
	d.passes.Put(tok, e, claims.ExpiresAt, now)
	// An announcement applied while this pass was being checked found it
	// not cached yet; it did mark the session first, so look again.
	if d.isRevoked(claims.Session, now) {
		d.passes.Delete(tok)
		return nil, "revoked"
	}
	return e, ""
}

// sameCookie compares a pass's visitor cookie with the one presented, in
// constant time (the presented value is the client's).
func sameCookie(want, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// revokedElsewhere checks a cached pass against Redis once per
// RecheckEvery (at its next use after RecheckRoom).
func (d *Desk) revokedElsewhere(ctx context.Context, e *entry, now time.Time) bool {
	last := e.checkedAt.Load()
	if now.UnixNano()-last < int64(RecheckEvery) || !d.cfg.Health.Up() || !e.checkedAt.CompareAndSwap(last, now.UnixNano()) {
		return false
	}
	return d.confirm(ctx, e, now)
}

// confirm checks the pass's session in Redis (queue.Confirm) and reports
// whether it was revoked. A session Redis forgot (it restarted empty, or a
// replica that had not caught up took over) is registered again, so
// admission counts it before admitting anyone new, and its passes are
// renewed again. A revocation Redis forgot with the rest is not known
// there: this instance still refuses a session it saw revoked (isRevoked,
// checked before), but an instance that never saw it would not.
func (d *Desk) confirm(ctx context.Context, e *entry, now time.Time) bool {
	c := e.Claims
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	got, err := d.cfg.Sessions.Confirm(rctx, queue.Room{Name: c.Room}, c.Visitor, c.Session, c.ExpiresAt)
	if err != nil {
		d.cfg.Health.Failed(err)
		return false
	}
	switch got {
	case queue.ConfirmRevoked:
		d.markRevoked(c.Session, c.ExpiresAt, now)
		d.recorded.Put(c.Session, c, c.ExpiresAt.Add(token.Leeway), now)
		return true
	case queue.ConfirmResumed:
		e.noRenew.Store(false)
		d.cfg.Log.Debug().Str("room", c.Room).Msg("a session Redis had forgotten came back with its pass")
	}
	return false
}

// isRevoked reports whether this instance knows the session was revoked.
func (d *Desk) isRevoked(sid string, now time.Time) bool {
	_, ok := d.revoked.Get(sid, now)
	return ok
}

// markRevoked remembers the session as revoked until a pass expiring at exp
// can no longer verify (or longer, if already remembered so).
func (d *Desk) markRevoked(sid string, exp, now time.Time) {
	until := exp.Add(token.Leeway)
	d.revoked.Update(sid, now, func(old time.Time, found bool) (time.Time, time.Time, bool) {
		if found && old.After(until) {
			until = old
		}
		return until, until, true
	})
}

// renew signs a new pass of e's session when less than half of e's life is
// left, at most once per RenewEvery per pass.
func (d *Desk) renew(ctx context.Context, room queue.Room, e *entry, now time.Time) (Pass, bool) {
	c := e.Claims
	life := c.ExpiresAt.Sub(c.IssuedAt)
	if c.ExpiresAt.Sub(now) > life/2 || e.noRenew.Load() || !d.cfg.Health.Up() {
		return Pass{}, false
	}
	last := e.renewAt.Load()
	if now.UnixNano()-last < int64(RenewEvery) || !e.renewAt.CompareAndSwap(last, now.UnixNano()) {
		return Pass{}, false
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := d.cfg.Sessions.Renew(rctx, room, c.Visitor, c.Session)
	if err != nil {
		if errors.Is(err, queue.ErrNotAdmitted) {
			e.noRenew.Store(true)
		} else {
			d.cfg.Health.Failed(err)
		}
		return Pass{}, false
	}
	p, err := d.sign(room.Name, c.Visitor, c.Network, s, now)
	return p, err == nil
}

// Revoke ends p's session: every pass of it is refused from now on, here at
// once and on every instance within moments, and its slot is freed (once,
// however many of its passes the origin revokes). The work in Redis is
// retried in the background when Redis is slow.
func (d *Desk) Revoke(p Pass, now time.Time) {
	c := p.Claims
	d.markRevoked(c.Session, c.ExpiresAt, now)
	d.recorded.Put(c.Session, c, c.ExpiresAt.Add(token.Leeway), now)
	d.passes.Delete(p.Token)
	d.ends.start(d, c)
}

// Heard applies a revocation another instance announced.
func (d *Desk) Heard(r queue.Revoked, now time.Time) {
	if !now.Before(r.Until.Add(token.Leeway)) {
		return // every pass of it has expired anyway
	}
	d.markRevoked(r.Session, r.Until, now)
}

// RecheckAll makes every cached pass due for its revocation check on its
// next use (after announcements may have been lost).
func (d *Desk) RecheckAll(now time.Time) {
	d.passes.Range(now, func(_ string, e *entry) bool {
		e.checkedAt.Store(0)
		return true
	})
}

// RecheckRoom is told that Redis forgot room (a new line epoch). Every
// cached pass of the room is due for its check against Redis on its next
// use, so the session of each pass still in use comes back with its next
// request. And the revocations of the room this instance knows with their
// claims are recorded (and announced) again, in the background: Redis
// lost them with the rest, and a session revoked must not come back
// through an instance that never heard of it.
func (d *Desk) RecheckRoom(room string, now time.Time) {
	d.passes.Range(now, func(_ string, e *entry) bool {
		if e.Claims.Room == room {
			e.checkedAt.Store(0)
		}
		return true
	})
	var again []token.Claims
	d.recorded.Range(now, func(_ string, c token.Claims) bool {
		if c.Room == room {
			again = append(again, c)
		}
		return true
	})
	if len(again) == 0 || d.ends.ctx.Err() != nil {
		return
	}
	d.ends.wg.Add(1)
	go func() {
		defer d.ends.wg.Done()
		for _, c := range again {
			d.ends.start(d, c)
		}
	}()
}

// Close stops the background retries and waits for them (up to ctx).
func (d *Desk) Close(ctx context.Context) error {
	d.ends.stop()
	done := make(chan struct{})
	go func() { d.ends.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ending a revoked session in Redis (queue.Revoke, then the announcement)
// is retried in the background with backoff, so the slot frees and the
// session is recorded even when Redis was slow for a moment; past the last
// try the slot frees when the session expires, and this instance still
// refuses the session's passes (it marked the session at once).
const (
	endTries    = 6
	endFirstGap = 250 * time.Millisecond
	endTimeout  = 2 * time.Second
	maxEnding   = 1024 // retries pending at once; past it, the session's expiry frees the slot
)

// ender runs the attempts to end sessions in Redis.
type ender struct {
	ctx     context.Context
	stop    context.CancelFunc
	mu      sync.Mutex
	pending int
	wg      sync.WaitGroup
}

// start makes one attempt now (so the next visitor is admitted sooner) and
// the rest in the background.
func (en *ender) start(d *Desk, c token.Claims) {
	if d.tryEnd(en.ctx, c) {
		return
	}
	en.mu.Lock()
	if en.pending >= maxEnding {
		en.mu.Unlock()
		d.cfg.Log.Warn().Str("room", c.Room).Msg("revoke: ending the session failed; its slot frees when the session expires")
		return
	}
	en.pending++
	en.wg.Add(1)
	en.mu.Unlock()
	go func() {
		defer func() {
			en.mu.Lock()
			en.pending--
			en.mu.Unlock()
			en.wg.Done()
		}()
		gap := endFirstGap
		for try := 2; try <= endTries; try++ {
			t := time.NewTimer(gap)
			select {
			case <-en.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if d.tryEnd(en.ctx, c) {
				return
			}
			gap *= 2
		}
		d.cfg.Log.Warn().Str("room", c.Room).Int("tries", endTries).Msg("revoke: ending the session failed; its slot frees when the session expires")
	}()
}

// tryEnd makes one attempt; true when it is done (or pointless).
func (d *Desk) tryEnd(ctx context.Context, c token.Claims) bool {
	if ctx.Err() != nil {
		return true
	}
	rctx, cancel := context.WithTimeout(ctx, endTimeout)
	defer cancel()
	_, err := d.cfg.Sessions.Revoke(rctx, c.Room, c.Visitor, c.Session, c.ExpiresAt, token.Leeway)
	if err == nil {
		err = d.cfg.Sessions.PublishRevoked(rctx, queue.Revoked{Session: c.Session, Until: c.ExpiresAt})
	}
	if err == nil || ctx.Err() != nil {
		return true
	}
	d.cfg.Health.Failed(err)
	d.cfg.Log.Debug().Err(err).Str("room", c.Room).Msg("revoke: ending the session failed; retrying")
	return false
}
