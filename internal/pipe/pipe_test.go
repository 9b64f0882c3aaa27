package pipe

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWiden(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	// Only Linux sizes a pipe's buffer; elsewhere Widen says it did not.
	want := runtime.GOOS == "linux"
	assert.Equal(t, want, Widen(r), "the read end of a pipe")
	assert.Equal(t, want, Widen(r), "a pipe widened already")
	assert.Equal(t, want, Widen(w), "the write end, the same pipe")

	// The pipe still carries bytes, both ways of the buffer's size.
	data := make([]byte, 3*Size/2)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		_, _ = w.Write(data)
		_ = w.Close()
	}()
	got := make([]byte, len(data))
	_, err = io.ReadFull(r, got)
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

func TestWidenLeavesOtherFiles(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "clip.mp4"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, Widen(f), "a regular file")
	assert.False(t, Widen(nil), "no file")
	require.NoError(t, f.Close())
	assert.False(t, Widen(f), "a closed file")
}
