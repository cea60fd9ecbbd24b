package queue

// Embedded is an in-process Redis-compatible server (for the demo and for a
// single gateway with no Redis configured). It runs the same Lua scripts as a
// real Redis; its state is lost when the process exits.
type Embedded struct{}

// StartEmbedded starts an embedded server on a loopback port.
func StartEmbedded() (*Embedded, error) { panic("TODO(queue)") }

// URL is the redis:// URL of the embedded server.
func (e *Embedded) URL() string { panic("TODO(queue)") }

// Close stops the server.
func (e *Embedded) Close() { panic("TODO(queue)") }
