package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// server, client pool and upload the tests start must be gone at the end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
