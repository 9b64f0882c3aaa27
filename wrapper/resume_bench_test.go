package wrapper

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkResumeCheck measures what a resume of a 1 GiB file costs before
// it sends anything: reading every acknowledged chunk (here all but the
// last, 50 MiB each) and hashing it once, as the chunker's pass does before
// the first chunk goes. The file is in the page cache after the first
// iteration; a cold read adds the disk's time.
//
//	go test -run '^$' -bench BenchmarkResumeCheck -benchtime 5x ./wrapper/
func BenchmarkResumeCheck(b *testing.B) {
	const size = 1 << 30
	path := filepath.Join(b.TempDir(), "big.bin")
	f, err := os.Create(path)
	require.NoError(b, err)
	_, err = io.CopyN(f, rand.NewChaCha8([32]byte{7}), size)
	require.NoError(b, err)
	require.NoError(b, f.Sync())
	defer func() { _ = f.Close() }()
	lay := layout{DefaultChunkSize, DefaultChunkSize}
	last := int(lay.count(size)) - 2
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		k := newSeekChunker(ctx, f, size, lay, passAhead, nil)
		_, err := k.chunkSum(ctx, last)
		k.stop()
		require.NoError(b, err)
	}
}
