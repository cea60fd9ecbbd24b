// Package toll is the proof-of-work toll of a room: before a new visitor's
// place counts, their browser finds a number that, hashed with a salt the
// gateway chose, gives a hash the gateway signed. It costs a phone a
// second or two, once per visitor; it costs a script that wants ten
// thousand places ten thousand times that.
//
// The challenge and the solution are ALTCHA's (https://altcha.org, an open
// protocol), so operators can reuse its widget and solvers:
//
//	challenge: {"algorithm":"SHA-256","challenge":hex(SHA-256(salt+number)),
//	            "maxnumber":N,"salt":salt,"signature":hex(HMAC-SHA-256(key, challenge))}
//	solution:  base64(JSON{"algorithm","challenge","number","salt","signature"})
//
// The salt binds a challenge to one visitor (a hash of the visitor id), one
// room and an expiry ("<random>?r=<room>&v=<visitor>&expires=<unix>"), so a
// solution is good for its visitor and room only, and not after it
// expires; the queue spends each solution once (queue.Arrival.Toll).
// Verifying costs one SHA-256 and one HMAC: microseconds.
//
// Difficulty is said in seconds on a mid-range phone: the number is drawn
// uniformly from [0, maxnumber], so a solver tries maxnumber/2 hashes on
// average, and maxnumber = 2 × seconds × PhoneHashesPerSecond.
package toll

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PhoneHashesPerSecond is how many salted SHA-256 hashes the queue page's
// solver does per second on a mid-range phone: its Web Worker in Chromium
// on a server core (1.6 M/s) slowed 4×, as Lighthouse's "mid-tier mobile"
// is; the same solver on Chromium's main thread throttled 4× does 0.43 M/s
// (BenchmarkTollSolverInChromium in package web; docs/operating.md, "The
// toll"). It turns a room's toll_seconds into a challenge's maxnumber.
const PhoneHashesPerSecond = 400_000

// Lifetime is how long a challenge may be solved and used.
const Lifetime = 10 * time.Minute

