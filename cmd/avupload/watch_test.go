package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

// watchRun is an avupload watch running in the test's process.
type watchRun struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *lockedBuffer
}

// startWatch runs avupload watch with args against srv, minting its
// tokens with the sandbox's API key, and waits until it watches.
func startWatch(t *testing.T, srv *sandbox.Server, args ...string) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{cancel: cancel, done: make(chan int, 1), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	env := map[string]string{envAPIKey: srv.APIKey}
	go func() {
		w.done <- run(ctx, append([]string{"watch", "--base-url", srv.URL}, args...), stdio{strings.NewReader(""), w.stdout, w.stderr},
			func(k string) string { return env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			t.Error("the watch did not stop")
		}
	})
	require.Eventually(t, func() bool { return strings.Contains(w.stderr.String(), "avupload: watching ") },
		10*time.Second, 10*time.Millisecond, "the watch did not start: %s", w.stderr)
	return w
}

// stop interrupts the watch, as SIGINT does, and returns its exit code.
func (w *watchRun) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		w.done <- code // for the cleanup
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("the watch did not stop after cancellation")
		return -1
	}
}

// completeBySum counts the sandbox's complete videos by SHA-256.
func completeBySum(sb *sandbox.Sandbox) (map[string]int, int) {
	n, all := map[string]int{}, 0
	for _, v := range sb.Videos() {
		if v.Complete {
			n[v.SHA256]++
			all++
		}
	}
	return n, all
}

func sumOf(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// waitComplete waits until the sandbox holds n complete videos.
func waitComplete(t *testing.T, srv *sandbox.Server, n int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { _, all := completeBySum(srv.Sandbox); return all >= n },
		within, 20*time.Millisecond, "want %d complete videos", n)
}

// randomBytes returns n pseudo-random bytes for seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// jsonLines decodes the --json lines printed so far.
func jsonLines(t *testing.T, out string) []fileJSON {
	t.Helper()
	var recs []fileJSON
	for line := range strings.Lines(out) {
		var r fileJSON
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		recs = append(recs, r)
	}
	return recs
}

// TestWatchSlowWriter writes a file in chunks over seconds, with pauses
// shorter than --settle: it is uploaded once, whole, after the last chunk.
// A folder made after the watch started is watched too. The tokens minted
// with the API key are deleted when the watch stops.
func TestWatchSlowWriter(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	w := startWatch(t, srv, "--journal", journal, "--settle", "1s", "--rescan", "1h", "--json", dir)

	require.NoError(t, os.Mkdir(filepath.Join(dir, "new"), 0o755))
	path := filepath.Join(dir, "new", "camera.mp4")
	data := randomBytes(20*16<<10, 1)
	f, err := os.Create(path)
	require.NoError(t, err)
	for i := range 20 { // 20 chunks of 16 KiB, 150 ms apart: 3 s
		_, err := f.Write(data[i*16<<10 : (i+1)*16<<10])
		require.NoError(t, err)
		time.Sleep(150 * time.Millisecond)
		_, all := completeBySum(srv.Sandbox)
		require.Zero(t, all, "a file still being written was uploaded after chunk %d", i+1)
	}
	require.NoError(t, f.Close())
	waitComplete(t, srv, 1, 15*time.Second)
	time.Sleep(1500 * time.Millisecond) // more than --settle: nothing else goes
	videos := srv.Sandbox.Videos()
	require.Len(t, videos, 1, "one video, and no partial one")
	got, err := srv.Sandbox.VideoBytes(videos[0].VideoID)
	require.NoError(t, err)
	assert.Equal(t, sumOf(data), sumOf(got), "the whole file, as written")

	assert.Equal(t, exitInterrupted, w.stop(t))
	recs := jsonLines(t, w.stdout.String())
	require.Len(t, recs, 1)
	assert.Equal(t, "uploaded", recs[0].Status)
	assert.Equal(t, path, recs[0].Path)
	assert.Equal(t, sumOf(data), recs[0].SHA256)
	assert.Contains(t, w.stderr.String(), "watch stopped: 1 uploaded, 0 skipped, 0 failed; the journal "+journal+" holds every state")
	assert.Equal(t, 1, srv.Sandbox.Stats().CountStatus(sandbox.OpCreateUploadToken, http.StatusOK), "one token for the whole watch")
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(srv.APIKey))
	require.NoError(t, err)
	page, err := c.ListUploadTokens(t.Context(), wrapper.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Tokens, "the watch leaves no token behind")
}

