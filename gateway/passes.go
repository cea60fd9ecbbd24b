package gateway

import (
	"context"
	"crypto/subtle"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/token"
)

// passCache remembers passes already verified by this instance, keyed by
// the token itself, until they expire; so a visitor's stream of requests
// costs one signature check, not one per request. It is bounded: when a
// shard is full, expired entries go first, then arbitrary ones (a dropped
// entry only costs one more signature check).
type passCache struct {
	seed   maphash.Seed
	shards [32]passShard
	limit  int // per shard
}

type passShard struct {
	mu   sync.RWMutex
	m    map[string]*passEntry
	sids map[string][]string // session id -> its tokens here, for eviction by session
}

// passEntry is one verified pass.
type passEntry struct {
	claims token.Claims
	// visitorCookie is the wr_id cookie value of the pass's visitor (the
	// signed id, as visitorCookies.encode makes it): a request presents the
	// pass together with exactly this value, or the pass is not its.
	// Comparing the two is how a cached pass is bound to its visitor
	// without an HMAC per request.
	visitorCookie string
	// renewAt is the unix nano time of the last renewal attempt, so
	// concurrent requests with the same pass renew it once.
	renewAt atomic.Int64
	// noRenew is set when the session ended in Redis: the pass keeps
	// working until its exp (checked by signature alone) but is not renewed.
	noRenew atomic.Bool
	// checkedAt is the unix nano time of the last revocation check.
	checkedAt atomic.Int64
}

func newPassCache(limit int) *passCache {
	c := &passCache{seed: maphash.MakeSeed(), limit: max(limit/32, 16)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*passEntry)
		c.shards[i].sids = make(map[string][]string)
	}
	return c
}

func (c *passCache) shard(tok string) *passShard {
	return &c.shards[maphash.String(c.seed, tok)%uint64(len(c.shards))]
}

// get returns the live entry of tok, or nil.
func (c *passCache) get(tok string, now time.Time) *passEntry {
	s := c.shard(tok)
	s.mu.RLock()
	e := s.m[tok]
	s.mu.RUnlock()
	if e == nil || !now.Before(e.claims.ExpiresAt) {
		return nil
	}
	return e
}

func (c *passCache) put(tok string, e *passEntry, now time.Time) {
	s := c.shard(tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.limit {
		for k, v := range s.m {
			if !now.Before(v.claims.ExpiresAt) {
				s.remove(k, v)
			}
		}
		for k, v := range s.m {
			if len(s.m) < c.limit {
				break
			}
			s.remove(k, v)
		}
	}
	if old := s.m[tok]; old != nil {
		s.remove(tok, old)
	}
	s.m[tok] = e
	s.sids[e.claims.Session] = append(s.sids[e.claims.Session], tok)
}

// remove deletes tok (whose entry is e) and its session index; s.mu is held.
func (s *passShard) remove(tok string, e *passEntry) {
	delete(s.m, tok)
	toks := slices.DeleteFunc(s.sids[e.claims.Session], func(t string) bool { return t == tok })
	if len(toks) == 0 {
		delete(s.sids, e.claims.Session)
	} else {
		s.sids[e.claims.Session] = toks
	}
}

func (c *passCache) drop(tok string) {
	s := c.shard(tok)
	s.mu.Lock()
	if e := s.m[tok]; e != nil {
		s.remove(tok, e)
	}
	s.mu.Unlock()
}

// dropSession evicts every pass of the session, wherever it is cached.
// Revocations name sessions, and they are rare next to requests, so this
// asks every shard rather than keeping a second sharded index.
func (c *passCache) dropSession(sid string) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, tok := range slices.Clone(s.sids[sid]) {
			s.remove(tok, s.m[tok])
		}
		s.mu.Unlock()
	}
}

// recheckAll makes every cached pass due for its revocation check on its
// next use (after revocation messages may have been lost).
func (c *passCache) recheckAll() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			e.checkedAt.Store(0)
		}
		s.mu.RUnlock()
	}
}

// checkPass returns the verified entry for tok in room, presented with
// the wr_id cookie value visitorCookie ("" when the request has none), or
// nil with the reason ("" when tok is empty). A pass admits only the
// visitor it was issued to: one copied to another client, or presented
// without its visitor cookie, is no admission ("wrong_visitor"). A pass not
// seen before is verified by signature and its session looked up in the
// revocation list once.
func (g *Gateway) checkPass(ctx context.Context, tok, room, visitorCookie string, now time.Time) (*passEntry, string) {
	if tok == "" {
		return nil, ""
	}
	if e := g.passes.get(tok, now); e != nil {
		switch {
		case e.claims.Room != room:
			return nil, "wrong_room"
		case !sameCookie(e.visitorCookie, visitorCookie):
			return nil, "wrong_visitor"
		case g.revokedElsewhere(ctx, tok, e, now):
			return nil, "revoked"
		}
		return e, ""
	}
	claims, err := g.verify.VerifyAt(now, tok, room)
	if err != nil {
		return nil, token.Reason(err)
	}
	want := g.cookies.encode(claims.Visitor)
	if !sameCookie(want, visitorCookie) {
		return nil, "wrong_visitor"
	}
	if g.revoked.known(claims.Session) {
		return nil, "revoked"
	}
	if g.redisUp.Load() {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		revoked, err := g.revoked.isRevoked(rctx, claims.Room, claims.Session)
		cancel()
		if err != nil {
			g.redisError(err)
		}
		if revoked {
			return nil, "revoked"
		}
	}
	e := &passEntry{claims: claims, visitorCookie: want}
	e.checkedAt.Store(now.UnixNano())
	g.passes.put(tok, e, now)
	// A revocation message handled while this pass was being checked
	// found nothing to evict; it did record the session first, so look
	// again.
	if g.revoked.known(claims.Session) {
		g.passes.drop(tok)
		return nil, "revoked"
	}
	return e, ""
}

// sameCookie compares a pass's visitor cookie with the one presented, in
// constant time (the presented value is the client's).
func sameCookie(want, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// recheckEvery bounds how often a cached pass is checked again against the
// revocation list. Revocations normally arrive at once over pub/sub
// (revocation.go); this periodic check is the fallback for a message lost
// while the subscription was down, so a pass revoked through another
// instance stops working here within seconds even then, at one Redis read
// per pass per interval.
const recheckEvery = 5 * time.Second

func (g *Gateway) revokedElsewhere(ctx context.Context, tok string, e *passEntry, now time.Time) bool {
	last := e.checkedAt.Load()
	if now.UnixNano()-last < int64(recheckEvery) || !g.redisUp.Load() || !e.checkedAt.CompareAndSwap(last, now.UnixNano()) {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	revoked, err := g.revoked.isRevoked(rctx, e.claims.Room, e.claims.Session)
	if err != nil {
		g.redisError(err)
		return false
	}
	if revoked {
		g.passes.drop(tok)
	}
	return revoked
}

// PassCached reports whether tok is a live pass for room in this
// instance's cache (benchmarks and diagnostics).
func (g *Gateway) PassCached(tok, room string, now time.Time) bool {
	e := g.passes.get(tok, now)
	return e != nil && e.claims.Room == room
}