// Challenge is a toll challenge as the gateway hands it out.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Solution is what a solver sends back.
type Solution struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    int64  `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Booth issues and checks challenges with one HMAC key (the same on every
// gateway instance, so a challenge from one is good on another).
type Booth struct{ key []byte }

// NewBooth returns a booth with key (at least 32 bytes).
func NewBooth(key []byte) (*Booth, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("toll: key of %d bytes, want at least 32", len(key))
	}
	return &Booth{key: append([]byte(nil), key...)}, nil
}

// MaxNumber is the maxnumber of a challenge expected to take seconds on a
// mid-range phone.
func MaxNumber(seconds float64) int64 {
	return max(int64(2*seconds*PhoneHashesPerSecond), 1)
}

// Issue makes a challenge for visitor in room, of the difficulty seconds,
// valid until now + Lifetime.
func (b *Booth) Issue(room, visitor string, seconds float64, now time.Time) (Challenge, error) {
	c, _, err := b.issue(room, visitor, seconds, now)
	return c, err
}

// Paid stands in for a visitor's own device in a simulation (surge swarm):
// a challenge of the difficulty seconds for visitor in room, and its
// solution, found without the search that the issuer does not need;
// hashes is how many a solver trying 0, 1, 2, … would have done (the
// time that takes a phone is hashes / PhoneHashesPerSecond). The gateway
// accepts the solution as any other: the booth's key signed it.
func (b *Booth) Paid(room, visitor string, seconds float64, now time.Time) (s Solution, hashes int64, err error) {
	c, n, err := b.issue(room, visitor, seconds, now)
	if err != nil {
		return Solution{}, 0, err
	}
	return Solution{Algorithm: c.Algorithm, Challenge: c.Challenge, Number: n, Salt: c.Salt, Signature: c.Signature}, n + 1, nil
}

func (b *Booth) issue(room, visitor string, seconds float64, now time.Time) (Challenge, int64, error) {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Challenge{}, 0, err
	}
	q := url.Values{}
	q.Set("r", room)
	q.Set("v", b.visitorTag(visitor))
	q.Set("expires", strconv.FormatInt(now.Add(Lifetime).Unix(), 10))
	salt := hex.EncodeToString(nonce[:]) + "?" + q.Encode()
	maxNumber := MaxNumber(seconds)
	n, err := rand.Int(rand.Reader, big.NewInt(maxNumber+1))
	if err != nil {
		return Challenge{}, 0, err
	}
	sum := sha256.Sum256([]byte(salt + strconv.FormatInt(n.Int64(), 10)))
	c := hex.EncodeToString(sum[:])
	return Challenge{Algorithm: "SHA-256", Challenge: c, MaxNumber: maxNumber, Salt: salt, Signature: b.sign(c)}, n.Int64(), nil
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("toll: malformed solution")
	ErrWrong     = errors.New("toll: wrong solution")
	ErrForeign   = errors.New("toll: solution for another visitor or room")
	ErrExpired   = errors.New("toll: challenge expired")
)

// MaxSolutionBytes bounds the solution a gateway reads.
const MaxSolutionBytes = 1024

// Verify checks an encoded solution for visitor in room at now and
// returns its challenge (the id the queue spends it under) and when it
// expires.
func (b *Booth) Verify(encoded, room, visitor string, now time.Time) (challenge string, until time.Time, err error) {
	if len(encoded) > MaxSolutionBytes {
		return "", time.Time{}, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(encoded); err != nil {
			return "", time.Time{}, ErrMalformed
		}
	}
	var s Solution
	if err := json.Unmarshal(raw, &s); err != nil || s.Algorithm != "SHA-256" || s.Number < 0 {
		return "", time.Time{}, ErrMalformed
	}
	if !hmac.Equal([]byte(s.Signature), []byte(b.sign(s.Challenge))) {
		return "", time.Time{}, ErrWrong
	}
	sum := sha256.Sum256([]byte(s.Salt + strconv.FormatInt(s.Number, 10)))
	if hex.EncodeToString(sum[:]) != s.Challenge {
		return "", time.Time{}, ErrWrong
	}
	_, query, ok := strings.Cut(s.Salt, "?")
	if !ok {
		return "", time.Time{}, ErrMalformed
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", time.Time{}, ErrMalformed
	}
	if q.Get("r") != room || !hmac.Equal([]byte(q.Get("v")), []byte(b.visitorTag(visitor))) {
		return "", time.Time{}, ErrForeign
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return "", time.Time{}, ErrMalformed
	}
	until = time.Unix(exp, 0)
	if !now.Before(until) {
		return "", time.Time{}, ErrExpired
	}
	return s.Challenge, until, nil
}

func (b *Booth) sign(challenge string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(challenge))
	return hex.EncodeToString(m.Sum(nil))
}

// visitorTag names the visitor in the salt without showing the id (the
// salt travels to the page, and an id in it would be one more place to
// read a visitor's cookie value from).
func (b *Booth) visitorTag(visitor string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte("visitor:" + visitor))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// Solve finds the number of c by trying every number from 0 (what the
// queue page's worker does; a client that is not a browser can call it).
// It gives up after c.MaxNumber.
func Solve(c Challenge) (Solution, error) {
	want, err := hex.DecodeString(c.Challenge)
	if err != nil || len(want) != sha256.Size {
		return Solution{}, ErrMalformed
	}
	buf := make([]byte, len(c.Salt), len(c.Salt)+20) // room for any int64
	copy(buf, c.Salt)
	for n := int64(0); n <= c.MaxNumber; n++ {
		sum := sha256.Sum256(strconv.AppendInt(buf[:len(c.Salt)], n, 10))
		if string(sum[:]) == string(want) {
			return Solution{Algorithm: c.Algorithm, Challenge: c.Challenge, Number: n, Salt: c.Salt, Signature: c.Signature}, nil
		}
	}
	return Solution{}, errors.New("toll: no number solves the challenge")
}

// Encode is the solution as a client sends it (header Waitroom-Toll).
func (s Solution) Encode() string {
	b, _ := json.Marshal(s)
	return base64.StdEncoding.EncodeToString(b)
}
