//go:build !linux

package wrapper

// newChunkBuf returns a zeroed buffer of size bytes, of the Go heap.
func newChunkBuf(size int) []byte { return make([]byte, size) }
