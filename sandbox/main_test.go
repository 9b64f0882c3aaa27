package sandbox_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: servers, stalls
// and cut connections must all wind down. A connection the server closes
// after refusing a body it did not read lingers for half a second
// (net/http's closeWriteAndWait) and then ends on its own: not a leak.
//
// Run with AVUPLOAD_SANDBOX_LOCK_HELPER=DIR, the test binary is instead the
// other process of TestDataDirLockedByAnotherProcess.
func TestMain(m *testing.M) {
	if dir := os.Getenv(lockHelperEnv); dir != "" {
		os.Exit(lockHelper(dir))
	}
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}
