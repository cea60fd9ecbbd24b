// Package cache is the one bounded in-memory map the gateway keeps per
// instance: verified passes, what it knows of admission sessions, the
// tickets it handed out, the visitors it told "admitted". Each is a
// shortcut in front of Redis, so losing an entry costs one more lookup,
// never correctness; what matters is that memory stays bounded under a
// flash crowd and that the hot path (a cached pass per admitted request)
// does not contend.
//
// A Cache is sharded by key hash; each entry may carry an expiry. When a
// shard is full, Put first drops expired entries, then arbitrary ones (Go's
// map order) until the shard is at seven eighths of its share, so the cost
// of making room is spread over many Puts. Get never returns an expired
// entry. The zero value is not usable: build one with New.
package cache

import (
	"hash/maphash"
	"sync"
	"time"
)

const shards = 32

// Cache maps K to V, holding at most about the limit given to New.
type Cache[K comparable, V any] struct {
	seed   maphash.Seed
	limit  int // per shard
	shards [shards]shard[K, V]
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	v     V
	until int64 // unix nanoseconds; 0: no expiry
}

func (e entry[V]) live(now int64) bool { return e.until == 0 || now < e.until }

// New returns a Cache of about limit entries (at least one per shard).
func New[K comparable, V any](limit int) *Cache[K, V] {
	c := &Cache[K, V]{seed: maphash.MakeSeed(), limit: max(limit/shards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[K]entry[V])
	}
	return c
}

func (c *Cache[K, V]) shard(k K) *shard[K, V] {
	return &c.shards[maphash.Comparable(c.seed, k)%shards]
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Get returns the value of k unless it is missing or expired at now.
func (c *Cache[K, V]) Get(k K, now time.Time) (V, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || !e.live(now.UnixNano()) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put sets k to v until until (zero: no expiry), making room if needed.
func (c *Cache[K, V]) Put(k K, v V, until, now time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	c.room(s, k, now)
	s.m[k] = entry[V]{v: v, until: nanos(until)}
}

// GetOrPut returns the live value of k, or sets it to v (until until) and
// returns v; loaded says which. Two callers racing for one key get the
// same value.
func (c *Cache[K, V]) GetOrPut(k K, v V, until, now time.Time) (actual V, loaded bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok && e.live(now.UnixNano()) {
		return e.v, true
	}
	c.room(s, k, now)
	s.m[k] = entry[V]{v: v, until: nanos(until)}
	return v, false
}

// Update replaces k's value with what f makes of the current one (found is
// false when k is missing or expired), under the shard's lock; f's keep
// false deletes k.
func (c *Cache[K, V]) Update(k K, now time.Time, f func(old V, found bool) (v V, until time.Time, keep bool)) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	found := ok && e.live(now.UnixNano())
	if !found {
		var zero V
		e.v = zero
	}
	v, until, keep := f(e.v, found)
	if !keep {
		delete(s.m, k)
		return
	}
	if !ok {
		c.room(s, k, now)
	}
	s.m[k] = entry[V]{v: v, until: nanos(until)}
}

// Take removes k and returns its value if it was live.
func (c *Cache[K, V]) Take(k K, now time.Time) (V, bool) {
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	delete(s.m, k)
	s.mu.Unlock()
	if !ok || !e.live(now.UnixNano()) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Delete removes k.
func (c *Cache[K, V]) Delete(k K) {
	s := c.shard(k)
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// Range calls f for every live entry until f returns false. Entries added
// or removed meanwhile may or may not be seen.
func (c *Cache[K, V]) Range(now time.Time, f func(K, V) bool) {
	t := now.UnixNano()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			if e.live(t) && !f(k, e.v) {
				s.mu.RUnlock()
				return
			}
		}
		s.mu.RUnlock()
	}
}

// Len counts the entries held, expired ones not yet dropped included.
func (c *Cache[K, V]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// room makes space for a new key in s (locked): when the shard is full,
// expired entries go, then arbitrary ones down to 7/8 of the limit.
func (c *Cache[K, V]) room(s *shard[K, V], k K, now time.Time) {
	if len(s.m) < c.limit {
		return
	}
	if _, ok := s.m[k]; ok {
		return // a replacement needs no room
	}
	t := now.UnixNano()
	for key, e := range s.m {
		if !e.live(t) {
			delete(s.m, key)
		}
	}
	target := c.limit - max(c.limit/8, 1)
	for key := range s.m {
		if len(s.m) <= target {
			break
		}
		delete(s.m, key)
	}
}
