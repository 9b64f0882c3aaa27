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
	"strings"
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
// regular file that is neither hidden, a system file nor empty, does not
// follow symbolic links and takes every shard.
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
	// IncludeHidden takes the hidden and system files and directories met
	// while walking (see [ReasonHidden] and [ReasonSystem]), which are left
	// out by default. A path named as an argument is never left out for its
	// name.
	IncludeHidden bool
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

// LeftOutReason says why a planned batch left a path out. Its values are
// short words, stable enough to be printed in machine-read output.
type LeftOutReason string

// The reasons a path is left out. The first five are choices, made by
// default or by [PlanOptions]; the last three are problems, which a program
// should report as failures (see [LeftOutReason.Problem]).
const (
	// ReasonHidden: a file or directory whose name starts with "." (or, on
	// Windows, that has the hidden attribute), met while walking.
	ReasonHidden LeftOutReason = "hidden"
	// ReasonSystem: a file or directory the system or a file manager
	// writes beside the videos, met while walking: .DS_Store, ._* (macOS
	// AppleDouble files), Thumbs.db, desktop.ini, $RECYCLE.BIN, System
	// Volume Information and @eaDir (a Synology NAS's thumbnails); the
	// Windows names in any case.
	ReasonSystem LeftOutReason = "system"
	// ReasonJournal: one of [PlanOptions.Skip], a batch's journal.
	ReasonJournal LeftOutReason = "journal"
	// ReasonSymlink: a symbolic link met while walking, without
	// [PlanOptions.FollowSymlinks].
	ReasonSymlink LeftOutReason = "symlink"
	// ReasonSpecial: a device, socket or named pipe met while walking.
	ReasonSpecial LeftOutReason = "special"
	// ReasonEmpty: a file of 0 bytes, which the API refuses ("The uploaded
	// file is empty."): there is nothing to upload.
	ReasonEmpty LeftOutReason = "empty"
	// ReasonUnreadable: a directory that could not be listed, or an entry
	// whose type or size could not be read. Err says why. A file whose
	// content cannot be read is not found at planning time (that would
	// mean opening every file): its upload fails.
	ReasonUnreadable LeftOutReason = "unreadable"
	// ReasonDanglingLink: a followed symbolic link to nothing.
	ReasonDanglingLink LeftOutReason = "dangling-link"
	// ReasonLinkLoop: a followed symbolic link that leads back to itself,
	// or to a directory that holds it.
	ReasonLinkLoop LeftOutReason = "link-loop"
)

// Problem reports whether r is a problem met while planning (an unreadable
// path, a dangling or looping link) rather than a choice.
func (r LeftOutReason) Problem() bool {
	return r == ReasonUnreadable || r == ReasonDanglingLink || r == ReasonLinkLoop
}

// LeftOut is a path a planned batch left out, and why.
type LeftOut struct {
	// Path is the path as met: an argument, or a directory argument joined
	// with the path's place under it.
	Path string
	// Reason is why Path was left out.
	Reason LeftOutReason
	// Dir tells that Path is a directory, left out whole, without being
	// walked into.
	Dir bool
	// Err is the error met, for a problem; nil otherwise.
	Err error
}

// PlanResult is the plan of a batch: the files to upload, and what was
// left out. Its zero value is an empty plan.
type PlanResult struct {
	// Files are the files to upload, in the order found.
	Files []File
	// LeftOut lists what was left out, in the order met, but for the files
	// that Include, Exclude and the shard left out, which are only counted.
	LeftOut []LeftOut
	// Excluded counts the files that Include and Exclude left out;
	// OtherShard those that belong to another shard.
	Excluded, OtherShard int
}

// Bytes is the size of the files to upload, in all.
func (r *PlanResult) Bytes() int64 {
	var n int64
	for _, f := range r.Files {
		n += f.Size
	}
	return n
}

// Problems lists the paths left out for a problem, in the order met.
func (r *PlanResult) Problems() []LeftOut {
	var p []LeftOut
	for _, l := range r.LeftOut {
		if l.Reason.Problem() {
			p = append(p, l)
		}
	}
	return p
}

