package ticketd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/waitroom/waitroom/token"
)

// Defaults are SPEC's, and every bad setting is reported on one line naming
// its variable.
func TestLoadConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "pass.pub")
	if err := os.WriteFile(keyFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; empty = valid
	}{
		{"defaults with a secret", map[string]string{"TICKETD_PASS_SECRET": secret}, nil},
		{"jwks", map[string]string{"TICKETD_PASS_JWKS_URL": "http://127.0.0.1:8080/_waitroom/jwks.json"}, nil},
		{"key file", map[string]string{"TICKETD_PASS_KEY_FILE": keyFile, "TICKETD_DATABASE_URL": "postgres://u@127.0.0.1/db"}, nil},
		{"no pass source", map[string]string{}, []string{"TICKETD_PASS_JWKS_URL"}},
		{"two pass sources", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_PASS_KEY_FILE": keyFile}, []string{"only one"}},
		{"short secret", map[string]string{"TICKETD_PASS_SECRET": "short"}, []string{"TICKETD_PASS_SECRET"}},
		{"missing key file", map[string]string{"TICKETD_PASS_KEY_FILE": "/nonexistent/key.pem"}, []string{"TICKETD_PASS_KEY_FILE"}},
		{"jwks not http", map[string]string{"TICKETD_PASS_JWKS_URL": "file:///etc/passwd"}, []string{"TICKETD_PASS_JWKS_URL"}},
		{"bad database", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DATABASE_URL": "mysql://x"}, []string{"TICKETD_DATABASE_URL"}},
		{"empty sqlite path", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DATABASE_URL": "sqlite://"}, []string{"TICKETD_DATABASE_URL"}},
		{"pool not a number", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DB_MAX_CONNS": "many"}, []string{"TICKETD_DB_MAX_CONNS"}},
		{"pool zero", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_DB_MAX_CONNS": "0"}, []string{"TICKETD_DB_MAX_CONNS"}},
		{"seed not a bool", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_SEED_DEMO": "maybe"}, []string{"TICKETD_SEED_DEMO"}},
		{"log format", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_LOG_FORMAT": "xml"}, []string{"TICKETD_LOG_FORMAT"}},
		{"listen", map[string]string{"TICKETD_PASS_SECRET": secret, "TICKETD_LISTEN": "8081"}, []string{"TICKETD_LISTEN"}},
		{"several at once", map[string]string{"TICKETD_DB_MAX_CONNS": "0", "TICKETD_PASS_SECRET": "x"}, []string{"TICKETD_DB_MAX_CONNS", "TICKETD_PASS_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(env.Options{Environment: tt.env})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.Listen != ":8081" || c.DBMaxConns != 16 || c.SeedDemo {
					t.Fatalf("defaults %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "TICKETD_") {
					t.Fatalf("line %q does not start with its variable", line)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

// A database password never appears in a config error.
func TestConfigErrorHidesPassword(t *testing.T) {
	err := Config{Listen: ":1", DatabaseURL: "mysql://u:hunter2@h/db", DBMaxConns: 1, PassSecret: strings.Repeat("s", 32), LogFormat: "json", LogLevel: "info"}.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	u := Usage()
	for _, v := range []string{"TICKETD_LISTEN", "TICKETD_DATABASE_URL", "TICKETD_DB_MAX_CONNS", "TICKETD_PASS_JWKS_URL", "TICKETD_PASS_KEY_FILE", "TICKETD_PASS_SECRET", "TICKETD_ADMIN_TOKEN", "TICKETD_SEED_DEMO", "TICKETD_LOG_FORMAT"} {
		if !strings.Contains(u, v) {
			t.Errorf("usage lacks %s", v)
		}
	}
}

// DefaultConfig plus a verifier is a valid in-process configuration.
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Listen != ":8081" || c.DatabaseURL != "sqlite://ticketd.db" || c.DBMaxConns != 16 || c.LogFormat != "json" {
		t.Fatalf("defaults %+v", c)
	}
	c.Verifier = token.NewEd25519Verifier()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
