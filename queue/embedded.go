package queue

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Embedded is an in-process Redis-compatible server (for the demo and for a
// single gateway with no Redis configured). It runs the same Lua scripts as a
// real Redis; its state is lost when the process exits.
type Embedded struct {
	srv *miniredis.Miniredis
}

// StartEmbedded starts an embedded server on a loopback port.
func StartEmbedded() (*Embedded, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("queue: start embedded redis: %w", err)
	}
	return &Embedded{srv: srv}, nil
}

// URL is the redis:// URL of the embedded server.
func (e *Embedded) URL() string { return "redis://" + e.srv.Addr() + "/0" }

// Close stops the server.
func (e *Embedded) Close() { e.srv.Close() }
