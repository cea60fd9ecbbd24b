package ticketd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one sellable event; its JSON is the shape of GET /api/events.
type Event struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name"`
	Room     string    `json:"room"`
	StartsAt time.Time `json:"starts_at"`
	// Price is in the currency's smallest unit (won, cents).
	Price     int64 `json:"price"`
	Total     int   `json:"total"`
	Remaining int   `json:"remaining"`
}

// NewEvent is what an operator sends to create an event.
type NewEvent struct {
	Name     string    `json:"name"`
	Room     string    `json:"room"`
	Total    int       `json:"total"`
	Price    int64     `json:"price"`
	StartsAt time.Time `json:"starts_at"`
}

// Order is one completed purchase.
type Order struct {
	ID        string    `json:"order_id"`
	EventID   int64     `json:"event_id"`
	Quantity  int       `json:"quantity"`
	Visitor   string    `json:"visitor"`
	CreatedAt time.Time `json:"created_at"`
}

// OrderRequest is a purchase to attempt: Quantity tickets of EventID for the
// holder of pass PassID of admission session Session. Room is the pass's
// room; the store refuses it when the event belongs to another room. One
// admission buys once: a second order of the same Session, with any of its
// passes, is ErrPassUsed, and so is a replay of the same PassID.
type OrderRequest struct {
	EventID  int64
	Quantity int
	Visitor  string
	Room     string
	Session  string
	PassID   string
}

// OrderResult is a successful order and the stock left after it.
type OrderResult struct {
	Order     Order
	Remaining int
}

// Why an order was refused by the store.
var (
	ErrNotFound  = errors.New("not found")
	ErrSoldOut   = errors.New("sold out")
	ErrPassUsed  = errors.New("pass already used")
	ErrWrongRoom = errors.New("event belongs to another room")
)

// store is the database behind ticketd. Both implementations run PlaceOrder
// as one transaction that locks the event row, checks and decrements the
// stock and inserts the order under unique constraints on the pass's
// session id and pass id.
type store interface {
	CreateEvent(ctx context.Context, e NewEvent) (int64, error)
	Events(ctx context.Context) ([]Event, error)
	Event(ctx context.Context, id int64) (Event, error)
	// PlaceOrder returns ErrNotFound, ErrWrongRoom, ErrPassUsed or
	// ErrSoldOut (with the stock left) when it refuses.
	PlaceOrder(ctx context.Context, req OrderRequest) (OrderResult, error)
	Order(ctx context.Context, id string) (Order, error)
	Ping(ctx context.Context) error
	Close() error
}

// openStore picks the database from the URL scheme.
func openStore(ctx context.Context, url string, maxConns, sqliteWriters int) (store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		if sqliteWriters < 1 {
			sqliteWriters = 1
		}
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), maxConns, sqliteWriters)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, maxConns)
	}
	return nil, fmt.Errorf("unsupported database URL %q (want sqlite://PATH or postgres://…)", url)
}

// SoldOutError carries the stock left when an order asked for more.
type SoldOutError struct{ Remaining int }

func (e *SoldOutError) Error() string { return fmt.Sprintf("sold out (%d left)", e.Remaining) }
func (e *SoldOutError) Unwrap() error { return ErrSoldOut }

// newOrderID returns 128 random bits: an order id is the only key to
// GET /api/orders/{id}, so it must not be guessable.
func newOrderID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// demoEvents are created by TICKETD_SEED_DEMO when the database has none.
func demoEvents(now time.Time) []NewEvent {
	day := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 30).Add(19 * time.Hour)
	return []NewEvent{
		{Name: "Seoul Philharmonic — New Year Concert", Room: "default", Total: 100, Price: 110000, StartsAt: day},
		{Name: "Indie Night at Rolling Hall", Room: "default", Total: 300, Price: 44000, StartsAt: day.AddDate(0, 0, 7)},
		{Name: "K-League Final", Room: "default", Total: 1000, Price: 25000, StartsAt: day.AddDate(0, 0, 14)},
	}
}
