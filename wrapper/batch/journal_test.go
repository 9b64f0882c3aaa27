package batch

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"

	"github.com/avupload/avupload/wrapper"
)

// journalHead is the first line of a journal of this version.
const journalHead = "{\"avuploadJournal\":2}\n"

// TestUploadJournalKnowsItsServer checks that a journal skips only
// the files it recorded for the client's server: used against another
// server, it uploads every file there and says it knew nothing of it.
func TestUploadJournalKnowsItsServer(t *testing.T) {
	envA, envB := newUploadEnv(t), newUploadEnv(t)
	root := writeTree(t, t.TempDir(), map[string]int64{"a.mp4": 3000, "sub/b.mp4": 5000})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "journal")

	run := func(env *uploadEnv) *Result {
		t.Helper()
		j, err := OpenJournal(dir)
		require.NoError(t, err)
		defer func() { require.NoError(t, j.Close()) }()
		var col collect
		res, err := Upload(t.Context(), env.client, files, batchOpts(j, env.token, &col))
		require.NoError(t, err)
		return res
	}
	res := run(envA)
	assert.Equal(t, 2, res.Uploaded)
	assert.False(t, res.NewServer, "an empty journal knows no server, and says nothing")

	res = run(envB)
	assert.Equal(t, 2, res.Uploaded, "server B holds none of the files: all go")
	assert.Zero(t, res.Skipped)
	assert.True(t, res.NewServer, "the journal knew nothing of server B")
	for _, sum := range fileSums(t, files) {
		assert.Equal(t, 1, completeBySum(envB.srv.Sandbox)[sum], "server B holds each file once")
	}

	for _, env := range []*uploadEnv{envA, envB} {
		res = run(env)
		assert.Equal(t, 2, res.Skipped, env.client.BaseURL())
		assert.False(t, res.NewServer)
	}
	j, err := OpenJournal(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	assert.Equal(t, []string{envA.client.BaseURL(), envB.client.BaseURL()}, j.Servers())
	data, err := os.ReadFile(filepath.Join(dir, "done.jsonl"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(data), journalHead), "the first line gives the format version")
	assert.Contains(t, string(data), `"baseUrl":"`+envB.client.BaseURL()+`"`)
	assert.NotContains(t, string(data), envA.token, "no token is written")
}

// TestOpenJournalOtherVersion checks that a journal of another format
// version is refused with a message saying what it is, and left as it is.
func TestOpenJournalOtherVersion(t *testing.T) {
	v1 := `{"path":"/videos/a.mp4","size":3,"modTime":"2026-01-02T03:04:05Z","sha256":"` + strings.Repeat("a", 64) + `","videoId":"vi1","uploadedAt":"2026-01-02T03:04:06Z"}` + "\n"
	tests := []struct {
		name, data, want string
	}{
		{"versionless", v1, "is in format version 1, written by an older version of avupload, which did not record the server"},
		{"newer", "{\"avuploadJournal\":3}\n", "is in format version 3, written by another version of avupload; this one reads version 2 only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "done.jsonl")
			require.NoError(t, os.WriteFile(p, []byte(tt.data), 0o600))
			_, err := OpenJournal(dir)
			require.ErrorIs(t, err, ErrJournalVersion)
			assert.ErrorContains(t, err, p+" "+tt.want)
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, tt.data, string(data), "the journal is left as it is")
			// The refusal released the lock.
			j, err := OpenJournalWith(dir, JournalOptions{Repair: true})
			assert.ErrorIs(t, err, ErrJournalVersion, "repair does not convert a version")
			assert.Nil(t, j)
		})
	}
}

// TestOpenJournalDamagedLine checks that a damaged line stops the opening,
// naming its file and line, unless Repair drops it; a torn last line is
// read past.
func TestOpenJournalDamagedLine(t *testing.T) {
	const base = "https://ws.api.video"
	rec := func(name, id string) string {
		return `{"baseUrl":"` + base + `","path":"/v/` + name + `","size":3,"modTime":"2026-01-02T03:04:05Z","sha256":"` +
			strings.Repeat("a", 64) + `","videoId":"` + id + `","uploadedAt":"2026-01-02T03:04:06Z"}` + "\n"
	}
	tests := []struct {
		name    string
		data    string
		line    int // of the damaged line, 0 for none
		records int // read back, after repair if any
	}{
		{"garbage", journalHead + rec("a", "vi1") + "\x00\x00\x00\n" + rec("b", "vi2"), 3, 2},
		{"cut then continued", journalHead + rec("a", "vi1")[:50] + "\n" + rec("b", "vi2"), 2, 1},
		{"no video id", journalHead + rec("a", "") + rec("b", "vi2"), 2, 1},
		{"bad first line", "{\"avuploadJournal\n" + rec("a", "vi1"), 1, 1},
		{"torn last line", journalHead + rec("a", "vi1") + rec("b", "vi2")[:30], 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "done.jsonl")
			require.NoError(t, os.WriteFile(p, []byte(tt.data), 0o600))
			j, err := OpenJournal(dir)
			if tt.line > 0 {
				var lineErr *JournalLineError
				require.ErrorAs(t, err, &lineErr)
				assert.Equal(t, p, lineErr.File)
				assert.Equal(t, tt.line, lineErr.Line)
				assert.ErrorContains(t, err, p+", line "+strconv.Itoa(tt.line)+", is damaged")
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				assert.Equal(t, tt.data, string(data), "a refused journal is left as it is")

				j, err = OpenJournalWith(dir, JournalOptions{Repair: true})
				require.NoError(t, err)
				assert.Equal(t, 1, j.Dropped())
			} else {
				require.NoError(t, err)
				assert.Zero(t, j.Dropped())
			}
			assert.Equal(t, tt.records, j.len())
			require.NoError(t, j.record(JournalEntry{BaseURL: base, Path: "/v/new", Size: 1, SHA256: strings.Repeat("c", 64), VideoID: "vi9"}))
			require.NoError(t, j.Close())

			j, err = OpenJournal(dir)
			require.NoError(t, err, "the repaired journal opens as it is")
			assert.Equal(t, tt.records+1, j.len())
			_, ok := j.Done(base, "/v/new")
			assert.True(t, ok)
			require.NoError(t, j.Close())
		})
	}
}

