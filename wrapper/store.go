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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avupload/avupload/internal/atomicfile"
)

// stateVersion is the version of the UploadState format this package
// writes. Version 1 keyed a state by the upload token and held no
// per-chunk hashes; version 2 held the SHA-256 of each chunk alone: their
// files are refused with ErrStateConflict. Version 3 had no list of chunks
// being sent: it is read as a version 4 state with none.
const stateVersion = 4

// oldestReadVersion is the oldest format version read.
const oldestReadVersion = 3

// UploadState is what a resumable upload remembers between runs: which
// server and video the chunks go to, which source they come from, and each
// acknowledged chunk with the source's SHA-256 through it. It
// is plain JSON. It holds neither the API key nor the upload token: a new
// token goes on with the same video, and a state file left on disk grants
// nothing.
type UploadState struct {
	// Version is the format version, 4. Version 3 states are read too, as
	// states with no chunk being sent.
	Version int `json:"version"`
	// BaseURL is the API base URL the video lives on.
	BaseURL string `json:"baseUrl"`
	// Source names the source the chunks were read from: a file's absolute
	// path, or "stream:NAME" / "reader:NAME" for a Reader or ReaderAt sent
	// under the file name NAME.
	Source string `json:"source"`
	// VideoID is the video the chunks go to.
	VideoID string `json:"videoId"`
	// ChunkSize is the size of every chunk but the first and the last.
	ChunkSize int64 `json:"chunkSize"`
	// FirstChunkSize is the size of the first chunk (unless it is the
	// last): MinChunkSize when chunks went several at once after it, so that
	// they could start sooner, else ChunkSize.
	FirstChunkSize int64 `json:"firstChunkSize"`
	// Total is the source's size in bytes, or -1 for a stream of unknown length.
	Total int64 `json:"total"`
	// ModTime is a file's modification time when the upload started, zero
	// for other sources. It is informative only: a resume checks each
	// acknowledged chunk's bytes, not the time.
	ModTime time.Time `json:"modTime,omitzero"`
	// Acked lists the acknowledged chunks, by ascending index.
	Acked []AckedChunk `json:"acked"`
	// Sending lists the chunks being sent and not acknowledged, by
	// ascending index, each as an AckedChunk would record it: the state is
	// saved with a chunk in it before the chunk's first byte goes, so that
	// a run that stopped before the chunk's answer (a crash, a failure)
	// leaves a record that the API may hold the chunk. A later run sends
	// it again, and believes the API when it says it holds that exact range
	// already only for a chunk in Acked or Sending, whose bytes it checks
	// against PrefixSHA256 first; for any other chunk that answer fails
	// the upload with ErrRangeTaken. A chunk leaves Sending when it is
	// acknowledged.
	Sending []AckedChunk `json:"sending,omitempty"`
	// UpdatedAt is when the state was last saved.
	UpdatedAt time.Time `json:"updatedAt"`
}

// AckedChunk is one chunk the API acknowledged.
type AckedChunk struct {
	// Index is the chunk's 0-based number: chunk 0 is FirstChunkSize bytes
	// long, the others ChunkSize, so chunk I > 0 starts at
	// FirstChunkSize + (I-1)*ChunkSize.
	Index int `json:"index"`
	// Size is the chunk's length in bytes.
	Size int64 `json:"size"`
	// PrefixSHA256 is the hex SHA-256 of the source from its first byte
	// through this chunk's last, as the API acknowledged them: the source's
	// SHA-256 as far as the chunk, taken by the one hashing pass an upload
	// makes, so that recording it costs no hashing of its own. A resume
	// checks every byte before the chunk with it, not only the chunk's.
	PrefixSHA256 string `json:"prefixSha256"`
}

// Clone returns a deep copy of s.
func (s *UploadState) Clone() *UploadState {
	if s == nil {
		return nil
	}
	c := *s
	c.Acked = slices.Clone(s.Acked)
	c.Sending = slices.Clone(s.Sending)
	return &c
}

// AckedBytes is the number of bytes in the acknowledged chunks.
func (s *UploadState) AckedBytes() int64 {
	var n int64
	for _, c := range s.Acked {
		n += c.Size
	}
	return n
}

// ResumeStore keeps UploadStates between runs, under keys that Upload
// derives from the source and the API base URL (see ResumeKey).
// Implementations must be safe for use by one Upload at a time per key;
// FileStore and StateFile are.
//
// Load returns an error wrapping ErrStateConflict for a state that cannot be
// read as one (corrupt, or of another format version): Upload then stops
// before sending anything, and never overwrites it unless
// UploadOptions.Restart is set.
type ResumeStore interface {
	// Load returns the state saved under key, or nil and no error when there is none.
	Load(ctx context.Context, key string) (*UploadState, error)
	// Save replaces the state under key.
	Save(ctx context.Context, key string, s *UploadState) error
	// Delete removes the state under key; deleting a missing state is not an error.
	Delete(ctx context.Context, key string) error
}

// ErrStateConflict is matched by errors.Is when a saved state is neither
// used nor replaced: it cannot be read (corrupt, or of another format
// version), or it belongs to another source, server or video. Upload
// returns it before sending anything; the message says what differs. Set
// UploadOptions.Restart to start a new video and replace the state.
var ErrStateConflict = errors.New("avupload: the saved upload state does not fit this upload")

