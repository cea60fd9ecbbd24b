package pass

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// up is Redis as the probe sees it in these tests: answering.
type up struct{}

func (up) Up() bool     { return true }
func (up) Failed(error) {}

// cookieOf stands in for the gateway's signed wr_id value of a visitor.
func cookieOf(visitor string) string { return visitor + ".mac" }

func newDesk(t *testing.T) (*Desk, *queue.Queue) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	q := queue.New(rdb, queue.Config{Prefix: prefix})
	s, err := token.NewHS256Signer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{Signer: s, Sessions: q, Health: up{}, VisitorCookie: cookieOf, Log: zerolog.Nop()})
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d, q
}

// Check refuses every pass that is not a live pass of this desk for this
// room and this visitor, with the reason the metrics count.
func TestCheckRefusals(t *testing.T) {
	d, _ := newDesk(t)
	now := time.Now()
	sign := func(s *token.Signer, at time.Time, visitor, room string) string {
		tok, _, _ := s.Sign(at, visitor, room, "sid-"+visitor, time.Minute)
		return tok
	}
	good := sign(d.cfg.Signer, now, "v1", "default")
	foreign, _ := token.NewHS256Signer([]byte(strings.Repeat("x", 32)))
	edKey, _ := token.GenerateEd25519()
	ed, _ := token.NewEd25519Signer(edKey)
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	cases := []struct {
		name, tok, cookie, want string
	}{
		{"good", good, cookieOf("v1"), ""},
		{"other room", sign(d.cfg.Signer, now, "v1", "elsewhere"), cookieOf("v1"), "wrong_room"},
		{"expired", sign(d.cfg.Signer, now.Add(-time.Hour), "v1", "default"), cookieOf("v1"), "expired"},
		{"other secret", sign(foreign, now, "v1", "default"), cookieOf("v1"), "signature"},
		{"EdDSA pass at an HS256 desk", sign(ed, now, "v1", "default"), cookieOf("v1"), "algorithm"},
		{"alg none", none, cookieOf("v1"), "algorithm"},
		{"garbage", "not-a-jwt", cookieOf("v1"), "malformed"},
		{"oversized", strings.Repeat("a", 100_000), cookieOf("v1"), "malformed"},
		{"another visitor's cookie", sign(d.cfg.Signer, now, "v1", "default"), cookieOf("v2"), "wrong_visitor"},
		{"no visitor cookie", sign(d.cfg.Signer, now, "v1", "default"), "", "wrong_visitor"},
		{"a forged visitor cookie", sign(d.cfg.Signer, now, "v1", "default"), "v1.forged", "wrong_visitor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := d.Check(context.Background(), "default", tc.tok, tc.cookie, now)
			if reason != tc.want {
				t.Fatalf("reason %q, want %q", reason, tc.want)
			}
		})
	}
	// Once cached, the pass is still refused in another room and to
	// another visitor.
	if _, reason := d.Check(context.Background(), "elsewhere", good, cookieOf("v1"), now); reason != "wrong_room" {
		t.Fatalf("cached pass in another room: %q", reason)
	}
	if _, reason := d.Check(context.Background(), "default", good, cookieOf("v2"), now); reason != "wrong_visitor" {
		t.Fatalf("cached pass shown by another visitor: %q", reason)
	}
}

// One admission is one session at the desk: every pass it issues for the
// visitor, however often asked, names the same session; a renewal is a new
// pass of it.
func TestIssueKeepsTheSession(t *testing.T) {
	d, q := newDesk(t)
	ctx := context.Background()
	room := queue.Room{Name: "default", AdmitPerMinute: 600, MaxActive: 10, SessionTTL: 10 * time.Second}
	if s, err := q.Join(ctx, room, "ann"); err != nil || s.State != queue.StateAdmitted {
		t.Fatalf("join: %+v %v", s, err)
	}
	now := time.Now()
	first, err := d.Issue(ctx, room, "ann", "", now)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		p, err := d.Issue(ctx, room, "ann", "", now)
		if err != nil || p.Claims.Session != first.Claims.Session || p.Token == first.Token {
			t.Fatalf("re-issue: session %q (first %q), err %v", p.Claims.Session, first.Claims.Session, err)
		}
	}
	// Past half its life the pass is renewed: a new pass, same session.
	later := now.Add(6 * time.Second)
	p, renewed, reason := d.Present(ctx, room, first.Token, cookieOf("ann"), later)
	if reason != "" || !renewed || p.Claims.Session != first.Claims.Session || p.Token == first.Token {
		t.Fatalf("present at 6s of 10s: renewed %t reason %q session %q", renewed, reason, p.Claims.Session)
	}
	if _, renewed, _ := d.Present(ctx, room, first.Token, cookieOf("ann"), later.Add(time.Second)); renewed {
		t.Fatal("renewed twice within RenewEvery")
	}
}

