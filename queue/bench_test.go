package queue

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/waitroom/waitroom/internal/testenv"
)

// The benchmarks run against the test Redis (WAITROOM_TEST_REDIS_URL). The
// Go-side figures are set beside redis-benchmark running the very same
// script with EVALSHA at the same concurrency (clients = goroutines), so
// their ratio is the client overhead. See docs/benchmarks-queue.md.

// benchConns is both the number of goroutines and redis-benchmark's -c.
const benchConns = 16

func benchQueue(b *testing.B) (*Queue, *redis.Client, string) {
	b.Helper()
	rdb, prefix := testenv.Redis(b)
	opt := rdb.Options()
	opt.PoolSize = benchConns
	opt.MinIdleConns = benchConns
	pooled := redis.NewClient(opt)
	b.Cleanup(func() { _ = pooled.Close() })
	return New(pooled, Config{Prefix: prefix}), pooled, prefix
}

var benchRoom = Room{Name: "bench", AdmitPerMinute: 600, MaxActive: 1000, AbandonAfter: time.Hour}

func runParallel(b *testing.B, f func(i int64) error) {
	b.Helper()
	var n atomic.Int64
	b.SetParallelism((benchConns + 1) / 2) // × GOMAXPROCS (2 here) goroutines
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f(n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkJoin: new visitors joining a busy (paused) room.
//
// The fair variants run the same joins in a room with the per-client
// limits (at the defaults: 600 a minute, 5,000 held) and the toll on, every
// join from one of 100,000 clients: "paid" brings a verified solution (the
// limits checked, the solution spent, the place taken), "kept" brings none
// (the place kept for the toll). Compare ns/op with "plain" of the same run
// (issue: at least 0.8× its throughput):
//
//	go test -run '^$' -bench 'Join$' -count 5 ./queue
func BenchmarkJoin(b *testing.B) {
	fair := benchRoom
	fair.ClientPlacesPerMinute, fair.ClientPlacesHeld = 600, 5000
	fair.Toll, fair.TollSeconds = true, 2
	for _, tc := range []struct {
		name    string
		room    Room
		arrival func(i int64) Arrival
	}{
		{"plain", benchRoom, func(int64) Arrival { return Arrival{} }},
		{"limits+toll/paid", fair, func(i int64) Arrival {
			return Arrival{Client: client(i), Toll: "c" + strconv.FormatInt(i, 36), TollUntil: time.Now().Add(time.Minute)}
		}},
		{"limits+toll/kept", fair, func(i int64) Arrival { return Arrival{Client: client(i)} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			q, _, _ := benchQueue(b)
			_ = q.Update(ctx, tc.room.Name, Patch{Paused: ptr(true)})
			runParallel(b, func(i int64) error {
				_, err := q.Arrive(ctx, tc.room, "j"+strconv.FormatInt(i, 10), tc.arrival(i))
				return err
			})
		})
	}
}

// client is one of 100,000 IPv4 clients.
func client(i int64) string {
	n := i % 100_000
	return fmt.Sprintf("10.%d.%d.%d", n>>16, (n>>8)&255, n&255)
}

// BenchmarkStatus: status polls of 10,000 waiting visitors.
func BenchmarkStatus(b *testing.B) {
	q, _, _ := benchQueue(b)
	_ = q.Update(ctx, benchRoom.Name, Patch{Paused: ptr(true)})
	if err := q.joinMany(ctx, benchRoom, 10000, 0, time.Time{}); err != nil {
		b.Fatal(err)
	}
	runParallel(b, func(i int64) error {
		_, err := q.Status(ctx, benchRoom, visitorID(int(i%10000)))
		return err
	})
}

// BenchmarkJoinPipelined: joins sent 100 per pipeline from one goroutine
// per connection; ns/op is per join.
func BenchmarkJoinPipelined(b *testing.B) {
	q, _, _ := benchQueue(b)
	_ = q.Update(ctx, benchRoom.Name, Patch{Paused: ptr(true)})
	if err := joinScript.Load(ctx, q.rdb).Err(); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism((benchConns + 1) / 2)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		pipe := q.rdb.Pipeline()
		flush := func() {
			if pipe.Len() > 0 {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Error(err)
				}
			}
		}
		for pb.Next() {
			keys, args := q.joinArgs(benchRoom, "p"+strconv.FormatInt(n.Add(1), 10), Arrival{}, time.Time{})
			joinScript.EvalSha(ctx, pipe, keys, args...)
			if pipe.Len() == 100 {
				flush()
			}
		}
		flush()
	})
}

