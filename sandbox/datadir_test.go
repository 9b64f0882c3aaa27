package sandbox_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// writeFiles writes files (slash paths relative to dir) with their content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, data := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
	}
}

// userBytes maps every file under dir, but the temporary ones and the lock,
// to its content, keyed by its base name and parent: what a move keeps.
func userBytes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, err := filepath.Rel(dir, path)
		require.NoError(t, err)
		if d.IsDir() || d.Name() == "lock" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(filepath.ToSlash(rel), "tmp/") {
			return nil
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		out[filepath.Base(filepath.Dir(path))+"/"+d.Name()] = string(b)
		return nil
	}))
	return out
}

func tokenName(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]) + ".json"
}

// TestDataDirQuarantinesWhatItCannotRead starts a sandbox on a data
// directory holding corrupt video states and token files beside good ones:
// it starts, serves the good ones, moves each bad one to quarantine/ with
// its bytes, logs its path and the reason, and deletes nothing.
func TestDataDirQuarantinesWhatItCannotRead(t *testing.T) {
	const (
		good    = "viGoodVideo00000000000000"
		goodTok = "toGoodToken00000000000000"
		oldTok  = "toOldLayout00000000000000"
		stamp   = `"createdAt":"2026-01-02T03:04:05Z","updatedAt":"2026-01-02T03:04:05Z"`
	)
	goodJSON := `{"videoId":"` + good + `","seq":0,"title":"good.mp4",` + stamp + `,"complete":true,"sha256":"` + sha([]byte("the good video")) + `"}`
	bad := []struct{ id, state, reason string }{
		{"viTruncatedJSON000000000", `{"videoId":"viTrunc`, "not a valid video state"},
		{"viEmptyArray000000000000", `[]`, "not a valid video state"},
		{"viOtherVideo000000000000", `{"videoId":"viSomeoneElse","unit":"bytes","total":10}`, "names video"},
		{"viUnknownUnit00000000000", `{"videoId":"viUnknownUnit00000000000","unit":"frames","total":10}`, "unknown unit"},
		{"viNoState000000000000000", "", "video.json is missing"},
	}
	files := map[string]string{
		"videos/" + good + "/video.json":  goodJSON,
		"videos/" + good + "/source":      "the good video",
		"tokens/" + tokenName(goodTok):    `{"token":"` + goodTok + `","ttl":0,"createdAt":"2026-01-02T03:04:05Z"}`,
		"tokens/" + oldTok + ".json":      `{"token":"` + oldTok + `","ttl":0,"createdAt":"2026-01-02T03:04:05Z"}`,
		"tokens/" + tokenName("x") + "":   `[]`,
		"tokens/truncated.json":           `{"tok`,
		"tokens/" + tokenName("mismatch"): `{"token":"toNotTheOneInTheName0000","ttl":0}`,
	}
	for _, b := range bad {
		if b.state != "" {
			files["videos/"+b.id+"/video.json"] = b.state
		}
		files["videos/"+b.id+"/chunk-0"] = "five mebibytes of someone's upload, " + b.id
	}
	dir := t.TempDir()
	writeFiles(t, dir, files)
	before := userBytes(t, dir)

	var logs testutil.SyncBuffer
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(dir), sandbox.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	vs := srv.Sandbox.Videos()
	require.Len(t, vs, 1, "only the readable video is served; logs:\n%s", logs.String())
	assert.Equal(t, good, vs[0].VideoID)
	for _, tok := range []string{goodTok, oldTok} {
		r := call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
		assert.Equal(t, http.StatusOK, r.Status, "a readable token is served: %s", r.Raw)
	}

	for _, b := range bad {
		from := filepath.Join(dir, "videos", b.id)
		to := filepath.Join(dir, "quarantine", "videos", b.id)
		chunk, err := os.ReadFile(filepath.Join(to, "chunk-0"))
		require.NoError(t, err, "%s is moved to quarantine with its chunk", b.id)
		assert.Equal(t, files["videos/"+b.id+"/chunk-0"], string(chunk))
		assert.NoDirExists(t, from)
		assert.Contains(t, logs.String(), "path="+from, "the log names %s", b.id)
		assert.Regexp(t, `path=`+regexpQuote(from)+` reason="[^"]*`+b.reason, logs.String(), "the log says why %s was moved", b.id)
	}
	for _, name := range []string{tokenName("x"), "truncated.json", tokenName("mismatch")} {
		assert.FileExists(t, filepath.Join(dir, "quarantine", "tokens", name))
		assert.Contains(t, logs.String(), "path="+filepath.Join(dir, "tokens", name))
	}
	assert.NotContains(t, logs.String(), goodTok, "no token reaches the log")
	assert.NotContains(t, logs.String(), "toNotTheOneInTheName0000", "no token reaches the log")

	// Nothing was deleted: every byte is still somewhere in the directory.
	// The old layout's token moved to its hashed name.
	after := userBytes(t, dir)
	before["tokens/"+tokenName(oldTok)] = before["tokens/"+oldTok+".json"]
	delete(before, "tokens/"+oldTok+".json")
	assert.Equal(t, before, after)
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestDataDirLockedByAnotherProcess runs a sandbox on a data directory in
// another process: a sandbox here refuses the directory, naming it and
// that process's id, and leaves its upload in progress alone; once that
// process is killed (no clean shutdown), the directory is free.
func TestDataDirLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	stdin, err := child.StdinPipe()
	require.NoError(t, err)
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = stdin.Close(); _ = child.Process.Kill(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	videoID := strings.TrimSpace(line)
	require.True(t, strings.HasPrefix(videoID, "vi"), "the other process started an upload: %q", line)
	held := userBytes(t, dir)

	_, err = sandbox.New(sandbox.WithDataDir(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir, "the message names the directory")
	assert.Contains(t, err.Error(), "(pid "+strconv.Itoa(child.Process.Pid)+")", "the message names the process holding it")
	assert.Equal(t, held, userBytes(t, dir), "the other sandbox's upload in progress is untouched")

	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	sb, err := sandbox.New(sandbox.WithDataDir(dir))
	require.NoError(t, err, "the lock died with its process")
	defer sb.Close()
	info, ok := sb.Video(videoID)
	require.True(t, ok)
	assert.Equal(t, int64(5*mib), info.Size, "the partial upload is there to resume")
}

// TestDataDirLockedInProcess: two sandboxes of one process cannot share a
// directory either, and closing the first frees it.
func TestDataDirLockedInProcess(t *testing.T) {
	dir := t.TempDir()
	first := sandboxtest.NewServer(t, sandbox.WithDataDir(dir))
	_, err := sandbox.Start("127.0.0.1:0", sandbox.WithDataDir(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))
	require.NoError(t, first.Close())
	second := sandboxtest.NewServer(t, sandbox.WithDataDir(dir))
	assert.Empty(t, second.Sandbox.Videos())
}

const lockHelperEnv = "AVUPLOAD_SANDBOX_LOCK_HELPER"

// lockHelper is the other process of TestDataDirLockedByAnotherProcess: it
// serves a sandbox on dir, starts an upload, prints the video's id and
// waits for its stdin to close.
func lockHelper(dir string) int {
	srv, err := sandbox.Start("127.0.0.1:0", sandbox.WithDataDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	tok, err := srv.Sandbox.CreateToken(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body, ct := multipartBody(nopTB{}, part{field: "file", fileName: "f.mp4", data: randomBytes(5*mib, 9)})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+tok, body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 5*mib-1, 6*mib))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = resp.Body.Close()
	vs := srv.Sandbox.Videos()
	if len(vs) != 1 {
		fmt.Fprintln(os.Stderr, "no video started:", resp.Status)
		return 1
	}
	fmt.Println(vs[0].VideoID)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// TestDiskFullAnswers507 fills the disk under a chunked upload: the chunk
// gets 507 "The sandbox's disk is full." naming no path of the server, the
// chunks received before stay, and once there is space again the same
// chunk completes the video. A first chunk, or a token, on a full disk
// leaves nothing behind.
func TestDiskFullAnswers507(t *testing.T) {
	dir := t.TempDir()
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(dir))
	tok := newToken(t, srv)
	data := randomBytes(10*mib+100, 11)
	rng := func(from, to int) string { return fmt.Sprintf("bytes %d-%d/%d", from, to, len(data)) }
	full := func() error {
		return &fs.PathError{Op: "write", Path: filepath.Join(dir, "tmp", "spool-1"), Err: syscall.ENOSPC}
	}
	requireFull := func(r apiResponse) {
		t.Helper()
		requireProblem(t, r, http.StatusInsufficientStorage, "The sandbox's disk is full.", "")
		assert.NotContains(t, string(r.Raw), dir, "the answer names no path of the server")
		assert.NotContains(t, string(r.Raw), "spool", "the answer names no file of the server")
	}

	sandbox.SetDiskFailure(srv.Sandbox, full)
	requireFull(upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: rng(0, 5*mib-1)}))
	assert.Empty(t, srv.Sandbox.Videos(), "a first chunk on a full disk starts no video")
	requireFull(createToken(t, srv, `{"ttl":0}`))
	sandbox.SetDiskFailure(srv.Sandbox, nil)

	r := upload(t, srv, uploadReq{token: tok, data: data[:5*mib], contentRange: rng(0, 5*mib-1)})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	id := r.str("videoId")

	for _, after := range []int{0, 1, 2} { // the spool, video.json, the spool again
		n := 0
		sandbox.SetDiskFailure(srv.Sandbox, func() error {
			if n++; n > after {
				return full()
			}
			return nil
		})
		requireFull(upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib : 10*mib], contentRange: rng(5*mib, 10*mib-1)}))
		info, ok := srv.Sandbox.Video(id)
		require.True(t, ok)
		assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: 5 * mib, Chunks: 1}, info, "what the video held is kept")
	}
	sandbox.SetDiskFailure(srv.Sandbox, nil)

	r = upload(t, srv, uploadReq{token: tok, videoID: id, data: data[5*mib : 10*mib], contentRange: rng(5*mib, 10*mib-1)})
	require.Equal(t, http.StatusCreated, r.Status, "the same chunk again, with space: %s", r.Raw)
	r = upload(t, srv, uploadReq{token: tok, videoID: id, data: data[10*mib:], contentRange: rng(10*mib, len(data)-1)})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	info, _ := srv.Sandbox.Video(id)
	assert.Equal(t, sandbox.VideoInfo{VideoID: id, Size: int64(len(data)), SHA256: sha(data), Complete: true, Chunks: 3}, info)
}

// nopTB is enough of testing.TB for the helpers the lock helper process
// uses outside a test.
type nopTB struct{ testing.TB }

func (nopTB) Helper()               {}
func (nopTB) Fatalf(string, ...any) { os.Exit(3) }
func (nopTB) Errorf(string, ...any) { os.Exit(3) }
func (nopTB) FailNow()              { os.Exit(3) }