// TestWatchBurst drops 1,000 small files at once into ten new folders:
// each is uploaded exactly once.
func TestWatchBurst(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	w := startWatch(t, srv, "--journal", journal, "--settle", "300ms", "--rescan", "1h", "--jobs", "8", "--json", dir)

	const n = 1000
	sums := map[string]bool{}
	start := time.Now()
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%d", i%10))
		require.NoError(t, os.MkdirAll(sub, 0o755))
		data := randomBytes(4<<10, uint64(i+100))
		sums[sumOf(data)] = true
		require.NoError(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("clip%04d.mp4", i)), data, 0o600))
	}
	waitComplete(t, srv, n, 60*time.Second) // a loaded machine; about 6 s on an idle 2-core one
	t.Logf("%d files of 4 KiB uploaded %s after the first was written", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(600 * time.Millisecond)
	bySum, all := completeBySum(srv.Sandbox)
	assert.Equal(t, n, all)
	assert.Len(t, srv.Sandbox.Videos(), n, "no video but the files'")
	for s := range sums {
		assert.Equal(t, 1, bySum[s], "each file exactly once")
	}
	assert.Equal(t, exitInterrupted, w.stop(t))
	recs := jsonLines(t, w.stdout.String())
	assert.Len(t, recs, n, "a line per file")
	for _, r := range recs {
		assert.Equal(t, "uploaded", r.Status, r.Path)
	}
}

// TestWatchRenames checks the atomic-write pattern (a temporary file
// renamed over the video) and a rename of an uploaded file: the new
// content is uploaded once, the renamed file not again.
func TestWatchRenames(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	v1, v2 := randomBytes(5000, 1), randomBytes(6000, 2)
	path := filepath.Join(dir, "show.mp4")
	require.NoError(t, os.WriteFile(path, v1, 0o600))
	w := startWatch(t, srv, "--journal", journal, "--settle", "300ms", "--rescan", "1h", "--json", dir)
	waitComplete(t, srv, 1, 10*time.Second) // there at the start: uploaded

	// Written whole under another name, then renamed over the video.
	tmp := filepath.Join(dir, "show.mp4.part")
	require.NoError(t, os.WriteFile(tmp, v2, 0o600))
	require.NoError(t, os.Rename(tmp, path))
	waitComplete(t, srv, 2, 10*time.Second)

	// The uploaded file renamed, and moved into a new folder.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "done"), 0o755))
	moved := filepath.Join(dir, "done", "show-final.mp4")
	require.NoError(t, os.Rename(path, moved))
	require.Eventually(t, func() bool { return len(jsonLines(t, w.stdout.String())) == 3 },
		10*time.Second, 20*time.Millisecond, "the moved file is looked at")
	time.Sleep(600 * time.Millisecond)

	bySum, all := completeBySum(srv.Sandbox)
	assert.Equal(t, 2, all, "v1 and v2, nothing else")
	assert.Len(t, srv.Sandbox.Videos(), 2)
	assert.Equal(t, 1, bySum[sumOf(v1)])
	assert.Equal(t, 1, bySum[sumOf(v2)], "the final content, once")
	assert.Equal(t, exitInterrupted, w.stop(t))

	recs := jsonLines(t, w.stdout.String())
	require.Len(t, recs, 3, w.stdout.String())
	assert.Equal(t, []string{"uploaded", "uploaded", "skipped"}, []string{recs[0].Status, recs[1].Status, recs[2].Status})
	assert.Equal(t, sumOf(v2), recs[1].SHA256)
	assert.Equal(t, moved, recs[2].Path)
	assert.Equal(t, recs[1].VideoID, recs[2].VideoID, "the moved file keeps its video")

	// The journal knows the new path: a restart uploads nothing.
	w = startWatch(t, srv, "--journal", journal, "--settle", "300ms", "--rescan", "1h", "--json", dir)
	require.Eventually(t, func() bool { return strings.Count(w.stdout.String(), "\n") == 1 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, exitInterrupted, w.stop(t))
	recs = jsonLines(t, w.stdout.String())
	require.Len(t, recs, 1)
	assert.Equal(t, "skipped", recs[0].Status)
	assert.Len(t, srv.Sandbox.Videos(), 2)
}

// TestWatchInterruptThenRestart interrupts a watch while a file is half
// uploaded (its second chunk held by 429 answers), then starts it again:
// the file resumes as the same video, and no file is uploaded twice.
func TestWatchInterruptThenRestart(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	const n = 5
	size := int(wrapper.MinChunkSize) + 4096 // two chunks each
	sums := map[string]bool{}
	for i := range n {
		data := randomBytes(size, uint64(i+10))
		sums[sumOf(data)] = true
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.mp4", i)), data, 0o600))
	}
	// Files 0 and 1 go (requests 1 to 4), file 2's first chunk (5) too;
	// its second waits for the rate-limit window.
	for i := 6; i <= 14; i++ {
		srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: i, Kind: sandbox.FaultStatus, Status: http.StatusTooManyRequests})
	}
	args := []string{"--journal", journal, "--settle", "300ms", "--rescan", "1h", "--jobs", "1", "--chunk-size", "5MiB", "--concurrency", "1", "--json", dir}
	w := startWatch(t, srv, args...)
	require.Eventually(t, func() bool {
		return srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, http.StatusTooManyRequests) > 0
	}, 20*time.Second, 10*time.Millisecond)
	assert.Equal(t, exitInterrupted, w.stop(t))
	assert.Contains(t, w.stderr.String(), "watch stopped: 2 uploaded, 0 skipped, 0 failed, 1 interrupted; the journal "+journal+
		" holds every state: run the same command again to go on")
	_, all := completeBySum(srv.Sandbox)
	assert.Equal(t, 2, all)
	assert.Len(t, srv.Sandbox.Videos(), 3, "two complete, one half uploaded")

	srv.Sandbox.ClearFaults()
	w = startWatch(t, srv, args...)
	require.Eventually(t, func() bool { return strings.Count(w.stdout.String(), "\n") == n }, 20*time.Second, 20*time.Millisecond,
		"every file ends")
	assert.Equal(t, exitInterrupted, w.stop(t))
	statuses := map[string]int{}
	for _, r := range jsonLines(t, w.stdout.String()) {
		statuses[r.Status]++
		if strings.HasSuffix(r.Path, "2.mp4") {
			assert.Equal(t, int64(wrapper.MinChunkSize), r.ResumedBytes, "the interrupted file resumes from its saved chunk")
		}
	}
	assert.Equal(t, map[string]int{"skipped": 2, "uploaded": 3}, statuses)
	assert.Contains(t, w.stderr.String(), "watch stopped: 3 uploaded, 2 skipped, 0 failed;")
	bySum, all := completeBySum(srv.Sandbox)
	assert.Equal(t, n, all)
	assert.Len(t, srv.Sandbox.Videos(), n, "the interrupted file went on as the same video")
	for s := range sums {
		assert.Equal(t, 1, bySum[s], "no file uploaded twice")
	}
}

