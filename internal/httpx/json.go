package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
)

// WriteJSON writes v as the JSON body of a response with status code.
// Answers about a visitor or an operator's data are never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// BodyError is why a request body was refused.
type BodyError struct {
	// Status is the HTTP status to answer: 400, 413 (too large) or 415
	// (not JSON).
	Status int
	// Code is a stable label a client can switch on: "invalid_json",
	// "unknown_field", "duplicate_field", "invalid_type", "body_too_large"
	// or "invalid_content_type".
	Code string
	// Field is the field at fault ("" when the body as a whole is).
	Field string
	// Message says what is wrong, for humans.
	Message string
}

func (e *BodyError) Error() string { return e.Message }

// IsJSON reports whether the request declares a JSON body
// (Content-Type: application/json, any parameters). A browser cannot send
// that type cross-site without a CORS preflight, so APIs that insist on it
// cannot be driven by another site's form.
func IsJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// DecodeJSON reads r's body, at most limit bytes, into v (a pointer to a
// struct), strictly (see the package documentation).
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &BodyError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("body is larger than %d bytes", limit)}
		}
		return &BodyError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "body could not be read"}
	}
	return Unmarshal(data, v)
}

// Unmarshal decodes data into v (a pointer to a struct) strictly.
func Unmarshal(data []byte, v any) error {
	if err := checkShape(data, fieldsOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		be := decodeError(err)
		if be.Code == "invalid_type" && be.Field == "" {
			be.Field = badTimeField(data, v)
		}
		return be
	}
	return nil
}

// badTimeField names the top-level time field of v whose value in data
// does not parse (encoding/json's time error does not say which).
func badTimeField(data []byte, v any) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return ""
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if f.Type != reflect.TypeFor[time.Time]() || raw[name] == nil {
			continue
		}
		var tm time.Time
		if json.Unmarshal(raw[name], &tm) != nil {
			return name
		}
	}
	return ""
}

func bad(code, field, format string, a ...any) *BodyError {
	return &BodyError{Status: http.StatusBadRequest, Code: code, Field: field, Message: fmt.Sprintf(format, a...)}
}

// checkShape walks the tokens of data: one object whose top-level names are
// exactly among fields, no name twice in any object, nothing after it.
func checkShape(data []byte, fields map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return bad("invalid_json", "", "body must be one JSON object")
	}
	if err := walkObject(dec, fields, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("invalid_json", "", "body must hold exactly one JSON object, with nothing after it")
	}
	return nil
}

// walkObject reads an object's members after its '{'. fields, when not
// nil, are the names allowed (top level only).
func walkObject(dec *json.Decoder, fields map[string]bool, path string) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		name, _ := tok.(string)
		field := path + name
		if seen[name] {
			return bad("duplicate_field", field, "field %q appears more than once", field)
		}
		seen[name] = true
		if fields != nil && !fields[name] {
			return bad("unknown_field", field, "unknown field %q (field names are case-sensitive; allowed: %s)", field, list(fields))
		}
		if err := walkValue(dec, field+"."); err != nil {
			return err
		}
	}
}

func walkValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, nil, path)
	case '[':
		for dec.More() {
			if err := walkValue(dec, path); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return syntaxError(err)
	}
	return nil
}

func syntaxError(err error) error {
	switch {
	case err == nil:
		return nil
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return bad("invalid_json", "", "body is not complete JSON")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return bad("invalid_json", "", "body is not valid JSON (at byte %d)", se.Offset)
	}
	return bad("invalid_json", "", "body is not valid JSON")
}

// decodeError words an encoding/json error for a client.
func decodeError(err error) *BodyError {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te):
		return bad("invalid_type", te.Field, "field %q must be %s", te.Field, kindWords(te.Type))
	case errors.As(err, &pe):
		return bad("invalid_type", "", "a time must be RFC 3339, e.g. 2026-12-01T10:00:00+09:00")
	}
	return bad("invalid_json", "", "body is not valid JSON")
}

// kindWords says what a Go type is in JSON terms.
func kindWords(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time string"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

// fieldsOf lists the JSON names of the struct v points to.
func fieldsOf(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = true
	}
	return out
}

func list(fields map[string]bool) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
