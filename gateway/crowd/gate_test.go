package crowd

import (
	"context"
	"testing"
	"time"
)

// While the gate is full, a client with its share of it is answered busy at
// once, and its requests do not use up the wait that others get a slot
// from; a request from another network waits and gets the next free slot.
func TestGateShareWhenFull(t *testing.T) {
	g := NewGate(8) // 8 slots, 32 waiting places, a share of 4
	ctx := context.Background()
	for range 8 {
		if !g.Acquire(ctx, "") {
			t.Fatal("a free slot was refused")
		}
	}
	// A script fills its share of the wait...
	got := make(chan bool, 64)
	for range g.Share() {
		go func() { got <- g.Acquire(ctx, "198.51.100.7") }()
	}
	waitFor(t, func() bool { return g.waiters.Load() == int64(g.Share()) })
	// ...and its next requests are turned away at once, not after Wait.
	t0 := time.Now()
	for range 20 {
		if g.Acquire(ctx, "198.51.100.7") {
			t.Fatal("a client over its share of a full gate got a slot")
		}
	}
	if d := time.Since(t0); d >= Wait {
		t.Errorf("refusals over the share took %s, want at once", d)
	}
	// A person from elsewhere waits, and gets a slot freed before the
	// script's waiting requests time out.
	person := make(chan bool, 1)
	go func() { person <- g.Acquire(ctx, "203.0.113.5") }()
	waitFor(t, func() bool { return g.waiters.Load() == int64(g.Share())+1 })
	for range g.Share() + 1 {
		g.Release("")
	}
	if !<-person {
		t.Fatal("the person behind a script's requests was refused")
	}
	for range g.Share() {
		if !<-got {
			t.Fatal("a request within the script's share was refused")
		}
	}
	// Everything given back: the script is counted from zero again.
	g.Release("203.0.113.5")
	for range g.Share() {
		g.Release("198.51.100.7")
	}
	for range 3 {
		g.Release("")
	}
	if len(g.held) != 0 {
		t.Fatalf("clients still counted after every release: %v", g.held)
	}
	if !g.Acquire(ctx, "198.51.100.7") {
		t.Fatal("a free slot was refused to a client that gave its slots back")
	}
}

// Without a client (no peer address) a request is not counted: the share
// applies only to named clients.
func TestGateUncounted(t *testing.T) {
	g := NewGate(1)
	if !g.Acquire(context.Background(), "") {
		t.Fatal("free slot refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if g.Acquire(ctx, "") {
		t.Fatal("a full gate gave a second slot")
	}
	if len(g.held) != 0 {
		t.Fatalf("uncounted requests counted: %v", g.held)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
