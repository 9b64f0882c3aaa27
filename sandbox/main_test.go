package sandbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: servers, stalls
// and cut connections must all wind down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
