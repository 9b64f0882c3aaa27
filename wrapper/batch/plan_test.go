package batch

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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
// out unless followed, hidden files left out unless named.
func TestPlanWalk(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{
		"a.mp4": 10, "b.mov": 20, "sub/c.mp4": 30, "sub/deep/d.mp4": 40, "sub/.hidden.mp4": 5, "notes.txt": 1,
	})
	other := writeTree(t, t.TempDir(), map[string]int64{"linked/e.mp4": 50})
	require.NoError(t, os.Symlink(filepath.Join(other, "linked"), filepath.Join(root, "dirlink")))
	require.NoError(t, os.Symlink(filepath.Join(root, "a.mp4"), filepath.Join(root, "sub", "alias.mp4")))

	tests := []struct {
		name     string
		paths    []string
		opts     PlanOptions
		want     []string
		excluded int
	}{
		{"every regular file", []string{root}, PlanOptions{},
			[]string{"a.mp4", "b.mov", "notes.txt", "sub/c.mp4", "sub/deep/d.mp4"}, 0},
		{"include", []string{root}, PlanOptions{Include: []string{"*.mp4", "*.mov"}},
			[]string{"a.mp4", "b.mov", "sub/c.mp4", "sub/deep/d.mp4"}, 1},
		{"exclude wins", []string{root}, PlanOptions{Include: []string{"*.mp4"}, Exclude: []string{".*", "d.*"}, IncludeHidden: true},
			[]string{"a.mp4", "sub/c.mp4"}, 4},
		{"links followed, each file once", []string{root}, PlanOptions{FollowSymlinks: true, Include: []string{"*.mp4"}},
			[]string{"a.mp4", "dirlink/e.mp4", "sub/c.mp4", "sub/deep/d.mp4"}, 2},
		{"a file argument keeps its path", []string{filepath.Join(root, "sub", "c.mp4"), filepath.Join(root, "sub")}, PlanOptions{Exclude: []string{".*"}},
			[]string{filepath.ToSlash(filepath.Join(root, "sub", "c.mp4")), "deep/d.mp4"}, 1},
		{"a hidden file named is taken", []string{filepath.Join(root, "sub", ".hidden.mp4")}, PlanOptions{},
			[]string{filepath.ToSlash(filepath.Join(root, "sub", ".hidden.mp4"))}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := Plan(tt.paths, tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, planKeys(files))
			var total int64
			for _, f := range files {
				fi, err := os.Stat(f.Path)
				require.NoError(t, err)
				assert.Equal(t, fi.Size(), f.Size, f.Path)
				total += f.Size
			}
			res, err := Walk(tt.paths, tt.opts)
			require.NoError(t, err)
			assert.Equal(t, files, res.Files, "Plan lists what Walk does")
			assert.Equal(t, total, res.Bytes())
			assert.Equal(t, tt.excluded, res.Excluded, "files left out by the patterns")
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
		res, err := Walk([]string{root}, PlanOptions{Shard: k, Shards: n})
		require.NoError(t, err)
		part := res.Files
		assert.NotEmpty(t, part, "shard %d/%d", k, n)
		assert.Equal(t, len(all), len(part)+res.OtherShard, "shard %d/%d counts the files of the other shards", k, n)
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

// leftOut is a LeftOut in a test's words: its path relative to the tree.
type leftOut struct {
	rel    string
	reason LeftOutReason
	dir    bool
}

func leftOuts(t *testing.T, root string, res *PlanResult) []leftOut {
	t.Helper()
	var got []leftOut
	for _, l := range res.LeftOut {
		rel, err := filepath.Rel(root, l.Path)
		require.NoError(t, err)
		got = append(got, leftOut{filepath.ToSlash(rel), l.Reason, l.Dir})
		assert.Equal(t, l.Reason.Problem(), l.Err != nil, "%s: a problem, and only a problem, has an error", rel)
	}
	return got
}

// unreadableDir makes dir impossible to list: by its permissions where
// they hold (not for root, not on Windows), or else by a directory lister
// that fails for it as the system would. It returns the lister to plan with.
func unreadableDir(t *testing.T, dir string) func(string) ([]fs.DirEntry, error) {
	t.Helper()
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		require.NoError(t, os.Chmod(dir, 0))
		t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
		return os.ReadDir
	}
	return func(name string) ([]fs.DirEntry, error) {
		if name == dir {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return os.ReadDir(name)
	}
}

// TestWalkLeftOut checks what a real library holds beside its videos:
// hidden and system files and folders, the journal, links that lead
// nowhere or in circles, an unreadable folder and an empty file are left
// out, each with its reason, and the walk goes on past them.
func TestWalkLeftOut(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{
		"a.mp4": 10, ".hidden.mp4": 5, ".git/config": 7, ".DS_Store": 6, "._a.mp4": 4,
		"journal/done.jsonl": 3, "locked/x.mp4": 8,
		"sub/b.mp4": 20, "sub/Thumbs.db": 9, "sub/DESKTOP.INI": 2, "sub/empty.mp4": 0,
	})
	link := func(target, name string) {
		require.NoError(t, os.Symlink(target, filepath.Join(root, filepath.FromSlash(name))))
	}
	link(filepath.Join(root, "nowhere.mp4"), "dangling.mp4")
	link("loopb", "loopa")
	link("loopa", "loopb")
	link("..", "sub/up")
	readDir := unreadableDir(t, filepath.Join(root, "locked"))
	skip := []string{filepath.Join(root, "journal")}

	hidden := []leftOut{
		{".DS_Store", ReasonSystem, false}, {"._a.mp4", ReasonSystem, false},
		{".git", ReasonHidden, true}, {".hidden.mp4", ReasonHidden, false},
	}
	tests := []struct {
		name  string
		opts  PlanOptions
		files []string
		left  []leftOut
	}{
		{"links followed", PlanOptions{FollowSymlinks: true, Skip: skip}, []string{"a.mp4", "sub/b.mp4"}, slices.Concat(hidden, []leftOut{
			{"dangling.mp4", ReasonDanglingLink, false},
			{"journal", ReasonJournal, true},
			{"locked", ReasonUnreadable, true},
			{"loopa", ReasonLinkLoop, false}, {"loopb", ReasonLinkLoop, false},
			{"sub/DESKTOP.INI", ReasonSystem, false}, {"sub/Thumbs.db", ReasonSystem, false},
			{"sub/empty.mp4", ReasonEmpty, false},
			{"sub/up", ReasonLinkLoop, true},
		})},
		{"links not followed", PlanOptions{Skip: skip}, []string{"a.mp4", "sub/b.mp4"}, slices.Concat(hidden, []leftOut{
			{"dangling.mp4", ReasonSymlink, false},
			{"journal", ReasonJournal, true},
			{"locked", ReasonUnreadable, true},
			{"loopa", ReasonSymlink, false}, {"loopb", ReasonSymlink, false},
			{"sub/DESKTOP.INI", ReasonSystem, false}, {"sub/Thumbs.db", ReasonSystem, false},
			{"sub/empty.mp4", ReasonEmpty, false},
			{"sub/up", ReasonSymlink, false},
		})},
		{"patterns first", PlanOptions{Include: []string{"*.mp4"}, Skip: skip}, []string{"a.mp4", "sub/b.mp4"}, []leftOut{
			{"._a.mp4", ReasonSystem, false}, // the others do not match *.mp4
			{".git", ReasonHidden, true}, {".hidden.mp4", ReasonHidden, false},
			{"dangling.mp4", ReasonSymlink, false},
			{"journal", ReasonJournal, true},
			{"locked", ReasonUnreadable, true},
			{"loopa", ReasonSymlink, false}, {"loopb", ReasonSymlink, false},
			{"sub/empty.mp4", ReasonEmpty, false},
			{"sub/up", ReasonSymlink, false},
		}},
		{"hidden taken back", PlanOptions{IncludeHidden: true, Skip: skip},
			[]string{".DS_Store", "._a.mp4", ".git/config", ".hidden.mp4", "a.mp4", "sub/DESKTOP.INI", "sub/Thumbs.db", "sub/b.mp4"},
			[]leftOut{
				{"dangling.mp4", ReasonSymlink, false},
				{"journal", ReasonJournal, true},
				{"locked", ReasonUnreadable, true},
				{"loopa", ReasonSymlink, false}, {"loopb", ReasonSymlink, false},
				{"sub/empty.mp4", ReasonEmpty, false},
				{"sub/up", ReasonSymlink, false},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := walk([]string{root}, tt.opts, readDir)
			require.NoError(t, err, "a bad entry does not fail the walk")
			assert.Equal(t, tt.files, planKeys(res.Files))
			assert.Equal(t, tt.left, leftOuts(t, root, res))
			if len(tt.opts.Include) > 0 {
				assert.Equal(t, 3, res.Excluded, ".DS_Store, Thumbs.db and DESKTOP.INI do not match")
			}
			for _, l := range res.Problems() {
				switch l.Reason {
				case ReasonUnreadable:
					assert.ErrorIs(t, l.Err, fs.ErrPermission, l.Path)
				case ReasonDanglingLink:
					assert.ErrorIs(t, l.Err, fs.ErrNotExist, l.Path)
				}
			}
		})
	}

	// Plan fails where Walk met a problem, naming the first one and
	// counting the others.
	res, err := walk([]string{root}, PlanOptions{FollowSymlinks: true, Skip: skip}, readDir)
	require.NoError(t, err)
	err = res.Err()
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "avupload: "+filepath.Join(root, "dangling.mp4")+": dangling symbolic link (and 4 more paths that could not be read)", err.Error())
	_, err = Plan([]string{root}, PlanOptions{FollowSymlinks: true, Skip: skip})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "dangling.mp4: dangling symbolic link (and ")
	assert.NoError(t, (&PlanResult{LeftOut: []LeftOut{{Path: "x", Reason: ReasonEmpty}}}).Err(), "an empty file is no problem")
}

