package toll

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(1_800_000_000, 0)

func booth(t testing.TB) *Booth {
	t.Helper()
	b, err := NewBooth([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A solution is good for its visitor and room, until its challenge
// expires; a tampered, foreign or stale one is refused with the reason.
func TestVerify(t *testing.T) {
	b := booth(t)
	c, err := b.Issue("concert-42", "visitor-1", 0.01, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxNumber != MaxNumber(0.01) || c.Algorithm != "SHA-256" {
		t.Fatalf("challenge %+v", c)
	}
	s, err := Solve(c)
	if err != nil {
		t.Fatal(err)
	}
	id, until, err := b.Verify(s.Encode(), "concert-42", "visitor-1", t0.Add(time.Minute))
	if err != nil || id != c.Challenge || !until.Equal(t0.Add(Lifetime)) {
		t.Fatalf("good solution: %q %v %v", id, until, err)
	}
	other, _ := NewBooth([]byte(strings.Repeat("x", 32)))
	forged := s
	forged.Signature = other.sign(s.Challenge)
	wrongNumber := s
	wrongNumber.Number++
	for _, tc := range []struct {
		name, encoded, room, visitor string
		at                           time.Time
		want                         error
	}{
		{"another visitor", s.Encode(), "concert-42", "visitor-2", t0, ErrForeign},
		{"another room", s.Encode(), "concert-43", "visitor-1", t0, ErrForeign},
		{"expired", s.Encode(), "concert-42", "visitor-1", t0.Add(Lifetime), ErrExpired},
		{"wrong number", wrongNumber.Encode(), "concert-42", "visitor-1", t0, ErrWrong},
		{"signed by another gateway", forged.Encode(), "concert-42", "visitor-1", t0, ErrWrong},
		{"not base64", "%%%", "concert-42", "visitor-1", t0, ErrMalformed},
		{"not JSON", base64.StdEncoding.EncodeToString([]byte("nope")), "concert-42", "visitor-1", t0, ErrMalformed},
		{"too long", strings.Repeat("A", MaxSolutionBytes+1), "concert-42", "visitor-1", t0, ErrMalformed},
	} {
		if _, _, err := b.Verify(tc.encoded, tc.room, tc.visitor, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := NewBooth([]byte("short")); err == nil {
		t.Error("a booth with a 5-byte key")
	}
}

// Verify never panics on what a client sends.
func FuzzVerify(f *testing.F) {
	b := booth(f)
	c, _ := b.Issue("r", "v", 0.001, t0)
	s, _ := Solve(c)
	f.Add(s.Encode())
	f.Add("eyJhbGdvcml0aG0iOiJTSEEtMjU2In0=")
	f.Fuzz(func(t *testing.T, encoded string) {
		_, _, _ = b.Verify(encoded, "r", "v", t0)
	})
}

// BenchmarkVerify: what a solution costs the gateway.
func BenchmarkVerify(b *testing.B) {
	bo := booth(b)
	c, _ := bo.Issue("r", "v", 0.01, t0)
	s, _ := Solve(c)
	enc := s.Encode()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := bo.Verify(enc, "r", "v", t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSolve: a solver in Go (a script's full CPU speed), per hash.
func BenchmarkSolve(b *testing.B) {
	bo := booth(b)
	c, _ := bo.Issue("r", "v", 1, t0)
	c.Challenge = strings.Repeat("0", 64) // never found: every number is tried
	c.MaxNumber = int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	_, _ = Solve(c)
}

// A simulator's paid toll is a solution the booth accepts like any other,
// for its visitor and room, with the hashes a solver would have tried.
func TestPaid(t *testing.T) {
	b := booth(t)
	now := time.Now()
	s, hashes, err := b.Paid("concert-42", "ann", 0.01, now)
	if err != nil {
		t.Fatal(err)
	}
	if hashes != s.Number+1 || hashes < 1 || hashes > MaxNumber(0.01)+1 {
		t.Fatalf("hashes %d for number %d", hashes, s.Number)
	}
	if _, _, err := b.Verify(s.Encode(), "concert-42", "ann", now); err != nil {
		t.Fatalf("a paid toll refused: %v", err)
	}
	if _, _, err := b.Verify(s.Encode(), "concert-42", "bob", now); err == nil {
		t.Fatal("a paid toll accepted for another visitor")
	}
	solved, err := Solve(Challenge{Algorithm: s.Algorithm, Challenge: s.Challenge, MaxNumber: MaxNumber(0.01), Salt: s.Salt, Signature: s.Signature})
	if err != nil || solved.Number != s.Number {
		t.Fatalf("a solver finds %d (%v), the simulator said %d", solved.Number, err, s.Number)
	}
}
