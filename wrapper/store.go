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
	"regexp"
	"time"
)

// stateVersion is the version of the UploadState format this package writes.
const stateVersion = 1

// UploadState is what a resumable upload remembers between runs: which video
// the chunks go to and which chunks the server acknowledged. It is plain
// JSON. It never holds the API key nor the upload token, only the token's
// SHA-256, so that a state file left on disk grants nothing.
type UploadState struct {
	// Version is the format version, 1.
	Version int `json:"version"`
	// TokenHash is the hex SHA-256 of the upload token the chunks were sent with.
	TokenHash string `json:"tokenHash"`
	// VideoID is the video the chunks go to.
	VideoID string `json:"videoId"`
	// ChunkSize is the size of every chunk but the last.
	ChunkSize int64 `json:"chunkSize"`
	// Total is the source's size in bytes, or -1 for a stream of unknown length.
	Total int64 `json:"total"`
	// Acked lists the 0-based indexes of the acknowledged chunks, ascending.
	Acked []int `json:"acked"`
	// Fingerprint identifies the source the chunks were read from.
	Fingerprint Fingerprint `json:"fingerprint"`
	// UpdatedAt is when the state was last saved.
	UpdatedAt time.Time `json:"updatedAt"`
}

// Fingerprint identifies a source well enough to refuse resuming an upload
// with different bytes. A stream has no modification time, and its tail is
// unknown until it ends, so both stay empty.
type Fingerprint struct {
	// Size is the source's size, -1 when unknown.
	Size int64 `json:"size"`
	// ModTime is a file's modification time, zero otherwise.
	ModTime time.Time `json:"modTime,omitzero"`
	// HeadSHA256 is the hex SHA-256 of the first chunk.
	HeadSHA256 string `json:"headSha256"`
	// TailSHA256 is the hex SHA-256 of the last chunk, for seekable sources.
	TailSHA256 string `json:"tailSha256,omitempty"`
}

// equal reports whether two fingerprints name the same source.
func (f Fingerprint) equal(g Fingerprint) bool {
	return f.Size == g.Size && f.ModTime.Equal(g.ModTime) && f.HeadSHA256 == g.HeadSHA256 && f.TailSHA256 == g.TailSHA256
}

// Clone returns a deep copy of s.
func (s *UploadState) Clone() *UploadState {
	if s == nil {
		return nil
	}
	c := *s
	c.Acked = append([]int(nil), s.Acked...)
	return &c
}

// AckedBytes is the number of bytes in the acknowledged chunks. For a stream,
// whose total is unknown, every acknowledged chunk counts as full.
func (s *UploadState) AckedBytes() int64 {
	var n int64
	for _, i := range s.Acked {
		from := int64(i) * s.ChunkSize
		if s.Total >= 0 {
			n += min(s.ChunkSize, s.Total-from)
		} else {
			n += s.ChunkSize
		}
	}
	return n
}

// ResumeStore keeps UploadStates between runs, under keys that Upload
// derives from the token and the source. Implementations must be safe for
// use by one Upload at a time per key; FileStore and StateFile are.
type ResumeStore interface {
	// Load returns the state saved under key, or nil and no error when there is none.
	Load(ctx context.Context, key string) (*UploadState, error)
	// Save replaces the state under key.
	Save(ctx context.Context, key string, s *UploadState) error
	// Delete removes the state under key; deleting a missing state is not an error.
	Delete(ctx context.Context, key string) error
}

// errBadState wraps every reason decodeState refuses a state.
var errBadState = errors.New("avupload: invalid upload state")

