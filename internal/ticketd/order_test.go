package ticketd

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/token"
)

// A flash crowd of 1,000 buyers with distinct valid passes against 100
// tickets sells exactly 100: stock ends at 0, everyone else hears sold_out
// (with Waitroom-Command: revoke, so their slots free at once), and nobody
// gets a 5xx — on SQLite and on PostgreSQL.
func TestFlashCrowdNeverOversells(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			b := newBackend(t, db)
			event := b.createEvent(t, "Flash crowd", "concert-42", 100)
			const buyers = 1000
			passes := make([]string, buyers)
			for i := range passes {
				passes[i] = b.pass(t, "concert-42")
			}
			var (
				mu       sync.Mutex
				statuses = map[int]int{}
				codes    = map[string]int{}
				orderIDs = map[string]bool{}
				start    = make(chan struct{})
				wg       sync.WaitGroup
			)
			for _, p := range passes {
				wg.Go(func() {
					<-start
					status, body, hdr := b.buy(t, event, p, 1)
					mu.Lock()
					defer mu.Unlock()
					statuses[status]++
					if status == http.StatusCreated {
						var o Order
						_ = json.Unmarshal(body, &o)
						orderIDs[o.ID] = true
						if hdr.Get("Waitroom-Command") != "revoke" {
							t.Errorf("201 without Waitroom-Command: revoke")
						}
					} else {
						codes[errorCode(body)]++
						// Sold out with nothing left: the visitor can buy
						// nothing more, so the gateway frees their slot.
						if errorCode(body) == "sold_out" && hdr.Get("Waitroom-Command") != "revoke" {
							t.Errorf("sold_out with no stock left without Waitroom-Command: revoke")
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if statuses[201] != 100 || len(orderIDs) != 100 {
				t.Errorf("created %d orders (%d distinct), want 100", statuses[201], len(orderIDs))
			}
			if statuses[409] != buyers-100 || codes["sold_out"] != buyers-100 {
				t.Errorf("statuses %v codes %v, want %d sold_out", statuses, codes, buyers-100)
			}
			if got := b.event(t, event).Remaining; got != 0 {
				t.Errorf("stock = %d, want 0", got)
			}
		})
	}
}

// Twenty requests racing with the same pass buy once: the unique constraint
// on the pass id holds even when the pre-check cannot see the other order.
func TestSamePassRacingBuysOnce(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			b := newBackend(t, db)
			event := b.createEvent(t, "Race", "default", 100)
			p := b.pass(t, "default")
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range 20 {
				wg.Go(func() {
					status, body, _ := b.buy(t, event, p, 2)
					mu.Lock()
					defer mu.Unlock()
					if status == http.StatusCreated {
						got["created"]++
					} else {
						got[errorCode(body)]++
					}
				})
			}
			wg.Wait()
			if got["created"] != 1 || got["pass_used"] != 19 {
				t.Fatalf("results %v, want 1 created and 19 pass_used", got)
			}
			if r := b.event(t, event).Remaining; r != 98 {
				t.Fatalf("stock %d, want 98", r)
			}
		})
	}
}

