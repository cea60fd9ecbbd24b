package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Embedded is an in-process Redis-compatible server (for the demo and for a
// single gateway with no Redis configured). It runs the same Lua scripts as a
// real Redis; its state is lost when the process exits.
//
// It listens on a loopback port and requires a random password (part of
// URL), so other local users cannot reach the queue. Key TTLs count down
// in real time (checked every expireEvery), so a long-running instance
// forgets idle rooms, lapsed revocations and old visitors as Redis would.
type Embedded struct {
	srv      *miniredis.Miniredis
	password string
	stop     chan struct{}
	done     chan struct{}
	closing  sync.Once
}

// expireEvery is how often the embedded server's key TTLs are counted down.
const expireEvery = 250 * time.Millisecond

// StartEmbedded starts an embedded server on a loopback port.
func StartEmbedded() (*Embedded, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("queue: embedded redis password: %w", err)
	}
	srv := miniredis.NewMiniRedis()
	pw := hex.EncodeToString(b[:])
	srv.RequireAuth(pw)
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("queue: start embedded redis: %w", err)
	}
	e := &Embedded{srv: srv, password: pw, stop: make(chan struct{}), done: make(chan struct{})}
	go e.expire()
	return e, nil
}

// expire counts the keys' TTLs down by the time that passed: miniredis
// leaves that to its caller.
func (e *Embedded) expire() {
	defer close(e.done)
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.srv.FastForward(now.Sub(last))
			last = now
		}
	}
}

// URL is the redis:// URL of the embedded server, password included.
func (e *Embedded) URL() string { return "redis://:" + e.password + "@" + e.srv.Addr() + "/0" }

// Close stops the server; safe to call more than once.
func (e *Embedded) Close() {
	e.closing.Do(func() {
		close(e.stop)
		<-e.done
		e.srv.Close()
	})
}
