package surge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testenv"
)

// TestHoldServer is not a test: run as a subprocess by
// TestMemoryPerWaitingVisitor, it is a minimal gateway that queues every
// visitor and never admits anyone, pushing each socket a status every five
// seconds, so the crowd's own memory can be measured apart from the
// server's.
func TestHoldServer(t *testing.T) {
	addr := os.Getenv("SURGE_HOLD_SERVER")
	if addr == "" {
		t.Skip("only runs as the memory measurement's server")
	}
	var next atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/events/1", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "wr_id", Value: strconv.FormatInt(next.Add(1), 10), Path: "/"})
		w.Header().Set("Waitroom-State", "queued")
	})
	mux.HandleFunc("/_waitroom/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("wr_id")
		if err != nil {
			http.Error(w, "no visitor", http.StatusBadRequest)
			return
		}
		ticket, _ := strconv.ParseInt(c.Value, 10, 64)
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			if conn.WriteJSON(Status{Room: "default", State: "queued", Ticket: ticket, Position: ticket}) != nil {
				return
			}
			time.Sleep(5 * time.Second)
		}
	})
	_ = http.ListenAndServe(addr, mux)
}

// TestMemoryPerWaitingVisitor measures what one waiting WebSocket visitor
// costs surge (RSS over visitors waiting at the peak). It runs only when
// SURGE_MEMORY_VISITORS is set, e.g.
//
//	SURGE_MEMORY_VISITORS=18000 go test -run MemoryPerWaiting -v ./internal/surge
//
// because it holds that many sockets (and twice as many file descriptors
// on the machine) for a while.
func TestMemoryPerWaitingVisitor(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SURGE_MEMORY_VISITORS"))
	if n <= 0 {
		t.Skip("set SURGE_MEMORY_VISITORS to measure")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := exec.Command(os.Args[0], "-test.run=^TestHoldServer$")
	srv.Env = append(os.Environ(), "SURGE_HOLD_SERVER="+addr)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("hold server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	c := Defaults()
	c.Target, c.EventID = "http://"+addr, "1"
	c.Visitors, c.WebSocketShare = n, 1
	c.Profile, c.Ramp = Ramp, time.Duration(n/2000+1)*time.Second
	c.Duration = c.Ramp + 12*time.Second
	c.SourceAddrs, _ = ParseSourceAddrs("127.0.0.2-127.0.0.9")
	rep, err := Run(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := rep.Client
	if cl.PeakWaiting < int64(n)*95/100 {
		t.Fatalf("only %d of %d visitors were waiting at once; errors %v", cl.PeakWaiting, n, rep.Errors)
	}
	per := float64(cl.PeakRSSBytes) / float64(cl.PeakWaiting)
	t.Logf("%d visitors waiting on WebSockets: RSS %.0f MiB, heap %.0f MiB, %d goroutines: %.1f KiB per visitor; 100,000 would need ≈ %.0f MiB",
		cl.PeakWaiting, float64(cl.PeakRSSBytes)/(1<<20), float64(cl.PeakHeapBytes)/(1<<20), cl.PeakGoroutines, per/1024, per*100000/(1<<20))
	fmt.Printf("surge-memory visitors=%d rss_bytes=%d heap_bytes=%d goroutines=%d per_visitor_bytes=%.0f\n",
		cl.PeakWaiting, cl.PeakRSSBytes, cl.PeakHeapBytes, cl.PeakGoroutines, per)
	// Budget: 100,000 waiting visitors within 3 GiB on the load machine.
	if per > 32<<10 {
		t.Errorf("%.1f KiB per waiting visitor, budget 32 KiB", per/1024)
	}
}
