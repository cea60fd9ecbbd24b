package ticketd

import (
	"context"
	"sync"
	"time"
)

// eventCache serves the read path (event list and pages) from memory so that
// browsing does not compete with buying for the database.
//
// The snapshot is reloaded when it is older than freshFor; while one reload
// runs, readers keep getting the old snapshot as long as it is younger than
// maxAge, and wait for the reload after that. Every order this process
// commits lowers the cached stock at once, so the cache shows more stock than
// the database holds only for orders placed through other ticketd instances,
// and then for at most maxAge (one second).
type eventCache struct {
	load     func(context.Context) ([]Event, error)
	now      func() time.Time
	freshFor time.Duration
	maxAge   time.Duration

	mu       sync.Mutex
	list     []Event
	byID     map[int64]int // index into list
	loadedAt time.Time     // when the load that made list started
	loading  chan struct{} // closed when the running reload ends; nil if none
	err      error         // error of the last reload
	// soldDuring holds the lowest stock seen by Sold while a reload runs:
	// the reload's read may predate those orders.
	soldDuring map[int64]int
}

func newEventCache(load func(context.Context) ([]Event, error)) *eventCache {
	return &eventCache{load: load, now: time.Now, freshFor: 500 * time.Millisecond, maxAge: time.Second}
}

// All returns every event, oldest start first. The slice is a copy.
func (c *eventCache) All(ctx context.Context) ([]Event, error) {
	if err := c.fresh(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.list...), nil
}

// Get returns one event; ok is false when the snapshot does not hold it.
func (c *eventCache) Get(ctx context.Context, id int64) (Event, bool, error) {
	if err := c.fresh(ctx); err != nil {
		return Event{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.byID[id]
	if !ok {
		return Event{}, false, nil
	}
	return c.list[i], true, nil
}

// Sold records that an order left remaining tickets of event id.
func (c *eventCache) Sold(id int64, remaining int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.byID[id]; ok && remaining < c.list[i].Remaining {
		c.list[i].Remaining = remaining
	}
	if c.loading != nil {
		if p, ok := c.soldDuring[id]; !ok || remaining < p {
			c.soldDuring[id] = remaining
		}
	}
}

// Invalidate makes the next read reload (after an event was created).
func (c *eventCache) Invalidate() {
	c.mu.Lock()
	c.loadedAt = time.Time{}
	c.mu.Unlock()
}

func (c *eventCache) fresh(ctx context.Context) error {
	c.mu.Lock()
	age := c.now().Sub(c.loadedAt)
	if age < c.freshFor && c.byID != nil {
		c.mu.Unlock()
		return nil
	}
	wait := c.loading
	if wait == nil {
		wait = make(chan struct{})
		c.loading = wait
		c.soldDuring = map[int64]int{}
		go c.reload(wait)
	}
	usable := age < c.maxAge && c.byID != nil
	c.mu.Unlock()
	if usable {
		return nil
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || c.now().Sub(c.loadedAt) >= c.maxAge {
		return c.err
	}
	return nil
}

// reload runs detached from any one request, so a reader giving up does not
// cancel the load the others wait for.
func (c *eventCache) reload(done chan struct{}) {
	started := c.now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	list, err := c.load(ctx)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(done)
	c.loading = nil
	c.err = err
	pending := c.soldDuring
	c.soldDuring = nil
	if err != nil {
		return
	}
	byID := make(map[int64]int, len(list))
	for i, e := range list {
		byID[e.ID] = i
	}
	for i, e := range list {
		if p, ok := pending[e.ID]; ok && p < e.Remaining {
			list[i].Remaining = p
		}
	}
	c.list, c.byID, c.loadedAt = list, byID, started
}
