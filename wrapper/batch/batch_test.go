package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"

	"github.com/avupload/avupload/wrapper"
)

// batchTree is a small tree: whole-file uploads of a few hundred KiB and
// one file of two chunks.
var batchTree = map[string]int64{
	"a.mp4":           300 << 10,
	"b.mp4":           100<<10 + 7,
	"sub/c.mp4":       700 << 10,
	"sub/d.mov":       1,
	"sub/deep/e.mp4":  256 << 10,
	"sub/deep/f.mp4":  5<<20 + 12345, // two chunks of 5 MiB
	"other/g.mp4":     64 << 10,
	"other/h.mp4":     33,
	"other/i/j/k.mp4": 4096,
}

// fileSums maps each file of files to its hex SHA-256.
func fileSums(t testing.TB, files []File) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		sums[f.Path] = hex.EncodeToString(sum[:])
	}
	return sums
}

// completeBySum counts the sandbox's complete videos by SHA-256.
func completeBySum(sb *sandbox.Sandbox) map[string]int {
	n := map[string]int{}
	for _, v := range sb.Videos() {
		if v.Complete {
			n[v.SHA256]++
		}
	}
	return n
}

// collect gathers a batch's file results, keyed by path.
type collect struct {
	mu  sync.Mutex
	got map[string]FileResult
}

func (c *collect) onFile(r FileResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got == nil {
		c.got = map[string]FileResult{}
	}
	c.got[r.File.Path] = r
}

func batchOpts(j *Journal, token string, col *collect) *Options {
	return &Options{
		Upload:  wrapper.UploadOptions{ChunkSize: testChunk, Concurrency: 2},
		Jobs:    3,
		Journal: j,
		Token:   token,
		OnFile:  col.onFile,
	}
}

// TestUploadTreeThenSkip uploads a tree whole with a journal: every
// file becomes one complete video holding its bytes, and a rerun skips them
// all without a single upload request.
func TestUploadTreeThenSkip(t *testing.T) {
	env := newUploadEnv(t)
	root := writeTree(t, t.TempDir(), batchTree)
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	require.Len(t, files, len(batchTree))
	sums := fileSums(t, files)
	journalDir := filepath.Join(t.TempDir(), "journal")

	j, err := OpenJournal(journalDir)
	require.NoError(t, err)
	var col collect
	opts := batchOpts(j, env.token, &col)
	var last Progress
	var calls int
	opts.Progress = func(p Progress) { last = p; calls++ }
	res, err := Upload(t.Context(), env.client, files, opts)
	require.NoError(t, err)
	require.NoError(t, j.Close())

	assert.Equal(t, Result{Uploaded: len(files), BytesSent: totalSize(files), Duration: res.Duration}, *res)
	assert.Positive(t, calls)
	assert.Equal(t, len(files), last.Done)
	assert.Equal(t, last.Bytes, last.BytesDone, "the last progress call shows every byte")
	assert.Empty(t, last.InFlight)
	bySum := completeBySum(env.srv.Sandbox)
	for _, f := range files {
		r := col.got[f.Path]
		assert.Equal(t, FileUploaded, r.Status, f.Path)
		assert.Equal(t, sums[f.Path], r.SHA256, "%s: the result's SHA-256 is the file's", f.Path)
		assert.Equal(t, 1, bySum[sums[f.Path]], "%s is one complete video at the sandbox", f.Path)
		v, ok := env.srv.Sandbox.Video(r.VideoID)
		require.True(t, ok, f.Path)
		assert.Equal(t, r.SHA256, v.SHA256, "%s: the sandbox's SHA-256 is the result's", f.Path)
	}
	states, err := os.ReadDir(filepath.Join(journalDir, "states"))
	require.NoError(t, err)
	assert.Empty(t, states, "no state is left once every file is done")

	uploads := env.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken)
	j, err = OpenJournal(journalDir)
	require.NoError(t, err)
	assert.Equal(t, len(files), j.len())
	var again collect
	res, err = Upload(t.Context(), env.client, files, batchOpts(j, env.token, &again))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, len(files), res.Skipped)
	assert.Zero(t, res.Uploaded+res.Failed)
	assert.Equal(t, uploads, env.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "a rerun sends nothing")
	for _, f := range files {
		assert.Equal(t, col.got[f.Path].VideoID, again.got[f.Path].VideoID, "%s keeps its video", f.Path)
		assert.Equal(t, sums[f.Path], again.got[f.Path].SHA256)
	}
}

func totalSize(files []File) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

