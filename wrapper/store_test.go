package wrapper

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validState() *UploadState {
	return &UploadState{
		Version:        stateVersion,
		BaseURL:        "https://sandbox.api.video",
		Source:         "/videos/talk.mp4",
		VideoID:        "vi4k0jvEUuaTdRAEjQ4Jfrgz",
		ChunkSize:      MinChunkSize,
		FirstChunkSize: MinChunkSize,
		Total:          3*MinChunkSize + 1,
		ModTime:        time.Unix(1700000000, 0).UTC(),
		Acked: []AckedChunk{
			{Index: 0, Size: MinChunkSize, PrefixSHA256: strings.Repeat("a", 64)},
			{Index: 3, Size: 1, PrefixSHA256: strings.Repeat("b", 64)},
		},
		UpdatedAt: time.Unix(1700000100, 0).UTC(),
	}
}

func TestStoresRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fileStore, err := NewFileStore(filepath.Join(dir, "states"))
	require.NoError(t, err)
	stores := map[string]ResumeStore{
		"FileStore": fileStore,
		"StateFile": NewStateFile(filepath.Join(dir, "one.json")),
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			got, err := store.Load(ctx, "upload-abc")
			require.NoError(t, err)
			assert.Nil(t, got, "nothing saved yet")

			want := validState()
			require.NoError(t, store.Save(ctx, "upload-abc", want))
			got, err = store.Load(ctx, "upload-abc")
			require.NoError(t, err)
			assert.Equal(t, want, got)

			require.NoError(t, store.Delete(ctx, "upload-abc"))
			require.NoError(t, store.Delete(ctx, "upload-abc"), "deleting twice is fine")
			got, err = store.Load(ctx, "upload-abc")
			require.NoError(t, err)
			assert.Nil(t, got)
		})
	}
	t.Run("FileStore refuses keys that escape", func(t *testing.T) {
		for _, key := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("k", 129)} {
			assert.ErrorIs(t, fileStore.Save(t.Context(), key, validState()), ErrInvalidInput, key)
		}
	})
	t.Run("file mode 0600", func(t *testing.T) {
		require.NoError(t, fileStore.Save(t.Context(), "k", validState()))
		fi, err := os.Stat(filepath.Join(fileStore.Dir(), "k.json"))
		require.NoError(t, err)
		assertOwnerOnly(t, fi)
	})
}