// errBadState wraps every reason decodeState refuses a state.
var errBadState = fmt.Errorf("%w: invalid upload state", ErrStateConflict)

// maxStateSize bounds the size of a state file: 10,000 acknowledged chunks
// and some room.
const maxStateSize = 2 << 20

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// decodeState parses and checks a saved state. It refuses unknown fields,
// other versions and values that no upload could have produced.
func decodeState(data []byte) (*UploadState, error) {
	if len(data) > maxStateSize {
		return nil, fmt.Errorf("%w: %d bytes is too large", errBadState, len(data))
	}
	// The version first, so that an older file gets a message about its
	// version rather than about its fields.
	var v struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadState, err)
	}
	n, err := strconv.Atoi(string(v.Version))
	if err == nil && (n < oldestReadVersion || n > stateVersion) {
		return nil, fmt.Errorf("%w: it is in format version %d, written by another version of avupload; this one reads versions %d and %d only",
			ErrStateConflict, n, oldestReadVersion, stateVersion)
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
	if n == 3 {
		// Version 3 is version 4 without chunks being sent.
		if s.Sending != nil {
			return nil, fmt.Errorf("%w: a version 3 state has no sending list", errBadState)
		}
		s.Version = stateVersion
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
	case s.BaseURL == "" || len(s.BaseURL) > 2048:
		return bad("baseUrl is empty or too long")
	case s.Source == "" || len(s.Source) > 4096:
		return bad("source is empty or too long")
	case s.VideoID == "" || len(s.VideoID) > 128:
		return bad("videoId is empty or too long")
	case s.ChunkSize < MinChunkSize || s.ChunkSize > MaxChunkSize:
		return bad("chunkSize %d is outside [%d, %d]", s.ChunkSize, int64(MinChunkSize), int64(MaxChunkSize))
	case s.FirstChunkSize < MinChunkSize || s.FirstChunkSize > s.ChunkSize:
		return bad("firstChunkSize %d is outside [%d, chunkSize]", s.FirstChunkSize, int64(MinChunkSize))
	case s.Total < -1 || s.Total == 0 || s.Total > maxTotalSize:
		return bad("total %d is out of range", s.Total)
	case len(s.Acked) > maxParts:
		return bad("more than %d acked chunks", maxParts)
	}
	chunks := maxParts
	if s.Total > 0 {
		chunks = int(savedLayout(s).count(s.Total))
	}
	for k, c := range s.Acked {
		if c.Index < 0 || c.Index >= chunks || k > 0 && c.Index <= s.Acked[k-1].Index {
			return bad("acked chunks must be distinct ascending indexes below %d", chunks)
		}
		if !hexSHA256.MatchString(c.PrefixSHA256) {
			return bad("chunk %d: prefixSha256 is not a hex SHA-256", c.Index)
		}
		want := savedLayout(s).length(c.Index, s.Total)
		if s.Total < 0 && k == len(s.Acked)-1 && c.Size > 0 && c.Size < want {
			want = c.Size // a stream's last chunk may be short
		}
		if c.Size != want {
			return bad("chunk %d: size %d, want %d", c.Index, c.Size, want)
		}
	}
	for k, c := range s.Sending {
		if c.Index < 0 || c.Index >= chunks || k > 0 && c.Index <= s.Sending[k-1].Index {
			return bad("chunks being sent must be distinct ascending indexes below %d", chunks)
		}
		if _, acked := slices.BinarySearchFunc(s.Acked, c.Index, func(a AckedChunk, i int) int { return a.Index - i }); acked {
			return bad("chunk %d is both acknowledged and being sent", c.Index)
		}
		if !hexSHA256.MatchString(c.PrefixSHA256) {
			return bad("chunk %d: prefixSha256 is not a hex SHA-256", c.Index)
		}
		want := savedLayout(s).length(c.Index, s.Total)
		if s.Total < 0 && c.Size > 0 && c.Size < want {
			want = c.Size // a stream's last chunk may be short
		}
		if c.Size != want {
			return bad("chunk %d: size %d, want %d", c.Index, c.Size, want)
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

// Keys lists the keys of the states in the store, in lexical order: with
// Load, a batch of uploads can use the store as its journal. Each state
// names its source and server (UploadState.Source and BaseURL).
func (st *FileStore) Keys(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("avupload: reading the resume store: %w", err)
	}
	var keys []string
	for _, e := range entries {
		if key, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() && storeKey.MatchString(key) {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// StateFile is a ResumeStore holding the state of a single upload in one
// file, whatever the key: the file a command line names with --state-file.
// Writes are atomic and the file is readable by its owner only. A state
// saved for another source or server is neither resumed nor replaced:
// Upload checks both and fails with ErrStateConflict. Delete removes a
// regular file only, never a directory.
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
		return nil, fmt.Errorf("avupload: reading the upload state %s: %w", path, err)
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
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("avupload: saving the upload state: %w", err)
	}
	return nil
}

func removeStateFile(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("avupload: deleting the upload state: %s is not a regular file", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("avupload: deleting the upload state: %w", err)
	}
	return nil
}
