package gateway_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"github.com/caarlos0/env/v11"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/gateway"
	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/queue"
	"github.com/waitroom/waitroom/token"
)

// writeKey writes a fresh Ed25519 key as PEM and returns its path and kid.
func writeKey(t *testing.T, dir, name string) (path, kid string) {
	t.Helper()
	key, err := token.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := token.MarshalEd25519PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, token.KeyID(key.Public().(ed25519.PublicKey))
}

// passKID is the kid in a pass's JOSE header.
func passKID(t *testing.T, pass string) string {
	t.Helper()
	head, _, _ := strings.Cut(pass, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("pass header %q: %v", head, err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

// A key rotation (WAITROOM_PASS_KEY_FILE=old.pem,new.pem) keeps passes
// signed with the old key valid across the restart, signs new passes with
// the new key and publishes both keys in the JWK Set.
func TestPassKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldPath, oldKID := writeKey(t, dir, "old.pem")
	newPath, newKID := writeKey(t, dir, "new.pem")
	rdb, prefix := testenv.Redis(t)
	rooms := []queue.Room{room("k", 600, 100, "/k/*")}
	withKeys := func(files string) func(*gateway.Config) {
		return func(c *gateway.Config) { c.PassSecret = ""; _ = c.PassKeyFile.UnmarshalText([]byte(files)) }
	}

	before := newRig(t, rigOpts{rdb: rdb, prefix: prefix, rooms: rooms, mutate: withKeys(oldPath)})
	holder := newBrowser(t)
	if res, _ := holder.get(before.pub.URL+"/k/x", false); res.StatusCode != http.StatusOK {
		t.Fatalf("holder not admitted: %d", res.StatusCode)
	}
	oldPass := holder.cookie(before.pub.URL, token.CookieName("k"))
	if got := passKID(t, oldPass); got != oldKID {
		t.Fatalf("pass before rotation has kid %q, want the old key's %q", got, oldKID)
	}

	after := newRig(t, rigOpts{rdb: rdb, prefix: prefix, rooms: rooms, origin: before.origin,
		mutate: withKeys(oldPath + ", " + newPath)})
	res, _ := holder.get(after.pub.URL+"/k/y", false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("old pass after rotation: %d, want 200", res.StatusCode)
	}
	got := before.origin.requests()
	if last := got[len(got)-1]; last.Header.Get(token.HeaderPass) != oldPass {
		t.Fatal("the origin did not receive the old pass as it was: the gateway refused or replaced it")
	}

	newcomer := newBrowser(t)
	if res, _ := newcomer.get(after.pub.URL+"/k/x", false); res.StatusCode != http.StatusOK {
		t.Fatalf("newcomer not admitted: %d", res.StatusCode)
	}
	if kid := passKID(t, newcomer.cookie(after.pub.URL, token.CookieName("k"))); kid != newKID {
		t.Fatalf("new pass has kid %q, want the new key's %q", kid, newKID)
	}

	_, body := newBrowser(t).get(after.pub.URL+"/_waitroom/jwks.json", false)
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("JWKS %q: %v", body, err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	if len(kids) != 2 || !kids[oldKID] || !kids[newKID] {
		t.Fatalf("JWKS lists %v, want both %s and %s", kids, oldKID, newKID)
	}
}

// A key list with an empty name or a missing file is refused at start.
func TestPassKeyFileValidation(t *testing.T) {
	dir := t.TempDir()
	a, _ := writeKey(t, dir, "a.pem")
	cases := []struct{ files, want string }{
		{a + ",", "has no name"},
		{a + ",," + a, "has no name"},
		{a + "," + filepath.Join(dir, "missing.pem"), "missing.pem"},
	}
	for _, c := range cases {
		_, err := gateway.LoadConfig(env.Options{Environment: map[string]string{
			"WAITROOM_ORIGIN": "http://127.0.0.1:8081", "WAITROOM_PASS_KEY_FILE": c.files}})
		if err == nil || !strings.Contains(err.Error(), "WAITROOM_PASS_KEY_FILE") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want WAITROOM_PASS_KEY_FILE and %q", c.files, err, c.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig("http://127.0.0.1:8081")
	cfg.PassKeyFile = []string{a, filepath.Join(dir, "junk.pem")}
	if _, err := gateway.New(t.Context(), cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "junk.pem") {
		t.Fatalf("a file that is not a key: %v, want an error naming junk.pem", err)
	}
}
