package queue

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMillion measures a room with 1,000,000 waiting visitors on a Redis of
// its own (so other users of the test Redis do not blur the memory figure):
// bytes per waiting visitor from INFO memory, and the cost of one admission
// step, one status read and one join at that size. It is a measurement,
// run on request:
//
//	WAITROOM_QUEUE_MILLION=1 go test -run TestMillion -v ./queue
//
// (WAITROOM_QUEUE_MILLION=N measures N visitors instead.) It fails only if a
// waiting visitor costs more than 200 bytes.
func TestMillion(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WAITROOM_QUEUE_MILLION"))
	if n == 1 {
		n = 1_000_000
	}
	if n <= 0 {
		t.Skip("set WAITROOM_QUEUE_MILLION=1 to measure a room of 1,000,000")
	}
	rdb := ownRedis(t)
	q := New(rdb, Config{Prefix: "wr:"})
	room := Room{Name: "million", AdmitPerMinute: 1200, MaxActive: 1 << 30, AbandonAfter: time.Hour}
	if err := q.Update(ctx, room.Name, Patch{Paused: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	// gateway visitor ids are 22 characters (16 random bytes, base64url)
	id := func(i int) string { return fmt.Sprintf("%022x", uint64(i)*0x9E3779B97F4A7C15) }
	before := usedMemory(t, rdb)
	start := time.Now()
	now, _ := rdb.Time(ctx).Result()
	if err := q.joinNamed(ctx, room, n, 0, now, id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	after := usedMemory(t, rdb)
	perVisitor := float64(after-before) / float64(n)
	t.Logf("%d joins (pipelined 200 at a time) in %s: %.0f joins/s", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.Logf("used_memory %d -> %d: %.1f bytes per waiting visitor", before, after, perVisitor)
	for _, k := range []string{"line", "vis"} {
		b, _ := rdb.MemoryUsage(ctx, q.key(room.Name, k), 0).Result()
		t.Logf("MEMORY USAGE %s: %d bytes, %.1f per visitor", k, b, float64(b)/float64(n))
	}
	if perVisitor > 200 {
		t.Errorf("%.1f bytes per waiting visitor, target 200", perVisitor)
	}

	_ = q.Update(ctx, room.Name, Patch{Paused: ptr(false)})
	const steps = 2000
	measure := func(what string, f func(i int) error) {
		t.Helper()
		start := time.Now()
		for i := range steps {
			if err := f(i); err != nil {
				t.Fatal(err)
			}
		}
		d := time.Since(start) / steps
		t.Logf("%s with %d waiting: %s per call (one client, sequential)", what, n, d.Round(100*time.Nanosecond))
	}
	admitted := 0
	measure("admission step (5 admitted)", func(int) error {
		now = now.Add(250 * time.Millisecond)
		a, err := q.AdmitAt(ctx, room, now)
		admitted += len(a.Admitted)
		return err
	})
	measure("status", func(i int) error {
		_, err := q.status(ctx, room, id(n/2+i), now)
		return err
	})
	measure("join (new visitor)", func(i int) error {
		_, err := q.join(ctx, room, id(n+i), now)
		return err
	})
	f, err := q.Figures(ctx, []Room{room})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("admitted %d in %d steps; figures: waiting %d, front %d", admitted, steps, f[0].Waiting, f[0].Front)

	// The opening of a pre-queue of n/5: each admission step numbers one
	// batch (Config.Batch, 2,000) in shuffled order; how long does a step
	// hold Redis, and how long until everyone has a position?
	pre := Room{Name: "opening", AdmitPerMinute: 1200, MaxActive: 1 << 30, AbandonAfter: time.Hour, OpensAt: now.Add(time.Minute)}
	if err := q.joinNamed(ctx, pre, n/5, 0, now, id); err != nil {
		t.Fatal(err)
	}
	now = pre.OpensAt
	start = time.Now()
	stepsTaken, slowest := 0, time.Duration(0)
	for {
		st := time.Now()
		if _, err := q.AdmitAt(ctx, pre, now); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(st))
		stepsTaken++
		f, _ := q.Figures(ctx, []Room{pre})
		if f[0].Unnumbered == 0 {
			break
		}
		now = now.Add(250 * time.Millisecond)
	}
	t.Logf("opening a pre-queue of %d: numbered in %d steps, %s in all, slowest step %s",
		n/5, stepsTaken, time.Since(start).Round(time.Millisecond), slowest.Round(100*time.Microsecond))
}

// ownRedis starts a redis-server of its own on a free loopback port.
func ownRedis(t *testing.T) *redis.Client {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	t.Cleanup(func() { _ = rdb.Close() })
	for range 100 {
		if rdb.Ping(ctx).Err() == nil {
			return rdb
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("own redis-server did not start")
	return nil
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "used_memory:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}