// TestWalkArguments checks that a path named as an argument is taken
// whatever its name, that an empty one is left out, not failed, and that
// an argument that does not exist is an error, a dangling link saying so.
func TestWalkArguments(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]int64{
		".hidden.mp4": 5, ".config/a.mp4": 7, ".config/.b.mp4": 3, "Thumbs.db": 2, "empty.mp4": 0,
	})
	at := func(name string) string { return filepath.Join(root, filepath.FromSlash(name)) }
	res, err := Walk([]string{at(".hidden.mp4"), at(".config"), at("Thumbs.db"), at("empty.mp4")}, PlanOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.ToSlash(at(".hidden.mp4")), "a.mp4", filepath.ToSlash(at("Thumbs.db"))}, planKeys(res.Files))
	assert.Equal(t, []LeftOut{
		{Path: at(".config/.b.mp4"), Reason: ReasonHidden},
		{Path: at("empty.mp4"), Reason: ReasonEmpty},
	}, res.LeftOut)
	require.NoError(t, res.Err(), "nothing left out is a problem")

	_, err = Walk([]string{root, at("missing.mp4")}, PlanOptions{})
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "avupload: stat "+at("missing.mp4")+": no such file or directory", err.Error())

	require.NoError(t, os.Symlink(at("gone.mp4"), at("link.mp4")))
	_, err = Walk([]string{at("link.mp4")}, PlanOptions{})
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "avupload: "+at("link.mp4")+" is a symbolic link to "+at("gone.mp4")+", which does not exist: file does not exist", err.Error())
}
