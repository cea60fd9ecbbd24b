package queue

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testenv"
)

// A Redis killed and restarted empty forgets a room: the next call finds
// another line epoch, and the first script of a caller that knew the old
// one records the loss in the new epoch — the lost totals, marked as lost
// rather than shown as zero — and holds the slots of the sessions that
// were live, so a newcomer is not admitted in their place while their
// passes still work. A live pass brings its session back (Confirm) and
// takes one of the held slots; a revoked one does not come back.
func TestEpochNoticesRedisForgot(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := srv.Client(&redis.Options{MaxRetries: 5})
	q := New(rdb, Config{Prefix: "wr:"})
	crowd := q.On(srv.Client(nil)) // the gateway's second pool: one knowledge
	room := Room{Name: "forget", AdmitPerMinute: 6000, MaxActive: 2}

	// Two admitted at once (nobody waiting), both entered: the room is full.
	var sessions []Session
	for _, v := range []string{"a", "b"} {
		st, err := crowd.Join(ctx, room, v)
		if err != nil || st.State != StateAdmitted {
			t.Fatalf("join %s: %+v %v", v, st, err)
		}
		s, err := q.Enter(ctx, room, v)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	if _, err := q.Revoke(ctx, room.Name, "b", sessions[1].ID, sessions[1].Until, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enter(ctx, room, "c"); err == nil {
		t.Fatal("c entered without an admission")
	}
	st, err := crowd.Join(ctx, room, "c") // b's slot is free again
	if err != nil || st.State != StateAdmitted {
		t.Fatalf("join c: %+v %v", st, err)
	}
	if _, err := q.Enter(ctx, room, "c"); err != nil {
		t.Fatal(err)
	}
	before, err := q.Figures(ctx, []Room{room})
	if err != nil {
		t.Fatal(err)
	}
	old := before[0]
	if len(old.Epoch) != 16 || old.Lost != nil || old.EpochSince.IsZero() || old.Active != 2 || old.AdmittedTotal != 3 {
		t.Fatalf("figures before the loss: %+v", old)
	}
	if st.Epoch != old.Epoch {
		t.Fatalf("a join's epoch %q, the figures' %q", st.Epoch, old.Epoch)
	}

	srv.Restart() // SIGKILL; a new, empty server on the same port

	// The first call after the loss is a newcomer's join, through the
	// other pool: the room is empty, yet the two sessions' slots are held.
	st, err = crowd.Join(ctx, room, "d")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateQueued || st.Position != 1 || st.Epoch == old.Epoch || st.Epoch == "" {
		t.Fatalf("a newcomer after the loss: %+v (old epoch %s)", st, old.Epoch)
	}
	figs, err := q.Figures(ctx, []Room{room})
	if err != nil {
		t.Fatal(err)
	}
	f := figs[0]
	if f.Epoch != st.Epoch || f.Held != 2 || f.Active != 0 || f.AdmittedTotal != 0 {
		t.Fatalf("figures after the loss: epoch %s held %d active %d admitted %d", f.Epoch, f.Held, f.Active, f.AdmittedTotal)
	}
	if l := f.Lost; l == nil || l.Epoch != old.Epoch || l.AdmittedTotal != 3 || l.Active != 2 || l.NoticedAt.IsZero() {
		t.Fatalf("the loss as recorded: %+v", f.Lost)
	}
	if adm, err := q.Admit(ctx, room); err != nil || len(adm.Admitted) != 0 {
		t.Fatalf("admission gave a held slot away: %+v %v", adm, err)
	}

	// a's pass comes back: its session counts again, in a held slot.
	got, err := q.Confirm(ctx, room, "a", sessions[0].ID, sessions[0].Until)
	if err != nil || got != ConfirmResumed {
		t.Fatalf("a's pass after the loss: %q %v", got, err)
	}
	if got, _ := q.Confirm(ctx, room, "a", sessions[0].ID, sessions[0].Until); got != ConfirmLive {
		t.Fatalf("a's pass confirmed again: %q", got)
	}
	if s, err := q.Renew(ctx, room, "a", sessions[0].ID); err != nil || s.ID != sessions[0].ID {
		t.Fatalf("renewing a's session after it came back: %+v %v", s, err)
	}
	figs, _ = q.Figures(ctx, []Room{room})
	if figs[0].Active != 1 || figs[0].Held != 1 {
		t.Fatalf("after a came back: active %d held %d", figs[0].Active, figs[0].Held)
	}
	if adm, _ := q.Admit(ctx, room); len(adm.Admitted) != 0 {
		t.Fatalf("admitted %v with a back and c's slot held", adm.Admitted)
	}
	// A pass that expired does not come back; another visitor's pass
	// of a session the visitor no longer holds neither.
	if got, _ := q.Confirm(ctx, room, "e", "sid-e", time.Now().Add(-time.Second)); got != ConfirmEnded {
		t.Fatalf("an expired pass: %q", got)
	}
	if got, _ := q.Confirm(ctx, room, "a", "another-sid", time.Now().Add(time.Minute)); got != ConfirmOther {
		t.Fatalf("a pass of another session of a: %q", got)
	}
	// A revocation Redis holds keeps the session out.
	if _, err := q.Revoke(ctx, room.Name, "x", "sid-x", time.Now().Add(time.Minute), time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Confirm(ctx, room, "x", "sid-x", time.Now().Add(time.Minute)); got != ConfirmRevoked {
		t.Fatalf("a revoked session: %q", got)
	}
	// The caller learnt the new epoch: nothing more is recorded as lost.
	if k := q.known(room.Name); k.epoch != f.Epoch {
		t.Fatalf("known epoch %q, Redis's %q", k.epoch, f.Epoch)
	}
}

// Held slots last as long as a pass of the lost epoch can verify: a
// session TTL (and the verifiers' leeway) after the loss was noticed; then
// admission gives them to the line.
func TestEpochHeldSlotsLapse(t *testing.T) {
	srv := testenv.StartRedis(t)
	q := New(srv.Client(nil), Config{Prefix: "wr:", AdmitWindow: time.Second})
	room := Room{Name: "lapse", AdmitPerMinute: 6000, MaxActive: 1, SessionTTL: 10 * time.Second}
	if st, err := q.Join(ctx, room, "a"); err != nil || st.State != StateAdmitted {
		t.Fatalf("join: %+v %v", st, err)
	}
	if _, err := q.Enter(ctx, room, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Figures(ctx, []Room{room}); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	now := time.Now()
	if st, err := q.join(ctx, room, "b", now); err != nil || st.State != StateQueued {
		t.Fatalf("b after the loss: %+v %v", st, err)
	}
	if adm, _ := q.AdmitAt(ctx, room, now.Add(time.Second)); len(adm.Admitted) != 0 {
		t.Fatalf("admitted %v into a held slot", adm.Admitted)
	}
	later := now.Add(room.SessionTTL + lostSessionsLeeway + time.Second)
	if _, err := q.status(ctx, room, "b", later); err != nil { // b is still there
		t.Fatal(err)
	}
	if adm, _ := q.AdmitAt(ctx, room, later); len(adm.Admitted) != 1 {
		t.Fatalf("after every pass of the lost epoch expired: admitted %v", adm.Admitted)
	}
}

// An admission not entered yet has no pass: it is lost with the rest and
// holds no slot after the loss (its visitor is placed again).
func TestEpochAdmissionNotEnteredHoldsNothing(t *testing.T) {
	srv := testenv.StartRedis(t)
	q := New(srv.Client(nil), Config{Prefix: "wr:"})
	room := Room{Name: "told", AdmitPerMinute: 6000, MaxActive: 1}
	if st, err := q.Join(ctx, room, "a"); err != nil || st.State != StateAdmitted {
		t.Fatalf("join: %+v %v", st, err)
	}
	if f, err := q.Figures(ctx, []Room{room}); err != nil || f[0].Active != 1 || f[0].Sessions != 0 {
		t.Fatalf("figures: %+v %v", f, err)
	}
	srv.Restart()
	if st, err := q.Join(ctx, room, "b"); err != nil || st.State != StateAdmitted {
		t.Fatalf("b after the loss: %+v %v", st, err)
	}
}

// A new room gets an epoch once; every call of every caller sees the same
// one, and nothing is recorded as lost.
func TestEpochMadeOnce(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	a := New(rdb, Config{Prefix: prefix})
	b := New(rdb, Config{Prefix: prefix})
	room := Room{Name: "once", AdmitPerMinute: 60, MaxActive: 1}
	fa, err := a.Figures(ctx, []Room{room})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.Join(ctx, room, "v")
	if err != nil {
		t.Fatal(err)
	}
	st2, err := b.Join(ctx, room, "w")
	if err != nil {
		t.Fatal(err)
	}
	fb, _ := b.Figures(ctx, []Room{room})
	if e := fa[0].Epoch; e == "" || st.Epoch != e || st2.Epoch != e || fb[0].Epoch != e || fb[0].Lost != nil || fb[0].Held != 0 {
		t.Fatalf("epochs: figures %q, joins %q %q, figures %q lost %+v", e, st.Epoch, st2.Epoch, fb[0].Epoch, fb[0].Lost)
	}
}

// After a loss, the tickets of the line the gateway last read are kept for
// their holders through the recovery window: a visitor who shows a
// receipt of the epoch before gets their ticket back, ahead of everyone
// who first arrived after the loss, whatever order they come back in; one
// who comes back after the front passed their ticket is next. A receipt
// of another epoch, of a ticket given back already, of a ticket that had
// left the line, or shown after the window gives nothing: the visitor
// joins at the back.
func TestReceiptsPlaceAgainInOrder(t *testing.T) {
	srv := testenv.StartRedis(t)
	q := New(srv.Client(nil), Config{Prefix: "wr:"})
	room := Room{Name: "order", AdmitPerMinute: 0, MaxActive: 100, AbandonAfter: time.Minute}
	v := func(i int) string { return fmt.Sprintf("v%d", i) }
	for i := range 8 { // tickets 1..8
		if st, err := q.Join(ctx, room, v(i)); err != nil || st.Ticket != int64(i+1) {
			t.Fatalf("join %d: %+v %v", i, st, err)
		}
	}
	if adm, err := q.AdmitNext(ctx, room, 2); err != nil || len(adm.Admitted) != 2 {
		t.Fatalf("admit v0, v1: %+v %v", adm, err)
	}
	figs, err := q.Figures(ctx, []Room{room})
	if err != nil || figs[0].Front != 3 || figs[0].LastTicket != 8 {
		t.Fatalf("figures before: %+v %v", figs, err)
	}
	old := figs[0].Epoch
	receipt := func(i int) Arrival { return Arrival{Receipt: Receipt{Epoch: old, Ticket: int64(i + 1)}} }

	srv.Restart()

	st, err := q.Join(ctx, room, "new") // first after the loss
	if err != nil || st.Ticket != 9 || st.Position != 7 {
		t.Fatalf("a newcomer after the loss: %+v %v (want ticket 9 behind the 6 kept)", st, err)
	}
	for _, i := range []int{7, 6, 4, 3} { // v2 and v5 not yet
		st, err := q.Arrive(ctx, room, v(i), receipt(i))
		if err != nil || st.State != StateQueued || st.Ticket != int64(i+1) || st.Position != int64(i+1-2) {
			t.Fatalf("v%d back with its receipt: %+v %v", i, st, err)
		}
	}
	refused := []struct {
		name, visitor string
		a             Arrival
		at            time.Time
	}{
		{"another epoch's receipt", "x", Arrival{Receipt: Receipt{Epoch: "0123456789abcdef", Ticket: 3}}, time.Time{}},
		{"a ticket given back already", "y", receipt(4), time.Time{}},
		{"a ticket that had left the line", "z", receipt(1), time.Time{}},
		{"after the recovery window", "w", receipt(2), time.Now().Add(room.AbandonAfter + 6*time.Second)},
	}
	for _, r := range refused {
		st, err := q.arrive(ctx, room, r.visitor, r.a, r.at)
		if err != nil || st.Ticket <= 9 {
			t.Fatalf("%s: %+v %v (want a new place at the back)", r.name, st, err)
		}
	}
	adm, err := q.AdmitNext(ctx, room, 3)
	if err != nil || fmt.Sprint(adm.Admitted) != "[v3 v4 v6]" {
		t.Fatalf("admitted %v %v, want the kept tickets in order", adm.Admitted, err)
	}
	// v5 comes back after the front passed its ticket: it is next.
	st, err = q.Arrive(ctx, room, v(5), receipt(5))
	if err != nil || st.Ticket != 6 || st.Position != 1 {
		t.Fatalf("v5 back late: %+v %v", st, err)
	}
	if st, _ := q.Status(ctx, room, v(7)); st.Position != 2 {
		t.Fatalf("v7 behind v5: %+v", st)
	}
	if st, _ := q.Status(ctx, room, "new"); st.Position != 3 {
		t.Fatalf("the newcomer behind them: %+v", st)
	}
	figs, _ = q.Figures(ctx, []Room{room})
	if f := figs[0]; f.Ahead != 1 || f.Recovered != 5 || f.Waiting != 2+1+4 {
		t.Fatalf("figures: ahead %d recovered %d waiting %d", f.Ahead, f.Recovered, f.Waiting)
	}
	// For the recovery's grace only places given back are admitted.
	adm, _ = q.AdmitNext(ctx, room, 100)
	if fmt.Sprint(adm.Admitted) != "[v5 v7]" {
		t.Fatalf("admitted %v during the grace", adm.Admitted)
	}
	adm, _ = q.admit(ctx, room, 100, time.Now().Add(6*time.Second))
	if fmt.Sprint(adm.Admitted) != "[new x y z w]" {
		t.Fatalf("admitted %v after the grace", adm.Admitted)
	}
	// A receipt shown again once its place was used gives nothing.
	if st, _ := q.Arrive(ctx, room, v(3), receipt(3)); st.State != StateAdmitted {
		t.Fatalf("v3 again: %+v", st)
	}
}
