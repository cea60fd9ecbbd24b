package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// crowd is the demo's simulated crowd: visitors who arrive at a steady,
// slightly random pace, keep their place with heartbeats, now and then give
// up, and once admitted come in (a session), stay a little while and leave
// (the session is revoked, as ticketd does after an order). It keeps the
// room's line at a visible length for as long as it runs, so a person who
// opens the demo at minute 10 still queues behind a line that moves, and
// the dashboard's waiting, active and admitted figures all move.
//
// It drives the queue engine in-process rather than running surge's
// virtual browsers: surge is a bounded load test that requests pages,
// holds WebSockets and buys tickets (it would empty the demo's stock and
// stop when its run ends), while the crowd only needs the queue's own
// operations — a few script calls per tick on the embedded Redis, with no
// sockets and no HTTP. The gateway cannot tell these visitors from people:
// they join, heartbeat, enter and leave through the same scripts.
//
// Time: the crowd acts every Tick of real time, and its own durations
// (patience, how long a visitor stays) are simulated ones, divided by
// Scale. Arrivals follow the room's effective admission rate as the queue
// reports it, so a room that runs Scale times faster gets a crowd that
// arrives Scale times faster: a test runs ten minutes of demo in seconds.
type crowd struct {
	line crowdLine
	room queue.Room
	cfg  crowdConfig
	rnd  *rand.Rand

	// Owned by run's goroutine.
	waiting map[string]*crowdVisitor
	inside  map[string]*crowdVisitor
	next    int64

	mu     sync.Mutex
	counts crowdCounts
}

// crowdLine is what the crowd needs of the queue (*queue.Queue).
type crowdLine interface {
	Join(ctx context.Context, room queue.Room, visitor string) (queue.Status, error)
	Status(ctx context.Context, room queue.Room, visitor string) (queue.Status, error)
	Heartbeat(ctx context.Context, room string, visitors []string) error
	Enter(ctx context.Context, room queue.Room, visitor string) (queue.Session, error)
	Revoke(ctx context.Context, room, visitor, session string, passExp time.Time, leeway time.Duration) (bool, error)
	Figures(ctx context.Context, rooms []queue.Room) ([]queue.Figures, error)
}

var _ crowdLine = (*queue.Queue)(nil)

// crowdConfig sets the crowd's pace. The zero value of a field means its
// default.
type crowdConfig struct {
	// Tick is how often the crowd acts, in real time (default 1 s).
	Tick time.Duration
	// Scale is how many simulated seconds pass per real second (default
	// 1): patience and stays are divided by it.
	Scale float64
	// MinWaiting and MaxWaiting are the line length the crowd keeps to
	// (default 8 and 25): it tops a shorter line up at once, arrives
	// faster below the middle, slower above it, and not at all at
	// MaxWaiting.
	MinWaiting, MaxWaiting int
	// Seed seeds the crowd's randomness (0: random).
	Seed uint64
}

// The crowd's behaviour, in simulated time.
const (
	// giveUpShare of arrivals are impatient: they leave after 5-40 s of
	// waiting. With the demo's abandon_after longer than its line, their
	// place usually comes up before they count as abandoned: they are
	// admitted and the admission lapses unused after a minute, as for a
	// person who closed the tab.
	giveUpShare          = 0.05
	shortPatienceLo      = 5 * time.Second
	shortPatienceHi      = 40 * time.Second
	longPatienceLo       = 2 * time.Minute // the rest only leave a line
	longPatienceHi       = 8 * time.Minute // that has stopped (paused)
	stayLo, stayHi       = 20 * time.Second, 90 * time.Second
	minArrivalsPerMinute = 6 // so a room at rate 0 still gets its line
	defaultCrowdTick     = time.Second
	defaultMinWaiting    = 8
	defaultMaxWaiting    = 25
	maxStepGap           = 5 // a step counts at most this many ticks of arrivals
	crowdStepTimeout     = 5 * time.Second
)

