package testenv

import (
	"net"
	"testing"
)

// FreePort returns a loopback port nobody listened on a moment ago. Another
// process may take it before the test binds it; the window is short enough
// for tests, and StartRedis retries on another port.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// freeLoopbackPort returns a free port below 55536: a Redis Cluster node
// also listens on port+10000 (the cluster bus).
func freeLoopbackPort() (int, error) {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 <= 65535 {
			return port, nil
		}
	}
}
