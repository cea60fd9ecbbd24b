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

// pgStore keeps ticketd's data in PostgreSQL through a pgx pool.
type pgStore struct {
	pool *pgxpool.Pool
}

const pgSchema = `
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

func openPostgres(ctx context.Context, url string, maxConns int) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres URL: %w", err)
	}
	cfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Several ticketd instances may start at once: serialise the schema
	// creation on an advisory lock so CREATE … IF NOT EXISTS cannot race.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(74616362)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, pgSchema)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	return &pgStore{pool: pool}, nil
}

func (s *pgStore) Close() error { s.pool.Close(); return nil }

func (s *pgStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

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
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM events ORDER BY starts_at, id`)
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
	e, err := scanPGEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	return e, err
}

// PlaceOrder locks the event row with SELECT … FOR UPDATE, so concurrent
// buyers of one event queue on the row lock and each sees the stock the one
// before it left. The pass check runs before the lock (cheap, and a replayed
// pass then never waits on a hot row); the unique constraint on pass_id
// still catches two requests with the same pass racing each other.
func (s *pgStore) PlaceOrder(ctx context.Context, req OrderRequest) (OrderResult, error) {
	var used bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE pass_id = $1)`, req.PassID).Scan(&used); err != nil {
		return OrderResult{}, err
	}
	if used {
		return OrderResult{}, ErrPassUsed
	}
	var res OrderResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var room string
		var remaining int
		err := tx.QueryRow(ctx, `SELECT room, remaining FROM events WHERE id = $1 FOR UPDATE`, req.EventID).Scan(&room, &remaining)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if room != req.Room {
			return ErrWrongRoom
		}
		if remaining < req.Quantity {
			return &SoldOutError{Remaining: remaining}
		}
		o := Order{ID: newOrderID(), EventID: req.EventID, Quantity: req.Quantity, Visitor: req.Visitor, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		// Decrement and insert in one round trip while the row is locked.
		b := &pgx.Batch{}
		b.Queue(`UPDATE events SET remaining = remaining - $1 WHERE id = $2`, req.Quantity, req.EventID)
		b.Queue(`INSERT INTO orders (id, event_id, quantity, visitor, pass_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			o.ID, o.EventID, o.Quantity, o.Visitor, req.PassID, o.CreatedAt)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		res = OrderResult{Order: o, Remaining: remaining - req.Quantity}
		return nil
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return OrderResult{}, ErrPassUsed
	}
	return res, err
}

func (s *pgStore) Order(ctx context.Context, id string) (Order, error) {
	var o Order
	err := s.pool.QueryRow(ctx, `SELECT id, event_id, quantity, visitor, created_at FROM orders WHERE id = $1`, id).
		Scan(&o.ID, &o.EventID, &o.Quantity, &o.Visitor, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}
