package ticketd

import (
	"context"
	"strings"
	"testing"
)

// Opening a database twice keeps its data and runs no migration twice; a
// database from a newer ticketd is refused rather than misread.
func TestMigrations(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			ctx := context.Background()
			url := databaseURL(t, db)
			st, err := openStore(ctx, url, 2, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateEvent(ctx, NewEvent{Name: "kept", Room: "default", Total: 5, Price: 1, StartsAt: t0()}); err != nil {
				t.Fatal(err)
			}
			_ = st.Close()

			st, err = openStore(ctx, url, 2, 1)
			if err != nil {
				t.Fatalf("second open: %v", err)
			}
			events, err := st.Events(ctx)
			if err != nil || len(events) != 1 || events[0].Name != "kept" || !events[0].StartsAt.Equal(t0()) {
				t.Fatalf("events after reopen: %+v %v", events, err)
			}
			if err := bumpVersion(ctx, st); err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
			if _, err := openStore(ctx, url, 2, 1); err == nil || !strings.Contains(err.Error(), "newer") {
				t.Fatalf("open of a newer schema: %v", err)
			}
		})
	}
}

// bumpVersion pretends a newer ticketd migrated the database.
func bumpVersion(ctx context.Context, st store) error {
	switch s := st.(type) {
	case *sqliteStore:
		_, err := s.write.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (999)`)
		return err
	case *pgStore:
		_, err := s.pool.Exec(ctx, `INSERT INTO schema_version (version) VALUES (999)`)
		return err
	}
	return nil
}