// TestJournalEntryRawPath checks that a path that is not UTF-8 reads
// back byte for byte, and stays apart from one differing only there.
func TestJournalEntryRawPath(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	require.NoError(t, err)
	paths := []string{"/v/a\xff.mp4", "/v/a\xfe.mp4", "/v/a\uFFFD.mp4", "/v/plain.mp4"}
	for i, p := range paths {
		require.NoError(t, j.record(JournalEntry{BaseURL: "b", Path: p, Size: 1, SHA256: strings.Repeat("c", 64), VideoID: "vi" + strconv.Itoa(i)}))
	}
	require.NoError(t, j.Close())
	data, err := os.ReadFile(filepath.Join(dir, "done.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `"pathBytes":"L3YvYf8ubXA0"`, "the raw bytes, base64")
	assert.Equal(t, 2, strings.Count(string(data), "pathBytes"), "only the paths that are not UTF-8 carry their bytes")

	j, err = OpenJournal(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	assert.Equal(t, len(paths), j.len())
	for i, p := range paths {
		e, ok := j.Done("b", p)
		require.True(t, ok, "%q", p)
		assert.Equal(t, p, e.Path)
		assert.Equal(t, "vi"+strconv.Itoa(i), e.VideoID)
	}
}

// failingFile is a journal file whose writes fail once armed.
type failingFile struct {
	journalFile
	armed atomic.Bool
}

var errJournalDiskFull = errors.New("no space left on device")

func (f *failingFile) Write(b []byte) (int, error) {
	if f.armed.Load() {
		return 0, errJournalDiskFull
	}
	return f.journalFile.Write(b)
}

// TestUploadStopsWhenJournalFails checks that a record that cannot
// be written stops the batch: no file starts after it, the file is
// reported unrecorded with its video, and the error says why.
func TestUploadStopsWhenJournalFails(t *testing.T) {
	env := newUploadEnv(t)
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000, "3.mp4": 3000, "4.mp4": 4000, "5.mp4": 5000})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	j, err := OpenJournal(t.TempDir())
	require.NoError(t, err)
	defer func() { _ = j.Close() }()
	ff := &failingFile{journalFile: j.f}
	j.f = ff

	var (
		mu    sync.Mutex
		order []FileResult
	)
	opts := &Options{Jobs: 1, Journal: j, Token: env.token, OnFile: func(r FileResult) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, r)
		if len(order) == 2 {
			ff.armed.Store(true) // the disk fills up as the third file ends
		}
	}}
	res, err := Upload(t.Context(), env.client, files, opts)
	require.ErrorIs(t, err, ErrJournalNotSaved)
	assert.ErrorIs(t, err, errJournalDiskFull)
	assert.ErrorContains(t, err, "so the batch stopped starting files")
	assert.Equal(t, 2, res.Uploaded)
	assert.Equal(t, 1, res.Unrecorded)
	assert.Equal(t, 2, res.NotStarted, "no file starts after the failed record")
	require.Len(t, order, 3)
	r := order[2]
	assert.Equal(t, FileUnrecorded, r.Status)
	assert.Equal(t, files[2].Path, r.File.Path)
	require.NotEmpty(t, r.VideoID)
	assert.ErrorIs(t, r.Err, errJournalDiskFull)
	assert.ErrorContains(t, r.Err, "uploaded as video "+r.VideoID)
	v, ok := env.srv.Sandbox.Video(r.VideoID)
	require.True(t, ok)
	assert.True(t, v.Complete, "the unrecorded file is on the API")
	assert.Equal(t, 3, env.srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "two files were never sent")
}

