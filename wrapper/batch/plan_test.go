package batch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree writes files (slash paths relative to root, with their sizes)
// of deterministic bytes and returns root.
func writeTree(t testing.TB, root string, files map[string]int64) string {
	t.Helper()
	seed := uint64(1)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, testData(files[name], seed), 0o600))
		seed++
	}
	return root
}

func planKeys(files []File) []string {
	var keys []string
	for _, f := range files {
		keys = append(keys, f.ShardKey)
	}
	return keys
}

// TestPlanWalk checks the walk: regular files only, recursively, in
// lexical order, filtered on the base name, each file once, links left
// out unless followed.
func TestPlanWalk(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{
		"a.mp4": 10, "b.mov": 20, "sub/c.mp4": 30, "sub/deep/d.mp4": 40, "sub/.hidden.mp4": 5, "notes.txt": 1,
	})
	other := writeTree(t, t.TempDir(), map[string]int64{"linked/e.mp4": 50})
	if err := os.Symlink(filepath.Join(other, "linked"), filepath.Join(root, "dirlink")); err != nil {
		t.Skipf("this system cannot make symbolic links: %v", err)
	}
	require.NoError(t, os.Symlink(filepath.Join(root, "a.mp4"), filepath.Join(root, "sub", "alias.mp4")))
	require.NoError(t, os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(root, "dangling.mp4")))

	tests := []struct {
		name  string
		paths []string
		opts  PlanOptions
		want  []string
	}{
		{"every regular file", []string{root}, PlanOptions{},
			[]string{"a.mp4", "b.mov", "notes.txt", "sub/.hidden.mp4", "sub/c.mp4", "sub/deep/d.mp4"}},
		{"include", []string{root}, PlanOptions{Include: []string{"*.mp4", "*.mov"}},
			[]string{"a.mp4", "b.mov", "sub/.hidden.mp4", "sub/c.mp4", "sub/deep/d.mp4"}},
		{"exclude wins", []string{root}, PlanOptions{Include: []string{"*.mp4"}, Exclude: []string{".*", "d.*"}},
			[]string{"a.mp4", "sub/c.mp4"}},
		{"links followed, each file once", []string{root}, PlanOptions{FollowSymlinks: true, Include: []string{"*.mp4"}},
			[]string{"a.mp4", "dirlink/e.mp4", "sub/.hidden.mp4", "sub/c.mp4", "sub/deep/d.mp4"}},
		{"a file argument keeps its path", []string{filepath.Join(root, "sub", "c.mp4"), filepath.Join(root, "sub")}, PlanOptions{Exclude: []string{".*"}},
			[]string{filepath.ToSlash(filepath.Join(root, "sub", "c.mp4")), "deep/d.mp4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Plan(tt.paths, tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, planKeys(files))
			for _, f := range files {
				fi, err := os.Stat(f.Path)
				require.NoError(t, err)
				assert.Equal(t, fi.Size(), f.Size, f.Path)
			}
		})
	}
}

// TestPlanRefuses checks the arguments refused before any walk.
func TestPlanRefuses(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name  string
		paths []string
		opts  PlanOptions
	}{
		{"no path", nil, PlanOptions{}},
		{"missing path", []string{filepath.Join(root, "missing")}, PlanOptions{}},
		{"bad pattern", []string{root}, PlanOptions{Include: []string{"[a-"}}},
		{"shard above count", []string{root}, PlanOptions{Shard: 3, Shards: 2}},
		{"shard without count", []string{root}, PlanOptions{Shard: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(tt.paths, tt.opts)
			assert.Error(t, err)
		})
	}
}

// TestPlanShards checks that shards 1/N..N/N cover the files exactly
// once, and that adding files moves no file to another shard.
func TestPlanShards(t *testing.T) {
	tree := map[string]int64{}
	for i := range 60 {
		tree[filepath.ToSlash(filepath.Join("d"+string(rune('a'+i%5)), "f"+string(rune('a'+i/5))+".bin"))] = 1
	}
	root := writeTree(t, t.TempDir(), tree)
	all, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	require.Len(t, all, 60)

	const n = 3
	before := map[string]int{}
	var union []string
	for k := 1; k <= n; k++ {
		part, err := Plan([]string{root}, PlanOptions{Shard: k, Shards: n})
		require.NoError(t, err)
		assert.NotEmpty(t, part, "shard %d/%d", k, n)
		for _, f := range part {
			before[f.ShardKey] = k
			union = append(union, f.ShardKey)
		}
	}
	slices.Sort(union)
	assert.Equal(t, planKeys(all), union, "the shards together hold every file exactly once")

	writeTree(t, root, map[string]int64{"new/one.bin": 1, "da/zz.bin": 1, "top.bin": 1})
	for k := 1; k <= n; k++ {
		part, err := Plan([]string{root}, PlanOptions{Shard: k, Shards: n})
		require.NoError(t, err)
		for _, f := range part {
			if was, ok := before[f.ShardKey]; ok {
				assert.Equal(t, was, k, "%s moved shard when files were added", f.ShardKey)
			}
		}
	}
}

// TestPlanSkip checks that the paths to skip, a journal directory
// under the tree above all, are never listed, however they are reached.
func TestPlanSkip(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{
		"a.mp4": 10, "journal/done.jsonl": 20, "journal/states/x": 5, "sub/b.mp4": 30, "sub/skip.mp4": 1,
	})
	if err := os.Symlink(filepath.Join(root, "journal"), filepath.Join(root, "sub", "jlink")); err != nil {
		t.Skipf("this system cannot make symbolic links: %v", err)
	}
	tests := []struct {
		name string
		skip []string
		want []string
	}{
		{"nothing skipped", nil, []string{"a.mp4", "journal/done.jsonl", "journal/states/x", "sub/b.mp4", "sub/skip.mp4"}},
		{"the journal, and a file", []string{filepath.Join(root, "journal"), filepath.Join(root, "sub", "skip.mp4")}, []string{"a.mp4", "sub/b.mp4"}},
		{"the journal through a link", []string{filepath.Join(root, "sub", "jlink")}, []string{"a.mp4", "sub/b.mp4", "sub/skip.mp4"}},
		{"a path that does not exist", []string{filepath.Join(root, "nowhere")}, []string{"a.mp4", "journal/done.jsonl", "journal/states/x", "sub/b.mp4", "sub/skip.mp4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Plan([]string{root}, PlanOptions{FollowSymlinks: true, Skip: tt.skip})
			require.NoError(t, err)
			assert.Equal(t, tt.want, planKeys(files))
		})
	}
	// Relative paths work too.
	t.Chdir(root)
	files, err := Plan([]string{"."}, PlanOptions{Skip: []string{"journal"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.mp4", "sub/b.mp4", "sub/skip.mp4"}, planKeys(files))
}
