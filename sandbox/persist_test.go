package sandbox_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestDataDirSurvivesRestart fills a sandbox with tokens and videos in every
// state, restarts it on the same data directory, and checks that everything
// is back, expiries included, and that partial videos can be completed.
func TestDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	opts := []sandbox.Option{sandbox.WithDataDir(dir), sandbox.WithClock(clock.Now)}
	first := sandboxtest.NewServer(t, opts...)

	hour := createToken(t, first, `{"ttl":3600}`)
	never := createToken(t, first, `{"ttl":0}`)
	short := createToken(t, first, `{"ttl":60}`)
	deleted := createToken(t, first, `{"ttl":0}`)
	require.Equal(t, http.StatusNoContent, call(t, http.MethodDelete, first.URL+"/upload-tokens/"+deleted.str("token"), first.APIKey, nil, "").Status)
	tok := hour.str("token")

	whole := randomBytes(3*mib, 1)
	r := upload(t, first, uploadReq{token: tok, data: whole, fileName: "whole.mp4"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	wholeID := r.str("videoId")

	byBytes := randomBytes(12*mib, 2)
	rng := func(from, to int) string { return fmt.Sprintf("bytes %d-%d/%d", from, to, len(byBytes)) }
	r = upload(t, first, uploadReq{token: tok, data: byBytes[:5*mib], contentRange: rng(0, 5*mib-1), fileName: "bytes.mp4"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	bytesID := r.str("videoId")

	byPart := randomBytes(11*mib, 3)
	r = upload(t, first, uploadReq{token: tok, data: byPart[:5*mib], contentRange: "part 1/*", fileName: "parts.mp4"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	partID := r.str("videoId")
	r = upload(t, first, uploadReq{token: tok, videoID: partID, data: byPart[5*mib : 10*mib], contentRange: "part 2/*"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)

	before := first.Sandbox.Videos()
	require.Len(t, before, 3)
	require.NoError(t, first.Close())
	clock.Advance(2 * time.Minute) // the 60-second token expires meanwhile

	second := sandboxtest.NewServer(t, opts...)
	assert.Equal(t, before, second.Sandbox.Videos(), "every video, complete or partial, in creation order")

	for _, c := range []struct {
		name  string
		token apiResponse
	}{{"ttl 3600", hour}, {"ttl 0", never}} {
		got := call(t, http.MethodGet, second.URL+"/upload-tokens/"+c.token.str("token"), second.APIKey, nil, "")
		require.Equal(t, http.StatusOK, got.Status, "%s: %s", c.name, got.Raw)
		assert.Equal(t, c.token.Body, got.Body, "%s comes back with its ttl, creation and expiry", c.name)
	}
	for _, gone := range []apiResponse{short, deleted} {
		got := call(t, http.MethodGet, second.URL+"/upload-tokens/"+gone.str("token"), second.APIKey, nil, "")
		assert.Equal(t, http.StatusNotFound, got.Status, "expired and deleted tokens stay gone")
	}

	got, err := second.Sandbox.VideoBytes(wholeID)
	require.NoError(t, err)
	assert.Equal(t, sha(whole), sha(got))

	r = upload(t, second, uploadReq{token: tok, videoID: bytesID, data: byBytes[:5*mib], contentRange: rng(0, 5*mib-1)})
	assert.Equal(t, http.StatusBadRequest, r.Status, "the chunk received before the restart is still there: %s", r.Raw)
	r = upload(t, second, uploadReq{token: tok, videoID: bytesID, data: byBytes[5*mib:], contentRange: rng(5*mib, len(byBytes)-1)})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	assert.Equal(t, "bytes.mp4", r.str("title"))
	info, _ := second.Sandbox.Video(bytesID)
	assert.Equal(t, sandbox.VideoInfo{VideoID: bytesID, Size: int64(len(byBytes)), SHA256: sha(byBytes), Complete: true, Chunks: 2}, info)

	r = upload(t, second, uploadReq{token: never.str("token"), videoID: partID, data: byPart[10*mib:], contentRange: "part 3/3"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	info, _ = second.Sandbox.Video(partID)
	assert.Equal(t, sandbox.VideoInfo{VideoID: partID, Size: int64(len(byPart)), SHA256: sha(byPart), Complete: true, Chunks: 3}, info)

	// And once more: what completed after the first restart is complete.
	after := second.Sandbox.Videos()
	require.NoError(t, second.Close())
	third := sandboxtest.NewServer(t, opts...)
	assert.Equal(t, after, third.Sandbox.Videos())
}

// TestDataDirCrashLeftovers starts a sandbox on a data directory as a crash
// may leave it: uploads in flight, a video directory whose state was never
// written, temporary files, and a last chunk whose completion was not
// recorded.
func TestDataDirCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, data []byte) {
		t.Helper()
		path := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	chunk0, chunk1 := randomBytes(5*mib, 4), randomBytes(100, 5)
	const id = "vi0123456789012345678901"
	write("tmp/spool-123", []byte("an upload in flight"))
	write("videos/viNoStateWasWritten00000/chunk-0", []byte("orphan"))
	write("videos/"+id+"/video.json", []byte(`{"videoId":"`+id+`","title":"crash.mp4","createdAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:05Z","unit":"bytes","total":5242980,"complete":false}`))
	write("videos/"+id+"/chunk-0", chunk0)
	write("videos/"+id+"/chunk-5242880", chunk1)
	write("videos/"+id+"/.tmp-987", []byte(`{"half`))
	write("tokens/.tmp-555", []byte(`{"tok`))

	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(dir))
	vs := srv.Sandbox.Videos()
	require.Len(t, vs, 1)
	assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: 5242980, SHA256: sha(append(chunk0, chunk1...)), Complete: true, Chunks: 2}, vs[0],
		"the last chunk had landed: the video is complete")

	orphan, err := os.ReadFile(filepath.Join(dir, "quarantine", "videos", "viNoStateWasWritten00000", "chunk-0"))
	require.NoError(t, err, "a video directory without state is moved aside, not deleted")
	assert.Equal(t, "orphan", string(orphan))
	for _, gone := range []string{"tmp/spool-123", "videos/viNoStateWasWritten00000", "videos/" + id + "/.tmp-987", "tokens/.tmp-555"} {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(gone)))
		assert.ErrorIs(t, err, os.ErrNotExist, "%s is removed", gone)
	}
	state, err := os.ReadFile(filepath.Join(dir, "videos", id, "video.json"))
	require.NoError(t, err)
	assert.Contains(t, string(state), `"complete":true`, "the completion is recorded now")
}
