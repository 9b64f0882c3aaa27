package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	avtemporal "github.com/avupload/avupload/contrib/temporal"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

const (
	apiKey    = "test-api-key"
	chunkSize = 5 << 20
	uploadOp  = "uploadWithUploadToken"
)

func TestMain(m *testing.M) {
	// make test-temporal exports it before the process starts, as the
	// server reads it early; set here too for a bare go test.
	_ = os.Setenv("TEMPORAL_VERSION_CHECK_DISABLED", "1")
	os.Exit(m.Run())
}

// rig is one migration's world: a sandbox behind a counting handler, a
// library of files on disk, a Temporal client, a control worker (the
// workflow and the minter, with the API key) and upload workers started
// by the test (without it).
type rig struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	url     string
	counter *counter
	root    string
	tc      client.Client
	control string // the workflow's and the minter's task queue
	uploads string // the upload workers' task queue
	want    map[string]string
	sizes   map[string]int64
}

func newRig(t *testing.T, ts *temporaltest.TestServer, opts ...sandbox.Option) *rig {
	t.Helper()
	sb, err := sandbox.New(append([]sandbox.Option{sandbox.WithStrict(true), sandbox.WithAPIKeys(apiKey)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	cnt := &counter{next: sb, bytes: map[int64]int64{}, sends: map[[2]int64]int{}}
	hs := httptest.NewServer(cnt)
	t.Cleanup(hs.Close)
	r := &rig{
		t: t, sb: sb, url: hs.URL, counter: cnt, root: t.TempDir(),
		tc:      ts.NewClientWithOptions(client.Options{Logger: quietLogger()}),
		control: "control-" + t.Name(), uploads: "uploads-" + t.Name(),
		want: map[string]string{}, sizes: map[string]int64{},
	}
	w := worker.New(r.tc, r.control, worker.Options{})
	avtemporal.RegisterWorkflow(w)
	(&avtemporal.Minter{Client: r.client(apiKey, nil)}).Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return r
}

// quietLogger keeps the SDK's warnings and errors.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
}

// client is an avupload client of the sandbox: with the API key when key
// is set, through rt when it is not nil, with quick retries.
func (r *rig) client(key string, rt http.RoundTripper) *wrapper.Client {
	opts := []wrapper.Option{
		wrapper.WithBaseURL(r.url),
		wrapper.WithRetryPolicy(wrapper.RetryPolicy{MaxAttempts: 3, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}),
	}
	if key != "" {
		opts = append(opts, wrapper.WithAPIKey(key))
	}
	if rt != nil {
		opts = append(opts, wrapper.WithHTTPClient(&http.Client{Transport: rt}))
	}
	c, err := wrapper.New(opts...)
	require.NoError(r.t, err)
	return c
}

// uploadWorker starts an upload worker whose requests go through rt (the
// default transport when nil). Stop it with the returned function, at
// most once.
func (r *rig) uploadWorker(rt http.RoundTripper) worker.Worker {
	w := worker.New(r.tc, r.uploads, worker.Options{DisableWorkflowWorker: true, TaskQueueActivitiesPerSecond: 200})
	(&avtemporal.Uploader{Client: r.client("", rt), Root: r.root, ChunkSize: chunkSize, Concurrency: 1}).Register(w)
	require.NoError(r.t, w.Start())
	return w
}

// file writes a file of n pseudo-random bytes under the library.
func (r *rig) file(name string, n int64, seed uint64) {
	p := filepath.Join(r.root, "library", filepath.FromSlash(name))
	require.NoError(r.t, os.MkdirAll(filepath.Dir(p), 0o755))
	f, err := os.Create(p)
	require.NoError(r.t, err)
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(src, n))
	require.NoError(r.t, err)
	require.NoError(r.t, f.Close())
	r.want["library/"+name] = hex.EncodeToString(h.Sum(nil))
	r.sizes["library/"+name] = n
}

// manifest writes the library's manifest, its paths relative to the root.
func (r *rig) manifest() (string, int64) {
	var buf bytes.Buffer
	n, err := avtemporal.WriteManifest(&buf, r.root, "library", batch.PlanOptions{})
	require.NoError(r.t, err)
	require.Equal(r.t, len(r.want), n)
	var total int64
	for line := range strings.Lines(buf.String()) {
		var f avtemporal.File
		require.NoError(r.t, json.Unmarshal([]byte(line), &f))
		require.Contains(r.t, r.want, f.Path)
		require.Equal(r.t, r.sizes[f.Path], f.Size)
		total += f.Size
	}
	require.NoError(r.t, os.WriteFile(filepath.Join(r.root, "manifest.jsonl"), buf.Bytes(), 0o644))
	return "manifest.jsonl", total
}

func (r *rig) start(in avtemporal.MigrateInput) client.WorkflowRun {
	in.UploadQueue, in.MintQueue = r.uploads, r.control
	if in.HeartbeatTimeout == 0 {
		in.HeartbeatTimeout = 3 * time.Second
	}
	if in.Retry == nil {
		in.Retry = &sdktemporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1.5, MaximumInterval: time.Second, MaximumAttempts: 30}
	}
	run, err := r.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: "migrate-" + r.t.Name(), TaskQueue: r.control, WorkflowExecutionTimeout: 2 * time.Minute,
	}, avtemporal.WorkflowName, in)
	require.NoError(r.t, err)
	return run
}