// TestWatchLostNotifications loses every notification of the system: the
// file is found by the walk an overflow asks for, or by the periodic
// rescan.
func TestWatchLostNotifications(t *testing.T) {
	tests := []struct {
		name     string
		rescan   string
		overflow bool
	}{
		{"overflow", "1h", true},
		{"rescan", "1s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := make(chan error, 1)
			watchHook = func(w *watcher) { w.events, w.errs = nil, errs } // nothing the system says arrives
			t.Cleanup(func() { watchHook = nil })
			srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
			dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
			w := startWatch(t, srv, "--journal", journal, "--settle", "300ms", "--rescan", tt.rescan, dir)
			data := randomBytes(3000, 7)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "lost.mp4"), data, 0o600))
			if tt.overflow {
				time.Sleep(1500 * time.Millisecond)
				_, all := completeBySum(srv.Sandbox)
				require.Zero(t, all, "with every notification lost, nothing is seen before the overflow")
				errs <- fsnotify.ErrEventOverflow
			}
			waitComplete(t, srv, 1, 10*time.Second)
			bySum, _ := completeBySum(srv.Sandbox)
			assert.Equal(t, 1, bySum[sumOf(data)])
			assert.Equal(t, exitInterrupted, w.stop(t))
			if tt.overflow {
				assert.Contains(t, w.stderr.String(), "avupload: the system dropped notifications (too many changes at once): walking "+dir)
			}
		})
	}
}

// TestWatchRefuses checks the watch's usage errors, before anything is
// sent.
func TestWatchRefuses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.mp4")
	require.NoError(t, os.WriteFile(file, []byte("video"), 0o600))
	j := filepath.Join(t.TempDir(), "j")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{dir}, "watch needs --journal DIR: it records what was uploaded"},
		{[]string{"--journal", j, file}, "is not a directory: watch takes the folder to watch"},
		{[]string{"--journal", j, filepath.Join(dir, "missing")}, "missing: it does not exist"},
		{[]string{"--journal", j, "--settle", "10ms", dir}, "--settle 10ms: want 100ms or more"},
		{[]string{"--journal", j, "--rescan", "0s", dir}, "--rescan 0s: want 1s or more"},
		{[]string{"--journal", j, "--video-id", "vi1", dir}, "unknown flag --video-id"},
		{[]string{"--journal", j, "--shard", "3/2", dir}, `--shard "3/2": want K/N`},
		{[]string{"--journal", j, dir, dir}, "watch wants one DIR to watch, got 2 argument(s)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runEnv(t, map[string]string{envToken: "to1tcmSFHeYY5KzyhOqVKMKb"},
				append([]string{"watch", "--base-url", "http://127.0.0.1:1"}, tt.args...)...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
		})
	}
	assert.NoDirExists(t, j, "nothing was opened")
}

