package wrapper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// journalSyncInterval is the most time a completed file's record waits in
// the operating system's cache before the journal forces it to disk, while
// files keep completing.
const journalSyncInterval = time.Second

// JournalEntry is the record of one file a batch uploaded.
type JournalEntry struct {
	// Path is the file's absolute path.
	Path string `json:"path"`
	// Size is the file's size when it was uploaded.
	Size int64 `json:"size"`
	// ModTime is the file's modification time when its upload started.
	ModTime time.Time `json:"modTime"`
	// SHA256 is the hex SHA-256 of the bytes the API acknowledged.
	SHA256 string `json:"sha256"`
	// VideoID is the video the file became.
	VideoID string `json:"videoId"`
	// UploadedAt is when the upload completed.
	UploadedAt time.Time `json:"uploadedAt"`
}

// Journal is the crash-safe record of a batch, kept in a directory:
//
//	states/      one resume state per file whose upload is under way (a FileStore)
//	done.jsonl   one JSON line per file uploaded (a JournalEntry)
//
// A completed file's line is appended with a single write before its resume
// state is deleted, so a killed process loses nothing: the file is either
// recorded as done or resumable from its state. Lines reach the disk itself
// at most a second after they are written while files keep completing, and
// when the journal is closed; a crash of the whole machine may lose the
// last second of lines, and those files are then uploaded again. A torn
// last line is ignored when the journal is opened.
//
// One batch at a time may use a journal. A Journal is safe for concurrent
// use by the files of that batch.
type Journal struct {
	dir   string
	store *FileStore

	mu       sync.Mutex
	f        *os.File
	done     map[string]JournalEntry
	lastSync time.Time
	unsynced bool
}

// OpenJournal opens the journal in dir, creating dir (mode 0700) if needed,
// and reads the files it records as done. A journal that cannot be written
// is refused at once.
func OpenJournal(dir string) (*Journal, error) {
	if dir == "" {
		return nil, invalidInput("journal directory is empty")
	}
	store, err := NewFileStore(filepath.Join(dir, "states"))
	if err != nil {
		return nil, err
	}
	// A state that cannot be saved stops its upload: find out now, before
	// anything is sent.
	probe, err := os.CreateTemp(store.Dir(), ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("avupload: the journal's states cannot be written: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	j := &Journal{dir: dir, store: store, done: map[string]JournalEntry{}, lastSync: time.Now()}
	p := filepath.Join(dir, "done.jsonl")
	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("avupload: reading the journal: %w", err)
	}
	torn := false
	for line := range bytes.Lines(data) {
		var e JournalEntry
		if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &e) != nil || e.Path == "" {
			torn = true // a line cut by a crash, or damaged: its file goes again
			continue
		}
		j.done[e.Path] = e
	}
	j.f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("avupload: opening the journal: %w", err)
	}
	if torn && len(data) > 0 && data[len(data)-1] != '\n' {
		// End the torn line so that the next record starts on its own.
		if _, err := j.f.Write([]byte("\n")); err != nil {
			_ = j.f.Close()
			return nil, fmt.Errorf("avupload: writing the journal: %w", err)
		}
	}
	return j, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Store returns the resume store holding the states of the files under way.
func (j *Journal) Store() *FileStore { return j.store }

// Done returns the record of the file at the absolute path abs, if the
// journal holds one.
func (j *Journal) Done(abs string) (JournalEntry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.done[abs]
	return e, ok
}

// Len returns the number of files the journal records as done.
func (j *Journal) Len() int {
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
		return fmt.Errorf("avupload: writing the journal: %w", err)
	}
	j.done[e.Path] = e
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
		return fmt.Errorf("avupload: syncing the journal: %w", err)
	}
	return nil
}

// Close forces the records to disk and closes the journal.
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
	return err
}

// fileStore is the resume store one file of a batch uploads with: the
// journal's, except that the deletion of the state Upload asks for on
// success waits until the file's record is written, so that a crash between
// the two leaves the state, never neither.
type fileStore struct {
	ResumeStore
	mu      sync.Mutex
	pending []string
}

func (s *fileStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	s.pending = append(s.pending, key)
	s.mu.Unlock()
	return nil
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