func (r *rig) wait(run client.WorkflowRun) avtemporal.MigrateResult {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var res avtemporal.MigrateResult
	require.NoError(r.t, run.Get(ctx, &res))
	return res
}

func (r *rig) progress(run client.WorkflowRun) avtemporal.Progress {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := r.tc.QueryWorkflow(ctx, run.GetID(), "", avtemporal.QueryProgress)
	require.NoError(r.t, err)
	var p avtemporal.Progress
	require.NoError(r.t, v.Get(&p))
	return p
}

// outcomes reads every outcome the runs wrote, by path.
func (r *rig) outcomes() map[string]avtemporal.Outcome {
	out := map[string]avtemporal.Outcome{}
	names, err := filepath.Glob(filepath.Join(r.root, "outcomes", "outcomes-*.jsonl"))
	require.NoError(r.t, err)
	for _, name := range names {
		b, err := os.ReadFile(name)
		require.NoError(r.t, err)
		for line := range strings.Lines(string(b)) {
			var o avtemporal.Outcome
			require.NoError(r.t, json.Unmarshal([]byte(line), &o))
			_, dup := out[o.Path]
			require.False(r.t, dup, "%s has two outcomes", o.Path)
			out[o.Path] = o
		}
	}
	return out
}

// checkLanded checks that every file landed whole in a video of its own,
// with its SHA-256, that the sandbox holds no other video, that no token
// is left and that the sandbox saw no client mistake.
func (r *rig) checkLanded(outcomes map[string]avtemporal.Outcome) {
	t := r.t
	require.Len(t, outcomes, len(r.want))
	videos := map[string]bool{}
	for path, sum := range r.want {
		o, ok := outcomes[path]
		require.True(t, ok, "no outcome for %s", path)
		require.True(t, o.OK, "%s: %s", path, o.Error)
		assert.Equal(t, sum, o.SHA256, "%s: the hash the upload reported", path)
		v, ok := r.sb.Video(o.VideoID)
		require.True(t, ok, "%s: video %s is not at the sandbox", path, o.VideoID)
		assert.True(t, v.Complete, "%s", path)
		assert.Equal(t, sum, v.SHA256, "%s: the hash of the bytes at the sandbox", path)
		assert.Equal(t, r.sizes[path], v.Size, "%s", path)
		videos[o.VideoID] = true
	}
	assert.Len(t, videos, len(r.want), "one video per file")
	assert.Len(t, r.sb.Videos(), len(r.want), "no other video at the sandbox")
	page, err := r.client(apiKey, nil).ListUploadTokens(context.Background(), wrapper.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Tokens, "every minted token is deleted at the end")
	assert.Empty(t, r.sb.Lint().Findings())
}

