// Package atomicfile replaces files whole: a reader, or the next run after a
// crash, sees the old content or the new one, never a mix. The resume state
// of uploads and the sandbox's data directory are written through it.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Write replaces the file at path with data so that a reader, or
// the next run after a crash, sees either the old content or the new one,
// never a mix or a truncated file. It writes a temporary file in path's
// directory (a rename is atomic only within one file system), flushes it to
// disk, gives it perm (exactly, as Chmod does; on Windows only the
// read-only bit means anything) and renames it over path. os.Rename
// replaces an existing file on every platform: rename(2) on Unix,
// MoveFileEx with MOVEFILE_REPLACE_EXISTING on Windows. On failure the
// temporary file is removed and path is left as it was.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The leading dot keeps the temporary file out of plain listings; the
	// ".tmp" infix keeps its name from ending like path's.
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the first error is the one to report
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	// Without Sync, a crash soon after the rename can leave path naming a
	// file whose blocks never reached the disk: an empty state file.
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = renameReplace(tmp, path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// renameReplace renames from over to. On Windows, a rename over a file that
// another handle holds open without FILE_SHARE_DELETE (a virus scanner, an
// indexer, a concurrent os.ReadFile) fails with "Access is denied" for as
// long as the handle stays open, typically milliseconds; it tries again for
// up to a second before giving up. Elsewhere the rename is tried once.
func renameReplace(from, to string) error {
	err := os.Rename(from, to)
	if runtime.GOOS != "windows" {
		return err
	}
	for wait := time.Millisecond; err != nil && errors.Is(err, os.ErrPermission) && wait <= 512*time.Millisecond; wait *= 2 {
		time.Sleep(wait)
		err = os.Rename(from, to)
	}
	return err
}

// SyncDir flushes dir's entries to disk so that a rename into it survives a
// crash. It is best effort: the new file's content is already on disk, some
// file systems refuse to sync a directory, and Windows cannot open one for
// flushing at all, so failures are ignored rather than failing a save that
// did happen.
func SyncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
