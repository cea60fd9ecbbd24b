package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// An entry is found until it expires, and not after; one without an expiry
// stays.
func TestExpiry(t *testing.T) {
	c := New[string, int](1000)
	c.Put("a", 1, t0.Add(time.Minute), t0)
	c.Put("b", 2, time.Time{}, t0)
	if v, ok := c.Get("a", t0.Add(59*time.Second)); !ok || v != 1 {
		t.Fatalf("a before expiry: %v %v", v, ok)
	}
	if _, ok := c.Get("a", t0.Add(time.Minute)); ok {
		t.Fatal("a found at its expiry")
	}
	if v, ok := c.Get("b", t0.Add(1000*time.Hour)); !ok || v != 2 {
		t.Fatal("b without expiry lost")
	}
	if _, ok := c.Take("a", t0.Add(2*time.Minute)); ok {
		t.Fatal("Take returned an expired entry")
	}
	if v, ok := c.Take("b", t0); !ok || v != 2 {
		t.Fatal("Take lost b")
	}
	if _, ok := c.Get("b", t0); ok {
		t.Fatal("b still there after Take")
	}
}

// However many keys go in, the cache holds about its limit, and when it is
// full, expired entries make room before live ones.
func TestBounded(t *testing.T) {
	c := New[int, int](3200)
	for i := range 3200 {
		c.Put(i, i, t0.Add(time.Second), t0) // all expire soon
	}
	live := 0
	for i := 3200; i < 6400; i++ {
		c.Put(i, i, time.Time{}, t0.Add(2*time.Second))
	}
	for i := 3200; i < 6400; i++ {
		if _, ok := c.Get(i, t0.Add(2*time.Second)); ok {
			live++
		}
	}
	// Shards fill unevenly, so a few live entries may go in a full shard;
	// without the expired-first rule most of them would.
	if live < 2800 {
		t.Fatalf("only %d of 3200 live entries kept while expired ones could go", live)
	}
	for i := 6400; i < 100_000; i++ {
		c.Put(i, i, time.Time{}, t0)
	}
	if n := c.Len(); n > 3200 {
		t.Fatalf("%d entries held, limit 3200", n)
	}
}

// GetOrPut gives racing callers one value; Update sees the current value
// and can drop it.
func TestGetOrPutAndUpdate(t *testing.T) {
	c := New[string, *int](100)
	var wg sync.WaitGroup
	got := make([]*int, 50)
	for i := range got {
		wg.Go(func() {
			v := new(int)
			got[i], _ = c.GetOrPut("k", v, time.Time{}, t0)
		})
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] {
			t.Fatal("racing GetOrPut returned different values")
		}
	}
	n := New[string, int](100)
	for range 3 {
		n.Update("x", t0, func(old int, found bool) (int, time.Time, bool) { return old + 1, time.Time{}, true })
	}
	if v, _ := n.Get("x", t0); v != 3 {
		t.Fatalf("x = %d after three increments", v)
	}
	n.Update("x", t0, func(int, bool) (int, time.Time, bool) { return 0, time.Time{}, false })
	if _, ok := n.Get("x", t0); ok {
		t.Fatal("Update with keep=false left x")
	}
}

func BenchmarkGet(b *testing.B) {
	c := New[string, int](100_000)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("pass-%d-abcdefghijklmnopqrstuvwxyz", i)
		c.Put(keys[i], i, t0.Add(time.Hour), t0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get(keys[i%len(keys)], t0)
			i++
		}
	})
}