// Every bad order gets the status SPEC names and an error code a client can
// act on, and none of them touches the stock.
func TestOrderRefusals(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			b := newBackend(t, db)
			event := b.createEvent(t, "Concert", "concert-42", 10)
			other := b.createEvent(t, "Other", "other-room", 10)
			url := b.http.URL + "/api/events/" + itoa(event) + "/orders"

			key, _ := token.GenerateEd25519()
			pub := key.Public().(ed25519.PublicKey)
			now := time.Now()
			claims := jwt.MapClaims{"iss": token.Issuer, "sub": "v", "aud": "concert-42", "jti": "forged-1",
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			// The gateway's real key signs; attackers only know its public key.
			realPub, _ := base64.RawURLEncoding.DecodeString(jwksX(t, b.signer))
			confusion, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(realPub)
			none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
			foreign := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
			foreign.Header["kid"] = token.KeyID(pub)
			foreignTok, _ := foreign.SignedString(key)
			expired, _, _ := b.signer.Sign(now.Add(-time.Hour), "v", "concert-42", "sid-1", 10*time.Minute)
			good := b.pass(t, "concert-42")
			parts := strings.Split(good, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			altered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"concert-42"`), []byte(`"other-room"`), 1)) + "." + parts[2]

			tests := []struct {
				name        string
				path        string // default: url
				pass        string
				cookie      bool // send the pass as the room cookie instead of the header
				contentType string
				body        string
				wantStatus  int
				wantCode    string
				wantReason  string
			}{
				{name: "no pass", body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_missing"},
				{name: "expired pass", pass: expired, body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "expired"},
				{name: "alg none", pass: none, body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "algorithm"},
				{name: "HS256 signed with the EdDSA public key", pass: confusion, body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "algorithm"},
				{name: "signed by a stranger's key", pass: foreignTok, body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "unknown_key"},
				{name: "altered payload", pass: altered, body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "signature"},
				{name: "garbage pass", pass: "abc", body: `{"quantity":1}`, wantStatus: 401, wantCode: "pass_invalid", wantReason: "malformed"},
				{name: "pass for another room", path: "/api/events/" + itoa(other) + "/orders", pass: b.pass(t, "concert-42"), body: `{"quantity":1}`, wantStatus: 403, wantCode: "wrong_room"},
				{name: "unknown event", path: "/api/events/999999/orders", pass: b.pass(t, "concert-42"), body: `{"quantity":1}`, wantStatus: 404, wantCode: "not_found"},
				{name: "event id not a number", path: "/api/events/abc/orders", pass: b.pass(t, "concert-42"), body: `{"quantity":1}`, wantStatus: 404, wantCode: "not_found"},
				{name: "malformed JSON", pass: b.pass(t, "concert-42"), body: `{"quantity":`, wantStatus: 400, wantCode: "invalid_json"},
				{name: "two JSON values", pass: b.pass(t, "concert-42"), body: `{"quantity":1}{"quantity":1}`, wantStatus: 400, wantCode: "invalid_json"},
				{name: "unknown field", pass: b.pass(t, "concert-42"), body: `{"quantity":1,"price":0}`, wantStatus: 400, wantCode: "unknown_field"},
				{name: "field name in another case", pass: b.pass(t, "concert-42"), body: `{"Quantity":1}`, wantStatus: 400, wantCode: "unknown_field"},
				{name: "field name in capitals", pass: b.pass(t, "concert-42"), body: `{"QUANTITY":1}`, wantStatus: 400, wantCode: "unknown_field"},
				{name: "quantity twice", pass: b.pass(t, "concert-42"), body: `{"quantity":1,"quantity":4}`, wantStatus: 400, wantCode: "duplicate_field"},
				{name: "data after the object", pass: b.pass(t, "concert-42"), body: `{"quantity":1}}`, wantStatus: 400, wantCode: "invalid_json"},
				{name: "quantity missing", pass: b.pass(t, "concert-42"), body: `{}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity zero", pass: b.pass(t, "concert-42"), body: `{"quantity":0}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity five", pass: b.pass(t, "concert-42"), body: `{"quantity":5}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity negative", pass: b.pass(t, "concert-42"), body: `{"quantity":-1}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity fractional", pass: b.pass(t, "concert-42"), body: `{"quantity":1.5}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity string", pass: b.pass(t, "concert-42"), body: `{"quantity":"2"}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "quantity huge", pass: b.pass(t, "concert-42"), body: `{"quantity":1e30}`, wantStatus: 400, wantCode: "invalid_quantity"},
				{name: "oversized body", pass: b.pass(t, "concert-42"), body: `{"quantity":1,` + strings.Repeat(" ", 4<<10) + `}`, wantStatus: 400, wantCode: "body_too_large"},
				{name: "form post", pass: b.pass(t, "concert-42"), contentType: "application/x-www-form-urlencoded", body: `quantity=1`, wantStatus: 400, wantCode: "invalid_content_type"},
				{name: "more than is left", pass: b.pass(t, "concert-42"), body: `{"quantity":4}`, wantStatus: 201},
				{name: "pass in cookie", pass: b.pass(t, "concert-42"), cookie: true, body: `{"quantity":4}`, wantStatus: 201},
				{name: "asks for more than is left", pass: b.pass(t, "concert-42"), body: `{"quantity":3}`, wantStatus: 409, wantCode: "sold_out"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					u := url
					if tt.path != "" {
						u = b.http.URL + tt.path
					}
					req, _ := http.NewRequest("POST", u, strings.NewReader(tt.body))
					ct := tt.contentType
					if ct == "" {
						ct = "application/json; charset=utf-8"
					}
					req.Header.Set("Content-Type", ct)
					if tt.pass != "" && tt.cookie {
						req.AddCookie(&http.Cookie{Name: token.CookieName("concert-42"), Value: tt.pass})
					} else if tt.pass != "" {
						req.Header.Set(token.HeaderPass, tt.pass)
					}
					status, body, hdr := b.send(t, req)
					if status != tt.wantStatus {
						t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
					}
					if status == 201 {
						return
					}
					if hdr.Get("Waitroom-Command") != "" {
						t.Fatal("refusal carries Waitroom-Command")
					}
					var e apiError
					if err := json.Unmarshal(body, &e); err != nil {
						t.Fatalf("body is not JSON: %s", body)
					}
					if e.Error != tt.wantCode || (tt.wantReason != "" && e.Reason != tt.wantReason) {
						t.Fatalf("error %+v, want %s/%s", e, tt.wantCode, tt.wantReason)
					}
				})
			}
			if r := b.event(t, event).Remaining; r != 2 {
				t.Fatalf("stock %d after the refusals, want 2 (only the two good orders of 4)", r)
			}
			if r := b.event(t, other).Remaining; r != 10 {
				t.Fatalf("other event's stock %d, want 10", r)
			}
		})
	}
}

// One pass buys once: the second order with it is pass_used, even for
// another event of the same room; a refused order (bad body, sold out) does
// not use the pass up.
func TestOnePassBuysOnce(t *testing.T) {
	b := newBackend(t, "sqlite")
	small := b.createEvent(t, "Small", "default", 1)
	big := b.createEvent(t, "Big", "default", 10)
	p := b.pass(t, "default")

	if status, body, _ := b.buy(t, small, p, 2); status != 409 || errorCode(body) != "sold_out" {
		t.Fatalf("asking 2 of 1: %d %s", status, body)
	}
	status, body, hdr := b.buy(t, big, p, 2)
	if status != 201 || hdr.Get("Waitroom-Command") != "revoke" {
		t.Fatalf("first order: %d %s", status, body)
	}
	var o Order
	_ = json.Unmarshal(body, &o)
	if o.EventID != big || o.Quantity != 2 || !strings.HasPrefix(o.Visitor, "visitor-") || len(o.ID) != 32 {
		t.Fatalf("order %+v", o)
	}
	for _, ev := range []int64{big, small} {
		if status, body, _ := b.buy(t, ev, p, 1); status != 409 || errorCode(body) != "pass_used" {
			t.Fatalf("second order on event %d: %d %s", ev, status, body)
		}
	}
	// The order can be read back.
	status, got := b.do(t, "GET", "/api/orders/"+o.ID, nil, nil)
	var back Order
	_ = json.Unmarshal(got, &back)
	if status != 200 || back.ID != o.ID || back.Quantity != 2 {
		t.Fatalf("GET order: %d %s", status, got)
	}
	if status, _ := b.do(t, "GET", "/api/orders/"+strings.Repeat("0", 32), nil, nil); status != 404 {
		t.Fatalf("unknown order: %d", status)
	}
}

// jwksX returns the public key x of the signer's newest key, as an attacker
// would read it from the public JWKS.
func jwksX(t *testing.T, s *token.Signer) string {
	t.Helper()
	rec := newRecorder()
	s.JWKS().ServeHTTP(rec, mustRequest("GET", "/_waitroom/jwks.json"))
	var set struct{ Keys []struct{ X string } }
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks: %s", rec.Body)
	}
	return set.Keys[0].X
}

// One admission buys once: the gateway signs a new pass (new jti) each
// time a visitor asks again or renews, but every pass of one admission
// carries the same sid, and only the first order of the session goes
// through, on both stores, whether the passes come one after another or
// race each other; another admission of the same visitor buys again.
func TestOneAdmissionBuysOnce(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			b := newBackend(t, db)
			event := b.createEvent(t, "Admission", "default", 100)
			visitor, sid := "visitor-"+testenv.RandomID(6), "session-"+testenv.RandomID(8)
			passes := make([]string, 20)
			for i := range passes {
				passes[i] = b.sessionPass(t, "default", visitor, sid)
			}
			if status, body, _ := b.buy(t, event, passes[0], 4); status != http.StatusCreated {
				t.Fatalf("first order: %d %s", status, body)
			}
			for i, p := range passes[1:5] {
				if status, body, _ := b.buy(t, event, p, 4); status != http.StatusConflict || errorCode(body) != "pass_used" {
					t.Fatalf("pass %d of the same admission: %d %s, want 409 pass_used", i+2, status, body)
				}
			}
			// The rest race each other in a fresh admission of the same
			// visitor: exactly one of them buys.
			sid2 := "session-" + testenv.RandomID(8)
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range 15 {
				p := b.sessionPass(t, "default", visitor, sid2)
				wg.Go(func() {
					status, body, _ := b.buy(t, event, p, 4)
					mu.Lock()
					defer mu.Unlock()
					if status == http.StatusCreated {
						got["created"]++
					} else {
						got[errorCode(body)]++
					}
				})
			}
			wg.Wait()
			if got["created"] != 1 || got["pass_used"] != 14 {
				t.Fatalf("racing passes of one admission: %v, want 1 created and 14 pass_used", got)
			}
			if r := b.event(t, event).Remaining; r != 92 {
				t.Fatalf("stock %d after two admissions bought 4 each, want 92", r)
			}
		})
	}
}