// TestUploadEditedFile edits a recorded file in place, size and mtime
// restored: the default check uploads it again as a new video; the stat
// check, as documented, does not see the edit.
func TestUploadEditedFile(t *testing.T) {
	env := newUploadEnv(t)
	root := writeTree(t, t.TempDir(), map[string]int64{"one.mp4": 200 << 10, "two.mp4": 100 << 10})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	journalDir := t.TempDir()
	run := func(verify SkipCheck) (*Result, *collect) {
		j, err := OpenJournal(journalDir)
		require.NoError(t, err)
		defer func() { require.NoError(t, j.Close()) }()
		var col collect
		opts := batchOpts(j, env.token, &col)
		opts.Verify = verify
		res, err := Upload(t.Context(), env.client, files, opts)
		require.NoError(t, err)
		return res, &col
	}
	_, first := run(SkipIfSameContent)

	edited := files[0].Path
	fi, err := os.Stat(edited)
	require.NoError(t, err)
	data, err := os.ReadFile(edited)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(edited, data, 0o600))
	require.NoError(t, os.Chtimes(edited, fi.ModTime(), fi.ModTime()))

	res, col := run(SkipIfSameStat)
	assert.Equal(t, 2, res.Skipped, "size and mtime alone cannot see the edit")
	assert.Equal(t, first.got[edited].VideoID, col.got[edited].VideoID)

	res, col = run(SkipIfSameContent)
	assert.Equal(t, 1, res.Skipped)
	assert.Equal(t, 1, res.Uploaded)
	r := col.got[edited]
	assert.Equal(t, FileUploaded, r.Status)
	assert.NotEqual(t, first.got[edited].VideoID, r.VideoID, "an edited file is a new video")
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), r.SHA256)
	v, ok := env.srv.Sandbox.Video(r.VideoID)
	require.True(t, ok)
	assert.Equal(t, r.SHA256, v.SHA256)

	res, _ = run(SkipIfSameContent)
	assert.Equal(t, 2, res.Skipped, "the new upload is recorded")
}

// TestUploadFailureStaysAlone checks that a file the API refuses, and
// one that cannot be uploaded at all, fail alone: every other file is
// uploaded, and a rerun retries only the failed ones.
func TestUploadFailureStaysAlone(t *testing.T) {
	env := newUploadEnv(t, sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 2,
		Kind: sandbox.FaultStatus, Status: http.StatusForbidden}))
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000, "3.mp4": 3000, "4.mp4": 4000})
	require.NoError(t, os.WriteFile(filepath.Join(root, "0-empty.mp4"), nil, 0o600))
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	// Plan leaves an empty file out; given anyway, it cannot be uploaded.
	files = append([]File{{Path: filepath.Join(root, "0-empty.mp4"), ShardKey: "0-empty.mp4"}}, files...)
	require.Len(t, files, 5)
	journalDir := t.TempDir()

	j, err := OpenJournal(journalDir)
	require.NoError(t, err)
	var col collect
	opts := batchOpts(j, env.token, &col)
	opts.Jobs = 1 // the second request is the second file's
	res, err := Upload(t.Context(), env.client, files, opts)
	require.NoError(t, err, "failed files are counted, not returned")
	require.NoError(t, j.Close())
	assert.Equal(t, 3, res.Uploaded)
	assert.Equal(t, 2, res.Failed)
	empty := col.got[filepath.Join(root, "0-empty.mp4")]
	assert.Equal(t, FileFailed, empty.Status)
	assert.ErrorIs(t, empty.Err, wrapper.ErrInvalidInput)
	refused := col.got[filepath.Join(root, "2.mp4")]
	assert.Equal(t, FileFailed, refused.Status)
	assert.ErrorIs(t, refused.Err, wrapper.ErrForbidden)
	assert.Empty(t, refused.VideoID)

	j, err = OpenJournal(journalDir)
	require.NoError(t, err)
	var again collect
	res, err = Upload(t.Context(), env.client, files, batchOpts(j, env.token, &again))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Equal(t, Result{Uploaded: 1, Skipped: 3, Failed: 1, BytesSent: 2000, Duration: res.Duration}, *res)
	assert.Equal(t, FileUploaded, again.got[refused.File.Path].Status)
	bySum := completeBySum(env.srv.Sandbox)
	for path, sum := range fileSums(t, files[1:]) {
		assert.Equal(t, 1, bySum[sum], "%s is one complete video", path)
	}
}

