package wrapper

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUploadOptionsValidate checks that Validate refuses what Upload
// refuses, accepts the rest, nil included, and changes nothing.
func TestUploadOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts *UploadOptions
		ok   bool
	}{
		{"nil", nil, true},
		{"zero", &UploadOptions{}, true},
		{"never stall", &UploadOptions{StallTimeout: -1}, true},
		{"chunk too small", &UploadOptions{ChunkSize: 1}, false},
		{"chunk too large", &UploadOptions{ChunkSize: MaxChunkSize + 1}, false},
		{"negative concurrency", &UploadOptions{Concurrency: -1}, false},
		{"bad retry policy", &UploadOptions{Retry: &RetryPolicy{MaxAttempts: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before UploadOptions
			if tt.opts != nil {
				before = *tt.opts
			}
			err := tt.opts.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidInput)
			}
			if tt.opts != nil {
				assert.Equal(t, before, *tt.opts, "Validate changes nothing")
			}
		})
	}
}

// TestClientLogger checks that Logger returns the logger the client logs
// to: the one given, or one that discards.
func TestClientLogger(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	c, err := New(WithLogger(l))
	require.NoError(t, err)
	assert.Same(t, l, c.Logger())

	c, err = New()
	require.NoError(t, err)
	require.NotNil(t, c.Logger())
	c.Logger().Warn("nowhere") // the default discards, without failing
}
