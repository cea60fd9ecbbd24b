package ticketd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stockDB is the database as the cache's loader sees it: a list of events
// whose stock the test changes, and a gate to hold a load in flight.
type stockDB struct {
	mu    sync.Mutex
	stock int
	fail  error
	gate  chan struct{} // when not nil, a load waits for it
	loads atomic.Int64
}

func (d *stockDB) load(ctx context.Context) ([]Event, error) {
	d.loads.Add(1)
	d.mu.Lock()
	stock, fail, gate := d.stock, d.fail, d.gate
	d.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return nil, fail
	}
	return []Event{{ID: 1, Name: "e", Room: "default", Total: 100, Remaining: stock}}, nil
}

func (d *stockDB) set(stock int) { d.mu.Lock(); d.stock = stock; d.mu.Unlock() }

type steppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *steppedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *steppedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestCache(db *stockDB) (*eventCache, *steppedClock) {
	clock := &steppedClock{now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	c := newEventCache(db.load)
	c.now = clock.Now
	return c, clock
}

func remaining(t *testing.T, c *eventCache) int {
	t.Helper()
	e, ok, err := c.Get(context.Background(), 1)
	if err != nil || !ok {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	return e.Remaining
}

// The read path shows a sale made through this process at once, and one
// made elsewhere (only visible in the database) within a second.
func TestCacheStockIsNeverStaleForLong(t *testing.T) {
	db := &stockDB{stock: 100}
	c, clock := newTestCache(db)
	if got := remaining(t, c); got != 100 {
		t.Fatalf("first read %d", got)
	}
	c.Sold(1, 97) // an order through this instance
	if got := remaining(t, c); got != 97 {
		t.Fatalf("after a local sale: %d, want 97", got)
	}
	db.set(90) // orders through another instance
	clock.Advance(400 * time.Millisecond)
	if got := remaining(t, c); got != 97 {
		t.Fatalf("fresh snapshot changed: %d", got)
	}
	// Past freshFor a reload starts; past maxAge readers must wait for it.
	clock.Advance(700 * time.Millisecond)
	if got := remaining(t, c); got != 90 {
		t.Fatalf("after a second: %d, want 90 from the database", got)
	}
}

// A sale committed while a reload is reading does not come back as higher
// stock when the reload's older read lands.
func TestCacheReloadKeepsSalesMadeDuringIt(t *testing.T) {
	db := &stockDB{stock: 100}
	c, clock := newTestCache(db)
	remaining(t, c)
	gate := make(chan struct{})
	db.mu.Lock()
	db.gate = gate
	db.mu.Unlock()
	clock.Advance(600 * time.Millisecond) // stale but usable: reload in background
	if got := remaining(t, c); got != 100 {
		t.Fatalf("stale read %d", got)
	}
	c.Sold(1, 95) // committed after the reload's read
	close(gate)
	waitLoads(t, c)
	if got := remaining(t, c); got != 95 {
		t.Fatalf("after reload: %d, want 95", got)
	}
}

// One reload at a time, however many readers find the snapshot stale.
func TestCacheSingleReload(t *testing.T) {
	db := &stockDB{stock: 10}
	c, clock := newTestCache(db)
	remaining(t, c)
	clock.Advance(2 * time.Second)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { remaining(t, c) })
	}
	wg.Wait()
	if n := db.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}
}

// When the database is down and the snapshot is older than a second, reads
// fail rather than show stock that may be gone.
func TestCacheDatabaseDown(t *testing.T) {
	db := &stockDB{stock: 10}
	c, clock := newTestCache(db)
	remaining(t, c)
	db.mu.Lock()
	db.fail = errors.New("connection refused")
	db.mu.Unlock()
	clock.Advance(2 * time.Second)
	if _, _, err := c.Get(context.Background(), 1); err == nil {
		t.Fatal("read served a snapshot older than a second with the database down")
	}
}

func waitLoads(t *testing.T, c *eventCache) {
	t.Helper()
	c.mu.Lock()
	ch := c.loading
	c.mu.Unlock()
	if ch != nil {
		<-ch
	}
}