// TestUploadCancelThenResume cancels a batch of chunked files once a
// file under way has a chunk acknowledged: no other file starts, the files
// under way keep their states, and a rerun finishes the batch with every
// file uploaded exactly once.
func TestUploadCancelThenResume(t *testing.T) {
	env := newUploadEnv(t)
	tree := map[string]int64{}
	for _, name := range []string{"a", "b", "c"} {
		tree[name+".mp4"] = 2*testChunk + 1000
	}
	root := writeTree(t, t.TempDir(), tree)
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	journalDir := t.TempDir()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	j, err := OpenJournal(journalDir)
	require.NoError(t, err)
	var col collect
	opts := batchOpts(j, env.token, &col)
	opts.Jobs = 2
	opts.Upload.Concurrency = 1
	opts.Progress = func(p Progress) {
		for _, f := range p.InFlight {
			if f.Acked >= testChunk {
				cancel()
			}
		}
	}
	res, err := Upload(ctx, env.client, files, opts)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, j.Close())
	require.NotNil(t, res)
	assert.Positive(t, res.NotStarted, "no file starts once the batch is cancelled")
	assert.Zero(t, res.Failed)
	assert.Positive(t, res.Interrupted)
	assert.Equal(t, len(files), res.Uploaded+res.Interrupted+res.NotStarted)
	for _, r := range col.got {
		if r.Status == FileFailed {
			assert.ErrorIs(t, r.Err, context.Canceled, r.File.Path)
		}
	}
	t.Logf("first run: %+v", *res)

	j, err = OpenJournal(journalDir)
	require.NoError(t, err)
	var again collect
	res, err = Upload(t.Context(), env.client, files, batchOpts(j, env.token, &again))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	assert.Zero(t, res.Failed)
	assert.Equal(t, len(files), res.Uploaded+res.Skipped)
	bySum := completeBySum(env.srv.Sandbox)
	for path, sum := range fileSums(t, files) {
		assert.Equal(t, 1, bySum[sum], "%s is exactly one complete video", path)
		assert.Equal(t, sum, again.got[path].SHA256, path)
	}
	resumed := 0
	for _, r := range again.got {
		if r.Upload != nil {
			resumed += r.Upload.ResumedChunks
		}
	}
	assert.Positive(t, resumed, "the file under way at the cancel resumed from its state")
}

// TestUploadMintsTokens runs a batch with the API key and no token:
// the batch mints its tokens, a new one when the current one has run half
// its life, and deletes every one at the end.
func TestUploadMintsTokens(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(srv.APIKey), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000, "3.mp4": 3000, "4.mp4": 4000})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)

	// Each look at the clock is 20 minutes after the last: with a TTL of
	// an hour, a token is renewed every other file.
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(20 * time.Minute)
		return clock
	}
	var col collect
	res, err := upload(t.Context(), c, files, &Options{Jobs: 1, OnFile: col.onFile}, now)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Uploaded)
	created := srv.Sandbox.Stats().CountStatus(sandbox.OpCreateUploadToken, http.StatusOK)
	assert.GreaterOrEqual(t, created, 2, "a token is renewed before it runs short")
	assert.Equal(t, created, srv.Sandbox.Stats().CountStatus(sandbox.OpDeleteUploadToken, http.StatusNoContent))
	page, err := c.ListUploadTokens(t.Context(), wrapper.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Tokens, "the batch leaves no token behind")

	_, err = Upload(t.Context(), c, files, &Options{TokenTTL: 30 * time.Second})
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput)

	// nil options are the defaults: with the key, the batch mints its tokens and runs.
	res, err = Upload(t.Context(), c, files, nil)
	require.NoError(t, err)
	assert.Equal(t, 4, res.Uploaded)
}