// crowdCounts are what the crowd did, for tests and the curious.
type crowdCounts struct {
	Joined  int64 // visitors who joined the line
	GaveUp  int64 // visitors who stopped waiting (their place lapses or is skipped)
	Entered int64 // admitted visitors who came in (a session)
	Left    int64 // visitors who left the site (session revoked)
	Lost    int64 // waiting visitors the queue no longer knew when their turn came
}

type crowdVisitor struct {
	id      string
	ticket  int64 // 0 while unknown (pre-queue, being numbered)
	gen     int64 // the room's reshuffle count the ticket belongs to
	giveUp  time.Time
	session queue.Session
	leave   time.Time
}

func newCrowd(line crowdLine, room queue.Room, cfg crowdConfig) *crowd {
	if cfg.Tick <= 0 {
		cfg.Tick = defaultCrowdTick
	}
	if cfg.Scale <= 0 {
		cfg.Scale = 1
	}
	if cfg.MinWaiting <= 0 {
		cfg.MinWaiting = defaultMinWaiting
	}
	if cfg.MaxWaiting <= cfg.MinWaiting {
		cfg.MaxWaiting = max(defaultMaxWaiting, cfg.MinWaiting+1)
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	return &crowd{
		line: line, room: room, cfg: cfg,
		rnd:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		waiting: map[string]*crowdVisitor{},
		inside:  map[string]*crowdVisitor{},
	}
}

// Counts returns what the crowd did so far.
func (c *crowd) Counts() crowdCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts
}

func (c *crowd) count(f func(*crowdCounts)) {
	c.mu.Lock()
	f(&c.counts)
	c.mu.Unlock()
}

