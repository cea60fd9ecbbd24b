package web

import (
	"regexp"
	"strings"
	"testing"
)

// Lang picks the visitor's language by q-value, ignores what it cannot
// read, and falls back to English.
func TestLang(t *testing.T) {
	tests := []struct {
		header, want string
	}{
		{"", "en"},
		{"ko", "ko"},
		{"ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"},
		{"en-US,en;q=0.9,ko;q=0.8", "en"},
		{"fr-FR,fr;q=0.9", "en"},
		{"fr;q=1, ko;q=0.5", "ko"},
		{"en;q=0.2, ko;q=0.8", "ko"},
		{"KO-kr", "ko"},
		{"ko;q=0", "en"},
		{"en;q=0, ko;q=0.1", "ko"},
		{"en, ko", "en"},       // a tie goes to the first listed
		{"ko , en", "ko"},      // whitespace
		{"*", "en"},            // any language: the default
		{"en;q=0.1, *", "ko"},  // anything but English is preferred
		{"ko;q=bad, en", "en"}, // a malformed entry is ignored
		{"ko;q=2", "en"},       // q out of range is malformed
		{"ko;level=1", "en"},   // unknown parameter: ignored
		{";;;,,,", "en"},
		{strings.Repeat("x", 5000) + ",ko", "en"}, // only the first KiB is read
		{strings.Repeat("de;q=0.1,", 200), "en"},
	}
	for _, tt := range tests {
		if got := Lang(tt.header); got != tt.want {
			t.Errorf("Lang(%.40q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

// Every string shown to visitors exists, non-empty, in every language, with
// the same placeholders, so a Korean visitor never sees an English gap.
func TestCatalogsComplete(t *testing.T) {
	checkCatalogs(t, messages, "{n}", "{t}", "{h}", "{m}")
	en := messages["en"]
	for _, state := range []string{"prequeue", "queued", "paused", "closed", "admitted"} {
		for _, prefix := range []string{"heading_", "lead_", "state_"} {
			if en[prefix+state] == "" {
				t.Errorf("no %s%s", prefix, state)
			}
		}
	}
}

func FuzzLang(f *testing.F) {
	for _, s := range []string{"", "ko-KR,ko;q=0.9", "en;q=0.1, *", "ko;q=", ";q=1", "*;q=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := Lang(header); got != "en" && got != "ko" {
			t.Fatalf("Lang(%q) = %q", header, got)
		}
	})
}

// The dashboard's catalogs have the same keys and placeholders in every
// language, and hold every key its page and script use.
func TestDashboardCatalogs(t *testing.T) {
	checkCatalogs(t, dashboardMessages, "{n}", "{t}", "{room}", "{what}")
	en := dashboardMessages["en"]
	js, err := embedded.ReadFile("files/dashboard.js")
	if err != nil {
		t.Fatal(err)
	}
	html, err := embedded.ReadFile("files/dashboard.html")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bt\('([a-z_]+)'\s*[,)]`).FindAllStringSubmatch(string(js), -1) {
		used[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\{\{index \.T "([a-z_]+)"\}\}`).FindAllStringSubmatch(string(html), -1) {
		used[m[1]] = true
	}
	for _, state := range []string{"queued", "prequeue", "paused", "closed"} {
		used["state_"+state] = true // t('state_' + state)
	}
	if len(used) < 30 {
		t.Fatalf("found only %d keys in use: the patterns above no longer match the page", len(used))
	}
	for key := range used {
		if en[key] == "" {
			t.Errorf("the dashboard uses %q, which the catalog lacks", key)
		}
	}
}

// checkCatalogs: every language has every English key, non-empty, with the
// same placeholders.
func checkCatalogs(t *testing.T, catalogs map[string]map[string]string, placeholders ...string) {
	t.Helper()
	en := catalogs["en"]
	for _, lang := range languages {
		cat, ok := catalogs[lang]
		if !ok {
			t.Fatalf("no catalog for %q", lang)
		}
		if len(cat) != len(en) {
			t.Errorf("%s has %d strings, en has %d", lang, len(cat), len(en))
		}
		for key, enText := range en {
			s := cat[key]
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s: %q is missing", lang, key)
				continue
			}
			for _, ph := range placeholders {
				if strings.Contains(enText, ph) != strings.Contains(s, ph) {
					t.Errorf("%s: %q placeholders differ from en: %q vs %q", lang, key, s, enText)
				}
			}
		}
	}
}
