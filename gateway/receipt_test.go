package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func receiptGateway() *Gateway {
	g := &Gateway{cookies: newVisitorCookies([]byte("0123456789abcdef0123456789abcdef-cookie"), nil, zerolog.Nop())}
	g.fair.receiptKey = receiptKey(g.cookies.key)
	return g
}

// A receipt says its place to its own visitor in its own room, and to
// nobody else: altered, copied to another visitor, shown for another room
// or signed with another secret, it says nothing.
func TestReceiptBinding(t *testing.T) {
	g := receiptGateway()
	r := httptest.NewRequest("GET", "/", nil)
	now := time.Now()
	c := g.receipt(r, "line", "visitor-a", "0123456789abcdef", 42, now)
	if got := g.parseReceipt(c.Value, "line", "visitor-a"); got.Epoch != "0123456789abcdef" || got.Ticket != 42 {
		t.Fatalf("the holder's own receipt: %+v", got)
	}
	other := receiptGateway()
	other.fair.receiptKey = receiptKey([]byte("another-secret-0123456789abcdef-xx"))
	for name, read := range map[string]func() int64{
		"altered ticket": func() int64 {
			return g.parseReceipt(strings.Replace(c.Value, ".42.", ".1.", 1), "line", "visitor-a").Ticket
		},
		"altered epoch":   func() int64 { return g.parseReceipt("f"+c.Value[1:], "line", "visitor-a").Ticket },
		"another visitor": func() int64 { return g.parseReceipt(c.Value, "line", "visitor-b").Ticket },
		"another room":    func() int64 { return g.parseReceipt(c.Value, "other", "visitor-a").Ticket },
		"another secret":  func() int64 { return other.parseReceipt(c.Value, "line", "visitor-a").Ticket },
	} {
		if got := read(); got != 0 {
			t.Errorf("%s: read ticket %d", name, got)
		}
	}
}

// FuzzReceipt: whatever a visitor sends as a receipt, parsing never
// panics and gives a place only for a value the gateway signed.
func FuzzReceipt(f *testing.F) {
	g := receiptGateway()
	r := httptest.NewRequest("GET", "/", nil)
	good := g.receipt(r, "line", "v", "0123456789abcdef", 7, time.Now()).Value
	f.Add(good)
	f.Add("0123456789abcdef.7.1.x")
	f.Add("....")
	f.Add("0123456789abcdef.-7.1." + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, v string) {
		got := g.parseReceipt(v, "line", "v")
		if got.Ticket != 0 && v != good {
			t.Fatalf("an unsigned value %q gave ticket %d", v, got.Ticket)
		}
	})
}
