//go:build unix

package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAssembleJoinsChunksInOrder joins more chunks than the process may
// keep files open, in memory and on disk, and reads the source back: same
// bytes, same hash; the chunk files must be opened one at a time.
func TestAssembleJoinsChunksInOrder(t *testing.T) {
	var limit syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit))
	lowered := limit
	lowered.Cur = 512
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered))
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit) })

	dir, err := newDirStorage(t.TempDir(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for name, st := range map[string]storage{"memory": newMemStorage(1 << 30), "directory": dir} {
		t.Run(name, func(t *testing.T) {
			const chunks = 1500
			var want bytes.Buffer
			parts := make([]blob, 0, chunks)
			for i := range chunks {
				data := fmt.Appendf(nil, "chunk %04d;", i)
				want.Write(data)
				b, n, _, err := st.spool(bytes.NewReader(data), -1)
				require.NoError(t, err)
				require.Equal(t, int64(len(data)), n)
				b, err = st.keep("vi1", fmt.Sprintf("part-%d", i), b)
				require.NoError(t, err)
				parts = append(parts, b)
			}

			src := concatBlob(parts)
			sum, err := hashBlob(src)
			require.NoError(t, err)
			wantSum := sha256.Sum256(want.Bytes())
			assert.Equal(t, hex.EncodeToString(wantSum[:]), sum)
			assert.Equal(t, int64(want.Len()), src.size())

			rc, err := src.open()
			require.NoError(t, err)
			got, err := io.ReadAll(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			assert.Equal(t, want.Bytes(), got)
		})
	}
}
