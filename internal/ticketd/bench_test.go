package ticketd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/token"
)

// BenchmarkOrders measures orders/s through the real order handler (pass
// verification, body parsing, the locked transaction) with 64 concurrent
// buyers, on one hot event (every buyer on the same row) and spread over 100
// events, for SQLite and PostgreSQL. Passes are HS256 so that making them in
// the loop costs little next to the order itself; BenchmarkVerify in the
// token package has the verify cost of each algorithm.
//
//	go test -run '^$' -bench BenchmarkOrders -benchtime 3s ./internal/ticketd
func BenchmarkOrders(b *testing.B) {
	cases := []struct {
		name    string
		db      string
		writers int
		events  int
	}{
		{"sqlite/hot", "sqlite", 1, 1},
		{"sqlite/spread100", "sqlite", 1, 100},
		{"sqlite-16writers/hot", "sqlite", 16, 1},
		{"postgres/hot", "postgres", 0, 1},
		{"postgres/spread100", "postgres", 0, 100},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			srv, signer := benchServer(b, bc.db, bc.writers)
			ids := make([]int64, bc.events)
			for i := range ids {
				id, err := srv.store.CreateEvent(context.Background(), NewEvent{
					Name: "bench", Room: "default", Total: 1_000_000, Price: 1, StartsAt: time.Now(),
				})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = id
			}
			h := srv.Handler()
			var n, fails atomic.Int64
			run := testenv.RandomID(4) // each order its own admission session
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					pass, _, _ := signer.Sign(time.Now(), "bench-visitor", "default", "bench-"+run+"-"+itoa(i), time.Hour)
					req := httptest.NewRequest("POST", "/api/events/"+itoa(ids[int(i)%len(ids)])+"/orders", strings.NewReader(`{"quantity":1}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set(token.HeaderPass, pass)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusCreated {
						fails.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
			if f := fails.Load(); f > 0 {
				b.Fatalf("%d of %d orders failed", f, b.N)
			}
		})
	}
}

// BenchmarkEventRead is the cached read path (GET /api/events/{id}).
func BenchmarkEventRead(b *testing.B) {
	srv, _ := benchServer(b, "sqlite", 1)
	id, _ := srv.store.CreateEvent(context.Background(), NewEvent{Name: "r", Room: "default", Total: 10, Price: 1, StartsAt: time.Now()})
	h := srv.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/events/"+itoa(id), nil))
			if w.Code != 200 {
				b.Error(w.Code)
				return
			}
		}
	})
}

func benchServer(b *testing.B, db string, writers int) (*Server, *token.Signer) {
	b.Helper()
	signer, err := token.NewHS256Signer([]byte(strings.Repeat("b", 32)))
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Listen: "127.0.0.1:0", DatabaseURL: databaseURL(b, db), DBMaxConns: 16,
		LogFormat: "json", LogLevel: "info", Verifier: signer.Verifier(), sqliteWriters: writers,
	}
	srv, err := New(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return srv, signer
}
