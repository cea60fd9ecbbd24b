package ticketd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore keeps ticketd's data in PostgreSQL through two pgx pools: orders
// and admin writes use pool (TICKETD_DB_MAX_CONNS connections), reads use
// their own small pool, so that a flash crowd queueing for connections
// cannot starve the event cache's reload (the read path would then fail with
// the whole site, not just the buy button).
type pgStore struct {
	pool *pgxpool.Pool
	read *pgxpool.Pool
}

// pgMigrations are applied in order at start; schema_version records how
// many have run. Append, never edit.
var pgMigrations = []string{pgSchemaV1, pgSchemaV2}

const pgSchemaV1 = `
CREATE TABLE IF NOT EXISTS events (
	id         BIGSERIAL   PRIMARY KEY,
	name       TEXT        NOT NULL,
	room       TEXT        NOT NULL DEFAULT 'default',
	starts_at  TIMESTAMPTZ NOT NULL,
	price      BIGINT      NOT NULL CHECK (price >= 0),
	total      INTEGER     NOT NULL CHECK (total >= 0),
	remaining  INTEGER     NOT NULL CHECK (remaining >= 0 AND remaining <= total),
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orders (
	id         TEXT        PRIMARY KEY,
	event_id   BIGINT      NOT NULL REFERENCES events(id),
	quantity   INTEGER     NOT NULL CHECK (quantity BETWEEN 1 AND 4),
	visitor    TEXT        NOT NULL,
	pass_id    TEXT        NOT NULL UNIQUE,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_event ON orders(event_id);
`

// pgSchemaV2: one order per admission session (the pass's sid), whichever
// of the session's passes comes; orders from before it have none.
const pgSchemaV2 = `
ALTER TABLE orders ADD COLUMN IF NOT EXISTS session_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS orders_session ON orders(session_id);
`

// errBadPostgresURL marks a PostgreSQL URL that does not parse.
var errBadPostgresURL = errors.New("postgres URL")

func openPostgres(ctx context.Context, url string, maxConns int) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadPostgresURL, err)
	}
	readCfg := cfg.Copy()
	cfg.MaxConns = int32(maxConns)
	readCfg.MaxConns = int32(max(2, maxConns/4))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	read, err := pgxpool.NewWithConfig(ctx, readCfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		read.Close()
		return nil, fmt.Errorf("postgres: migrate schema: %w", err)
	}
	return &pgStore{pool: pool, read: read}, nil
}

// migratePostgres brings the schema up to date in one transaction. Several
// ticketd instances may start at once, so it first takes an advisory lock.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(74616362)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
			return err
		}
		if v > len(pgMigrations) {
			return fmt.Errorf("database schema version %d is newer than this ticketd (%d)", v, len(pgMigrations))
		}
		for ; v < len(pgMigrations); v++ {
			if _, err := tx.Exec(ctx, pgMigrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, v+1); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) Close() error { s.pool.Close(); s.read.Close(); return nil }

func (s *pgStore) Ping(ctx context.Context) error { return s.read.Ping(ctx) }

func (s *pgStore) CreateEvent(ctx context.Context, e NewEvent) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx,
		`INSERT INTO events (name, room, starts_at, price, total, remaining) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id`,
		e.Name, e.Room, e.StartsAt, e.Price, e.Total).Scan(&id)
	return id, err
}

func scanPGEvent(row pgx.Row) (Event, error) {
	var e Event
	err := row.Scan(&e.ID, &e.Name, &e.Room, &e.StartsAt, &e.Price, &e.Total, &e.Remaining)
	e.StartsAt = e.StartsAt.UTC()
	return e, err
}

func (s *pgStore) Events(ctx context.Context) ([]Event, error) {
	rows, err := s.read.Query(ctx, `SELECT `+eventColumns+` FROM events ORDER BY starts_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanPGEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *pgStore) Event(ctx context.Context, id int64) (Event, error) {
	e, err := scanPGEvent(s.read.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

// placeOrderSQL is the whole order as one statement, so it is one
// transaction and one round trip. SELECT … FOR UPDATE locks the event row
// (concurrent buyers of one event queue on that lock, and under READ
// COMMITTED each sees the stock the one before it left); the UPDATE
// decrements only when the room matches and the stock suffices; the INSERT
// runs only when the UPDATE did, under the unique constraints on pass_id
// (a replayed pass) and session_id (a second pass of the same admission).
// Keeping the lock for one statement rather than for several client round
// trips is what lets a hot event sell quickly: the row is held only while
// PostgreSQL works and commits.
//
// It returns no row for an unknown event, else the event's room, its stock
// before this order, the stock after it (NULL when nothing was sold) and the
// number of orders inserted (0 or 1).
const placeOrderSQL = `
WITH e AS (
	SELECT id, room, remaining FROM events WHERE id = $1 FOR UPDATE
), u AS (
	UPDATE events SET remaining = events.remaining - $2
	FROM e
	WHERE events.id = e.id AND e.room = $3 AND e.remaining >= $2
	RETURNING events.remaining
), i AS (
	INSERT INTO orders (id, event_id, quantity, visitor, pass_id, session_id, created_at)
	SELECT $4, $1, $2, $5, $6, $8, $7 FROM u
	RETURNING id
)
SELECT e.room, e.remaining, (SELECT remaining FROM u), (SELECT count(*) FROM i) FROM e`

// PlaceOrder checks the pass and its session first (cheap, and a replayed
// pass then never waits on a hot row), then runs placeOrderSQL. The unique
// constraints still catch two requests of one session racing each other.
func (s *pgStore) PlaceOrder(ctx context.Context, req OrderRequest) (OrderResult, error) {
	var used bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE pass_id = $1 OR session_id = $2)`, req.PassID, req.Session).Scan(&used); err != nil {
		return OrderResult{}, err
	}
	if used {
		return OrderResult{}, ErrPassUsed
	}
	o := Order{ID: newOrderID(), EventID: req.EventID, Quantity: req.Quantity, Visitor: req.Visitor, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	var (
		room     string
		before   int
		after    *int
		inserted int
	)
	err := s.pool.QueryRow(ctx, placeOrderSQL, req.EventID, req.Quantity, req.Room, o.ID, o.Visitor, req.PassID, o.CreatedAt, req.Session).
		Scan(&room, &before, &after, &inserted)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return OrderResult{}, ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505":
		return OrderResult{}, ErrPassUsed
	case err != nil:
		return OrderResult{}, err
	case room != req.Room:
		return OrderResult{}, ErrWrongRoom
	case after == nil || inserted != 1:
		return OrderResult{}, &SoldOutError{Remaining: before}
	}
	return OrderResult{Order: o, Remaining: *after}, nil
}

func (s *pgStore) Order(ctx context.Context, id string) (Order, error) {
	var o Order
	err := s.read.QueryRow(ctx, `SELECT id, event_id, quantity, visitor, created_at FROM orders WHERE id = $1`, id).
		Scan(&o.ID, &o.EventID, &o.Quantity, &o.Visitor, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}
