package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dirNames lists dir's entries by name, so a test can see what a write left
// behind.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteWrites(t *testing.T) {
	cases := []struct {
		name   string
		before []byte // nil: no file yet
		data   []byte
	}{
		{name: "creates", data: []byte(`{"version":1}`)},
		{name: "replaces a longer file", before: bytes.Repeat([]byte("x"), 4096), data: []byte(`{"version":1}`)},
		{name: "replaces a shorter file", before: []byte("x"), data: bytes.Repeat([]byte("y"), 4096)},
		{name: "writes an empty file", before: []byte("x"), data: []byte{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if tc.before != nil {
				require.NoError(t, os.WriteFile(path, tc.before, 0o644))
			}
			require.NoError(t, Write(path, tc.data, 0o600))

			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.data, got)
			assert.Equal(t, []string{"state.json"}, dirNames(t, dir), "no temporary file is left behind")
			fi, err := os.Stat(path)
			require.NoError(t, err)
			want := os.FileMode(0o600) // as asked; Windows keeps only a read-only bit, left clear
			if runtime.GOOS == "windows" {
				want = 0o666
			}
			assert.Equal(t, want, fi.Mode().Perm())
		})
	}
}

func TestWriteRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, Write("state.json", []byte("new"), 0o600))
	got, err := os.ReadFile(filepath.Join(dir, "state.json"))
	require.NoError(t, err)
	assert.Equal(t, "new", string(got))
	assert.Equal(t, []string{"state.json"}, dirNames(t, dir))
}

func TestWriteFailureLeavesNoTrace(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		err := Write(filepath.Join(dir, "absent", "state.json"), []byte("new"), 0o600)
		require.Error(t, err)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Empty(t, dirNames(t, dir))
	})
	t.Run("rename refused", func(t *testing.T) {
		// A non-empty directory where the file should go: every platform
		// refuses to rename a file over it, after the temporary file was
		// written. The directory must survive and the temporary file must go.
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		require.NoError(t, os.Mkdir(path, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(path, "keep"), []byte("old"), 0o600))

		require.Error(t, Write(path, []byte("new"), 0o600))
		assert.Equal(t, []string{"state.json"}, dirNames(t, dir), "the temporary file is removed")
		kept, err := os.ReadFile(filepath.Join(path, "keep"))
		require.NoError(t, err)
		assert.Equal(t, "old", string(kept))
	})
}

// TestWriteFileAtomicReadersSeeWholeFiles replaces a file many times while
// other goroutines read it: every read must return one of the versions
// whole. A plain os.WriteFile (truncate, then write) fails this test with
// empty or short reads.
func TestWriteReadersSeeWholeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	versions := [][]byte{bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 96<<10)}
	require.NoError(t, Write(path, versions[0], 0o600))

	const writes = 50
	done := make(chan struct{})
	var wg sync.WaitGroup
	torn := make(chan int, 4)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := os.ReadFile(path)
				if err != nil || (!bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1])) {
					select {
					case torn <- len(got):
					default:
					}
				}
			}
		})
	}
	for i := range writes {
		require.NoError(t, Write(path, versions[i%2], 0o600))
	}
	close(done)
	wg.Wait()
	close(torn)
	for n := range torn {
		assert.Fail(t, "a reader saw a partial file", "%d bytes", n)
	}
}
