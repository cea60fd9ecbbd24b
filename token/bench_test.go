package token

import (
	"testing"
	"time"
)

func benchSigners(b *testing.B) []*Signer {
	return []*Signer{mustEd(mustKey(b)), mustHS(b, secret32)}
}

func BenchmarkSign(b *testing.B) {
	for _, s := range benchSigners(b) {
		b.Run(s.Algorithm(), func(b *testing.B) {
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				if _, _, err := s.Sign(now, "visitor-0123456789", "concert-42", "sid-1", 10*time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is one verification at a time; ns/op is the cost per core.
func BenchmarkVerify(b *testing.B) {
	for _, s := range benchSigners(b) {
		b.Run(s.Algorithm(), func(b *testing.B) {
			now := time.Now()
			tok, _, _ := s.Sign(now, "visitor-0123456789", "concert-42", "sid-1", 10*time.Minute)
			v := s.Verifier()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyAt(now, tok, "concert-42"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyParallel verifies on every core (GOMAXPROCS goroutines).
func BenchmarkVerifyParallel(b *testing.B) {
	for _, s := range benchSigners(b) {
		b.Run(s.Algorithm(), func(b *testing.B) {
			now := time.Now()
			tok, _, _ := s.Sign(now, "visitor-0123456789", "concert-42", "sid-1", 10*time.Minute)
			v := s.Verifier()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.VerifyAt(now, tok, "concert-42"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