// counter counts the request body bytes the sandbox receives for each
// upload, by the Content-Range total of its chunks, and may act on a
// chunk before the sandbox sees it.
type counter struct {
	next    http.Handler
	mu      sync.Mutex
	bytes   map[int64]int64
	sends   map[[2]int64]int        // requests by Content-Range total and first byte
	onChunk func(total, from int64) // called before the sandbox sees the chunk
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if total, from, ok := chunkRange(r); ok && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/upload") {
		c.mu.Lock()
		hook := c.onChunk
		c.sends[[2]int64{total, from}]++
		c.mu.Unlock()
		if hook != nil {
			hook(total, from)
		}
		r.Body = &countingBody{ReadCloser: r.Body, add: func(n int) {
			c.mu.Lock()
			c.bytes[total] += int64(n)
			c.mu.Unlock()
		}}
	}
	c.next.ServeHTTP(w, r)
}

func (c *counter) received(total int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes[total]
}

// sent returns how many requests carried the chunk of the upload of size
// total that starts at byte from.
func (c *counter) sent(total, from int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sends[[2]int64{total, from}]
}

func (c *counter) hook(fn func(total, from int64)) {
	c.mu.Lock()
	c.onChunk = fn
	c.mu.Unlock()
}

// chunkRange reads "bytes FROM-TO/TOTAL".
func chunkRange(r *http.Request) (total, from int64, ok bool) {
	rest, ok := strings.CutPrefix(r.Header.Get("Content-Range"), "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	f, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	total, err1 := strconv.ParseInt(tot, 10, 64)
	from, err2 := strconv.ParseInt(f, 10, 64)
	return total, from, err1 == nil && err2 == nil
}

type countingBody struct {
	io.ReadCloser
	add func(int)
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.add(n)
	return n, err
}

// killer is a worker's network: once its chunk of the file of size total
// starting at byte from has sent half its bytes, the worker is dead: that
// request and every later one hang until their context ends, as if the
// machine had gone, and killed is closed.
type killer struct {
	total, from int64
	dead        atomic.Bool
	once        sync.Once
	killed      chan struct{}
}

func (k *killer) RoundTrip(req *http.Request) (*http.Response, error) {
	if k.dead.Load() {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	if total, from, ok := chunkRange(req); ok && total == k.total && from == k.from {
		req = req.Clone(req.Context())
		req.Body = &dyingBody{ReadCloser: req.Body, left: chunkSize / 2, k: k, ctx: req.Context()}
	}
	return http.DefaultTransport.RoundTrip(req)
}

type dyingBody struct {
	io.ReadCloser
	left int64
	k    *killer
	ctx  context.Context
}

func (b *dyingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.k.dead.Store(true)
		b.k.once.Do(func() { close(b.k.killed) })
		<-b.ctx.Done()
		return 0, errors.New("the worker died")
	}
	p = p[:min(int64(len(p)), b.left)]
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// TestMigration runs migrations against one in-process Temporal server.
func TestMigration(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: quietLogger()}))

	t.Run("WorkerKilledMidFile", func(t *testing.T) { testWorkerKilled(t, ts) })
	t.Run("ServiceUnavailableStorm", func(t *testing.T) { testStorm(t, ts) })
	t.Run("TokenExpiresMidFile", func(t *testing.T) { testTokenExpires(t, ts) })
	t.Run("TokenRenewedBeforeExpiry", func(t *testing.T) { testTokenRenewed(t, ts) })
}

