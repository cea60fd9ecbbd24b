package queue

import (
	"fmt"
	"time"
)

// Limits of a room's settings: the one place they are written and
// checked. The rooms file (ParseRooms), live changes (Patch) and the
// gateway's WAITROOM_* defaults all call the Check functions below, each
// naming the value its own way (admit_per_minute, WAITROOM_ADMIT_PER_MINUTE
// …). admit_per_minute may be 0 (nobody is admitted until an operator
// raises it); max_active may not.
const (
	MaxAdmitPerMinute = 1_000_000
	MaxMaxActive      = 10_000_000
	// MinSessionTTL: a shorter pass would need renewing on nearly every
	// request of an admitted visitor.
	MinSessionTTL = 10 * time.Second
	// MinAbandonAfter: a shorter grace would skip visitors between two
	// heartbeats of a healthy page.
	MinAbandonAfter = 5 * time.Second
	MaxDuration     = 7 * 24 * time.Hour
)

// Limits of the per-client settings and the toll. 0 means "no limit".
const (
	MaxClientPlacesPerMinute = 1_000_000
	MaxClientPlacesHeld      = 10_000_000
	// MaxTollSeconds bounds a toll's expected solve time on a mid-range
	// phone: past a minute, people give up.
	MaxTollSeconds = 60
)

// CheckClientPlacesPerMinute says what is wrong with a per-client rate of
// new places, or nil (0: no limit).
func CheckClientPlacesPerMinute(n int) error {
	if n < 0 || n > MaxClientPlacesPerMinute {
		return fmt.Errorf("must be 0 (no limit)..%d, got %d", MaxClientPlacesPerMinute, n)
	}
	return nil
}

// CheckClientPlacesHeld says what is wrong with a per-client count of
// places held at once, or nil (0: no limit).
func CheckClientPlacesHeld(n int) error {
	if n < 0 || n > MaxClientPlacesHeld {
		return fmt.Errorf("must be 0 (no limit)..%d, got %d", MaxClientPlacesHeld, n)
	}
	return nil
}

// CheckTollSeconds says what is wrong with a toll difficulty, or nil.
func CheckTollSeconds(s float64) error {
	if !(s > 0 && s <= MaxTollSeconds) {
		return fmt.Errorf("must be more than 0 and at most %d (seconds on a mid-range phone), got %g", MaxTollSeconds, s)
	}
	return nil
}

// CheckAdmitPerMinute says what is wrong with a rate, or nil.
func CheckAdmitPerMinute(n int) error {
	if n < 0 || n > MaxAdmitPerMinute {
		return fmt.Errorf("must be 0..%d, got %d", MaxAdmitPerMinute, n)
	}
	return nil
}

// CheckMaxActive says what is wrong with a max_active, or nil.
func CheckMaxActive(n int) error {
	if n < 1 || n > MaxMaxActive {
		return fmt.Errorf("must be 1..%d, got %d", MaxMaxActive, n)
	}
	return nil
}

// CheckSessionTTL says what is wrong with a session TTL, or nil.
func CheckSessionTTL(d time.Duration) error { return checkDuration(d, MinSessionTTL) }

// CheckAbandonAfter says what is wrong with an abandon_after, or nil.
func CheckAbandonAfter(d time.Duration) error { return checkDuration(d, MinAbandonAfter) }

func checkDuration(d, least time.Duration) error {
	if d < least || d > MaxDuration {
		return fmt.Errorf("must be between %s and %s, got %s", least, MaxDuration, d)
	}
	return nil
}

// CheckMode says what is wrong with a mode, or nil.
func CheckMode(m Mode) error {
	if m != FIFO && m != Random {
		return fmt.Errorf("must be fifo or random, got %q", m)
	}
	return nil
}

// CheckOpensAt says what is wrong with an opening time, or nil.
func CheckOpensAt(t time.Time) error {
	if t.Unix() <= 0 || t.Year() > 9999 {
		return fmt.Errorf("must be a time after 1970 (RFC 3339, such as 2026-12-01T10:00:00+09:00), got %s", t.Format(time.RFC3339))
	}
	return nil
}
