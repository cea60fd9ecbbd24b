package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom/queue"
)

// Place receipts. Each queued visitor holds, in the cookie
// wr_receipt_<room>, the gateway's signed word for their place: the room,
// its line epoch, the ticket and when it was issued, bound to their wr_id.
// It is refreshed whenever the gateway answers them from Redis with a
// ticket (the queue page, a status poll, a socket's handshake). If Redis
// forgets the room, a visitor who comes back within the recovery window
// with the receipt of the epoch before gets that ticket back, ahead of
// everyone who first arrived after the loss (queue.Arrival.Receipt; the
// queue checks the epoch, the window, and that each ticket is given back
// once). A connected socket needs no cookie: the hub remembers the place
// it last told.
//
// A receipt cannot be forged or altered (HMAC-SHA256 with a key derived
// from the cookie secret, which every instance shares), moved to another
// visitor (the MAC covers the wr_id) or room (it covers the room), or used
// for a better place than its own ticket, and a ticket is given back once.

// ReceiptCookie is the name of the room's place receipt cookie.
func ReceiptCookie(room string) string { return "wr_receipt_" + room }

// receiptTTL is how long the browser keeps a receipt: longer than any
// recovery window (abandon_after + 5 s, abandon_after at most a week).
const receiptTTL = 8 * 24 * time.Hour

// receiptKey is the receipts' HMAC key, derived from the cookie secret
// like tollKey (the cookie key itself signs nothing but cookies).
func receiptKey(cookieKey []byte) []byte {
	m := hmac.New(sha256.New, cookieKey)
	m.Write([]byte("waitroom receipt key"))
	return m.Sum(nil)
}

// receiptMAC signs what a receipt says, for visitor.
func (g *Gateway) receiptMAC(room, visitor, epoch string, ticket, issued int64) string {
	m := hmac.New(sha256.New, g.fair.receiptKey)
	m.Write([]byte(room + "\x00" + visitor + "\x00" + epoch + "\x00" +
		strconv.FormatInt(ticket, 10) + "\x00" + strconv.FormatInt(issued, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// receipt is the cookie of visitor's place st (a Redis answer: queued, with
// a ticket of an epoch), or nil when st is no place.
func (g *Gateway) receipt(r *http.Request, room, visitor string, epoch string, ticket int64, now time.Time) *http.Cookie {
	if ticket <= 0 || epoch == "" {
		return nil
	}
	issued := now.Unix()
	v := epoch + "." + strconv.FormatInt(ticket, 10) + "." + strconv.FormatInt(issued, 10) + "." +
		g.receiptMAC(room, visitor, epoch, ticket, issued)
	return g.cookies.cookie(r, ReceiptCookie(room), v, receiptTTL)
}

// setReceipt sets the receipt cookie of st's place on the answer.
func (g *Gateway) setReceipt(w http.ResponseWriter, r *http.Request, visitor string, st queue.Status, now time.Time) {
	if st.State != queue.StateQueued && st.State != queue.StatePaused && st.State != queue.StateClosed {
		return
	}
	g.refreshReceipt(w.Header(), r, st.Room, visitor, st.Epoch, st.Ticket, now)
}

// refreshReceipt adds the receipt cookie of the place (epoch, ticket) to
// h, unless the request shows a receipt of that place already.
func (g *Gateway) refreshReceipt(h http.Header, r *http.Request, room, visitor, epoch string, ticket int64, now time.Time) {
	if ticket <= 0 || epoch == "" {
		return
	}
	if c, err := r.Cookie(ReceiptCookie(room)); err == nil &&
		strings.HasPrefix(c.Value, epoch+"."+strconv.FormatInt(ticket, 10)+".") {
		return // (a forged one fools nobody but its holder)
	}
	if c := g.receipt(r, room, visitor, epoch, ticket, now); c != nil {
		h.Add("Set-Cookie", c.String())
	}
}

// maxReceiptLen bounds a receipt cookie value worth parsing.
const maxReceiptLen = 128

// readReceipt is the place the request's receipt for room says visitor
// held, when the receipt is the gateway's own for this visitor and room;
// the zero Receipt otherwise (a forged, altered, copied or garbled one is
// ignored: the visitor joins as anyone would).
func (g *Gateway) readReceipt(r *http.Request, room, visitor string) queue.Receipt {
	c, err := r.Cookie(ReceiptCookie(room))
	if err != nil || len(c.Value) > maxReceiptLen {
		return queue.Receipt{}
	}
	return g.parseReceipt(c.Value, room, visitor)
}

func (g *Gateway) parseReceipt(v, room, visitor string) queue.Receipt {
	parts := strings.Split(v, ".")
	if len(parts) != 4 || len(parts[0]) != 16 {
		return queue.Receipt{}
	}
	ticket, err1 := strconv.ParseInt(parts[1], 10, 64)
	issued, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || ticket <= 0 || issued <= 0 {
		return queue.Receipt{}
	}
	want := g.receiptMAC(room, visitor, parts[0], ticket, issued)
	if !hmac.Equal([]byte(want), []byte(parts[3])) {
		return queue.Receipt{}
	}
	return queue.Receipt{Epoch: parts[0], Ticket: ticket}
}