func TestDecodeStateRefuses(t *testing.T) {
	cases := map[string]func(s *UploadState){
		"base URL":                      func(s *UploadState) { s.BaseURL = "" },
		"source":                        func(s *UploadState) { s.Source = "" },
		"video":                         func(s *UploadState) { s.VideoID = "" },
		"chunk size":                    func(s *UploadState) { s.ChunkSize = 1 },
		"total":                         func(s *UploadState) { s.Total = 0 },
		"chunk hash":                    func(s *UploadState) { s.Acked[0].PrefixSHA256 = "to1tcmSFHeYY5KzyhOqVKMKb" },
		"chunk size 0":                  func(s *UploadState) { s.Acked[0].Size = 0 },
		"short middle":                  func(s *UploadState) { s.Acked[0].Size = 5 },
		"last too long":                 func(s *UploadState) { s.Acked[1].Size = 2 },
		"unsorted acked":                func(s *UploadState) { s.Acked[0], s.Acked[1] = s.Acked[1], s.Acked[0] },
		"acked too far":                 func(s *UploadState) { s.Acked[1].Index = 4 },
		"first chunk below the minimum": func(s *UploadState) { s.FirstChunkSize = MinChunkSize - 1 },
		"first chunk above the others":  func(s *UploadState) { s.FirstChunkSize = 2 * MinChunkSize },
		"first chunk not as laid out": func(s *UploadState) {
			s.ChunkSize, s.Total = 2*MinChunkSize, 5*MinChunkSize
			s.Acked = []AckedChunk{{Index: 0, Size: 2 * MinChunkSize, PrefixSHA256: s.Acked[0].PrefixSHA256}}
		},
		"stream short middle": func(s *UploadState) {
			s.Total = -1
			s.Acked = []AckedChunk{{Index: 0, Size: 7, PrefixSHA256: s.Acked[0].PrefixSHA256}, {Index: 1, Size: MinChunkSize, PrefixSHA256: s.Acked[1].PrefixSHA256}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := validState()
			mutate(s)
			data, err := encodeState(s)
			require.NoError(t, err)
			_, err = decodeState(data)
			assert.ErrorIs(t, err, errBadState)
			assert.ErrorIs(t, err, ErrStateConflict)
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		_, err := decodeState([]byte(`{"version":3,"token":"secret"}`))
		assert.ErrorIs(t, err, errBadState)
	})
	t.Run("a small first chunk", func(t *testing.T) {
		s := validState()
		s.ChunkSize, s.Total = 2*MinChunkSize, 5*MinChunkSize
		s.Acked = []AckedChunk{{Index: 0, Size: MinChunkSize, PrefixSHA256: s.Acked[0].PrefixSHA256},
			{Index: 2, Size: 2 * MinChunkSize, PrefixSHA256: s.Acked[1].PrefixSHA256}}
		data, err := encodeState(s)
		require.NoError(t, err)
		_, err = decodeState(data)
		assert.NoError(t, err)
	})
	t.Run("stream with a short last chunk", func(t *testing.T) {
		s := validState()
		s.Total = -1
		s.Acked = []AckedChunk{{Index: 0, Size: MinChunkSize, PrefixSHA256: s.Acked[0].PrefixSHA256}, {Index: 1, Size: 7, PrefixSHA256: s.Acked[1].PrefixSHA256}}
		data, err := encodeState(s)
		require.NoError(t, err)
		_, err = decodeState(data)
		assert.NoError(t, err)
	})
}

// TestDecodeStateOldVersion checks that a state of an older format
// (version 1, keyed by the token and without per-chunk hashes; version 2,
// with each chunk's own SHA-256) is refused with a message about its
// version, not its fields.
func TestDecodeStateOldVersion(t *testing.T) {
	old := map[int]string{
		1: `{"version":1,"tokenHash":"` + strings.Repeat("c", 64) + `","videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz","chunkSize":5242880,` +
			`"total":15728641,"acked":[0,1],"fingerprint":{"size":15728641,"headSha256":"` + strings.Repeat("a", 64) + `"},"updatedAt":"2026-11-01T00:00:00Z"}`,
		2: `{"version":2,"baseUrl":"https://sandbox.api.video","source":"/videos/talk.mp4","videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz",` +
			`"chunkSize":5242880,"total":15728641,"acked":[{"index":0,"size":5242880,"sha256":"` + strings.Repeat("b", 64) + `"}],"updatedAt":"2026-11-01T00:00:00Z"}`,
	}
	for version, text := range old {
		t.Run(strconv.Itoa(version), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "old.state")
			require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
			_, err := NewStateFile(p).Load(t.Context(), "")
			require.ErrorIs(t, err, ErrStateConflict)
			assert.Contains(t, err.Error(), fmt.Sprintf("format version %d,", version))
			assert.Contains(t, err.Error(), fmt.Sprintf("reads versions %d and %d only", oldestReadVersion, stateVersion))
			assert.Contains(t, err.Error(), p, "the message names the file")
		})
	}
}

// TestStateFileDeleteKeepsDirectories checks that a StateFile whose path
// is a directory never deletes it, even empty.
func TestStateFileDeleteKeepsDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.Mkdir(dir, 0o700))
	assert.Error(t, NewStateFile(dir).Delete(t.Context(), ""))
	assert.DirExists(t, dir)
}

func TestFileStoreKeys(t *testing.T) {
	st, err := NewFileStore(t.TempDir())
	require.NoError(t, err)
	k1, k2 := ResumeKey("https://a.example", "/x.mp4"), ResumeKey("https://a.example", "/y.mp4")
	require.NotEqual(t, k1, k2)
	assert.Equal(t, k1, ResumeKey("https://a.example/", "/x.mp4"), "a trailing slash makes no other key")
	require.NoError(t, st.Save(t.Context(), k1, validState()))
	require.NoError(t, st.Save(t.Context(), k2, validState()))
	require.NoError(t, os.WriteFile(filepath.Join(st.Dir(), "notes.txt"), nil, 0o600))
	keys, err := st.keys(t.Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{k1, k2}, keys)
}

// FuzzDecodeState checks that the decoder never panics and that what it
// accepts encodes and decodes to the same state.
func FuzzDecodeState(f *testing.F) {
	good, err := encodeState(validState())
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":2,"acked":[{"index":1},{"index":1}]}`))
	f.Add([]byte(`{"version":1,"acked":[1,1]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeState(data)
		if err != nil {
			return
		}
		again, err := encodeState(s)
		require.NoError(t, err)
		s2, err := decodeState(again)
		require.NoError(t, err)
		require.Equal(t, s.Acked, s2.Acked)
		require.Equal(t, s.VideoID, s2.VideoID)
		require.Equal(t, s, s2)
	})
}

// assertOwnerOnly checks that a file written with mode 0o600 has it. Windows
// keeps only a read-only bit, which 0o600 must leave clear: there the file
// reads as 0o666.
func assertOwnerOnly(t *testing.T, fi os.FileInfo) {
	t.Helper()
	want := os.FileMode(0o600)
	if runtime.GOOS == "windows" {
		want = 0o666
	}
	assert.Equal(t, want, fi.Mode().Perm(), "%s's mode", fi.Name())
}
