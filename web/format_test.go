package web

import "testing"

// The page navigates, polls and connects only on its own site, whatever URL
// the gateway hands in.
func TestSameSiteURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/events/42?seat=A1", "/events/42?seat=A1"},
		{"/", "/"},
		{"", "/"},
		{"javascript:alert(1)", "/"},
		{"JaVaScRiPt:alert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"//evil.example/steal", "/steal"},
		{"///evil.example", "/evil.example"},
		{"/\\evil.example", "/%5Cevil.example"},
		{"https://evil.example/x?y=1", "/x?y=1"},
		{"http://[::1", "/"},
		{"events/42", "/events/42"},
		{"/a b", "/a%20b"},
		{"/x\"><script>", "/x%22%3E%3Cscript%3E"},
	}
	for _, tt := range tests {
		if got := sameSiteURL(tt.in); got != tt.want {
			t.Errorf("sameSiteURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The wait is said in words a visitor understands, rounding up.
func TestETAText(t *testing.T) {
	en, ko := messages["en"], messages["ko"]
	tests := []struct {
		cat     map[string]string
		state   string
		seconds int64
		want    string
	}{
		{en, "queued", -1, "Calculating…"},
		{en, "queued", 0, "Under a minute"},
		{en, "queued", 59, "Under a minute"},
		{en, "queued", 61, "About 2 min"},
		{en, "queued", 3600, "About 1 h 0 min"},
		{en, "queued", 5430, "About 1 h 31 min"},
		{en, "paused", 100, "On hold"},
		{en, "closed", 100, "Calculating…"},
		{ko, "queued", 95, "약 2분"},
		{ko, "queued", 7200, "약 2시간 0분"},
	}
	for _, tt := range tests {
		if got := etaText(tt.cat, tt.state, tt.seconds); got != tt.want {
			t.Errorf("etaText(%s, %d) = %q, want %q", tt.state, tt.seconds, got, tt.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := number(in); got != want {
			t.Errorf("number(%d) = %q, want %q", in, got, want)
		}
	}
}
