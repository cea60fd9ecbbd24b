package queue_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/waitroom/waitroom/queue"
)

func Example() {
	ctx := context.Background()
	srv, err := queue.StartEmbedded() // or redis.ParseURL of a real Redis
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	opt, _ := redis.ParseURL(srv.URL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	q := queue.New(rdb, queue.Config{Prefix: "wr:"})
	room := queue.Room{Name: "concert-42", AdmitPerMinute: 60, MaxActive: 100}

	// An idle room lets the first visitors straight in (a burst of one
	// second's worth plus one); then a line forms.
	for _, v := range []string{"alice", "bob", "carol", "dave"} {
		s, _ := q.Join(ctx, room, v)
		fmt.Println(v, s.State, s.Position)
	}
	// The gateway issues alice's pass and starts her session.
	if _, err := q.Enter(ctx, room, "alice"); err != nil {
		panic(err)
	}
	// Every instance calls Admit each tick; carol is next in a second.
	f, _ := q.Figures(ctx, []queue.Room{room})
	fmt.Printf("waiting %d, active %d, front %d\n", f[0].Waiting, f[0].Active, f[0].Front)
	// Output:
	// alice admitted 0
	// bob admitted 0
	// carol queued 1
	// dave queued 2
	// waiting 2, active 2, front 1
}
