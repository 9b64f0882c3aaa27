package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/avupload/avupload/internal/atomicfile"
	"github.com/avupload/avupload/internal/filelock"
	"github.com/avupload/avupload/wrapper"
)

// journalSyncInterval is the most time a completed file's record waits in
// the operating system's cache before the journal forces it to disk, while
// files keep completing.
const journalSyncInterval = time.Second

// journalVersion is the format version of done.jsonl this package writes
// and reads, given by its first line, {"avuploadJournal":2}. Version 1 had
// no such line and its records did not name their server.
const journalVersion = 2

// journalHeader is the first line of a done.jsonl.
type journalHeader struct {
	Version *int `json:"avuploadJournal"`
}

// ErrJournalVersion is matched by the error of OpenJournal for a journal
// written in another format version, which it leaves as it is.
var ErrJournalVersion = errors.New("avupload: the journal is in another format version")

// ErrJournalNotSaved is matched by the error of Upload when the
// journal could not record a completed file: the batch then stops starting
// files (see Options.Journal).
var ErrJournalNotSaved = errors.New("avupload: the journal could not be written")

// JournalLineError is the error of OpenJournal for a damaged line of the
// journal's done.jsonl (not the torn last line a crash leaves, which is
// read past). JournalOptions.Repair drops such lines instead.
type JournalLineError struct {
	// File is the path of the journal's done.jsonl; Line the 1-based line number.
	File string
	Line int
	// Err says what is wrong with the line.
	Err error
}

func (e *JournalLineError) Error() string {
	return fmt.Sprintf("avupload: %s, line %d, is damaged: %v", e.File, e.Line, e.Err)
}

func (e *JournalLineError) Unwrap() error { return e.Err }

// JournalEntry is the record of one file a batch uploaded.
//
// In done.jsonl it is one JSON object a line: baseUrl, path, size,
// modTime, sha256, videoId and uploadedAt; a path that is not valid UTF-8,
// which JSON cannot hold, is also given byte for byte, base64-encoded
// (standard, padded), as pathBytes, which wins over path when reading.
type JournalEntry struct {
	// BaseURL is the API server the file was uploaded to (never a token).
	BaseURL string
	// Path is the file's absolute path.
	Path string
	// Size is the file's size when it was uploaded.
	Size int64
	// ModTime is the file's modification time when its upload started.
	ModTime time.Time
	// SHA256 is the hex SHA-256 of the bytes the API acknowledged.
	SHA256 string
	// VideoID is the video the file became.
	VideoID string
	// UploadedAt is when the upload completed.
	UploadedAt time.Time
}