// testWorkerKilled: 33 files, one of 60 MiB in 12 chunks; the worker
// uploading it dies halfway through its 7th chunk; another worker goes on
// with it from the 7th chunk, and the sandbox receives less than the file
// and one chunk for it.
func testWorkerKilled(t *testing.T, ts *temporaltest.TestServer) {
	started := time.Now()
	r := newRig(t, ts)
	const big = 60 << 20
	r.file("a-big.bin", big, 1)
	for i := range 32 {
		r.file(fmt.Sprintf("clips/clip-%02d.bin", i), int64(1000+i*7919), uint64(i+2))
	}
	manifest, total := r.manifest()

	k := &killer{total: big, from: 6 * chunkSize, killed: make(chan struct{})}
	w1 := r.uploadWorker(k)
	run := r.start(avtemporal.MigrateInput{Manifest: manifest, Outcomes: "outcomes", MaxInFlight: 3, FilesPerRun: 8, PageSize: 5})
	select {
	case <-k.killed:
	case <-time.After(60 * time.Second):
		t.Fatal("the big file's 7th chunk never went")
	}
	mid := r.progress(run)
	assert.Equal(t, 33, mid.FilesTotal)
	assert.Equal(t, total, mid.BytesTotal)
	assert.GreaterOrEqual(t, mid.FilesInFlight, 1, "the big file is in flight")
	assert.Less(t, mid.FilesDone, 33)
	w1.Stop()
	w2 := r.uploadWorker(nil)
	defer w2.Stop()

	res := r.wait(run)
	elapsed := time.Since(started)
	assert.Equal(t, 33, res.Progress.FilesDone)
	assert.Equal(t, 0, res.Progress.FilesFailed)
	assert.Equal(t, total, res.Progress.BytesDone)
	assert.GreaterOrEqual(t, res.Progress.Runs, 5, "33 files at 8 a run")
	assert.Empty(t, res.Failed)
	end := r.progress(run)
	assert.Equal(t, 33, end.FilesDone)
	assert.Zero(t, end.FilesInFlight)

	outcomes := r.outcomes()
	r.checkLanded(outcomes)
	o := outcomes["library/a-big.bin"]
	assert.Equal(t, 6, o.ResumedChunks, "the second worker goes on after the 6 chunks the first one had sent")
	assert.GreaterOrEqual(t, o.Attempts, int32(2))
	got := r.counter.received(big)
	assert.GreaterOrEqual(t, got, int64(big))
	assert.Less(t, got, int64(big+chunkSize), "only the missing chunks are sent again")
	for i := range int64(12) {
		want := 1
		if i == 6 {
			want = 2 // the half sent by the dead worker, then whole
		}
		assert.Equal(t, want, r.counter.sent(big, i*chunkSize), "chunk %d", i)
	}
	t.Logf("files %d, bytes %d, the big file's bytes received %d (%d beyond its size: the dead chunk's half and multipart framing), runs %d, time %s",
		res.Progress.FilesDone, res.Progress.BytesDone, got, got-big, res.Progress.Runs, elapsed.Round(time.Millisecond))
}

// testStorm: every upload answers 503 for a while, from the middle of a
// 20 MiB file on; the wrapper's retries run out, Temporal retries the
// activities, which resume where they stopped once the storm is over.
func testStorm(t *testing.T, ts *temporaltest.TestServer) {
	r := newRig(t, ts)
	const mid = 20 << 20
	r.file("a-mid.bin", mid, 100)
	for i := range 12 {
		r.file(fmt.Sprintf("s-%02d.bin", i), int64(500+i*3331), uint64(i+200))
	}
	manifest, _ := r.manifest()
	const storm = 25
	var once sync.Once
	r.counter.hook(func(total, from int64) {
		if total == mid && from == 2*chunkSize {
			once.Do(func() {
				r.sb.AddFaults(sandbox.Fault{Op: uploadOp, Kind: sandbox.FaultStatus, Status: http.StatusServiceUnavailable})
				go func() {
					for r.sb.Stats().CountStatus(uploadOp, http.StatusServiceUnavailable) < storm {
						time.Sleep(10 * time.Millisecond)
					}
					r.sb.ClearFaults()
				}()
			})
		}
	})
	w := r.uploadWorker(nil)
	defer w.Stop()
	res := r.wait(r.start(avtemporal.MigrateInput{Manifest: manifest, Outcomes: "outcomes", MaxInFlight: 2}))
	assert.Equal(t, 13, res.Progress.FilesDone)
	assert.GreaterOrEqual(t, r.sb.Stats().CountStatus(uploadOp, http.StatusServiceUnavailable), storm)
	outcomes := r.outcomes()
	r.checkLanded(outcomes)
	o := outcomes["library/a-mid.bin"]
	assert.GreaterOrEqual(t, o.Attempts, int32(2), "the storm outlasted the wrapper's retries")
	assert.Equal(t, 2, o.ResumedChunks)
	// The bytes refused with 503 went again, but never an acknowledged
	// chunk.
	assert.Equal(t, 1, r.counter.sent(mid, 0))
	assert.Equal(t, 1, r.counter.sent(mid, chunkSize))
	assert.Greater(t, r.counter.sent(mid, 2*chunkSize), 1)
}

