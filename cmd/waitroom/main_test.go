package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var ansiEscape = regexp.MustCompile("\x1b\\[")

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

// Logs on a terminal keep their colours; anywhere else (a file, a pipe, a
// buffer) they are plain text.
func TestLogColourOnlyOnATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []io.Writer{f, &buf} {
		log := newLogger("console", "info", w)
		log.Warn().Msg("hello")
	}
	got, _ := os.ReadFile(f.Name())
	for name, s := range map[string]string{"file": string(got), "buffer": buf.String()} {
		if ansiEscape.MatchString(s) || !strings.Contains(s, "WRN hello") {
			t.Errorf("%s: %q, want a plain WRN line", name, s)
		}
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Error("/dev/tty is not taken for a terminal")
		}
	}
}
