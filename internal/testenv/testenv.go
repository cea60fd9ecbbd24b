// Package testenv is what waitroom's tests share to reach the real things
// they run against. It finds the shared Redis and PostgreSQL and gives each
// test its own namespace on them (Redis, Postgres); starts servers a test
// owns (StartRedis, for tests that stop, restart or measure Redis, and the
// shared RedisCluster); builds the real binaries once per test process
// (BuildBinaries); and holds the two small helpers every such test needs
// (FreePort, WaitFor). It holds no fakes and nothing a test asserts.
//
// Tests never fake Redis or PostgreSQL. Outside CI a missing service or
// tool skips the test with the command that would provide it; under
// CI=true it fails the test, so a green CI run always means the
// service-backed tests really ran.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// DefaultRedisURL is used when WAITROOM_TEST_REDIS_URL is unset.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// DefaultDatabaseURL is used when WAITROOM_TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// InCI reports whether the tests run under CI (CI=true), where a missing
// service is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RedisURL returns the URL of the Redis that tests use.
func RedisURL() string {
	if u := os.Getenv("WAITROOM_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// DatabaseURL returns the URL of the PostgreSQL database that tests use.
func DatabaseURL() string {
	if u := os.Getenv("WAITROOM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultDatabaseURL
}

// unavailable skips the test, or fails it under CI, naming what to start.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable (%v); start it or point the variable at one (see README, \"Running the tests\")", what, err)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Redis returns a client for the test Redis and a key prefix unique to this
// test. Every key under the prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("WAITROOM_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		unavailable(t, "Redis at WAITROOM_TEST_REDIS_URL="+RedisURL(), err)
	}
	prefix := "wrtest:" + RandomID(6) + ":"
	t.Cleanup(func() {
		DeletePrefix(rdb, prefix)
		_ = rdb.Close()
	})
	return rdb, prefix
}

// DeletePrefix removes every key that starts with prefix, on every master
// when rdb is a cluster client.
func DeletePrefix(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			deletePrefix(ctx, node, prefix, true)
			return nil
		})
		return
	}
	deletePrefix(ctx, rdb, prefix, false)
}

// deletePrefix unlinks the keys in batches; on a cluster node one key per
// command, since a batch would span hash slots.
func deletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string, perKey bool) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if perKey {
			pipe := rdb.Pipeline()
			for _, k := range batch {
				pipe.Unlink(ctx, k)
			}
			_, _ = pipe.Exec(ctx)
		} else {
			rdb.Unlink(ctx, batch...)
		}
		batch = batch[:0]
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// Postgres returns the URL of a fresh schema in the test database, reachable
// through the URL's search_path; the schema is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DatabaseURL())
	if err != nil {
		unavailable(t, "PostgreSQL at WAITROOM_TEST_DATABASE_URL="+DatabaseURL(), err)
	}
	schema := "wrtest_" + RandomID(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = conn.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(ctx)
	})
	return withSearchPath(DatabaseURL(), schema)
}

func withSearchPath(url, schema string) string {
	sep := "?"
	for _, c := range url {
		if c == '?' {
			sep = "&"
		}
	}
	return url + sep + "search_path=" + schema
}

// RandomID returns n random bytes as hex.
func RandomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
