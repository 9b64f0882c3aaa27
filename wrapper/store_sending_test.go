package wrapper

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateSendingIsChecked: the list of chunks being sent is saved and
// read back, and a list no upload could have written is refused.
func TestStateSendingIsChecked(t *testing.T) {
	sum := strings.Repeat("a", 64)
	good := func() *UploadState { return benchState(3) } // acked 0-2, sending 3-6
	for _, tc := range []struct {
		name   string
		change func(s *UploadState)
		want   string // "" when the state is valid
	}{
		{"valid", func(*UploadState) {}, ""},
		{"none", func(s *UploadState) { s.Sending = nil }, ""},
		{"not ascending", func(s *UploadState) { s.Sending[0], s.Sending[1] = s.Sending[1], s.Sending[0] }, "distinct ascending"},
		{"twice", func(s *UploadState) { s.Sending[1] = s.Sending[0] }, "distinct ascending"},
		{"acknowledged too", func(s *UploadState) { s.Sending[0] = s.Acked[2] }, "both acknowledged and being sent"},
		{"beyond the last chunk", func(s *UploadState) { s.Sending[3].Index = 100000 }, "below"},
		{"bad hash", func(s *UploadState) { s.Sending[0].PrefixSHA256 = "x" + sum[1:] }, "not a hex SHA-256"},
		{"bad size", func(s *UploadState) { s.Sending[0].Size-- }, "size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.change(s)
			f := NewStateFile(filepath.Join(t.TempDir(), "state.json"))
			err := f.Save(t.Context(), "", s)
			if tc.want != "" {
				require.ErrorIs(t, err, ErrStateConflict)
				assert.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			got, err := f.Load(t.Context(), "")
			require.NoError(t, err)
			assert.Equal(t, s.Sending, got.Sending)
			assert.Equal(t, s.Acked, got.Acked)
		})
	}
}