// Err returns nil when no problem was met, or an error that names the
// first problem and counts the others, wrapping the first one's Err.
func (r *PlanResult) Err() error {
	p := r.Problems()
	if len(p) == 0 {
		return nil
	}
	msg := "avupload: " + p[0].Path + ": "
	switch p[0].Reason {
	case ReasonDanglingLink:
		msg += "dangling symbolic link"
	case ReasonLinkLoop:
		msg += "symbolic link loop"
	default:
		msg = "avupload: " + p[0].Err.Error()
	}
	if len(p) > 1 {
		msg += fmt.Sprintf(" (and %d more paths that could not be read)", len(p)-1)
	}
	return &wrapped{msg: msg, err: p[0].Err}
}

// wrapped is an error that says msg and wraps err.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

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

// selects reports whether the patterns keep a file of base name name.
func (o *PlanOptions) selects(name string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	return (len(o.Include) == 0 || match(o.Include)) && !match(o.Exclude)
}

// inShard reports whether a file of shard key key is in the shard taken.
func (o *PlanOptions) inShard(key string) bool {
	return o.Shards == 0 || shardOf(key, o.Shards) == o.Shard
}

// shardOf returns the 1-based shard, out of n, of a file whose ShardKey is key.
func shardOf(key string, n int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum64()%uint64(n)) + 1
}

// systemNames are the names, lowercased, of the files and directories
// that systems and file managers write beside the videos.
var systemNames = map[string]bool{
	".ds_store": true, "thumbs.db": true, "desktop.ini": true,
	"$recycle.bin": true, "system volume information": true, "@eadir": true,
}

// leftOutByName says why an entry named name, met while walking, is left
// out for its name alone, or "" if it is not.
func leftOutByName(name string) LeftOutReason {
	switch {
	case systemNames[strings.ToLower(name)] || strings.HasPrefix(name, "._"):
		return ReasonSystem
	case strings.HasPrefix(name, "."):
		return ReasonHidden
	}
	return ""
}

// Plan lists the files of a batch as [Walk] does, and fails if Walk met a
// problem (an unreadable directory, a dangling or looping link followed):
// the error is [PlanResult.Err]'s.
func Plan(paths []string, opts PlanOptions) ([]File, error) {
	res, err := Walk(paths, opts)
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return res.Files, nil
}

// Walk plans a batch: it lists each path that is a file, and every regular
// file under each path that is a directory, walked recursively in lexical
// order, filtered and sharded by opts. A file reached twice (two
// arguments, or links) is listed once.
//
// Met while walking, hidden and system files and directories are left out
// unless opts.IncludeHidden (a file that Include and Exclude leave out
// anyway is counted as theirs), and links are left out unless
// opts.FollowSymlinks; devices, sockets and pipes are left out. Empty files
// are left out, named or met. A directory that cannot be listed, an entry
// that cannot be read, a dangling link or a link loop does not stop the
// walk: it is left out, and listed in the result as a problem.
//
// Only what concerns the arguments themselves is an error: no path, a
// path that does not exist or cannot be read, an argument that is neither
// a file nor a directory, and options that are not valid.
func Walk(paths []string, opts PlanOptions) (*PlanResult, error) {
	return walk(paths, opts, os.ReadDir)
}

// walk is Walk, listing directories with readDir.
func walk(paths []string, opts PlanOptions, readDir func(string) ([]fs.DirEntry, error)) (*PlanResult, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, invalidInput("no file or directory to upload")
	}
	p := &planner{opts: opts, readDir: readDir, res: &PlanResult{},
		seen: map[string]bool{}, dirs: map[string]bool{}, walking: map[string]bool{}, skip: map[string]bool{}}
	for _, s := range opts.Skip {
		if real, ok := realPath(s); ok {
			p.skip[real] = true
		}
	}
	for _, arg := range paths {
		fi, err := os.Stat(arg)
		if err != nil {
			if lfi, lerr := os.Lstat(arg); lerr == nil && lfi.Mode()&fs.ModeSymlink != 0 && errors.Is(err, fs.ErrNotExist) {
				if target, rerr := os.Readlink(arg); rerr == nil {
					return nil, fmt.Errorf("avupload: %s is a symbolic link to %s, which does not exist: %w", arg, target, fs.ErrNotExist)
				}
			}
			return nil, fmt.Errorf("avupload: %w", err)
		}
		switch {
		case fi.IsDir():
			p.walk(arg, "")
		case fi.Mode().IsRegular():
			p.add(arg, filepath.ToSlash(filepath.Clean(arg)), fi)
		default:
			return nil, invalidInput("%s is neither a regular file nor a directory", arg)
		}
	}
	return p.res, nil
}

