// Command wsload measures how many waiting visitors' WebSockets one gateway
// instance holds: it queues N visitors through the public listener, opens
// their status sockets from several 127.0.0.x source addresses (past the
// ephemeral-port limit of one address), and reports handshakes per second,
// the gaps between pushes (which should be 1 s: the excess is the push lag)
// and the gateway's resident memory per socket.
//
// Run the gateway with WAITROOM_ADMIT_PER_MINUTE=0 so nobody leaves the
// queue, then:
//
//	go run ./cmd/wsload -url http://127.0.0.1:18080 -n 18000 -pid $(pgrep -n waitroom)
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:18080", "gateway public URL")
	path := flag.String("path", "/events/1", "a protected path")
	room := flag.String("room", "default", "room name")
	n := flag.Int("n", 10000, "sockets")
	sources := flag.Int("sources", 16, "source addresses 127.0.0.2 .. 127.0.0.(1+sources)")
	hold := flag.Duration("hold", 20*time.Second, "how long to watch the pushes")
	pid := flag.Int("pid", 0, "gateway pid, for its RSS")
	conc := flag.Int("c", 64, "concurrent joins and handshakes")
	flag.Parse()

	rss0 := rss(*pid)
	cookies := make([]string, *n)
	start := time.Now()
	parallel(*n, *conc, func(i int) {
		cl := client(i, *sources)
		req, _ := http.NewRequest("GET", *base+*path, nil)
		req.Header.Set("Accept", "application/json")
		res, err := cl.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "join:", err)
			return
		}
		res.Body.Close()
		for _, c := range res.Cookies() {
			if c.Name == "wr_id" {
				cookies[i] = c.Name + "=" + c.Value
			}
		}
	})
	fmt.Printf("joined %d visitors in %v\n", *n, time.Since(start).Round(time.Millisecond))

	wsURL := "ws" + strings.TrimPrefix(*base, "http") + "/_waitroom/ws?room=" + *room
	var (
		mu    sync.Mutex
		gaps  []time.Duration
		open  atomic.Int64
		fails atomic.Int64
		// gaps are counted once every socket is open, so the handshake
		// flood does not count as push lag.
		measuring atomic.Bool
	)
	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	start = time.Now()
	parallel(*n, *conc, func(i int) {
		d := websocket.Dialer{
			NetDialContext:   dialer(i, *sources).DialContext,
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   512, WriteBufferSize: 512,
		}
		c, _, err := d.Dial(wsURL, http.Header{"Cookie": {cookies[i]}})
		if err != nil {
			fails.Add(1)
			return
		}
		open.Add(1)
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer c.Close()
			go func() { <-ctx.Done(); c.Close() }()
			var last time.Time
			var mine []time.Duration
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					break
				}
				now := time.Now()
				if !last.IsZero() && measuring.Load() {
					mine = append(mine, now.Sub(last))
				}
				last = now
			}
			mu.Lock()
			gaps = append(gaps, mine...)
			mu.Unlock()
		}()
	})
	hs := time.Since(start)
	measuring.Store(true)
	fmt.Printf("handshakes: %d open, %d failed in %v = %.0f/s\n", open.Load(), fails.Load(), hs.Round(time.Millisecond), float64(open.Load())/hs.Seconds())
	time.Sleep(*hold / 2)
	rss1 := rss(*pid)
	time.Sleep(*hold / 2)
	cancel()
	readers.Wait()
	slices.Sort(gaps)
	q := func(p float64) time.Duration {
		if len(gaps) == 0 {
			return 0
		}
		return gaps[min(len(gaps)-1, int(p*float64(len(gaps))))]
	}
	fmt.Printf("pushes: %d gaps observed; p50 %v p99 %v max %v (1s expected; lag = gap - 1s)\n",
		len(gaps), q(.50).Round(time.Millisecond), q(.99).Round(time.Millisecond), q(1).Round(time.Millisecond))
	if *pid > 0 && open.Load() > 0 {
		fmt.Printf("gateway RSS: %.1f MiB idle, %.1f MiB with %d sockets: %.1f KiB per socket\n",
			float64(rss0)/1024, float64(rss1)/1024, open.Load(), float64(rss1-rss0)/float64(open.Load()))
	}
}

func dialer(i, sources int) *net.Dialer {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%sources))}
	return &net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}
}

var clients sync.Map

func client(i, sources int) *http.Client {
	k := i % sources
	if c, ok := clients.Load(k); ok {
		return c.(*http.Client)
	}
	tr := &http.Transport{DialContext: dialer(i, sources).DialContext, MaxIdleConnsPerHost: 8}
	c, _ := clients.LoadOrStore(k, &http.Client{Transport: tr, Timeout: 10 * time.Second})
	return c.(*http.Client)
}

func parallel(n, c int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// rss returns the process's resident set in KiB (0 when unknown).
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
