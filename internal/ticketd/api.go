package ticketd

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog/hlog"

	"github.com/waitroom/waitroom/internal/httpx"
	"github.com/waitroom/waitroom/token"
)

// maxOrderBody bounds an order request body; a real one is ~20 bytes.
const maxOrderBody = 1 << 10

// maxAdminBody bounds an admin request body.
const maxAdminBody = 16 << 10

// apiError is every JSON error: a stable code a client can switch on and a
// message for humans.
type apiError struct {
	Error     string `json:"error"`
	Message   string `json:"message,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Remaining *int   `json:"remaining,omitempty"`
}

// orderCreated is the body of a successful order: the order and the stock
// left right after it. The shop page shows that figure at once; it cannot
// ask again, because behind the gateway the order's revoke has just ended
// the admission that an API request would need.
type orderCreated struct {
	Order
	Remaining int `json:"remaining"`
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: code, Message: msg})
}

// eventID parses the {id} path value; anything but a positive integer names
// no event.
func eventID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// findEvent looks in the cache first and then in the database, so an event
// created a moment ago on another instance is found before the cache
// reloads.
func (s *Server) findEvent(ctx context.Context, id int64) (Event, error) {
	e, ok, err := s.cache.Get(ctx, id)
	if err != nil || ok {
		return e, err
	}
	defer s.metrics.timeDB("event", time.Now())
	return s.store.Event(ctx, id)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	events, err := s.cache.All(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if events == nil {
		events = []Event{}
	}
	writeJSON(w, http.StatusOK, events)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	id, ok := eventID(r)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no such event")
		return
	}
	e, err := s.findEvent(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such event")
	case err != nil:
		s.unavailable(w, r, err)
	default:
		writeJSON(w, http.StatusOK, e)
	}
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) != 32 {
		writeError(w, http.StatusNotFound, "not_found", "no such order")
		return
	}
	start := time.Now()
	o, err := s.store.Order(r.Context(), id)
	s.metrics.timeDB("order_get", start)
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such order")
	case err != nil:
		s.unavailable(w, r, err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

// createOrder is the buy path. Cheap refusals come first (unknown event,
// missing or bad pass, bad body, an event the cache already sees as sold
// out), so only well-formed orders with a valid pass and a chance of stock
// reach the database.
func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	id, ev, ok := s.orderEvent(w, r)
	if !ok {
		return
	}
	claims, ok := s.orderPass(w, r, ev.Room)
	if !ok {
		return
	}
	qty, code, msg := readOrderBody(w, r)
	if code != "" {
		s.rejectOrder(w, http.StatusBadRequest, code, msg)
		return
	}
	// Stock only ever goes down and the cache never shows less than the
	// database holds, so an event the cache already sees as short is sold
	// out for sure: answer without queueing on the event's write lock. In a
	// flash crowd this is most of the requests.
	if ev.Remaining < qty {
		s.soldOut(w, ev.Remaining)
		return
	}
	s.placeOrder(w, r, id, qty, claims)
}

// rejectOrder refuses an order the client must not repeat as it is.
func (s *Server) rejectOrder(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.orders.WithLabelValues("rejected").Inc()
	writeError(w, status, code, msg)
}

// orderEvent finds the order's event, or answers for it: 404 for an
// unknown one, 503 when the store cannot say.
func (s *Server) orderEvent(w http.ResponseWriter, r *http.Request) (int64, Event, bool) {
	id, ok := eventID(r)
	if !ok {
		s.rejectOrder(w, http.StatusNotFound, "not_found", "no such event")
		return 0, Event{}, false
	}
	ev, err := s.findEvent(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		s.rejectOrder(w, http.StatusNotFound, "not_found", "no such event")
		return 0, Event{}, false
	}
	if err != nil {
		s.unavailable(w, r, err)
		return 0, Event{}, false
	}
	return id, ev, true
}

// orderPass verifies the admission pass for the event's room, or refuses
// the order: 401 without a pass or with a bad one (naming the reason), 403
// with a pass to another room.
func (s *Server) orderPass(w http.ResponseWriter, r *http.Request, room string) (token.Claims, bool) {
	pass := token.FromRequest(r, room)
	if pass == "" {
		s.metrics.passRejections.WithLabelValues("missing").Inc()
		s.rejectOrder(w, http.StatusUnauthorized, "pass_missing", "an admission pass is required: go through the waiting room")
		return token.Claims{}, false
	}
	claims, err := s.verifier.Verify(pass, room)
	if err != nil {
		reason := token.Reason(err)
		s.metrics.passRejections.WithLabelValues(reason).Inc()
		if errors.Is(err, token.ErrWrongRoom) {
			s.rejectOrder(w, http.StatusForbidden, "wrong_room", "this pass admits to another room")
			return token.Claims{}, false
		}
		s.metrics.orders.WithLabelValues("rejected").Inc()
		writeJSON(w, http.StatusUnauthorized, apiError{Error: "pass_invalid", Reason: reason, Message: err.Error()})
		return token.Claims{}, false
	}
	return claims, true
}

// soldOut answers 409 with the stock left; with none left the visitor is
// done, so the gateway is told to free the slot.
func (s *Server) soldOut(w http.ResponseWriter, left int) {
	s.metrics.orders.WithLabelValues("sold_out").Inc()
	revokeIfNothingLeft(w, left)
	writeJSON(w, http.StatusConflict, apiError{Error: "sold_out", Message: "not enough tickets left", Remaining: &left})
}

// placeOrder takes the order to the store, which has the last word on the
// stock and on whether the pass has already bought, and answers with what
// it said.
func (s *Server) placeOrder(w http.ResponseWriter, r *http.Request, id int64, qty int, claims token.Claims) {
	start := time.Now()
	res, err := s.store.PlaceOrder(r.Context(), OrderRequest{
		EventID: id, Quantity: qty, Visitor: claims.Visitor, Room: claims.Room, Session: claims.Session, PassID: claims.ID,
	})
	s.metrics.timeDB("order", start)
	var short *SoldOutError
	switch {
	case err == nil:
		s.metrics.orders.WithLabelValues("created").Inc()
		s.cache.Sold(id, res.Remaining)
		if res.Remaining == 0 {
			s.metrics.soldOut.Inc()
		}
		// The visitor is done: let the gateway free the slot at once.
		w.Header().Set("Waitroom-Command", "revoke")
		w.Header().Set("Location", "/api/orders/"+res.Order.ID)
		writeJSON(w, http.StatusCreated, orderCreated{Order: res.Order, Remaining: res.Remaining})
	case errors.As(err, &short):
		s.cache.Sold(id, short.Remaining)
		s.soldOut(w, short.Remaining)
	case errors.Is(err, ErrPassUsed):
		s.metrics.orders.WithLabelValues("pass_used").Inc()
		writeError(w, http.StatusConflict, "pass_used", "this admission has already bought tickets")
	case errors.Is(err, ErrNotFound):
		s.rejectOrder(w, http.StatusNotFound, "not_found", "no such event")
	case errors.Is(err, ErrWrongRoom):
		s.rejectOrder(w, http.StatusForbidden, "wrong_room", "this pass admits to another room")
	default:
		s.unavailable(w, r, err)
	}
}

// readOrderBody decodes {"quantity":1..4}, strictly (httpx.DecodeJSON:
// exact field names, no repeated field, nothing after the object). It
// returns a non-empty error code for a body a client must fix.
func readOrderBody(w http.ResponseWriter, r *http.Request) (qty int, code, msg string) {
	if !httpx.IsJSON(r) {
		return 0, "invalid_content_type", "send the body as application/json"
	}
	var body struct {
		Quantity int `json:"quantity"`
	}
	if code, msg := decodeBody(w, r, maxOrderBody, &body); code != "" {
		if code == "invalid_type" {
			return 0, "invalid_quantity", "quantity must be a whole number from 1 to 4"
		}
		return 0, code, msg
	}
	if body.Quantity < 1 || body.Quantity > 4 {
		return 0, "invalid_quantity", "quantity must be a whole number from 1 to 4"
	}
	return body.Quantity, "", ""
}

// decodeBody reads exactly one JSON object of at most limit bytes into v;
// a refusal comes back as its code and message. Every refusal is a 400
// (an oversized body included), as the API has always answered.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) (code, msg string) {
	err := httpx.DecodeJSON(w, r, limit, v)
	var be *httpx.BodyError
	if errors.As(err, &be) {
		return be.Code, be.Message
	}
	if err != nil {
		return "invalid_json", "body could not be read"
	}
	return "", ""
}

// unavailable answers a database failure: 503 with Retry-After, so clients
// retry rather than give up, and a log line with the request id.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client left
	}
	hlog.FromRequest(r).Error().Err(err).Str("path", r.URL.Path).Msg("database error")
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the ticket database is busy or unreachable; try again")
}

// revokeIfNothingLeft ends the visitor's waiting-room session on a sold-out
// answer when the event has no ticket left: they can buy nothing more, so
// their slot should go to the next visitor now rather than when the
// session expires. (Asking for more than is left, while some are, keeps the
// session: a smaller order may still succeed.)
func revokeIfNothingLeft(w http.ResponseWriter, left int) {
	if left <= 0 {
		w.Header().Set("Waitroom-Command", "revoke")
	}
}
