//go:build unix

package batch

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWalkSpecial checks that a named pipe met while walking is left out,
// not read (reading it would wait forever), and that one named as an
// argument is refused.
func TestWalkSpecial(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{"a.mp4": 10})
	fifo := filepath.Join(root, "pipe.mp4")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	res, err := Walk([]string{root}, PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.mp4"}, planKeys(res.Files))
	assert.Equal(t, []LeftOut{{Path: fifo, Reason: ReasonSpecial}}, res.LeftOut)
	assert.NoError(t, res.Err())

	_, err = Walk([]string{fifo}, PlanOptions{})
	assert.EqualError(t, err, "avupload: invalid input: "+fifo+" is neither a regular file nor a directory")
}