// run acts every Tick until ctx ends. The first step fills the line to
// the middle of its band at once, so the queue shows from the start.
// Errors (Redis away for a moment) skip a step; the next one catches up.
func (c *crowd) run(ctx context.Context) {
	start := time.Now()
	sim := func(now time.Time) time.Time {
		return start.Add(time.Duration(float64(now.Sub(start)) * c.cfg.Scale))
	}
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	last, filled := start, false
	for {
		now := time.Now()
		gap := min(now.Sub(last), maxStepGap*c.cfg.Tick)
		last = now
		if err := c.step(ctx, sim(now), gap, !filled); err == nil {
			filled = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step is one round of the crowd at simulated time now, gap (real time)
// after the previous one: leave, give up, come in, heartbeat, arrive.
func (c *crowd) step(ctx context.Context, now time.Time, gap time.Duration, fill bool) error {
	ctx, cancel := context.WithTimeout(ctx, crowdStepTimeout)
	defer cancel()
	figs, err := c.line.Figures(ctx, []queue.Room{c.room})
	if err != nil {
		return err
	}
	f := figs[0]

	for id, v := range c.inside {
		if now.Before(v.leave) {
			continue
		}
		if _, err := c.line.Revoke(ctx, c.room.Name, id, v.session.ID, v.session.Until, 0); err != nil {
			return err
		}
		delete(c.inside, id)
		c.count(func(n *crowdCounts) { n.Left++ })
	}

	present := make([]string, 0, len(c.waiting))
	for id, v := range c.waiting {
		if !now.Before(v.giveUp) {
			// Gone without a word, like a closed tab: no more heartbeats.
			delete(c.waiting, id)
			c.count(func(n *crowdCounts) { n.GaveUp++ })
			continue
		}
		if v.ticket == 0 || v.gen != f.Reshuffles {
			st, err := c.line.Status(ctx, c.room, id) // also a heartbeat
			if err != nil {
				return err
			}
			if !c.placed(v, st) {
				continue
			}
			if st.State == queue.StateAdmitted {
				if err := c.enter(ctx, v, now); err != nil {
					return err
				}
				continue
			}
		}
		if v.ticket != 0 && v.ticket < f.Front {
			// Their turn came: admitted (a waiting visitor who keeps
			// its heartbeat is never skipped).
			if err := c.enter(ctx, v, now); err != nil {
				return err
			}
			continue
		}
		present = append(present, id)
	}
	if err := c.line.Heartbeat(ctx, c.room.Name, present); err != nil {
		return err
	}

	for range c.arrivals(f, gap, fill) {
		if err := c.arrive(ctx, now); err != nil {
			return err
		}
	}
	return nil
}

// arrivals is how many visitors arrive in this step: a Poisson draw
// around the room's admission rate over gap, raised while the line is
// short and lowered while it is long, never past MaxWaiting. A line below
// MinWaiting is topped up at once, with what the room admits in a gap on
// top, so it stays above MinWaiting until the next step even when steps
// come late (a busy machine, a sped-up test). fill asks for the middle of
// the band.
func (c *crowd) arrivals(f queue.Figures, gap time.Duration, fill bool) int {
	lo, hi := float64(c.cfg.MinWaiting), float64(c.cfg.MaxWaiting)
	waiting := float64(f.Waiting)
	mid := math.Round((lo + hi) / 2)
	switch {
	case waiting >= hi:
		return 0
	case fill && waiting < mid:
		return int(mid - waiting)
	}
	perSecond := max(float64(f.AdmitPerMinute), minArrivalsPerMinute*c.cfg.Scale) / 60
	floor := lo
	if f.State == queue.StateQueued {
		floor += math.Ceil(perSecond * gap.Seconds())
	}
	// 1.5x at MinWaiting, 1x in the middle, 0.5x at MaxWaiting.
	factor := min(2, max(0.25, 1+(mid-waiting)/(hi-lo)))
	n := float64(poisson(c.rnd, perSecond*gap.Seconds()*factor))
	return int(min(max(n, floor-waiting), hi-waiting))
}

// arrive adds one visitor to the line.
func (c *crowd) arrive(ctx context.Context, now time.Time) error {
	c.next++
	v := &crowdVisitor{id: fmt.Sprintf("crowd-%d", c.next)}
	if c.rnd.Float64() < giveUpShare {
		v.giveUp = now.Add(c.between(shortPatienceLo, shortPatienceHi))
	} else {
		v.giveUp = now.Add(c.between(longPatienceLo, longPatienceHi))
	}
	st, err := c.line.Join(ctx, c.room, v.id)
	if err != nil {
		return err
	}
	c.count(func(n *crowdCounts) { n.Joined++ })
	c.waiting[v.id] = v
	if c.placed(v, st) && st.State == queue.StateAdmitted {
		return c.enter(ctx, v, now)
	}
	return nil
}

// placed records a status of a waiting visitor; false when the queue no
// longer knows them (they are dropped).
func (c *crowd) placed(v *crowdVisitor, st queue.Status) bool {
	switch st.State {
	case queue.StateNone:
		delete(c.waiting, v.id)
		c.count(func(n *crowdCounts) { n.Lost++ })
		return false
	case queue.StateAdmitted:
		v.ticket = 0
	default:
		v.ticket, v.gen = st.Ticket, st.Reshuffles
	}
	return true
}

// enter turns a waiting visitor's admission into a session, as the
// gateway does when it issues the pass, and sets when they leave.
func (c *crowd) enter(ctx context.Context, v *crowdVisitor, now time.Time) error {
	s, err := c.line.Enter(ctx, c.room, v.id)
	if errors.Is(err, queue.ErrNotAdmitted) {
		delete(c.waiting, v.id)
		c.count(func(n *crowdCounts) { n.Lost++ })
		return nil
	}
	if err != nil {
		return err
	}
	delete(c.waiting, v.id)
	v.session, v.leave = s, now.Add(c.between(stayLo, stayHi))
	c.inside[v.id] = v
	c.count(func(n *crowdCounts) { n.Entered++ })
	return nil
}

// between is a random simulated duration in [lo, hi).
func (c *crowd) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(c.rnd.Int64N(int64(hi-lo)))
}

// poisson draws from a Poisson distribution of mean lambda: Knuth's
// method for the small means of a step, the normal approximation beyond.
func poisson(r *rand.Rand, lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda > 30:
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	limit, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}
