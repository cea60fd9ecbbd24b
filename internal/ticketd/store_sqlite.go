package ticketd

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteStore keeps ticketd's data in one SQLite file in WAL mode.
//
// Writes go through their own pool of one connection whose transactions
// start with BEGIN IMMEDIATE: SQLite allows one writer at a time anyway, and
// queueing writers in Go rather than in SQLite's busy-wait loop (which sleeps
// and retries) measured faster on a hot event and never surfaces
// SQLITE_BUSY to a buyer (docs/benchmarks-ticketd.md). Reads use a separate
// pool of up to maxConns connections that WAL lets run beside the writer.
type sqliteStore struct {
	write *sql.DB
	read  *sql.DB
}

// sqliteMigrations are applied in order at start; schema_version records how
// many have run. Append, never edit: a database in the field has run the old
// ones.
var sqliteMigrations = []string{sqliteSchemaV1, sqliteSchemaV2}

const sqliteSchemaV1 = `
CREATE TABLE IF NOT EXISTS events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	room       TEXT    NOT NULL DEFAULT 'default',
	starts_at  TEXT    NOT NULL,
	price      INTEGER NOT NULL CHECK (price >= 0),
	total      INTEGER NOT NULL CHECK (total >= 0),
	remaining  INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= total),
	created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS orders (
	id         TEXT    PRIMARY KEY,
	event_id   INTEGER NOT NULL REFERENCES events(id),
	quantity   INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 4),
	visitor    TEXT    NOT NULL,
	pass_id    TEXT    NOT NULL UNIQUE,
	created_at TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_event ON orders(event_id);
`

// sqliteSchemaV2: one order per admission session (the pass's sid),
// whichever of the session's passes comes; orders from before it have none.
const sqliteSchemaV2 = `
ALTER TABLE orders ADD COLUMN session_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS orders_session ON orders(session_id);
`

func sqliteDSN(path string, immediate bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if immediate {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// openSQLite opens the database at path with writers write connections
// (ticketd uses 1; the benchmarks compare more) and maxConns read ones.
func openSQLite(ctx context.Context, path string, maxConns, writers int) (*sqliteStore, error) {
	if path == "" {
		return nil, errors.New("sqlite:// needs a file path")
	}
	write, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(writers)
	write.SetMaxIdleConns(writers)
	write.SetConnMaxIdleTime(0)
	if err := migrateSQLite(ctx, write); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("sqlite %s: migrate schema: %w", path, err)
	}
	read, err := sql.Open("sqlite", sqliteDSN(path, false)+"&_pragma=query_only(1)")
	if err != nil {
		_ = write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(maxConns)
	read.SetMaxIdleConns(maxConns)
	return &sqliteStore{write: write, read: read}, nil
}

// migrateSQLite brings the schema up to date in one immediate transaction,
// so two ticketd processes starting on one file cannot both migrate.
func migrateSQLite(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(sqliteMigrations) {
		return fmt.Errorf("database schema version %d is newer than this ticketd (%d)", v, len(sqliteMigrations))
	}
	for ; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v+1); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteStore) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

func (s *sqliteStore) Ping(ctx context.Context) error { return s.read.PingContext(ctx) }

const sqliteTime = "2006-01-02T15:04:05.000Z07:00"

func (s *sqliteStore) CreateEvent(ctx context.Context, e NewEvent) (int64, error) {
	res, err := s.write.ExecContext(ctx,
		`INSERT INTO events (name, room, starts_at, price, total, remaining) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Name, e.Room, e.StartsAt.UTC().Format(sqliteTime), e.Price, e.Total, e.Total)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

type scanner interface{ Scan(dest ...any) error }

func scanSQLiteEvent(row scanner) (Event, error) {
	var e Event
	var starts string
	if err := row.Scan(&e.ID, &e.Name, &e.Room, &starts, &e.Price, &e.Total, &e.Remaining); err != nil {
		return Event{}, err
	}
	t, err := time.Parse(sqliteTime, starts)
	if err != nil {
		return Event{}, fmt.Errorf("event %d: starts_at %q: %w", e.ID, starts, err)
	}
	e.StartsAt = t
	return e, nil
}

const eventColumns = `id, name, room, starts_at, price, total, remaining`

func (s *sqliteStore) Events(ctx context.Context) ([]Event, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events ORDER BY starts_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanSQLiteEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *sqliteStore) Event(ctx context.Context, id int64) (Event, error) {
	e, err := scanSQLiteEvent(s.read.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

// PlaceOrder runs in one BEGIN IMMEDIATE transaction: taking the write lock
// up front is SQLite's equivalent of locking the event row, so the stock read
// below cannot change before the decrement.
func (s *sqliteStore) PlaceOrder(ctx context.Context, req OrderRequest) (OrderResult, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return OrderResult{}, err
	}
	defer func() { _ = tx.Rollback() }()

	var room string
	var remaining int
	err = tx.QueryRowContext(ctx, `SELECT room, remaining FROM events WHERE id = ?`, req.EventID).Scan(&room, &remaining)
	if errors.Is(err, sql.ErrNoRows) {
		return OrderResult{}, ErrNotFound
	}
	if err != nil {
		return OrderResult{}, err
	}
	if room != req.Room {
		return OrderResult{}, ErrWrongRoom
	}
	var used int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE pass_id = ? OR session_id = ?`, req.PassID, req.Session).Scan(&used); err != nil {
		return OrderResult{}, err
	}
	if used > 0 {
		return OrderResult{}, ErrPassUsed
	}
	if remaining < req.Quantity {
		return OrderResult{}, &SoldOutError{Remaining: remaining}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE events SET remaining = remaining - ? WHERE id = ?`, req.Quantity, req.EventID); err != nil {
		return OrderResult{}, err
	}
	o := Order{ID: newOrderID(), EventID: req.EventID, Quantity: req.Quantity, Visitor: req.Visitor, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	_, err = tx.ExecContext(ctx, `INSERT INTO orders (id, event_id, quantity, visitor, pass_id, session_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.EventID, o.Quantity, o.Visitor, req.PassID, req.Session, o.CreatedAt.Format(sqliteTime))
	if isSQLiteUnique(err) {
		return OrderResult{}, ErrPassUsed
	}
	if err != nil {
		return OrderResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return OrderResult{}, err
	}
	return OrderResult{Order: o, Remaining: remaining - req.Quantity}, nil
}

func isSQLiteUnique(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func (s *sqliteStore) Order(ctx context.Context, id string) (Order, error) {
	var o Order
	var created string
	err := s.read.QueryRowContext(ctx, `SELECT id, event_id, quantity, visitor, created_at FROM orders WHERE id = ?`, id).
		Scan(&o.ID, &o.EventID, &o.Quantity, &o.Visitor, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, err
	}
	o.CreatedAt, err = time.Parse(sqliteTime, created)
	return o, err
}
