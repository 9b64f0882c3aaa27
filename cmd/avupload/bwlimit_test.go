package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/wrapper"
)

func TestBWLimitFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "20MiB", want: 20 << 20},
		{in: "5MiB/s", want: 5 << 20},
		{in: "1000000", want: 1000000},
		{in: "0", want: 0},
		{in: "-1", wantErr: true},
		{in: "fast", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n := int64(7)
			f := newBWLimitFlag(&n)
			assert.Equal(t, int64(7), n, "the flag leaves its value alone until set")
			err := f.Set(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				assert.Equal(t, int64(7), n, "a refused value leaves the flag alone")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, n)
			assert.Equal(t, tt.in, f.String())
		})
	}
}

// TestBWLimitPacesTheUpload uploads 2 MiB with --bwlimit 1MiB: the server
// takes it in about two seconds, where it takes a few milliseconds
// without the flag.
func TestBWLimitPacesTheUpload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "two.bin")
	require.NoError(t, os.WriteFile(p, make([]byte, 2<<20), 0o600))
	var took atomic.Int64
	h := func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n, _ := io.Copy(io.Discard, r.Body)
		if n >= 2<<20 {
			took.Store(int64(time.Since(start)))
		}
		testutil.Answer(201, `{"videoId":"vi1"}`)(w, r)
	}
	code, _, errw := runAgainst(t, h, "upload", "--bwlimit", "1MiB", p)
	require.Equal(t, exitOK, code, errw)
	// (2 MiB - the bucket's tenth of a second) at 1 MiB/s.
	assert.GreaterOrEqual(t, time.Duration(took.Load()), 1800*time.Millisecond)
	assert.LessOrEqual(t, time.Duration(took.Load()), 3*time.Second)
}

// TestRetryBudgetIsDescribed: a failure the client did not retry because
// its retry budget was spent says so, then what the server answered.
func TestRetryBudgetIsDescribed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"an answer", fmt.Errorf("%w: %w", wrapper.ErrRetryBudget, &wrapper.APIError{Op: "uploadWithUploadToken", StatusCode: 503, Title: "Service unavailable."}),
			"the server is failing too often, so this failure was not retried: Service unavailable."},
		{"no answer", &wrapper.OpError{Op: "uploadWithUploadToken", Err: fmt.Errorf("%w: %w", wrapper.ErrRetryBudget, io.ErrUnexpectedEOF)},
			"cannot reach the server at https://ws.api.video: the server is failing too often"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, describe(tt.err, nil), tt.want)
		})
	}
}
