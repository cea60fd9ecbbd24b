package queue

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Embedded is an in-process Redis-compatible server (for the demo and for a
// single gateway with no Redis configured). It runs the same Lua scripts as a
// real Redis; its state is lost when the process exits.
//
// It listens on a loopback port and requires a random password (part of
// URL), so other local users cannot reach the queue. Key TTLs are recorded
// but not enforced; nothing in the engine depends on them.
type Embedded struct {
	srv      *miniredis.Miniredis
	password string
}

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
	return &Embedded{srv: srv, password: pw}, nil
}

// URL is the redis:// URL of the embedded server, password included.
func (e *Embedded) URL() string { return "redis://:" + e.password + "@" + e.srv.Addr() + "/0" }

// Close stops the server.
func (e *Embedded) Close() { e.srv.Close() }
