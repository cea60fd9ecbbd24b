package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of one test's own, on a free loopback port.
// It is for the tests the shared Redis cannot serve: those that stop, kill
// or restart Redis, those that measure it (INFO memory counts everybody's
// keys), and those that need another mode (Sentinel, Cluster). Every other
// test wants Redis, which is faster to get and already running.
type RedisServer struct {
	Addr string // "127.0.0.1:Port"
	Port int
	// Process is the running server; Restart replaces it. A test may
	// SIGSTOP it to make Redis hang without closing a connection: Kill,
	// Restart and the cleanup send SIGCONT before they kill it.
	Process *os.Process

	t   testing.TB
	srv *server
}

// StartRedis starts redis-server on a free loopback port with args appended
// to its command line, waits until it answers PING, and kills it when the
// test ends. Unless args set them, persistence is off (--save ""
// --appendonly no): a restarted server comes back empty. The server's
// configuration file is a fresh empty one in a directory of the test's, so
// a Sentinel can rewrite it:
//
//	StartRedis(t, "--sentinel", "--sentinel", "monitor", "mymaster", "127.0.0.1", port, "1")
//
// Without redis-server the test is skipped, or failed under CI.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not installed (apt-get install redis-server)"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir() // before the cleanup below, so it is removed after the kill
	s := &RedisServer{t: t}
	t.Cleanup(s.Kill)
	// The port was free a moment ago; another process may have taken it
	// since, so a server that cannot bind gets another one.
	for attempt := 1; ; attempt++ {
		port, err := freeLoopbackPort()
		if err != nil {
			t.Fatal(err)
		}
		s.srv = &server{path: path, dir: dir, port: port, args: args}
		err = s.srv.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
	s.Port, s.Addr, s.Process = s.srv.port, s.srv.addr(), s.srv.cmd.Process
	return s
}

// Client returns a client of the server, closed when the test ends. opt
// may be nil; its Addr is replaced by the server's.
func (s *RedisServer) Client(opt *redis.Options) *redis.Client {
	var o redis.Options
	if opt != nil {
		o = *opt
	}
	o.Addr = s.Addr
	c := redis.NewClient(&o)
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Kill stops the server at once (SIGCONT, then SIGKILL): every connection
// drops, nothing is saved. Killing a killed server does nothing.
func (s *RedisServer) Kill() {
	if s.srv != nil {
		s.srv.kill()
	}
}

// Restart kills the server and starts a new, empty one on the same port
// with the same arguments: an outage that drops every connection and
// subscription, after which clients reconnect to the same address.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.srv.kill()
	if err := s.srv.start(); err != nil {
		s.t.Fatal(err)
	}
	s.Process = s.srv.cmd.Process
}

// serverStartTimeout is how long a starting redis-server has to answer
// PING; generous, because the test machines are often busy.
const serverStartTimeout = 10 * time.Second

// server is one redis-server process. It knows nothing of tests because
// the shared cluster's nodes outlive them; RedisServer and RedisCluster
// both start theirs through it.
type server struct {
	path string   // the redis-server binary
	dir  string   // its working directory: redis.conf, redis.log, cluster files
	port int      // on 127.0.0.1
	args []string // appended to the command line

	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// commandLine is the configuration file, the address, persistence off
// unless args say otherwise, then args.
func (s *server) commandLine() []string {
	line := []string{filepath.Join(s.dir, "redis.conf"), "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1"}
	if !slices.Contains(s.args, "--save") {
		line = append(line, "--save", "")
	}
	if !slices.Contains(s.args, "--appendonly") {
		line = append(line, "--appendonly", "no")
	}
	return append(line, s.args...)
}

// start runs the server with a fresh, empty configuration file and waits
// until it answers PING. A server that exits or stays silent is killed and
// reported with the tail of its log.
func (s *server) start() error {
	if err := os.WriteFile(filepath.Join(s.dir, "redis.conf"), nil, 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own copy
	cmd := exec.Command(s.path, s.commandLine()...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.dir, logf, logf
	if err := startTied(cmd); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	ctx, cancel := context.WithTimeout(context.Background(), serverStartTimeout)
	defer cancel()
	if err := s.waitPing(ctx); err != nil {
		s.kill()
		log, _ := os.ReadFile(logPath)
		if len(log) > 2000 {
			log = log[len(log)-2000:]
		}
		return fmt.Errorf("redis-server %v: %w\n%s", cmd.Args[1:], err, log)
	}
	return nil
}

// waitPing waits until the server answers PING, gives up early when it
// exits.
func (s *server) waitPing(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("exited before answering PING")
		case <-ctx.Done():
			return fmt.Errorf("no answer to PING on %s: %w", s.addr(), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill sends SIGCONT (a test may have stopped the server) and SIGKILL,
// and waits until the process is gone, its port closed.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}
