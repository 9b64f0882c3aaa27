//go:build long

package e2e

import "testing"

// The crash runs of `make test-long`: nine chunks, the last one short,
// killed at twenty random points.
const (
	crashSize = 40<<20 + 12345
	crashRuns = 20
)

// TestLongCrashResume is TestCrashResume at full size.
func TestLongCrashResume(t *testing.T) { TestCrashResume(t) }
