package wrapper

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// TestUploadSurvivesFaults injects every fault the sandbox knows on the
// first, a middle and the last of four chunks, and checks that the upload
// still makes exactly one complete video with the source's bytes.
func TestUploadSurvivesFaults(t *testing.T) {
	const size = 3*testChunk + 1
	data := testData(size, 7)
	sum := sha256Hex(data)
	faults := []struct {
		name  string
		fault sandbox.Fault
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: http.StatusInternalServerError}},
		{"503", sandbox.Fault{Kind: sandbox.FaultStatus, Status: http.StatusServiceUnavailable}},
		{"429", sandbox.Fault{Kind: sandbox.FaultStatus, Status: http.StatusTooManyRequests}},
		{"cut", sandbox.Fault{Kind: sandbox.FaultCutRequest, AfterBytes: 1 << 20}},
		{"stall", sandbox.Fault{Kind: sandbox.FaultStall, Stall: 3 * time.Second}},
		{"commit-cut", sandbox.Fault{Kind: sandbox.FaultCommitThenCut}},
	}
	positions := []struct {
		name    string
		request int
	}{{"first", 1}, {"middle", 2}, {"last", 4}}
	for _, f := range faults {
		for _, pos := range positions {
			t.Run(f.name+"/"+pos.name, func(t *testing.T) {
				t.Parallel()
				fault := f.fault
				fault.Op, fault.Request = sandbox.OpUploadWithUploadToken, pos.request
				e := newUploadEnv(t, sandbox.WithFaults(fault))
				opts := &UploadOptions{ChunkSize: testChunk}
				if fault.Kind == sandbox.FaultStall {
					opts.StallTimeout = time.Second
				}
				res, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(data), size), opts)
				require.NoError(t, err)
				e.checkVideo(t, res, sum, size)
				incomplete := 0
				for _, v := range e.srv.Sandbox.Videos() {
					if !v.Complete {
						incomplete++
					}
				}
				if f.name == "commit-cut" && pos.name == "first" {
					assert.LessOrEqual(t, incomplete, 1, "at most the orphan of the lost first answer")
				} else {
					assert.Zero(t, incomplete, "no orphan video")
				}
				// Every chunk got its 201 but the one whose answer was lost,
				// unless it was the first: that one was sent again as new.
				want201 := 4
				if fault.Kind == sandbox.FaultCommitThenCut && pos.name != "first" {
					want201 = 3
				}
				stats := e.srv.Sandbox.Stats()
				assert.Equal(t, want201, stats.CountStatus(sandbox.OpUploadWithUploadToken, http.StatusCreated))
				// A stalled request is counted when the server notices that
				// the client went away, which may come after Upload returned.
				assert.Eventually(t, func() bool {
					return e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken) >= 5
				}, 5*time.Second, 10*time.Millisecond, "four chunks and at least one retry")
			})
		}
	}
}

// TestUploadFailsAtOnceOnRefusal checks that a 4xx other than 408 and 429
// is not retried, and that the error carries the state.
func TestUploadFailsAtOnceOnRefusal(t *testing.T) {
	const size = 3*testChunk + 1
	data := testData(size, 8)
	e := newUploadEnv(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 3,
		Kind: sandbox.FaultStatus, Status: http.StatusForbidden}))
	_, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytesReader(data), size),
		&UploadOptions{ChunkSize: testChunk, Concurrency: 1}) // one at a time: the third request is chunk 2
	require.ErrorIs(t, err, ErrForbidden)
	var upErr *UploadError
	require.ErrorAs(t, err, &upErr)
	require.NotNil(t, upErr.State)
	assert.Equal(t, []int{0, 1}, ackedIndexes(upErr.State))
	assert.Equal(t, 3, e.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken))
}
