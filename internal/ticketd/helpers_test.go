package ticketd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/token"
)

const testAdminToken = "test-admin-token"

// backend is one ticketd under test on a real listener, with the gateway's
// signer that makes its passes.
type backend struct {
	srv    *Server
	http   *httptest.Server
	signer *token.Signer
	client *http.Client
}

// databases are the stores every store-level test runs against.
var databases = []string{"sqlite", "postgres"}

// databaseURL returns a fresh database of the given kind for this test.
func databaseURL(t testing.TB, kind string) string {
	t.Helper()
	switch kind {
	case "sqlite":
		return "sqlite://" + filepath.Join(t.TempDir(), "ticketd.db")
	case "postgres":
		return testenv.Postgres(t)
	}
	t.Fatalf("unknown database %q", kind)
	return ""
}

func newBackend(t testing.TB, kind string, mutate ...func(*Config)) *backend {
	t.Helper()
	key, err := token.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	signer := mustEd(key)
	cfg := Config{
		Listen:      "127.0.0.1:0",
		DatabaseURL: databaseURL(t, kind),
		DBMaxConns:  16,
		AdminToken:  testAdminToken,
		LogFormat:   "json",
		LogLevel:    "info",
		Verifier:    signer.Verifier(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 1024
	return &backend{srv: srv, http: hs, signer: signer, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// createEvent makes an event through the admin API and returns its id.
func (b *backend) createEvent(t testing.TB, name, room string, total int) int64 {
	t.Helper()
	status, body := b.do(t, "POST", "/admin/events", map[string]string{"Authorization": "Bearer " + testAdminToken},
		map[string]any{"name": name, "room": room, "total": total, "price": 50000, "starts_at": "2026-12-24T19:00:00+09:00"})
	if status != http.StatusCreated {
		t.Fatalf("create event: %d %s", status, body)
	}
	var out struct{ ID int64 }
	if err := json.Unmarshal(body, &out); err != nil || out.ID == 0 {
		t.Fatalf("create event: %s", body)
	}
	return out.ID
}

// pass signs a fresh pass for a new visitor of room, in a session of its
// own (a new admission).
func (b *backend) pass(t testing.TB, room string) string {
	t.Helper()
	return b.sessionPass(t, room, "visitor-"+testenv.RandomID(6), "session-"+testenv.RandomID(8))
}

// sessionPass signs another pass of the admission session sid (a renewal,
// or a re-issue to a visitor who asked again), with a jti of its own.
func (b *backend) sessionPass(t testing.TB, room, visitor, sid string) string {
	t.Helper()
	tok, _, err := b.signer.Sign(time.Now(), visitor, room, sid, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// buy posts an order with the pass in the Waitroom-Pass header.
func (b *backend) buy(t testing.TB, event int64, pass string, quantity int) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", b.http.URL+"/api/events/"+itoa(event)+"/orders",
		bytes.NewReader(mustJSON(map[string]int{"quantity": quantity})))
	req.Header.Set("Content-Type", "application/json")
	if pass != "" {
		req.Header.Set(token.HeaderPass, pass)
	}
	return b.send(t, req)
}

func (b *backend) do(t testing.TB, method, path string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(mustJSON(body))
	}
	req, _ := http.NewRequest(method, b.http.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	status, out, _ := b.send(t, req)
	return status, out
}

func (b *backend) send(t testing.TB, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header
}

// event reads an event straight from the database, past the cache.
func (b *backend) event(t testing.TB, id int64) Event {
	t.Helper()
	e, err := b.srv.store.Event(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func errorCode(body []byte) string {
	var e struct{ Error string }
	_ = json.Unmarshal(body, &e)
	return e.Error
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// testLogger shows the server's warnings and errors in the test output.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// mustEd is token.NewEd25519Signer for keys the test made.
func mustEd(keys ...ed25519.PrivateKey) *token.Signer {
	s, err := token.NewEd25519Signer(keys...)
	if err != nil {
		panic(err)
	}
	return s
}