type planner struct {
	opts    PlanOptions
	readDir func(string) ([]fs.DirEntry, error)
	res     *PlanResult
	seen    map[string]bool // absolute paths of the files listed
	dirs    map[string]bool // real paths of the directories walked, against walking one twice
	walking map[string]bool // real paths of the directories being walked, against link loops
	skip    map[string]bool // real paths of opts.Skip
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

func (p *planner) leave(name string, why LeftOutReason, dir bool, err error) {
	p.res.LeftOut = append(p.res.LeftOut, LeftOut{Path: name, Reason: why, Dir: dir, Err: err})
}

func (p *planner) add(name, key string, fi fs.FileInfo) {
	if !p.opts.selects(filepath.Base(name)) {
		p.res.Excluded++
		return
	}
	if !p.opts.inShard(key) {
		p.res.OtherShard++
		return
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	switch {
	case p.seen[abs]:
		return
	case p.skip[abs]:
		p.leave(name, ReasonJournal, false, nil)
		return
	}
	p.seen[abs] = true
	if fi.Size() == 0 {
		p.leave(name, ReasonEmpty, false, nil)
		return
	}
	p.res.Files = append(p.res.Files, File{Path: name, ShardKey: key, Size: fi.Size()})
}

// walk lists dir, found at rel under a directory argument; a directory
// reached through a link is walked as that link's path.
func (p *planner) walk(dir, rel string) {
	real, err := filepath.Abs(dir)
	if err == nil {
		real, err = filepath.EvalSymlinks(real)
	}
	if err != nil {
		// The directory was there a moment ago: it went, or a link on
		// its path changed. Say it, rather than guess.
		p.leave(dir, ReasonUnreadable, true, err)
		return
	}
	switch {
	case p.walking[real]:
		p.leave(dir, ReasonLinkLoop, true, &fs.PathError{Op: "walk", Path: dir, Err: errLinkLoop})
		return
	case p.dirs[real]:
		return
	case p.skip[real]:
		p.leave(dir, ReasonJournal, true, nil)
		return
	}
	p.dirs[real] = true
	entries, err := p.readDir(dir)
	if err != nil {
		p.leave(dir, ReasonUnreadable, true, err)
		return
	}
	p.walking[real] = true
	defer delete(p.walking, real)
	for _, e := range entries {
		p.entry(e, filepath.Join(dir, e.Name()), path.Join(rel, e.Name()))
	}
}

// errLinkLoop is the error of a link that leads to a directory holding it.
var errLinkLoop = errors.New("symbolic link loop: it leads to a directory that holds it")

// entry takes e, met while walking, at name and with shard key key.
func (p *planner) entry(e fs.DirEntry, name, key string) {
	mode := e.Type()
	if !p.opts.IncludeHidden {
		why := leftOutByName(e.Name())
		if why == "" && hiddenAttribute(e) {
			why = ReasonHidden
		}
		if why != "" && mode.IsRegular() && !p.opts.selects(e.Name()) {
			// Counted where the user's own patterns would count it.
			p.res.Excluded++
			return
		}
		if why != "" {
			// The journal is named as such, whatever its name.
			if mode.IsDir() && len(p.skip) > 0 {
				if real, ok := realPath(name); ok && p.skip[real] {
					why = ReasonJournal
				}
			}
			p.leave(name, why, mode.IsDir(), nil)
			return
		}
	}
	if mode&fs.ModeSymlink != 0 {
		if !p.opts.FollowSymlinks {
			p.leave(name, ReasonSymlink, false, nil)
			return
		}
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.leave(name, ReasonDanglingLink, false, err)
			return
		case err != nil && isLinkLoop(err):
			p.leave(name, ReasonLinkLoop, false, err)
			return
		case err != nil:
			p.leave(name, ReasonUnreadable, false, err)
			return
		}
		mode = fi.Mode().Type()
	}
	switch {
	case mode.IsDir():
		p.walk(name, key)
	case mode.IsRegular():
		fi, err := os.Stat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Gone since the directory was listed: not there to upload.
		case err != nil:
			p.leave(name, ReasonUnreadable, false, err)
		default:
			p.add(name, key, fi)
		}
	default:
		p.leave(name, ReasonSpecial, false, nil)
	}
}