// testTokenExpires: the sandbox's clock jumps two hours while a 30 MiB
// file is on its 3rd chunk: the token is refused, the workflow mints
// another and the file goes on from its 3rd chunk.
func testTokenExpires(t *testing.T, ts *temporaltest.TestServer) {
	var skew atomic.Int64
	r := newRig(t, ts, sandbox.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	const size = 30 << 20
	r.file("a-long.bin", size, 300)
	for i := range 8 {
		r.file(fmt.Sprintf("t-%02d.bin", i), int64(700+i*101), uint64(i+301))
	}
	manifest, _ := r.manifest()
	var once sync.Once
	r.counter.hook(func(total, from int64) {
		if total == size && from == 2*chunkSize {
			once.Do(func() { skew.Store(int64(2 * time.Hour)) })
		}
	})
	w := r.uploadWorker(nil)
	defer w.Stop()
	res := r.wait(r.start(avtemporal.MigrateInput{Manifest: manifest, Outcomes: "outcomes", MaxInFlight: 2, TokenTTL: time.Hour}))
	assert.Equal(t, 9, res.Progress.FilesDone)
	assert.Equal(t, 2, res.Progress.TokensMinted)
	assert.Zero(t, res.TokensNotDeleted)
	assert.GreaterOrEqual(t, r.sb.Stats().CountStatus(uploadOp, http.StatusUnauthorized), 1, "the token expired mid-file")
	outcomes := r.outcomes()
	r.checkLanded(outcomes)
	o := outcomes["library/a-long.bin"]
	assert.Equal(t, 2, o.ResumedChunks, "the file goes on with the new token")
	assert.Equal(t, 1, r.counter.sent(size, 0))
	assert.Equal(t, 1, r.counter.sent(size, chunkSize))
	assert.Equal(t, 2, r.counter.sent(size, 2*chunkSize), "refused with the old token, then sent with the new one")
	assert.Less(t, r.counter.received(size), int64(size+chunkSize))
}

// testTokenRenewed: tokens of 4 s renewed when 3 s from expiry, uploads
// slowed to 150 ms each: the workflow mints new tokens as it goes, none is
// ever refused, and all are deleted at the end. The manifest is inline.
func testTokenRenewed(t *testing.T, ts *temporaltest.TestServer) {
	r := newRig(t, ts, sandbox.WithFaults(sandbox.Fault{Op: uploadOp, Kind: sandbox.FaultStall, Stall: 150 * time.Millisecond}))
	var files []avtemporal.File
	for i := range 16 {
		name := fmt.Sprintf("r-%02d.bin", i)
		r.file(name, int64(100+i), uint64(i+400))
		files = append(files, avtemporal.File{Path: "library/" + name, Size: int64(100 + i)})
	}
	w := r.uploadWorker(nil)
	defer w.Stop()
	res := r.wait(r.start(avtemporal.MigrateInput{Files: files, Outcomes: "outcomes", MaxInFlight: 1, TokenTTL: 4 * time.Second, RenewBefore: 3 * time.Second}))
	assert.Equal(t, 16, res.Progress.FilesDone)
	assert.GreaterOrEqual(t, res.Progress.TokensMinted, 2, "16 uploads of 150 ms outlast a token's first second")
	assert.Equal(t, res.Progress.TokensMinted, r.sb.Stats().Count("createUploadToken"))
	assert.Zero(t, r.sb.Stats().CountStatus(uploadOp, http.StatusUnauthorized), "no token is used past its renewal")
	r.checkLanded(r.outcomes())
}
