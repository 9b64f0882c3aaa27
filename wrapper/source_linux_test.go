//go:build linux

package wrapper

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/pipe"
)

// TestReaderWidensItsPipe checks that a Reader of an *os.File pipe has the
// pipe's buffer widened when an upload opens it.
func TestReaderWidensItsPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	defer pw.Close()
	size := func() int {
		n, err := pipe.BufferSize(pr)
		require.NoError(t, err)
		return n
	}
	require.Less(t, size(), pipe.Size, "a new pipe")
	_, err = Reader(pr, -1).open()
	require.NoError(t, err)
	assert.Equal(t, pipe.Size, size(), "the pipe once opened")
}
