package queue

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every instance hears what another announces: admissions (split into
// several messages when large; on a cluster they may arrive in any order)
// and revocations; a message this package would not send is reported as
// malformed and never applied.
func TestNews(t *testing.T) {
	eachBackend(t, func(t *testing.T, q *Queue, rdb redis.UniversalClient) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		var admitted []string
		var revoked []Revoked
		var malformed []string
		subscribed := make(chan struct{}, 4)
		go q.Listen(ctx, Listener{
			Subscribed: func() { subscribed <- struct{}{} },
			Admitted: func(a Admitted) {
				mu.Lock()
				defer mu.Unlock()
				if a.Room == "r" && a.From == "inst-1" {
					admitted = append(admitted, a.Visitors...)
				}
			},
			Revoked:   func(r Revoked) { mu.Lock(); revoked = append(revoked, r); mu.Unlock() },
			Malformed: func(_, p string) { mu.Lock(); malformed = append(malformed, p); mu.Unlock() },
		})
		select {
		case <-subscribed:
		case <-time.After(5 * time.Second):
			t.Fatal("not subscribed")
		}
		visitors := make([]string, MaxAnnounced+10)
		for i := range visitors {
			visitors[i] = fmt.Sprintf("v%05d", i)
		}
		until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
		if err := q.PublishAdmitted(ctx, Admitted{From: "inst-1", Room: "r", Until: until, Visitors: visitors}); err != nil {
			t.Fatal(err)
		}
		if err := q.PublishRevoked(ctx, Revoked{Session: "sid-1", Until: until}); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"", "sid-only", "x " + strings.Repeat("9", 30)} {
			rdb.Publish(ctx, q.revokedChannel(), bad)
		}
		rdb.Publish(ctx, q.admittedChannel(), `{"i":"x","r":"BAD ROOM","u":1,"v":["a"]}`)
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			done := len(admitted) == len(visitors) && len(revoked) == 1 && len(malformed) == 4
			mu.Unlock()
			if done {
				break
			}
			if time.Now().After(deadline) {
				mu.Lock()
				t.Fatalf("heard %d admitted, %d revoked, %d malformed", len(admitted), len(revoked), len(malformed))
			}
			time.Sleep(10 * time.Millisecond)
		}
		sort.Strings(admitted)
		for i, v := range admitted {
			if v != visitors[i] {
				t.Fatalf("admitted[%d] = %s, want %s", i, v, visitors[i])
			}
		}
		if revoked[0].Session != "sid-1" || !revoked[0].Until.Equal(until.Truncate(time.Second)) {
			t.Fatalf("revoked %+v", revoked[0])
		}
	})
}

// An admitted message is read only in the shape PublishAdmitted writes.
func TestParseAdmittedRefuses(t *testing.T) {
	long := strings.Repeat("v", MaxVisitorLen+1)
	for _, bad := range []string{
		"", "not json", "[]", `{"i":"x","r":"room","u":1}`,
		`{"i":"","r":"room","u":1,"v":["a"]}`,
		`{"i":"x","r":"bad room!","u":1,"v":["a"]}`,
		`{"i":"x","r":"room","u":0,"v":["a"]}`,
		`{"i":"x","r":"room","u":1,"v":[""]}`,
		`{"i":"x","r":"room","u":1,"v":["` + long + `"]}`,
		`{"i":"x","r":"room","u":1,"v":"a"}`,
		strings.Repeat(" ", MaxAnnounced*(MaxVisitorLen+8)+2048),
	} {
		if m, ok := ParseAdmitted(bad); ok {
			t.Errorf("accepted %.60q as %+v", bad, m)
		}
	}
	for _, bad := range []string{"", "sid", "sid x", " 12", "sid -1", strings.Repeat("s", MaxSessionLen+1) + " 1"} {
		if r, ok := ParseRevoked(bad); ok {
			t.Errorf("accepted revoked %.60q as %+v", bad, r)
		}
	}
}