// TestUploadStopsWhenStateFails checks that a resume state the
// journal cannot save stops the batch from starting files.
func TestUploadStopsWhenStateFails(t *testing.T) {
	sb, err := sandbox.New()
	require.NoError(t, err)
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "journal")
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			// The journal's disk goes away under the first chunk.
			once.Do(func() { require.NoError(t, os.RemoveAll(filepath.Join(dir, "states"))) })
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithRetryPolicy(fastRetries))
	require.NoError(t, err)
	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": testChunk + 10, "2.mp4": testChunk + 20, "3.mp4": testChunk + 30})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	j, err := OpenJournal(dir)
	require.NoError(t, err)
	defer func() { _ = j.Close() }()
	var col collect
	opts := batchOpts(j, token, &col)
	opts.Jobs, opts.Upload.Concurrency = 1, 1
	res, err := Upload(t.Context(), c, files, opts)
	require.ErrorIs(t, err, wrapper.ErrStateNotSaved)
	assert.ErrorContains(t, err, "could not save a resume state, so the batch stopped starting files")
	assert.Equal(t, 1, res.Failed)
	assert.Equal(t, 2, res.NotStarted)
}

// lockHolderEnv names the lock a re-executed test binary takes and holds.
const lockHolderEnv = "AVUPLOAD_TEST_HOLD_LOCK"

// TestLockHolderProcess is not a test: run by holdLock in a child process,
// it takes the lock named in $AVUPLOAD_TEST_HOLD_LOCK, says so on standard
// output, and waits to be killed.
func TestLockHolderProcess(t *testing.T) {
	what := os.Getenv(lockHolderEnv)
	if what == "" {
		return
	}
	kind, path, _ := strings.Cut(what, ":")
	var err error
	if kind == "journal" {
		_, err = OpenJournal(path)
	} else {
		_, err = wrapper.NewStateFile(path).Lock()
	}
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute)
	os.Exit(4)
}

// holdLock starts a child process that takes the lock of a journal or
// state file (kind:path) and holds it until killed.
func holdLock(t *testing.T, what string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+what)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd
}

// TestLocksKeepRunsApart checks that a journal or a state file held by
// another process is refused at once, naming it and that process, and
// free again once that process is killed.
func TestLocksKeepRunsApart(t *testing.T) {
	tests := []struct {
		kind string
		lock func(path string) (func() error, error)
	}{
		{"journal", func(path string) (func() error, error) {
			j, err := OpenJournal(path)
			if err != nil {
				return nil, err
			}
			return j.Close, nil
		}},
		{"state", func(path string) (func() error, error) { return wrapper.NewStateFile(path).Lock() }},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x")
			holder := holdLock(t, tt.kind+":"+path)

			start := time.Now()
			_, err := tt.lock(path)
			var locked *wrapper.LockedError
			require.ErrorAs(t, err, &locked)
			assert.Less(t, time.Since(start), 2*time.Second, "refused at once")
			assert.Equal(t, path, locked.Path)
			assert.Equal(t, holder.Process.Pid, locked.PID)
			assert.ErrorContains(t, err, path+" is in use by process "+strconv.Itoa(holder.Process.Pid))

			require.NoError(t, holder.Process.Kill()) // SIGKILL
			_ = holder.Wait()
			unlock, err := tt.lock(path)
			require.NoError(t, err, "the lock died with its process")
			// Held here now: a second taker in this process is refused too.
			_, err = tt.lock(path)
			require.ErrorAs(t, err, &locked)
			assert.Equal(t, os.Getpid(), locked.PID)
			require.NoError(t, unlock())
			unlock, err = tt.lock(path)
			require.NoError(t, err, "released by unlock")
			require.NoError(t, unlock())
		})
	}
}

// TestUploadUnrecordedResume checks what a later batch does with the
// files a failing journal could not record: one whose resume state was
// kept is completed as the same video without being sent again; one sent
// in a single request kept none, says so, and goes again.
func TestUploadUnrecordedResume(t *testing.T) {
	env := newUploadEnv(t)
	root := writeTree(t, t.TempDir(), map[string]int64{"small.mp4": 1000, "large.mp4": 2*testChunk + 5})
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	require.NoError(t, err)
	ff := &failingFile{journalFile: j.f}
	ff.armed.Store(true)
	j.f = ff
	var first collect
	res, err := Upload(t.Context(), env.client, files, batchOpts(j, env.token, &first))
	require.ErrorIs(t, err, ErrJournalNotSaved)
	assert.Equal(t, 2, res.Unrecorded, "both were in flight when the journal failed")
	require.NoError(t, j.Close())
	small, large := first.got[filepath.Join(root, "small.mp4")], first.got[filepath.Join(root, "large.mp4")]
	assert.False(t, small.Resumable, "a single request keeps no state")
	assert.True(t, large.Resumable)

	j, err = OpenJournal(dir)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	var second collect
	res, err = Upload(t.Context(), env.client, files, batchOpts(j, env.token, &second))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Uploaded)
	again := second.got[large.File.Path]
	assert.Equal(t, large.VideoID, again.VideoID, "the kept state completes the same video")
	assert.Equal(t, int64(1000), res.BytesSent, "only the small file is sent again")
	assert.NotEqual(t, small.VideoID, second.got[small.File.Path].VideoID)
}