// TestUploadRenewsRefusedToken checks that a minted token the API
// refuses mid-batch is replaced, and the file uploaded with the new one.
func TestUploadRenewsRefusedToken(t *testing.T) {
	sb, err := sandbox.New(sandbox.WithAPIKeys("batch-key"))
	require.NoError(t, err)
	var refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" && refused.CompareAndSwap(0, 1) {
			drain(r)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"type":"https://docs.api.video/reference/authentication-invalid-token","title":"The upload token is invalid or expired.","status":401}`))
			return
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey("batch-key"), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)

	var col collect
	res, err := Upload(t.Context(), c, files, &Options{Jobs: 1, OnFile: col.onFile})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Uploaded)
	assert.Equal(t, int32(1), refused.Load(), "the refusal happened")
	assert.Equal(t, 2, sb.Stats().CountStatus(sandbox.OpCreateUploadToken, http.StatusOK), "the refused token was replaced")
	assert.Equal(t, 2, sb.Stats().CountStatus(sandbox.OpDeleteUploadToken, http.StatusNoContent))
	for path, sum := range fileSums(t, files) {
		assert.Equal(t, sum, col.got[path].SHA256)
		assert.Equal(t, 1, completeBySum(sb)[sum])
	}

	// With a token of the caller's own, a refusal is the file's failure.
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	refused.Store(0)
	var mine collect
	res, err = Upload(t.Context(), c, files, &Options{Jobs: 1, Token: token, OnFile: mine.onFile})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Failed)
	assert.Equal(t, 1, res.Uploaded)
	assert.Equal(t, 2, sb.Stats().CountStatus(sandbox.OpCreateUploadToken, http.StatusOK), "no token is minted when one is given")
}

// drain reads a request's body to its end.
func drain(r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }

// TestJournalTornLine checks that a line cut by a crash is ignored, and
// that the next record still reads back.
func TestJournalTornLine(t *testing.T) {
	dir := t.TempDir()
	const base = "https://ws.api.video"
	good := `{"baseUrl":"` + base + `","path":"/videos/a.mp4","size":3,"modTime":"2026-01-02T03:04:05Z","sha256":"` + strings.Repeat("a", 64) + `","videoId":"vi1","uploadedAt":"2026-01-02T03:04:06Z"}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "done.jsonl"), []byte(journalHead+good+"\n"+good[:40]), 0o600))
	j, err := OpenJournal(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, j.len())
	e, ok := j.Done(base, "/videos/a.mp4")
	require.True(t, ok)
	assert.Equal(t, "vi1", e.VideoID)
	require.NoError(t, j.record(JournalEntry{BaseURL: base, Path: "/videos/b.mp4", Size: 4, SHA256: strings.Repeat("b", 64), VideoID: "vi2"}))
	require.NoError(t, j.Close())
	assert.Error(t, j.record(JournalEntry{Path: "/videos/c.mp4"}), "a closed journal records nothing")

	j, err = OpenJournal(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	assert.Equal(t, 2, j.len())
	e, ok = j.Done(base, "/videos/b.mp4")
	require.True(t, ok)
	assert.Equal(t, "vi2", e.VideoID)
}

// TestUploadRefusesOptions checks the options refused before anything is sent.
func TestUploadRefusesOptions(t *testing.T) {
	env := newUploadEnv(t)
	one := []File{{Path: "x", ShardKey: "x", Size: 1}}
	two := append([]File{{Path: "y", ShardKey: "y", Size: 1}}, one...)
	stream := []File{{Path: "-", Size: -1, Source: wrapper.Reader(strings.NewReader("x"), -1)}}
	j, err := OpenJournal(t.TempDir())
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	store := wrapper.NewStateFile(filepath.Join(t.TempDir(), "state"))
	tests := []struct {
		name  string
		opts  *Options
		files []File // one file when nil
	}{
		{"no token and no key", &Options{}, nil},
		{"nil options", nil, nil},
		{"too many jobs", &Options{Token: env.token, Jobs: MaxJobs + 1}, nil},
		{"negative jobs", &Options{Token: env.token, Jobs: -1}, nil},
		{"one video for all", &Options{Token: env.token, Upload: wrapper.UploadOptions{VideoID: "vi1"}}, two},
		{"one state for all", &Options{Token: env.token, Upload: wrapper.UploadOptions{Store: store}}, two},
		{"a state and a journal", &Options{Token: env.token, Journal: j, Upload: wrapper.UploadOptions{Store: store}}, nil},
		{"a stream in a journal", &Options{Token: env.token, Journal: j}, stream},
		{"chunk too small", &Options{Token: env.token, Upload: wrapper.UploadOptions{ChunkSize: 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.files
			if files == nil {
				files = one
			}
			_, err := Upload(t.Context(), env.client, files, tt.opts)
			assert.ErrorIs(t, err, wrapper.ErrInvalidInput)
			if tt.opts == nil || tt.opts.Token == "" {
				assert.EqualError(t, err, "avupload: invalid input: a batch needs an upload token, or a client with the API key to mint tokens")
			}
		})
	}
	assert.Zero(t, env.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken))
}

