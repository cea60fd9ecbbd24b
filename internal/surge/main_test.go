package surge

import (
	"os"
	"testing"

	"github.com/waitroom/waitroom/internal/testenv"
)

// TestMain removes the binaries built once for the tests that start them.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}
