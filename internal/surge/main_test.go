package surge

import (
	"os"
	"testing"
)

// TestMain removes the binaries built once for the tests that start them.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