// A revocation, made here or heard from another instance, refuses every
// pass of the session at once, cached or shown here for the first time;
// other sessions are untouched; malformed news never arrives (the queue
// drops it).
func TestRevocationRefusesTheWholeSession(t *testing.T) {
	d, q := newDesk(t)
	ctx := context.Background()
	now := time.Now()
	var toks []string
	for i := range 50 {
		v := fmt.Sprintf("v%d", i)
		sid := fmt.Sprintf("sid-%d", i)
		if i == 8 {
			sid = "sid-7" // passes 7 and 8: two passes of one session
		}
		tok, _, _ := d.cfg.Signer.Sign(now, v, "default", sid, time.Minute)
		if _, reason := d.Check(ctx, "default", tok, cookieOf(v), now); reason != "" {
			t.Fatalf("pass %d refused: %s", i, reason)
		}
		toks = append(toks, tok)
	}
	d.Heard(queue.Revoked{Session: "sid-7", Until: now.Add(time.Minute)}, now)
	for i, tok := range toks {
		_, reason := d.Check(ctx, "default", tok, cookieOf(fmt.Sprintf("v%d", i)), now)
		if revoked := reason == "revoked"; revoked != (i == 7 || i == 8) {
			t.Fatalf("pass %d after revoking sid-7: reason %q", i, reason)
		}
	}
	// A session revoked through another instance, its pass never seen here.
	fresh, _, _ := d.cfg.Signer.Sign(now, "w", "default", "sid-fresh", time.Minute)
	d.Heard(queue.Revoked{Session: "sid-fresh", Until: now.Add(time.Minute)}, now)
	if _, reason := d.Check(ctx, "default", fresh, cookieOf("w"), now); reason != "revoked" {
		t.Fatalf("pass of a revoked session seen first: %q", reason)
	}
	// A session revoked in Redis while this instance heard nothing: the
	// record refuses a pass seen first, and a cached one on its recheck.
	// (The 50 passes above, signed here and unknown to Redis, came back as
	// sessions Redis forgot: they hold 50 slots.)
	room := queue.Room{Name: "default", AdmitPerMinute: 600, MaxActive: 100}
	if _, err := q.Join(ctx, room, "zed"); err != nil {
		t.Fatal(err)
	}
	p, err := d.Issue(ctx, room, "zed", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Revoke(ctx, "default", "zed", p.Claims.Session, p.Claims.ExpiresAt, token.Leeway); err != nil {
		t.Fatal(err)
	}
	if _, reason := d.Check(ctx, "default", p.Token, cookieOf("zed"), now); reason != "" {
		t.Fatalf("cached pass before its recheck: %q", reason)
	}
	d.RecheckAll(now)
	if _, reason := d.Check(ctx, "default", p.Token, cookieOf("zed"), now); reason != "revoked" {
		t.Fatalf("cached pass after a recheck: %q", reason)
	}
}

// BenchmarkCheck compares a pass found in the cache (every request of an
// admitted visitor after the first) with a full signature check (what
// every request would cost without the cache).
func BenchmarkCheck(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	q := queue.New(rdb, queue.Config{Prefix: prefix})
	s, _ := token.NewHS256Signer([]byte(strings.Repeat("k", 32)))
	d := New(Config{Signer: s, Sessions: q, Health: up{}, VisitorCookie: cookieOf, Log: zerolog.Nop()})
	defer d.Close(context.Background())
	now := time.Now()
	tok, _, _ := s.Sign(now, "v1", "bench", "sid-bench", time.Hour)
	b.Run("cached", func(b *testing.B) {
		if _, reason := d.Check(context.Background(), "bench", tok, cookieOf("v1"), now); reason != "" {
			b.Fatal(reason)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, reason := d.Check(context.Background(), "bench", tok, cookieOf("v1"), now); reason != "" {
					b.Fatal(reason)
				}
			}
		})
	})
	b.Run("uncached-signature", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := d.Verifier().VerifyAt(now, tok, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