// TestWatchRefusedFileTriedAgain has the server refuse a file's upload:
// the other files go on, the refused one is said and tried again at the
// next rescan, then uploaded once.
func TestWatchRefusedFileTriedAgain(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: http.StatusBadRequest})
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	a, b := randomBytes(3000, 21), randomBytes(4000, 22)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.mp4"), a, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.mp4"), b, 0o600))
	w := startWatch(t, srv, "--journal", journal, "--settle", "300ms", "--rescan", "1s", "--jobs", "1", "--json", dir)
	require.Eventually(t, func() bool { return len(jsonLines(t, w.stdout.String())) == 3 }, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, exitInterrupted, w.stop(t))
	bySum, all := completeBySum(srv.Sandbox)
	assert.Equal(t, 2, all)
	assert.Equal(t, 1, bySum[sumOf(a)])
	assert.Equal(t, 1, bySum[sumOf(b)])
	var statuses []string
	for _, r := range jsonLines(t, w.stdout.String()) {
		statuses = append(statuses, filepath.Base(r.Path)+" "+r.Status)
	}
	assert.Equal(t, []string{"a.mp4 failed", "b.mp4 uploaded", "a.mp4 uploaded"}, statuses, "a fails, b goes on, a goes at the rescan")
}

// TestWatchWrongKey checks that a key the API refuses stops the watch
// before it watches anything, exit status 1, the key never printed.
func TestWatchWrongKey(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	code, stdout, stderr := runEnv(t, map[string]string{envAPIKey: "wrong-key-1234567"}, "watch", "--base-url", srv.URL, "--journal", journal, dir)
	assert.Equal(t, exitFailure, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "The API key is invalid")
	assert.NotContains(t, stderr, "wrong-key-1234567")
	assert.NotContains(t, stderr, "watching")
}

// TestWatchSelects checks that the watch takes the files upload would:
// --exclude, --shard and the hidden files left out, alike for the files
// there at the start and those that come later.
func TestWatchSelects(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	dir, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")
	names := []string{"a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4", "f.mp4", "skip.part", ".hidden.mp4"}
	write := func(prefix string) {
		for i, name := range names {
			require.NoError(t, os.WriteFile(filepath.Join(dir, prefix+name), randomBytes(1000+i, uint64(len(prefix)*100+i)), 0o600))
		}
	}
	write("") // there at the start
	args := []string{"--exclude", "*.part", "--shard", "1/2"}
	w := startWatch(t, srv, append(args, "--journal", journal, "--settle", "300ms", "--rescan", "1h", "--json", dir)...)
	write("later-")
	plan, err := batch.Walk([]string{dir}, batch.PlanOptions{Exclude: []string{"*.part"}, Shard: 1, Shards: 2})
	require.NoError(t, err)
	require.NotEmpty(t, plan.Files)
	require.Less(t, len(plan.Files), 12, "the shard leaves some out")
	require.Eventually(t, func() bool { return len(jsonLines(t, w.stdout.String())) == len(plan.Files) }, 10*time.Second, 20*time.Millisecond)
	time.Sleep(600 * time.Millisecond)
	assert.Equal(t, exitInterrupted, w.stop(t))
	var want, got []string
	for _, f := range plan.Files {
		want = append(want, f.Path)
	}
	for _, r := range jsonLines(t, w.stdout.String()) {
		got = append(got, r.Path)
	}
	assert.ElementsMatch(t, want, got, "the files upload --shard 1/2 --exclude '*.part' takes, each once")
}

// TestProgressSum checks the status line's sum of the uploads under way
// and ended.
func TestProgressSum(t *testing.T) {
	s := progressSum{live: map[int]batch.Progress{}}
	s.live[1] = batch.Progress{Files: 1, Done: 1, Bytes: 100, BytesDone: 100}
	s.finish(1)
	s.live[3] = batch.Progress{Files: 1, Bytes: 50, BytesDone: 10, InFlight: []batch.FileProgress{{Path: "c", Acked: 10, Total: 50}}}
	s.live[2] = batch.Progress{Files: 1, Bytes: -1, InFlight: []batch.FileProgress{{Path: "b", Total: -1}}}
	got := s.sumLocked()
	assert.Equal(t, batch.Progress{Files: 3, Done: 1, Bytes: 150, BytesDone: 110,
		InFlight: []batch.FileProgress{{Path: "b", Total: -1}, {Path: "c", Acked: 10, Total: 50}}}, got, "in the order they started")
	s.finish(9) // unknown: nothing
	assert.Equal(t, got, s.sumLocked())
}
