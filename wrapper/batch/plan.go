package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/avupload/avupload/wrapper"
)

// File is one file of a batch, as Plan found it.
type File struct {
	// Path is the file's path: an argument as given, or a directory argument
	// joined with the file's place under it.
	Path string
	// ShardKey is what the file's shard is computed from: its path relative
	// to the directory argument it was found in, or the path as given for a
	// file argument, with forward slashes on every system.
	ShardKey string
	// Size is the file's size when it was found, or -1 for a stream of
	// unknown length.
	Size int64
	// Source, when set, is where the bytes are read from instead of Path,
	// which then only names it: a stream such as standard input ("-"). A
	// batch with a journal takes no stream. Plan never sets it.
	Source wrapper.Source
}

// PlanOptions selects the files of a batch. The zero value takes every
// regular file, does not follow symbolic links and takes every shard.
type PlanOptions struct {
	// Include, when not empty, keeps only the files whose base name matches
	// one of these patterns (path.Match syntax, e.g. "*.mp4").
	Include []string
	// Exclude drops the files whose base name matches one of these patterns.
	// It wins over Include.
	Exclude []string
	// FollowSymlinks follows symbolic links to files and directories. By
	// default a link met while walking a directory is left out; a link named
	// as an argument is always followed. A directory reached twice through
	// links is walked once.
	FollowSymlinks bool
	// Shard and Shards take the Shard-th (1-based) of Shards shares of the
	// files: those whose ShardKey hashes (FNV-1a, 64 bits) to Shard-1
	// modulo Shards. A file's share depends on its ShardKey alone, so adding
	// files never moves another one to a different share, and N runs given
	// the same arguments with shards 1/N to N/N take every file exactly
	// once. Both zero takes every file.
	Shard, Shards int
	// Skip lists paths that are never listed nor walked into, wherever they
	// are met: a directory among them is left out whole. A batch's journal
	// directory goes here when it lies under a directory being uploaded.
	// Paths are compared once made absolute with links resolved; a path
	// that does not exist skips nothing.
	Skip []string
}

func (o *PlanOptions) validate() error {
	for _, p := range slices.Concat(o.Include, o.Exclude) {
		if _, err := path.Match(p, ""); err != nil {
			return invalidInput("pattern %q: %v", p, err)
		}
	}
	if o.Shard != 0 || o.Shards != 0 {
		if o.Shards < 1 || o.Shard < 1 || o.Shard > o.Shards {
			return invalidInput("shard %d/%d: want K/N with 1 <= K <= N", o.Shard, o.Shards)
		}
	}
	return nil
}

// keep reports whether a file of base name name and shard key key belongs
// to the batch.
func (o *PlanOptions) keep(name, key string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	if len(o.Include) > 0 && !match(o.Include) || match(o.Exclude) {
		return false
	}
	return o.Shards == 0 || shardOf(key, o.Shards) == o.Shard
}

// shardOf returns the 1-based shard, out of n, of a file whose ShardKey is key.
func shardOf(key string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum64()%uint64(n)) + 1
}

// Plan lists the files of a batch: each path that is a file, and every
// regular file under each path that is a directory, walked recursively in
// lexical order, filtered and sharded by opts. A file reached twice (two
// arguments, or links) is listed once. A path that does not exist, or an
// argument that is neither a file nor a directory, is an error; so is a
// directory that cannot be read. Files that are not regular (devices,
// sockets, pipes) found while walking are left out.
func Plan(paths []string, opts PlanOptions) ([]File, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, invalidInput("no file or directory to upload")
	}
	p := &planner{opts: opts, seen: map[string]bool{}, dirs: map[string]bool{}, skip: map[string]bool{}}
	for _, s := range opts.Skip {
		if real, ok := realPath(s); ok {
			p.skip[real] = true
		}
	}
	for _, arg := range paths {
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("avupload: %w", err)
		}
		switch {
		case fi.IsDir():
			if err := p.walk(arg, ""); err != nil {
				return nil, err
			}
		case fi.Mode().IsRegular():
			p.add(arg, filepath.ToSlash(filepath.Clean(arg)), fi)
		default:
			return nil, invalidInput("%s is neither a regular file nor a directory", arg)
		}
	}
	return p.files, nil
}

type planner struct {
	opts  PlanOptions
	files []File
	seen  map[string]bool // absolute paths of the files listed
	dirs  map[string]bool // real paths of the directories walked, against link loops
	skip  map[string]bool // real paths of opts.Skip
}

// realPath is the absolute path of name with links resolved, if it exists.
func realPath(name string) (string, bool) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(abs)
	return real, err == nil
}

func (p *planner) add(name, key string, fi fs.FileInfo) {
	if !p.opts.keep(filepath.Base(name), key) {
		return
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if p.seen[abs] || p.skip[abs] {
		return
	}
	p.seen[abs] = true
	p.files = append(p.files, File{Path: name, ShardKey: key, Size: fi.Size()})
}

// walk lists dir, found at rel under a directory argument.
func (p *planner) walk(dir, rel string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("avupload: %w", err)
	}
	if p.dirs[real] {
		return nil
	}
	if abs, err := filepath.Abs(real); err == nil && p.skip[abs] {
		return nil
	}
	p.dirs[real] = true
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("avupload: %w", err)
	}
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		key := path.Join(rel, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			if !p.opts.FollowSymlinks {
				continue
			}
			fi, err := os.Stat(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a dangling link
			}
			if err != nil {
				return fmt.Errorf("avupload: %w", err)
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			if err := p.walk(name, key); err != nil {
				return err
			}
		case mode.IsRegular():
			fi, err := os.Stat(name)
			if err != nil {
				return fmt.Errorf("avupload: %w", err)
			}
			p.add(name, key, fi)
		}
	}
	return nil
}
