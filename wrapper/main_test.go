package wrapper

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (a retry loop, an
// upload worker, an HTTP connection) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