var trivialScript = redis.NewScript("return 1")

// BenchmarkEvalTrivial: EVALSHA of "return 1", the floor of any script call.
func BenchmarkEvalTrivial(b *testing.B) {
	_, rdb, _ := benchQueue(b)
	runParallel(b, func(int64) error {
		return trivialScript.Run(ctx, rdb, nil).Err()
	})
}

// BenchmarkAdmit: one admission step on a line of 10,000 (rate steered so
// that each step admits five).
func BenchmarkAdmit(b *testing.B) {
	q, rdb, _ := benchQueue(b)
	room := benchRoom
	room.AdmitPerMinute = 1200
	room.MaxActive = 1 << 30
	_ = q.Update(ctx, room.Name, Patch{Paused: ptr(true)})
	now, _ := rdb.Time(ctx).Result()
	if err := q.joinMany(ctx, room, 10000, 0, now); err != nil {
		b.Fatal(err)
	}
	_ = q.Update(ctx, room.Name, Patch{Paused: ptr(false)})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1900 == 0 { // keep the line from running dry
			b.StopTimer()
			_ = q.joinMany(ctx, room, 10000, 10000*(i/1900+1), now)
			b.StartTimer()
		}
		now = now.Add(250 * time.Millisecond)
		if _, err := q.AdmitAt(ctx, room, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFigures: figures of 20 rooms in one round trip.
func BenchmarkFigures(b *testing.B) {
	q, _, _ := benchQueue(b)
	rooms := make([]Room, 20)
	for i := range rooms {
		rooms[i] = benchRoom
		rooms[i].Name = fmt.Sprintf("room-%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Figures(ctx, rooms); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisBenchmark runs redis-benchmark with EVALSHA of the same
// scripts, same arguments, same concurrency: its ns/op is the server-side
// floor the Go figures are measured against.
func BenchmarkRedisBenchmark(b *testing.B) {
	path, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Skip("redis-benchmark not installed")
	}
	q, rdb, _ := benchQueue(b)
	_ = q.Update(ctx, benchRoom.Name, Patch{Paused: ptr(true)})
	// redis-benchmark's __rand_int__ is 12 digits
	rbID := func(i int) string { return fmt.Sprintf("s%012d", i) }
	if err := q.joinNamed(ctx, benchRoom, 10000, 0, time.Time{}, rbID); err != nil {
		b.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(rdb.Options().Addr)
	for _, s := range []*redis.Script{joinScript, statusScript, trivialScript} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			b.Fatal(err)
		}
	}
	room := func(visitor string) []string {
		args := []string{"7"}
		args = append(args, q.keys(benchRoom.Name)...)
		for _, a := range q.roomArgs(benchRoom, time.Time{}) {
			args = append(args, fmt.Sprint(a))
		}
		return append(args, visitor)
	}
	cmds := []struct {
		name string
		args []string
	}{
		// new visitors, as BenchmarkJoin (ids from redis-benchmark's -r)
		{"join", append(append([]string{"EVALSHA", joinScript.Hash()}, room("rb:__rand_int__")...), "123456789")},
		// status of visitors v000000..v009999 (10,000 waiting)
		{"status", append([]string{"EVALSHA", statusScript.Hash()}, room("s__rand_int__")...)},
		{"trivial", []string{"EVALSHA", trivialScript.Hash(), "0"}},
	}
	for _, c := range cmds {
		b.Run(c.name, func(b *testing.B) {
			args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(benchConns), "-n", strconv.Itoa(max(b.N, 1)), "--csv"}
			if c.name == "status" {
				args = append(args, "-r", "10000")
			} else {
				args = append(args, "-r", "1000000000")
			}
			args = append(args, c.args...)
			if b.N == 1 {
				b.Logf("%s %q", path, args)
			}
			b.ResetTimer()
			out, err := exec.Command(path, args...).CombinedOutput()
			if err != nil {
				b.Fatalf("redis-benchmark: %v\n%s", err, out)
			}
			b.StopTimer()
			if rps := csvRPS(out); rps > 0 {
				b.ReportMetric(rps, "server-req/s")
			}
		})
	}
}

// BenchmarkClientRatio alternates short rounds of the Go API and of
// redis-benchmark (EVALSHA of the same script, same arguments, 16 clients
// each) so both see the same load on a shared machine; it reports each
// side's requests per second over all rounds and their ratio (Go / server
// floor: 1 means no client overhead). One b.N iteration is one pair of
// rounds of 2,000 requests each.
func BenchmarkClientRatio(b *testing.B) {
	path, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Skip("redis-benchmark not installed")
	}
	q, rdb, _ := benchQueue(b)
	_ = q.Update(ctx, benchRoom.Name, Patch{Paused: ptr(true)})
	rbID := func(i int) string { return fmt.Sprintf("s%012d", i) }
	if err := q.joinNamed(ctx, benchRoom, 10000, 0, time.Time{}, rbID); err != nil {
		b.Fatal(err)
	}
	for _, s := range []*redis.Script{joinScript, statusScript, trivialScript} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			b.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(rdb.Options().Addr)
	roomArgs := func(visitor string) []string {
		args := append([]string{"7"}, q.keys(benchRoom.Name)...)
		for _, a := range q.roomArgs(benchRoom, time.Time{}) {
			args = append(args, fmt.Sprint(a))
		}
		return append(args, visitor)
	}
	const round = 2000
	var seq atomic.Int64
	ops := []struct {
		name string
		rb   []string
		rand string
		goOp func(i int64) error
	}{
		{"join", append(append([]string{"EVALSHA", joinScript.Hash()}, roomArgs("rb:__rand_int__")...), "123456789"), "1000000000",
			func(i int64) error {
				_, err := q.Join(ctx, benchRoom, "g"+strconv.FormatInt(seq.Add(1), 10))
				return err
			}},
		{"status", append([]string{"EVALSHA", statusScript.Hash()}, roomArgs("s__rand_int__")...), "10000",
			func(i int64) error {
				_, err := q.Status(ctx, benchRoom, rbID(int(i%10000)))
				return err
			}},
		{"trivial", []string{"EVALSHA", trivialScript.Hash(), "0"}, "10",
			func(int64) error { return trivialScript.Run(ctx, rdb, nil).Err() }},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			var goTime, rbTime time.Duration
			for range b.N {
				start := time.Now()
				var wg sync.WaitGroup
				var next atomic.Int64
				for range benchConns {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > round {
								return
							}
							if err := op.goOp(i); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				goTime += time.Since(start)

				// redis-benchmark's own figure, so its start-up is not counted
				args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(benchConns), "-n", strconv.Itoa(round), "-r", op.rand, "--csv"}
				out, err := exec.Command(path, append(args, op.rb...)...).CombinedOutput()
				rps := csvRPS(out)
				if err != nil || rps <= 0 {
					b.Fatalf("redis-benchmark: %v\n%s", err, out)
				}
				rbTime += time.Duration(float64(round) / rps * float64(time.Second))
			}
			goRate := float64(b.N*round) / goTime.Seconds()
			rbRate := float64(b.N*round) / rbTime.Seconds()
			b.ReportMetric(goRate, "go-req/s")
			b.ReportMetric(rbRate, "server-req/s")
			b.ReportMetric(goRate/rbRate, "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// csvRPS reads requests per second from redis-benchmark --csv output.
func csvRPS(out []byte) float64 {
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 2 || len(rows[1]) < 2 {
		return 0
	}
	f, _ := strconv.ParseFloat(rows[1][1], 64)
	return f
}
