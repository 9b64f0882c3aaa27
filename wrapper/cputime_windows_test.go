//go:build windows

package wrapper

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// processCPU is the CPU time (user + kernel) the process used so far.
func processCPU(t testing.TB) time.Duration {
	var created, exited, kernel, user syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	require.NoError(t, err)
	require.NoError(t, syscall.GetProcessTimes(h, &created, &exited, &kernel, &user))
	// A Filetime counts 100 ns intervals.
	ticks := func(f syscall.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration(ticks(kernel)+ticks(user)) * 100
}
