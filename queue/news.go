package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// News is what gateway instances tell each other, through Redis pub/sub on
// two channels under the prefix:
//
//   - <prefix>admitted: the visitors an admission step (or an operator's
//     manual admission) just admitted, so an instance holding their sockets
//     tells them at once, and their next request, on any instance, goes
//     straight to Enter;
//   - <prefix>revoked: an admission session the origin ended, so every
//     instance refuses all of its passes at once.
//
// Nothing here is trusted beyond a shortcut: Enter checks the admission in
// Redis, and the revocation record (Revoke, Revoked) is the truth for a
// pass first seen later. A message lost while Redis restarts costs time
// only; Listen reports every (re)subscription so the listener can check
// again what it may have missed.

// Admitted is one admission announcement.
type Admitted struct {
	From     string    // the announcing instance, which ignores its own news
	Room     string    // the room's name
	Until    time.Time // the admissions lapse then unless used (millisecond resolution)
	Visitors []string  // at most MaxAnnounced per message; PublishAdmitted splits
}

// Revoked is one ended admission session.
type Revoked struct {
	Session string    // the session id (sid)
	Until   time.Time // the latest a pass of it may verify (second resolution)
}

// MaxAnnounced bounds the visitors in one admitted message (a message is at
// most about this × (MaxVisitorLen + 3) bytes); larger admissions are sent
// in several.
const MaxAnnounced = 2000

func (q *Queue) admittedChannel() string { return q.cfg.Prefix + "admitted" }
func (q *Queue) revokedChannel() string  { return q.cfg.Prefix + "revoked" }

// admittedJSON is an admitted message on the wire.
type admittedJSON struct {
	From     string   `json:"i"`
	Room     string   `json:"r"`
	Until    int64    `json:"u"` // unix ms
	Visitors []string `json:"v"`
}

// PublishAdmitted announces an admission to every instance, in one round
// trip (several messages when it is large).
func (q *Queue) PublishAdmitted(ctx context.Context, a Admitted) error {
	if len(a.Visitors) == 0 {
		return nil
	}
	pipe := q.rdb.Pipeline()
	for vs := a.Visitors; len(vs) > 0; {
		n := min(len(vs), MaxAnnounced)
		b, err := json.Marshal(admittedJSON{From: a.From, Room: a.Room, Until: a.Until.UnixMilli(), Visitors: vs[:n]})
		if err != nil {
			return err
		}
		pipe.Publish(ctx, q.admittedChannel(), b)
		vs = vs[n:]
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("queue: announce admissions in %s: %w", a.Room, err)
	}
	return nil
}

// PublishRevoked announces an ended session to every instance.
func (q *Queue) PublishRevoked(ctx context.Context, r Revoked) error {
	if err := checkSession(r.Session); err != nil {
		return err
	}
	msg := r.Session + " " + strconv.FormatInt(r.Until.Unix(), 10)
	if err := q.rdb.Publish(ctx, q.revokedChannel(), msg).Err(); err != nil {
		return fmt.Errorf("queue: announce a revocation: %w", err)
	}
	return nil
}

// ParseAdmitted reads an admitted message; ok is false for anything
// PublishAdmitted would not send.
func ParseAdmitted(payload string) (a Admitted, ok bool) {
	if len(payload) > MaxAnnounced*(MaxVisitorLen+8)+1024 {
		return a, false
	}
	var m admittedJSON
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return a, false
	}
	if m.From == "" || len(m.From) > 64 || !ValidName(m.Room) || m.Until <= 0 ||
		len(m.Visitors) == 0 || len(m.Visitors) > MaxAnnounced {
		return a, false
	}
	for _, v := range m.Visitors {
		if checkVisitor(v) != nil {
			return a, false
		}
	}
	return Admitted{From: m.From, Room: m.Room, Until: time.UnixMilli(m.Until), Visitors: m.Visitors}, true
}

// ParseRevoked reads a revoked message ("<sid> <until unix seconds>"); ok
// is false for anything else.
func ParseRevoked(payload string) (r Revoked, ok bool) {
	sid, until, found := strings.Cut(payload, " ")
	if !found || checkSession(sid) != nil {
		return r, false
	}
	sec, err := strconv.ParseInt(until, 10, 64)
	if err != nil || sec < 0 {
		return r, false
	}
	return Revoked{Session: sid, Until: time.Unix(sec, 0)}, true
}

// Listener receives the news Listen hears. Nil funcs are skipped.
type Listener struct {
	// Subscribed is called after every (re)subscription: news published
	// while this instance was not subscribed is lost, so whatever it keeps
	// from news should be checked again.
	Subscribed func()
	Admitted   func(Admitted)
	Revoked    func(Revoked)
	// Malformed is called with a message this package would not send
	// (logged by the gateway, never applied).
	Malformed func(channel, payload string)
	// Lost is called when the subscription breaks (before the back-off).
	Lost func(err error)
}

// Subscription tuning: how long a quiet subscription waits before it pings
// Redis (a silent dead connection is noticed within twice this), and the
// bounds of the back-off between attempts to resubscribe.
const (
	newsIdle         = 15 * time.Second
	resubscribeFirst = 100 * time.Millisecond
	resubscribeMax   = 2 * time.Second
)

// Listen keeps this instance subscribed to the news until ctx ends,
// resubscribing with back-off whenever Redis goes away.
func (q *Queue) Listen(ctx context.Context, l Listener) {
	wait := resubscribeFirst
	for ctx.Err() == nil {
		subscribed, err := q.listenOnce(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			wait = resubscribeFirst
		}
		if l.Lost != nil {
			l.Lost(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, resubscribeMax)
	}
}

// listenOnce subscribes and applies messages until the subscription breaks;
// subscribed says whether it got that far.
func (q *Queue) listenOnce(ctx context.Context, l Listener) (subscribed bool, err error) {
	ps := q.rdb.Subscribe(ctx)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, q.revokedChannel(), q.admittedChannel()); err != nil {
		return false, err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, newsIdle)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				pinged = true
				continue
			}
			return subscribed, err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			// Both channels are confirmed one by one; once the second
			// is, nothing published from now on is missed.
			if m.Kind == "subscribe" && m.Count == 2 {
				subscribed = true
				if l.Subscribed != nil {
					l.Subscribed()
				}
			}
		case *redis.Message:
			q.deliver(m.Channel, m.Payload, l)
		}
	}
}

func (q *Queue) deliver(channel, payload string, l Listener) {
	switch channel {
	case q.admittedChannel():
		if a, ok := ParseAdmitted(payload); ok {
			if l.Admitted != nil {
				l.Admitted(a)
			}
			return
		}
	case q.revokedChannel():
		if r, ok := ParseRevoked(payload); ok {
			if l.Revoked != nil {
				l.Revoked(r)
			}
			return
		}
	}
	if l.Malformed != nil {
		l.Malformed(channel, payload)
	}
}
