package queue

import (
	"context"
	"time"
)

// joinMany joins visitors visitorID(from)..visitorID(from+n-1) in pipelined
// batches of 200 (set-up of big lines for tests and benchmarks).
func (q *Queue) joinMany(ctx context.Context, room Room, n, from int, at time.Time) error {
	return q.joinNamed(ctx, room, n, from, at, visitorID)
}

// joinNamed is joinMany with visitor ids made by name.
func (q *Queue) joinNamed(ctx context.Context, room Room, n, from int, at time.Time, name func(int) string) error {
	if err := joinScript.Load(ctx, q.rdb).Err(); err != nil {
		return err
	}
	for i := 0; i < n; i += 200 {
		pipe := q.rdb.Pipeline()
		for j := i; j < n && j < i+200; j++ {
			keys, args := q.joinArgs(room, name(from+j), Arrival{}, at)
			joinScript.EvalSha(ctx, pipe, keys, args...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
