//go:build linux

package batch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadRawPaths checks that two files whose names differ only
// in bytes that are not UTF-8 (which Linux allows, unlike macOS and
// Windows) keep apart in the journal: three runs upload each once.
func TestUploadRawPaths(t *testing.T) {
	env := newUploadEnv(t)
	root := t.TempDir()
	names := []string{"clip\xff.mp4", "clip\xfe.mp4"}
	for i, name := range names {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), testData(int64(1000+i), uint64(i+1)), 0o600))
	}
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	require.Len(t, files, 2)
	sums := fileSums(t, files)
	dir := t.TempDir()
	for run := range 3 {
		j, err := OpenJournal(dir)
		require.NoError(t, err)
		var col collect
		res, err := Upload(t.Context(), env.client, files, batchOpts(j, env.token, &col))
		require.NoError(t, err)
		require.NoError(t, j.Close())
		if run == 0 {
			assert.Equal(t, 2, res.Uploaded)
		} else {
			assert.Equal(t, 2, res.Skipped, "run %d skips both", run+1)
		}
		for _, f := range files {
			assert.Equal(t, f.Path, col.got[f.Path].File.Path, "the path is kept byte for byte")
		}
	}
	bySum := completeBySum(env.srv.Sandbox)
	for path, sum := range sums {
		assert.Equal(t, 1, bySum[sum], "%q is uploaded once", path)
	}
}