// maxStateSize bounds the size of a state file: 10,000 acknowledged chunks
// and some room.
const maxStateSize = 1 << 20

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// decodeState parses and checks a saved state. It refuses unknown fields,
// other versions and values that no upload could have produced.
func decodeState(data []byte) (*UploadState, error) {
	if len(data) > maxStateSize {
		return nil, fmt.Errorf("%w: %d bytes is too large", errBadState, len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s UploadState
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadState, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", errBadState)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// validate checks the invariants of a state.
func (s *UploadState) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errBadState, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Version != stateVersion:
		return bad("version %d, want %d", s.Version, stateVersion)
	case !hexSHA256.MatchString(s.TokenHash):
		return bad("tokenHash is not a hex SHA-256")
	case s.VideoID == "" || len(s.VideoID) > 128:
		return bad("videoId is empty or too long")
	case s.ChunkSize < MinChunkSize || s.ChunkSize > MaxChunkSize:
		return bad("chunkSize %d is outside [%d, %d]", s.ChunkSize, int64(MinChunkSize), int64(MaxChunkSize))
	case s.Total < -1 || s.Total == 0 || s.Total > maxTotalSize:
		return bad("total %d is out of range", s.Total)
	case s.Fingerprint.Size != s.Total:
		return bad("fingerprint size %d differs from total %d", s.Fingerprint.Size, s.Total)
	case !hexSHA256.MatchString(s.Fingerprint.HeadSHA256):
		return bad("fingerprint headSha256 is not a hex SHA-256")
	case s.Fingerprint.TailSHA256 != "" && !hexSHA256.MatchString(s.Fingerprint.TailSHA256):
		return bad("fingerprint tailSha256 is not a hex SHA-256")
	}
	chunks := maxParts
	if s.Total > 0 {
		chunks = int((s.Total + s.ChunkSize - 1) / s.ChunkSize)
	}
	for k, i := range s.Acked {
		if i < 0 || i >= chunks || k > 0 && i <= s.Acked[k-1] {
			return bad("acked chunks must be distinct ascending indexes below %d", chunks)
		}
	}
	return nil
}

// encodeState renders a state as indented JSON.
func encodeState(s *UploadState) ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// FileStore is a ResumeStore keeping one JSON file per key in a directory.
// Files are written atomically (a crash leaves the old state or the new
// one, never a mix) and readable by their owner only. It is safe for
// concurrent use.
type FileStore struct {
	dir string
}

// NewFileStore returns a FileStore in dir, creating dir (mode 0700) if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, invalidInput("resume store directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("avupload: creating the resume store: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

var storeKey = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// Dir returns the directory the store writes to.
func (st *FileStore) Dir() string { return st.dir }

func (st *FileStore) path(key string) (string, error) {
	if !storeKey.MatchString(key) {
		return "", invalidInput("resume store key %q must be 1 to 128 letters, digits, '.', '_' or '-'", key)
	}
	return filepath.Join(st.dir, key+".json"), nil
}

// Load reads the state saved under key; nil and no error when there is none.
func (st *FileStore) Load(ctx context.Context, key string) (*UploadState, error) {
	p, err := st.path(key)
	if err != nil {
		return nil, err
	}
	return loadStateFile(p)
}

// Save writes s under key, atomically, with mode 0600.
func (st *FileStore) Save(ctx context.Context, key string, s *UploadState) error {
	p, err := st.path(key)
	if err != nil {
		return err
	}
	return saveStateFile(p, s)
}

// Delete removes the state under key.
func (st *FileStore) Delete(ctx context.Context, key string) error {
	p, err := st.path(key)
	if err != nil {
		return err
	}
	return removeStateFile(p)
}

// StateFile is a ResumeStore holding the state of a single upload in one
// file, whatever the key: the file a command line names with --state-file.
// Writes are atomic and the file is readable by its owner only. A state
// saved for another token or source is never resumed: Upload checks both.
type StateFile struct {
	path string
}

// NewStateFile returns a StateFile at path. Nothing is read or written yet.
func NewStateFile(path string) *StateFile { return &StateFile{path: path} }

// Path returns the file's path.
func (f *StateFile) Path() string { return f.path }

// Load reads the state; nil and no error when the file does not exist.
func (f *StateFile) Load(ctx context.Context, key string) (*UploadState, error) {
	return loadStateFile(f.path)
}

// Save writes s, atomically, with mode 0600.
func (f *StateFile) Save(ctx context.Context, key string, s *UploadState) error {
	return saveStateFile(f.path, s)
}

// Delete removes the file.
func (f *StateFile) Delete(ctx context.Context, key string) error {
	return removeStateFile(f.path)
}

func loadStateFile(path string) (*UploadState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("avupload: reading the upload state: %w", err)
	}
	s, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

func saveStateFile(path string, s *UploadState) error {
	if s == nil {
		return invalidInput("upload state is nil")
	}
	if err := s.validate(); err != nil {
		return err
	}
	data, err := encodeState(s)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("avupload: saving the upload state: %w", err)
	}
	return nil
}

func removeStateFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("avupload: deleting the upload state: %w", err)
	}
	return nil
}
