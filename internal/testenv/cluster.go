package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cluster is the local Redis Cluster shared by every test of one test
// process: starting one takes a few seconds, so tests share it and keep
// apart by key prefix, as they do on the single Redis.
var cluster struct {
	once    sync.Once
	addrs   []string
	dir     string
	servers []*server
	err     error
}

// ClusterSize is the number of masters RedisCluster starts.
const ClusterSize = 3

// RedisCluster returns a client for a local Redis Cluster of three masters
// (Debian's redis-server with --cluster-enabled yes on free loopback ports,
// slots assigned by redis-cli --cluster create) and a key prefix unique to
// this test; every key under the prefix is deleted when the test ends.
//
// The cluster starts on the first call and is shared by the test process.
// Its servers get SIGKILL when the process exits (Linux); call
// StopRedisCluster from TestMain to stop them and remove their files
// earlier. Without redis-server and redis-cli the test is skipped (failed
// under CI=true).
func RedisCluster(t testing.TB) (*redis.ClusterClient, string) {
	t.Helper()
	cluster.once.Do(func() { cluster.err = startCluster() })
	if cluster.err != nil {
		unavailable(t, "a local Redis Cluster", cluster.err)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.addrs})
	prefix := "wrtest:" + RandomID(6) + ":"
	t.Cleanup(func() {
		DeletePrefix(rdb, prefix)
		_ = rdb.Close()
	})
	return rdb, prefix
}

// RedisClusterURL returns the cluster in the URL form the gateway's
// WAITROOM_REDIS_URL accepts: redis://first?addr=second&addr=third.
// RedisCluster must have been called first.
func RedisClusterURL() string {
	if len(cluster.addrs) == 0 {
		return ""
	}
	u := "redis://" + cluster.addrs[0]
	for i, a := range cluster.addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// StopRedisCluster stops the shared cluster, if one was started, and
// removes its files.
func StopRedisCluster() {
	for _, s := range cluster.servers {
		s.kill()
	}
	cluster.servers = nil
	if cluster.dir != "" {
		_ = os.RemoveAll(cluster.dir)
	}
}

// startCluster starts ClusterSize servers in cluster mode, each in a
// directory of its own (a node rewrites nodes.conf there), and joins them
// with redis-cli --cluster create.
func startCluster() error {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return err
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "waitroom-cluster-")
	if err != nil {
		return err
	}
	cluster.dir = dir
	var addrs []string
	for i := 0; i < ClusterSize; i++ {
		port, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		nodeDir := filepath.Join(dir, strconv.Itoa(port))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			return err
		}
		s := &server{path: path, dir: nodeDir, port: port, args: []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"}}
		if err := s.start(); err != nil {
			StopRedisCluster()
			return err
		}
		cluster.servers = append(cluster.servers, s)
		addrs = append(addrs, s.addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		StopRedisCluster()
		return fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	for _, a := range addrs {
		if err := waitClusterOK(ctx, a); err != nil {
			StopRedisCluster()
			return err
		}
	}
	cluster.addrs = addrs
	return nil
}

// waitClusterOK waits until the node reports cluster_state:ok and knows
// every other master.
func waitClusterOK(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var last string
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", ClusterSize)) {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = strings.ReplaceAll(info, "\r\n", " ")
		}
		select {
		case <-ctx.Done():
			return errors.New("cluster did not reach cluster_state:ok on " + addr + ": " + last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
