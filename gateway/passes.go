package gateway

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

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
	mu sync.RWMutex
	m  map[string]*passEntry
}

// passEntry is one verified pass.
type passEntry struct {
	claims token.Claims
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
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.limit {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[tok] = e
}

func (c *passCache) drop(tok string) {
	s := c.shard(tok)
	s.mu.Lock()
	delete(s.m, tok)
	s.mu.Unlock()
}

// revocations remembers the ids (jti) of passes the origin revoked until
// they expire, in Redis (so every instance refuses a replayed revoked pass
// when it first sees it) and in memory (so this instance never asks twice).
type revocations struct {
	rdb    redis.UniversalClient
	prefix string
	mu     sync.Mutex
	local  map[string]time.Time // jti -> exp
}

func newRevocations(rdb redis.UniversalClient, prefix string) *revocations {
	return &revocations{rdb: rdb, prefix: prefix, local: make(map[string]time.Time)}
}

func (rv *revocations) key(jti string) string { return rv.prefix + "revoked:" + jti }

// revoke records jti as revoked until exp.
func (rv *revocations) revoke(ctx context.Context, jti string, exp, now time.Time) error {
	rv.mu.Lock()
	if len(rv.local) > 100_000 {
		for k, e := range rv.local {
			if !now.Before(e) {
				delete(rv.local, k)
			}
		}
	}
	rv.local[jti] = exp
	rv.mu.Unlock()
	ttl := exp.Sub(now) + token.Leeway
	if ttl <= 0 {
		return nil
	}
	return rv.rdb.Set(ctx, rv.key(jti), 1, ttl).Err()
}

// isRevoked reports whether jti was revoked. A Redis failure answers
// "not revoked": in an outage pass holders keep going.
func (rv *revocations) isRevoked(ctx context.Context, jti string) (bool, error) {
	rv.mu.Lock()
	_, ok := rv.local[jti]
	rv.mu.Unlock()
	if ok {
		return true, nil
	}
	n, err := rv.rdb.Exists(ctx, rv.key(jti)).Result()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// checkPass returns the verified entry for tok in room, or nil with the
// reason ("" when tok is empty). A pass not seen before is verified by
// signature and looked up in the revocation list once.
func (g *Gateway) checkPass(ctx context.Context, tok, room string, now time.Time) (*passEntry, string) {
	if tok == "" {
		return nil, ""
	}
	if e := g.passes.get(tok, now); e != nil {
		if e.claims.Room != room {
			return nil, "wrong_room"
		}
		if g.revokedElsewhere(ctx, tok, e, now) {
			return nil, "revoked"
		}
		return e, ""
	}
	claims, err := g.verify.VerifyAt(now, tok, room)
	if err != nil {
		return nil, token.Reason(err)
	}
	if g.redisUp.Load() {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		revoked, err := g.revoked.isRevoked(rctx, claims.ID)
		cancel()
		if err != nil {
			g.redisError(err)
		}
		if revoked {
			return nil, "revoked"
		}
	}
	e := &passEntry{claims: claims}
	e.checkedAt.Store(now.UnixNano())
	g.passes.put(tok, e, now)
	return e, ""
}

// recheckEvery bounds how often a cached pass is checked again against the
// revocation list, so a pass revoked through another instance stops
// working here within seconds, at one Redis read per pass per interval.
const recheckEvery = 5 * time.Second

func (g *Gateway) revokedElsewhere(ctx context.Context, tok string, e *passEntry, now time.Time) bool {
	last := e.checkedAt.Load()
	if now.UnixNano()-last < int64(recheckEvery) || !g.redisUp.Load() || !e.checkedAt.CompareAndSwap(last, now.UnixNano()) {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	revoked, err := g.revoked.isRevoked(rctx, e.claims.ID)
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
