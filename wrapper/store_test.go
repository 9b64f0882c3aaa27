package wrapper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validState() *UploadState {
	return &UploadState{
		Version:     stateVersion,
		TokenHash:   hashToken("to1tcmSFHeYY5KzyhOqVKMKb"),
		VideoID:     "vi4k0jvEUuaTdRAEjQ4Jfrgz",
		ChunkSize:   MinChunkSize,
		Total:       3*MinChunkSize + 1,
		Acked:       []int{0, 2},
		Fingerprint: Fingerprint{Size: 3*MinChunkSize + 1, ModTime: time.Unix(1700000000, 0).UTC(), HeadSHA256: strings.Repeat("a", 64), TailSHA256: strings.Repeat("b", 64)},
		UpdatedAt:   time.Unix(1700000100, 0).UTC(),
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
		"version":        func(s *UploadState) { s.Version = 2 },
		"token hash":     func(s *UploadState) { s.TokenHash = "to1tcmSFHeYY5KzyhOqVKMKb" },
		"video":          func(s *UploadState) { s.VideoID = "" },
		"chunk size":     func(s *UploadState) { s.ChunkSize = 1 },
		"total":          func(s *UploadState) { s.Total = 0 },
		"size":           func(s *UploadState) { s.Fingerprint.Size = 5 },
		"head":           func(s *UploadState) { s.Fingerprint.HeadSHA256 = "" },
		"unsorted acked": func(s *UploadState) { s.Acked = []int{2, 0} },
		"acked too far":  func(s *UploadState) { s.Acked = []int{4} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := validState()
			mutate(s)
			data, err := encodeState(s)
			require.NoError(t, err)
			_, err = decodeState(data)
			assert.ErrorIs(t, err, errBadState)
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		_, err := decodeState([]byte(`{"version":1,"token":"secret"}`))
		assert.ErrorIs(t, err, errBadState)
	})
}

// FuzzDecodeState checks that the decoder never panics and that what it
// accepts encodes and decodes to the same state.
func FuzzDecodeState(f *testing.F) {
	good, err := encodeState(validState())
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{}`))
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
		require.True(t, s.Fingerprint.equal(s2.Fingerprint))
	})
}
