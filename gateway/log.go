package gateway

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/rs/zerolog"
)

// newStdLogger routes net/http's own error lines (TLS handshake errors,
// bad requests) into the zerolog logger at debug level.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(stdWriter{l}, "", 0)
}

type stdWriter struct{ l zerolog.Logger }

func (w stdWriter) Write(p []byte) (int, error) {
	w.l.Debug().Str("source", "net/http").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// RedisLogger routes go-redis's own log lines (Sentinel failovers, pool
// dial failures) into l at warn level, so the gateway's log stays one JSON
// object per line. go-redis keeps its logger in a package variable: a
// program sets it once, before it builds a gateway
// (redis.SetLogger(gateway.RedisLogger(log))).
func RedisLogger(l zerolog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{l}
}

type redisLogger struct{ l zerolog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Warn().Str("source", "go-redis").Msg(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
