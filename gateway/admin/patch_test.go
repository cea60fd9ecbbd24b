package admin

import (
	"testing"

	"github.com/waitroom/waitroom/queue"
)

// The PATCH parser never panics and accepts nothing the queue would refuse.
func FuzzParsePatch(f *testing.F) {
	f.Add(`{"admit_per_minute":10,"paused":true,"opens_at":null}`)
	f.Add(`{"mode":"random","opens_at":"2026-12-01T10:00:00+09:00"}`)
	f.Add(`{"session_ttl_seconds":-5}`)
	f.Add(`{"session_ttl_seconds":9223372036854775807}`)
	f.Fuzz(func(t *testing.T, body string) {
		p, err := ParsePatch([]byte(body))
		if err != nil {
			return
		}
		if err := queue.ValidatePatch(p); err != nil {
			t.Fatalf("accepted %s, which the queue refuses: %v", body, err)
		}
	})
}