type journalLine struct {
	BaseURL    string    `json:"baseUrl"`
	Path       string    `json:"path"`
	PathBytes  []byte    `json:"pathBytes,omitempty"`
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"modTime"`
	SHA256     string    `json:"sha256"`
	VideoID    string    `json:"videoId"`
	UploadedAt time.Time `json:"uploadedAt"`
}

// MarshalJSON writes e as a line of done.jsonl, with pathBytes when the
// path is not valid UTF-8.
func (e JournalEntry) MarshalJSON() ([]byte, error) {
	l := journalLine{BaseURL: e.BaseURL, Path: e.Path, Size: e.Size, ModTime: e.ModTime, SHA256: e.SHA256,
		VideoID: e.VideoID, UploadedAt: e.UploadedAt}
	if !utf8.ValidString(e.Path) {
		l.PathBytes = []byte(e.Path)
	}
	return json.Marshal(l)
}

// UnmarshalJSON reads a line of done.jsonl, taking the path from
// pathBytes when it is there.
func (e *JournalEntry) UnmarshalJSON(data []byte) error {
	var l journalLine
	if err := json.Unmarshal(data, &l); err != nil {
		return err
	}
	if l.PathBytes != nil {
		l.Path = string(l.PathBytes)
	}
	*e = JournalEntry{BaseURL: l.BaseURL, Path: l.Path, Size: l.Size, ModTime: l.ModTime, SHA256: l.SHA256,
		VideoID: l.VideoID, UploadedAt: l.UploadedAt}
	return nil
}

// check says what is wrong with a record read back, if anything.
func (e *JournalEntry) check() error {
	switch {
	case e.BaseURL == "":
		return errors.New("no baseUrl")
	case e.Path == "":
		return errors.New("no path")
	case e.VideoID == "":
		return errors.New("no videoId")
	case e.Size < 0:
		return errors.New("a negative size")
	}
	return nil
}

// JournalOptions tunes OpenJournalWith.
type JournalOptions struct {
	// Repair drops the damaged lines of done.jsonl, rewriting it without
	// them (their files are uploaded again), instead of failing with a
	// *JournalLineError. Journal.Dropped says how many it dropped.
	Repair bool
}

// journalFile is what the journal writes its records to: an *os.File, or
// a failing one in tests.
type journalFile interface {
	Write([]byte) (int, error)
	Sync() error
	Close() error
}

// Journal is the crash-safe record of a batch, kept in a directory:
//
//	states/      one resume state per file whose upload is under way (a wrapper.FileStore)
//	done.jsonl   format version line, then one JSON line per file uploaded (a JournalEntry)
//	lock         the lock of the run using the journal, with its process id
//
// A completed file's line is appended with a single write before its resume
// state is deleted, so a killed process loses nothing: the file is either
// recorded as done or resumable from its state. Lines reach the disk itself
// at most a second after they are written while files keep completing, and
// when the journal is closed; a crash of the whole machine may lose the
// last second of lines, and those files are then uploaded again. A torn
// last line, as a crash leaves, is read past when the journal is opened;
// any other damaged line stops OpenJournal (see JournalOptions.Repair).
//
// Each record names the server its file went to: a batch skips only the
// files recorded for its client's server, so one journal used with a
// sandbox and then with production uploads everything to production.
//
// One process at a time may use a journal: OpenJournal takes the
// operating system's lock on it (released by Close, or when the process
// ends, even killed) and fails with a *wrapper.LockedError while another holds it.
// A Journal is safe for concurrent use by the files of one batch.
type Journal struct {
	dir     string
	store   *wrapper.FileStore
	lock    *filelock.Lock
	dropped int

	mu       sync.Mutex
	f        journalFile
	done     map[journalKey]JournalEntry
	bySize   map[sizeKey][]string // the paths recorded with each size, for TrackRenames
	servers  []string
	lastSync time.Time
	unsynced bool
}

type journalKey struct{ base, path string }

type sizeKey struct {
	base string
	size int64
}

// OpenJournal opens the journal in dir with the default JournalOptions.
func OpenJournal(dir string) (*Journal, error) {
	return OpenJournalWith(dir, JournalOptions{})
}

// OpenJournalWith opens the journal in dir, creating dir (mode 0700) if
// needed, locks it, and reads the files it records as done. A journal
// that cannot be written is refused at once; so is one that another
// process holds (*wrapper.LockedError), one of another format version
// (ErrJournalVersion) and, unless o.Repair, one with a damaged line
// (*JournalLineError).
func OpenJournalWith(dir string, o JournalOptions) (*Journal, error) {
	if dir == "" {
		return nil, invalidInput("journal directory is empty")
	}
	store, err := wrapper.NewFileStore(filepath.Join(dir, "states"))
	if err != nil {
		return nil, err
	}
	lock, err := lockJournal(dir)
	if err != nil {
		return nil, err
	}
	j, err := openJournal(dir, store, o)
	if err != nil {
		_ = lock.UnlockRemove()
		return nil, err
	}
	j.lock = lock
	return j, nil
}

// lockJournal takes the lock of the journal in dir: a *wrapper.LockedError
// naming dir while another holds it.
func lockJournal(dir string) (*filelock.Lock, error) {
	l, err := filelock.TryLock(filepath.Join(dir, "lock"))
	if held := (*filelock.HeldError)(nil); errors.As(err, &held) {
		return nil, &wrapper.LockedError{Path: dir, PID: held.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("avupload: locking %s: %w", dir, err)
	}
	return l, nil
}

func openJournal(dir string, store *wrapper.FileStore, o JournalOptions) (*Journal, error) {
	// A state that cannot be saved stops its upload: find out now, before
	// anything is sent.
	probe, err := os.CreateTemp(store.Dir(), ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("avupload: the journal's states cannot be written: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	j := &Journal{dir: dir, store: store, done: map[journalKey]JournalEntry{}, bySize: map[sizeKey][]string{}, lastSync: time.Now()}
	p := filepath.Join(dir, "done.jsonl")
	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("avupload: reading the journal: %w", err)
	}
	rewrite := false
	if !bytes.Contains(data, []byte("\n")) {
		// New, or holding nothing but a line torn by a crash: start afresh.
		data, rewrite = nil, true
	}
	var keep [][]byte // the lines to write back when rewriting
	n := 0
	for line := range bytes.Lines(data) {
		n++
		if !bytes.HasSuffix(line, []byte("\n")) {
			// The last line, cut by a crash: its file goes again. The
			// journal is written back without it, so that the next record
			// does not make a damaged line of it.
			rewrite = true
			break
		}
		if n == 1 {
			err := checkJournalHeader(p, line)
			var lineErr *JournalLineError
			if err != nil && (!o.Repair || !errors.As(err, &lineErr)) {
				return nil, err
			}
			if err != nil {
				j.dropped++
				rewrite = true
			}
			continue
		}
		var e JournalEntry
		err := json.Unmarshal(line, &e)
		if err == nil {
			err = e.check()
		}
		if err != nil {
			if !o.Repair {
				return nil, &JournalLineError{File: p, Line: n, Err: err}
			}
			j.dropped++
			rewrite = true
			continue
		}
		keep = append(keep, line)
		j.add(e)
	}
	if rewrite {
		out := fmt.Appendf(nil, "{\"avuploadJournal\":%d}\n", journalVersion)
		for _, l := range keep {
			out = append(out, l...)
		}
		if err := atomicfile.Write(p, out, 0o600); err != nil {
			return nil, fmt.Errorf("avupload: writing the journal: %w", err)
		}
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("avupload: opening the journal: %w", err)
	}
	j.f = f
	return j, nil
}

// checkJournalHeader checks the first line of the journal at p.
func checkJournalHeader(p string, line []byte) error {
	var h journalHeader
	if json.Unmarshal(line, &h) == nil && h.Version != nil {
		if *h.Version != journalVersion {
			return fmt.Errorf("%w: %s is in format version %d, written by another version of avupload; this one reads version %d only",
				ErrJournalVersion, p, *h.Version, journalVersion)
		}
		return nil
	}
	var e JournalEntry
	if json.Unmarshal(line, &e) == nil && e.Path != "" {
		return fmt.Errorf("%w: %s is in format version 1, written by an older version of avupload, which did not record the server "+
			"each file went to; this one reads version %d only. It is left as it is: use a new journal directory, or move %s "+
			"aside to start this one afresh (the files it records are then uploaded again)", ErrJournalVersion, p, journalVersion, p)
	}
	return &JournalLineError{File: p, Line: 1, Err: errors.New("not the journal's format version line")}
}

// add records e as done, in memory.
func (j *Journal) add(e JournalEntry) {
	k := journalKey{e.BaseURL, e.Path}
	if old, ok := j.done[k]; !ok || old.Size != e.Size {
		sk := sizeKey{e.BaseURL, e.Size}
		j.bySize[sk] = append(j.bySize[sk], e.Path)
	}
	j.done[k] = e
	if !slices.Contains(j.servers, e.BaseURL) {
		j.servers = append(j.servers, e.BaseURL)
	}
}

// Store returns the resume store holding the states of the files under way.
func (j *Journal) Store() *wrapper.FileStore { return j.store }

// Dropped returns the number of damaged lines JournalOptions.Repair dropped.
func (j *Journal) Dropped() int { return j.dropped }

// Done returns the record of the file at the absolute path abs uploaded
// to the server at baseURL (as wrapper.Client.BaseURL gives it), if the journal
// holds one.
func (j *Journal) Done(baseURL, abs string) (JournalEntry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.done[journalKey{baseURL, abs}]
	return e, ok
}

// Servers returns the base URLs of the servers the journal records files
// for, in the order it first met them.
func (j *Journal) Servers() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.servers)
}

// recorded returns the records of the server at base whose size is size.
func (j *Journal) recorded(base string, size int64) []JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []JournalEntry
	for _, p := range j.bySize[sizeKey{base, size}] {
		if e := j.done[journalKey{base, p}]; e.Size == size { // not since recorded with another size
			out = append(out, e)
		}
	}
	return out
}

// vanished reports whether the journal records, for the server at base, a
// file of size bytes that is no longer at its path.
func (j *Journal) vanished(base string, size int64) bool {
	for _, e := range j.recorded(base, size) {
		if _, err := os.Lstat(e.Path); errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// movedFrom returns the record of the file that a file of size bytes and
// SHA-256 sum, which the journal does not record, was moved from: one of
// a video recorded with that content, none of whose recorded paths exists
// any more (one that does makes the file a copy).
func (j *Journal) movedFrom(base string, size int64, sum string) (JournalEntry, bool) {
	videos := map[string][]JournalEntry{}
	var order []string
	for _, e := range j.recorded(base, size) {
		if e.SHA256 == sum {
			if videos[e.VideoID] == nil {
				order = append(order, e.VideoID)
			}
			videos[e.VideoID] = append(videos[e.VideoID], e)
		}
	}
	for _, id := range order {
		gone := true
		for _, e := range videos[id] {
			if _, err := os.Lstat(e.Path); !errors.Is(err, fs.ErrNotExist) {
				gone = false
				break
			}
		}
		if gone {
			return videos[id][0], true
		}
	}
	return JournalEntry{}, false
}

// len returns the number of files the journal records as done.
func (j *Journal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.done)
}

// record appends e, in one write, and forces the file to disk when the last
// time is a second old.
func (j *Journal) record(e JournalEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("avupload: the journal is closed")
	}
	if _, err := j.f.Write(line); err != nil {
		return fmt.Errorf("avupload: writing the journal %s: %w", j.dir, err)
	}
	j.add(e)
	j.unsynced = true
	if time.Since(j.lastSync) >= journalSyncInterval {
		return j.syncLocked()
	}
	return nil
}

func (j *Journal) syncLocked() error {
	if !j.unsynced {
		return nil
	}
	j.lastSync, j.unsynced = time.Now(), false
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("avupload: syncing the journal %s: %w", j.dir, err)
	}
	return nil
}

// Close forces the records to disk, closes the journal and releases its lock.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.syncLocked()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("avupload: closing the journal: %w", cerr)
	}
	j.f = nil
	if j.lock != nil {
		if uerr := j.lock.UnlockRemove(); err == nil && uerr != nil {
			err = fmt.Errorf("avupload: unlocking the journal: %w", uerr)
		}
		j.lock = nil
	}
	return err
}

// fileStore is the resume store one file of a batch uploads with: the
// journal's, except that the deletion of the state Upload asks for on
// success waits until the file's record is written, so that a crash between
// the two leaves the state, never neither.
type fileStore struct {
	wrapper.ResumeStore
	mu      sync.Mutex
	pending []string
}

func (s *fileStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	s.pending = append(s.pending, key)
	s.mu.Unlock()
	return nil
}

// kept reports whether a state Upload asked to delete is still saved.
func (s *fileStore) kept(ctx context.Context) bool {
	s.mu.Lock()
	keys := slices.Clone(s.pending)
	s.mu.Unlock()
	for _, k := range keys {
		if st, err := s.Load(ctx, k); err == nil && st != nil {
			return true
		}
	}
	return false
}

// flush deletes the states Upload asked to delete.
func (s *fileStore) flush(ctx context.Context) error {
	s.mu.Lock()
	keys := s.pending
	s.pending = nil
	s.mu.Unlock()
	var errs []error
	for _, k := range keys {
		errs = append(errs, s.ResumeStore.Delete(ctx, k))
	}
	return errors.Join(errs...)
}
