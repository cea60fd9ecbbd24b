package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type order struct {
	Quantity int `json:"quantity"`
}

type patch struct {
	Rate    *int            `json:"admit_per_minute"`
	Paused  *bool           `json:"paused"`
	Mode    *string         `json:"mode"`
	OpensAt json.RawMessage `json:"opens_at"`
	When    time.Time       `json:"when"`
	Tags    []string        `json:"tags"`
}

// A body is read exactly as its schema is written: what encoding/json would
// let through generously (other spellings of a name, a repeated field,
// data after the object) is refused with a code and the field named, and
// no message shows a Go type name.
func TestDecodeJSONStrict(t *testing.T) {
	cases := []struct {
		name, body string
		into       any
		code       string
		field      string
	}{
		{"good", `{"quantity":2}`, &order{}, "", ""},
		{"good with spaces", " \n{ \"quantity\" : 2 }\n ", &order{}, "", ""},
		{"name in another case", `{"Quantity":1}`, &order{}, "unknown_field", "Quantity"},
		{"name in capitals", `{"QUANTITY":1}`, &order{}, "unknown_field", "QUANTITY"},
		{"unknown name", `{"quantity":1,"price":0}`, &order{}, "unknown_field", "price"},
		{"repeated field", `{"quantity":1,"quantity":4}`, &order{}, "duplicate_field", "quantity"},
		{"repeated nested field", `{"admit_per_minute":1,"opens_at":{"a":1,"a":2}}`, &patch{}, "duplicate_field", "opens_at.a"},
		{"trailing object", `{"quantity":1}{"quantity":1}`, &order{}, "invalid_json", ""},
		{"trailing brace", `{"quantity":1}}`, &order{}, "invalid_json", ""},
		{"trailing garbage", `{"quantity":1} x`, &order{}, "invalid_json", ""},
		{"cut short", `{"quantity":`, &order{}, "invalid_json", ""},
		{"not an object", `[1]`, &order{}, "invalid_json", ""},
		{"form encoding", `quantity=1`, &order{}, "invalid_json", ""},
		{"empty", ``, &order{}, "invalid_json", ""},
		{"string for a number", `{"quantity":"1"}`, &order{}, "invalid_type", "quantity"},
		{"fraction for a whole number", `{"quantity":1.5}`, &order{}, "invalid_type", "quantity"},
		{"number for a flag", `{"paused":1}`, &patch{}, "invalid_type", "paused"},
		{"bad time", `{"when":"tomorrow"}`, &patch{}, "invalid_type", "when"},
		{"list of strings", `{"tags":["a","b"]}`, &patch{}, "", ""},
		{"list of the wrong kind", `{"tags":[1]}`, &patch{}, "invalid_type", "tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Unmarshal([]byte(tc.body), tc.into)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var be *BodyError
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want a BodyError %s", err, tc.code)
			}
			if be.Code != tc.code || be.Field != tc.field || be.Status != http.StatusBadRequest {
				t.Fatalf("got code %q field %q status %d (%s), want %q %q 400", be.Code, be.Field, be.Status, be.Message, tc.code, tc.field)
			}
			for _, leak := range []string{"Go ", "struct", "httpx.", "int64", "*"} {
				if strings.Contains(be.Message, leak) {
					t.Fatalf("message %q shows %q", be.Message, leak)
				}
			}
		})
	}
}

// A body over the limit is 413, whatever it holds.
func TestDecodeJSONLimit(t *testing.T) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"quantity":1,`+strings.Repeat(" ", 2048)+`}`))
	err := DecodeJSON(httptest.NewRecorder(), r, 1024, &order{})
	var be *BodyError
	if !errors.As(err, &be) || be.Status != http.StatusRequestEntityTooLarge || be.Code != "body_too_large" {
		t.Fatalf("got %v", err)
	}
}

// The strict reader never panics, and whatever it accepts encoding/json
// reads the same way.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"quantity":2}`, `{"Quantity":1}`, `{"quantity":1,"quantity":2}`, `{"opens_at":{"a":[{"b":1}]}}`, `{} x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var p patch
		if err := Unmarshal([]byte(body), &p); err != nil {
			var be *BodyError
			if !errors.As(err, &be) || be.Code == "" {
				t.Fatalf("error %v is not a BodyError with a code", err)
			}
			return
		}
		var loose patch
		if err := json.Unmarshal([]byte(body), &loose); err != nil {
			t.Fatalf("strict accepted what encoding/json refuses: %q: %v", body, err)
		}
	})
}

// Only the configured secret passes, by bearer token or (when allowed) the
// Basic password.
func TestTokenMatcher(t *testing.T) {
	m := NewTokenMatcher("s3cret")
	for _, tc := range []struct {
		auth  string
		basic bool
		want  bool
	}{
		{"Bearer s3cret", false, true},
		{"bearer s3cret", false, true},
		{"Bearer s3cre", false, false},
		{"Bearer ", false, false},
		{"", false, false},
		{"Basic " + basic("op", "s3cret"), true, true},
		{"Basic " + basic("op", "s3cret"), false, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := m.Match(BearerToken(r, tc.basic)); got != tc.want {
			t.Errorf("%q basic=%t: %t, want %t", tc.auth, tc.basic, got, tc.want)
		}
	}
}

func basic(user, pw string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