// TestOpenJournalRefusesUnwritable checks that a journal whose directory
// cannot hold states, or that is a file, is refused before any upload.
func TestOpenJournalRefusesUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err := OpenJournal(file)
	assert.Error(t, err, "a file is not a journal")
	_, err = OpenJournal("")
	assert.ErrorIs(t, err, wrapper.ErrInvalidInput)

	if os.Geteuid() == 0 {
		return // root writes anywhere: the read-only case cannot be built
	}
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "states"), 0o700))
	require.NoError(t, os.Chmod(filepath.Join(dir, "states"), 0o500))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "states"), 0o700) })
	_, err = OpenJournal(dir)
	assert.ErrorContains(t, err, "cannot be written")
}

// TestUploadOneStream uploads a batch of one stream of unknown length with
// the options of a single upload: its resume state in a store of its own.
// Its progress counts no total until the stream ends, and its result
// carries the upload's.
func TestUploadOneStream(t *testing.T) {
	env := newUploadEnv(t)
	data := testData(12<<20, 7)
	store := wrapper.NewStateFile(filepath.Join(t.TempDir(), "state"))
	var (
		mu    sync.Mutex
		seen  []Progress
		files collect
	)
	opts := batchOpts(nil, env.token, &files)
	opts.Upload.Store = store
	opts.Upload.ChunkSize = wrapper.MinChunkSize
	opts.Progress = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
	}
	src := wrapper.Reader(bytes.NewReader(data), -1)
	res, err := Upload(t.Context(), env.client, []File{{Path: "-", Size: -1, Source: src}}, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Uploaded)
	r := files.got["-"]
	require.NotNil(t, r.Upload)
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), r.SHA256)
	assert.Equal(t, int64(len(data)), r.Size)
	assert.Equal(t, 3, r.Upload.Chunks)
	assert.Equal(t, r.VideoID, r.Upload.Video.VideoID)
	assert.NotEmpty(t, r.Upload.Video.RawJSON(), "the API's last answer")
	saved, err := store.Load(t.Context(), "")
	require.NoError(t, err)
	assert.Nil(t, saved, "the state is deleted once the upload succeeded")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	assert.Equal(t, int64(-1), seen[0].Bytes, "no total while the stream's length is unknown")
	last := seen[len(seen)-1]
	assert.Equal(t, int64(len(data)), last.Bytes)
	assert.Equal(t, last.Bytes, last.BytesDone)
}

// TestProgressCountsBytesInFlight uploads a file to a server that reads
// the whole chunk, then holds its answer: the batch's progress shows the
// file's bytes sent and its chunk awaiting an answer before anything is
// acknowledged, and every byte done at the end.
func TestProgressCountsBytesInFlight(t *testing.T) {
	const size = 300 << 10
	root := writeTree(t, t.TempDir(), map[string]int64{"a.mp4": size})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"videoId":"vi4k0jvEUuaTdRAEjQ4Jfrgz"}`)
	}))
	t.Cleanup(srv.Close)
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL))
	require.NoError(t, err)

	var mu sync.Mutex
	var calls []Progress
	var col collect
	opts := batchOpts(nil, "to1tcmSFHeYY5KzyhOqVKMKb", &col)
	opts.Upload.StallTimeout = -1
	opts.Progress = func(p Progress) {
		mu.Lock()
		calls = append(calls, p)
		mu.Unlock()
	}
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Upload(t.Context(), c, files, opts)
		done <- outcome{res, err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch sent nothing")
	}
	inFlight := func() []FileProgress {
		mu.Lock()
		defer mu.Unlock()
		if len(calls) == 0 {
			return nil
		}
		return calls[len(calls)-1].InFlight
	}
	want := []FileProgress{{Path: files[0].Path, Acked: 0, Sent: size, Pending: 1, Total: size}}
	require.Eventually(t, func() bool { return assert.ObjectsAreEqual(want, inFlight()) }, 5*time.Second, 10*time.Millisecond,
		"the chunk is sent and unanswered: want %+v, got %+v", want, inFlight())
	close(release)

	out := <-done
	require.NoError(t, out.err)
	assert.Equal(t, 1, out.res.Uploaded)
	mu.Lock()
	defer mu.Unlock()
	last := calls[len(calls)-1]
	assert.Equal(t, Progress{Files: 1, Done: 1, Bytes: size, BytesDone: size, InFlight: []FileProgress{}}, last)
	for i, p := range calls {
		for _, f := range p.InFlight {
			assert.LessOrEqual(t, f.Acked, f.Sent, "call %d: %+v", i, f)
			assert.LessOrEqual(t, f.Sent, f.Total, "call %d: %+v", i, f)
		}
	}
}
