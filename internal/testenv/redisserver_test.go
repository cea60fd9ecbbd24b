package testenv_test

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
)

// A server of the test's own starts without persistence, comes back empty
// on the same address after Restart, hangs while stopped and refuses
// connections once killed.
func TestStartRedis(t *testing.T) {
	ctx := context.Background()
	s := testenv.StartRedis(t)
	if s.Addr != "127.0.0.1:"+strconv.Itoa(s.Port) {
		t.Fatalf("Addr %q, Port %d", s.Addr, s.Port)
	}
	rdb := s.Client(&redis.Options{ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
	for name, want := range map[string]string{"save": "", "appendonly": "no", "bind": "127.0.0.1"} {
		got, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil || got[name] != want {
			t.Errorf("CONFIG GET %s: %v %v, want %q", name, got, err, want)
		}
	}
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	first := s.Process.Pid
	s.Restart()
	if s.Process.Pid == first {
		t.Fatal("Restart kept the old process")
	}
	testenv.WaitFor(t, 5*time.Second, "the client to reconnect", func() bool { return rdb.Ping(ctx).Err() == nil })
	if n, err := rdb.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after Restart: EXISTS k = %d, %v; want an empty server", n, err)
	}

	if err := s.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("a stopped server answered PING")
	}
	s.Kill() // stopped: Kill must resume it to end it
	fresh := s.Client(&redis.Options{DialTimeout: time.Second, MaxRetries: -1})
	if err := fresh.Ping(ctx).Err(); err == nil {
		t.Fatal("a killed server answered PING")
	}
	s.Kill() // twice is fine
}

// Arguments reach the server and override the defaults they name.
func TestStartRedisArgs(t *testing.T) {
	s := testenv.StartRedis(t, "--appendonly", "yes", "--maxmemory", "12mb")
	rdb := s.Client(nil)
	for name, want := range map[string]string{"appendonly": "yes", "maxmemory": "12582912", "save": ""} {
		got, err := rdb.ConfigGet(context.Background(), name).Result()
		if err != nil || got[name] != want {
			t.Errorf("CONFIG GET %s: %v %v, want %q", name, got, err, want)
		}
	}
}

// A Sentinel is a server started with Sentinel arguments: it monitors a
// master started the plain way.
func TestStartRedisSentinel(t *testing.T) {
	master := testenv.StartRedis(t)
	sentinel := testenv.StartRedis(t, "--sentinel", "--sentinel", "monitor", "mymaster", "127.0.0.1", strconv.Itoa(master.Port), "1")
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(context.Background(), "mymaster").Result()
	if err != nil || fmt.Sprint(addr) != fmt.Sprint([]string{"127.0.0.1", strconv.Itoa(master.Port)}) {
		t.Fatalf("the Sentinel's master: %v %v, want %s", addr, err, master.Addr)
	}
}
