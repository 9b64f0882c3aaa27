package batch

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

// TestMinterSharedByBatches checks that batches given one Minter share
// its token: one mint for three batches, none deleted by a batch, and
// every one deleted by Close.
func TestMinterSharedByBatches(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(srv.APIKey), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000, "3.mp4": 3000})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)

	m, err := NewMinter(c, 0)
	require.NoError(t, err)
	for _, f := range files {
		res, err := Upload(t.Context(), c, []File{f}, &Options{Minter: m})
		require.NoError(t, err)
		assert.Equal(t, 1, res.Uploaded)
	}
	stats := srv.Sandbox.Stats()
	assert.Equal(t, 1, stats.CountStatus(sandbox.OpCreateUploadToken, http.StatusOK), "one token for every batch")
	assert.Zero(t, stats.CountStatus(sandbox.OpDeleteUploadToken, http.StatusNoContent), "a batch deletes none of the Minter's tokens")
	require.NoError(t, m.Close(t.Context()))
	page, err := c.ListUploadTokens(t.Context(), wrapper.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Tokens, "Close leaves no token behind")

	_, err = Upload(t.Context(), c, files, &Options{Minter: m, Token: "to1"})
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput)
	_, err = NewMinter(c, time.Second)
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput)

	keyless, err := wrapper.New(wrapper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	m, err = NewMinter(keyless, 0)
	require.NoError(t, err)
	_, err = m.Token(t.Context())
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput, "no key: no token")
}

// TestMinterForgetsExpiredTokens checks that a long-lived token source
// forgets the tokens past their expiry (gone from the server) instead of
// deleting them all at its end.
func TestMinterForgetsExpiredTokens(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(srv.APIKey), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	m, err := NewMinter(c, time.Hour)
	require.NoError(t, err)
	clock := time.Now()
	m.src.now = func() time.Time { return clock }
	for range 5 {
		_, err := m.Token(t.Context())
		require.NoError(t, err)
		clock = clock.Add(3 * time.Hour) // every token expired long ago: each call mints
	}
	assert.Equal(t, 5, srv.Sandbox.Stats().CountStatus(sandbox.OpCreateUploadToken, http.StatusOK))
	assert.Len(t, m.src.minted, 1, "the expired tokens are forgotten")
	require.NoError(t, m.Close(t.Context()))
	assert.Equal(t, 1, srv.Sandbox.Stats().CountStatus(sandbox.OpDeleteUploadToken, http.StatusNoContent))
}

// TestTrackRenames checks that, with TrackRenames, a recorded file moved
// elsewhere is recorded under its new path and not uploaded again, while a
// copy of a file still in place, and an edited file, are uploaded.
func TestTrackRenames(t *testing.T) {
	env := newUploadEnv(t)
	root := writeTree(t, t.TempDir(), map[string]int64{"a.mp4": 3000, "b.mp4": 4000})
	jdir := filepath.Join(t.TempDir(), "journal")
	j, err := OpenJournal(jdir)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	opts := func(col *collect) *Options {
		o := batchOpts(j, env.token, col)
		o.TrackRenames = true
		return o
	}
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	var col collect
	_, err = Upload(t.Context(), env.client, files, opts(&col))
	require.NoError(t, err)
	videoA := col.got[filepath.Join(root, "a.mp4")].VideoID
	require.NotEmpty(t, videoA)

	// a.mp4 moves into a new folder; b.mp4 is copied; both are new paths.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(root, "a.mp4"), filepath.Join(root, "sub", "moved.mp4")))
	data, err := os.ReadFile(filepath.Join(root, "b.mp4"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "copy.mp4"), data, 0o600))

	files, err = Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	col = collect{}
	res, err := Upload(t.Context(), env.client, files, opts(&col))
	require.NoError(t, err)
	moved := col.got[filepath.Join(root, "sub", "moved.mp4")]
	assert.Equal(t, FileSkipped, moved.Status, "a moved file is not uploaded again")
	assert.Equal(t, videoA, moved.VideoID, "it keeps its video")
	assert.Equal(t, FileUploaded, col.got[filepath.Join(root, "copy.mp4")].Status, "a copy of a file still there is uploaded")
	assert.Equal(t, 1, res.Uploaded)
	abs, err := filepath.Abs(filepath.Join(root, "sub", "moved.mp4"))
	require.NoError(t, err)
	e, ok := j.Done(env.client.BaseURL(), abs)
	require.True(t, ok, "the new path is recorded")
	assert.Equal(t, videoA, e.VideoID)
	assert.Equal(t, 3, len(env.srv.Sandbox.Videos()), "a.mp4, b.mp4 and the copy: nothing else was sent")

	// Without TrackRenames, a moved file is a new file.
	require.NoError(t, os.Rename(filepath.Join(root, "sub", "moved.mp4"), filepath.Join(root, "again.mp4")))
	col = collect{}
	plain := batchOpts(j, env.token, &col)
	res, err = Upload(t.Context(), env.client, []File{{Path: filepath.Join(root, "again.mp4"), Size: 3000}}, plain)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Uploaded)

	_, err = Upload(t.Context(), env.client, files, &Options{Token: env.token, TrackRenames: true})
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput, "TrackRenames wants a journal")
}
