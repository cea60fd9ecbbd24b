package main

import (
	"bytes"
	"strings"
	"testing"
)

// -h lists every variable; a bad configuration is one line on stderr and
// exit code 2.
func TestUsageAndConfigErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	for _, v := range []string{"WAITROOM_ORIGIN", "WAITROOM_REDIS_URL", "WAITROOM_FAIL_MODE", "WAITROOM_TRUSTED_PROXIES", "WAITROOM_PASS_THROUGH"} {
		if !strings.Contains(errb.String(), v) {
			t.Errorf("usage lacks %s", v)
		}
	}
	t.Setenv("WAITROOM_ORIGIN", "")
	t.Setenv("WAITROOM_MAX_ACTIVE", "many")
	errb.Reset()
	if code := run(nil, &out, &errb); code != 2 {
		t.Fatalf("bad config exit %d, want 2", code)
	}
	msg := strings.TrimSuffix(errb.String(), "\n")
	if !strings.Contains(msg, "WAITROOM_MAX_ACTIVE") || !strings.Contains(msg, "WAITROOM_ORIGIN") {
		t.Fatalf("stderr %q: want the variables named", errb.String())
	}
	for _, line := range strings.Split(strings.TrimPrefix(msg, "waitroom: "), "\n") {
		if !strings.HasPrefix(line, "WAITROOM_") {
			t.Fatalf("stderr line %q does not name its variable", line)
		}
	}
	if code := run([]string{"bogus"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
