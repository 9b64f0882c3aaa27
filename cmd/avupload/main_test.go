package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// TestMain lets the test binary double as the avupload command, so that
// scripts run `exec avupload ...` in a real process that can be signalled
// and killed.
func TestMain(m *testing.M) {
	testscript.Main(goleakM{m}, map[string]func(){
		"avupload": func() {
			os.Exit(run(context.Background(), os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}, os.Getenv))
		},
	})
}

// goleakM checks for leaked goroutines after the tests ran.
type goleakM struct{ m *testing.M }

func (g goleakM) Run() int {
	code := g.m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// sandboxKey is where a script's sandbox server is kept in its values.
type sandboxKey struct{}

// TestScripts runs the scripts in testdata/script, each against its own
// sandbox. A script finds the sandbox's URL in $SANDBOX_URL and its API key
// in $APIVIDEO_API_KEY.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			srv, err := sandbox.Start("127.0.0.1:0", sandbox.WithAPIKeys("cli-test-key"), sandbox.WithDataDir(env.WorkDir+"/.sandbox"))
			if err != nil {
				return err
			}
			env.Defer(func() { _ = srv.Close() })
			env.Values[sandboxKey{}] = srv
			env.Setenv("SANDBOX_URL", srv.URL)
			// The same sandbox under another name: another server to a journal.
			env.Setenv("SANDBOX_URL2", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
			env.Setenv("APIVIDEO_API_KEY", srv.APIKey)
			env.Setenv("VERSION", regexp.QuoteMeta(wrapper.Version))
			// A race-enabled binary sleeps a second on exit unless told not to.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":      cmdExits,
			"notapi":     cmdNotAPI,
			"genfile":    cmdGenfile,
			"newtoken":   cmdNewtoken,
			"fault":      cmdFault,
			"nofaults":   cmdNofaults,
			"refuse":     cmdRefuse,
			"video":      cmdVideo,
			"lastvideo":  cmdLastVideo,
			"requests":   cmdRequests,
			"waitacked":  cmdWaitAcked,
			"waitstatus": cmdWaitStatus,
			"sleep":      cmdSleep,
			"eachonce":   cmdEachOnce,
			"flipbyte":   cmdFlipByte,
			"pipehead":   cmdPipeHead,
			"chop":       cmdChop,
		},
	})
}

func scriptSandbox(ts *testscript.TestScript) *sandbox.Server {
	return ts.Value(sandboxKey{}).(*sandbox.Server)
}

// cmdGenfile writes a file of pseudo-random bytes: genfile NAME SIZE [SEED].
func cmdGenfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: genfile NAME SIZE [SEED]")
	}
	size, err := parseSize(args[1])
	ts.Check(err)
	seed := uint64(1)
	if len(args) == 3 {
		seed, err = strconv.ParseUint(args[2], 10, 64)
		ts.Check(err)
	}
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	_, err = io.CopyN(f, rand.NewChaCha8([32]byte{byte(seed)}), size)
	ts.Check(err)
	ts.Check(f.Close())
}

// cmdNewtoken mints a token on the sandbox and sets $TOKEN: newtoken [TTL].
func cmdNewtoken(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: newtoken [TTL]")
	}
	ttl := time.Hour
	if len(args) == 1 {
		var err error
		ttl, err = time.ParseDuration(args[0])
		ts.Check(err)
	}
	token, err := scriptSandbox(ts).Sandbox.CreateToken(ttl)
	ts.Check(err)
	ts.Setenv("TOKEN", token)
}

// cmdNotAPI starts a server that is not the API, such as a proxy or a
// captive portal, which answers every request with 404 and an HTML page, and
// sets $NOTAPI_URL to its URL: notapi.
func cmdNotAPI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: notapi")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "<html><body>Not here</body></html>")
	}))
	ts.Defer(srv.Close)
	ts.Setenv("NOTAPI_URL", srv.URL)
}

// cmdFault scripts sandbox faults: fault SPEC... (see sandbox.ParseFault).
func cmdFault(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: fault SPEC...")
	}
	for _, spec := range args {
		f, err := sandbox.ParseFault(spec)
		ts.Check(err)
		scriptSandbox(ts).Sandbox.AddFaults(f)
	}
}

// cmdRefuse lets the next N upload requests through, then answers 429 to
// the eight after them, so that an upload sits waiting for the rate-limit
// window with N chunks acknowledged: refuse N. The sandbox must be idle.
func cmdRefuse(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: refuse N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	sb := scriptSandbox(ts).Sandbox
	base := sb.Stats().Count(sandbox.OpUploadWithUploadToken)
	for i := 1; i <= 8; i++ {
		sb.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, Request: base + n + i,
			Kind: sandbox.FaultStatus, Status: http.StatusTooManyRequests})
	}
}

// cmdNofaults removes every scripted fault: nofaults.
func cmdNofaults(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: nofaults")
	}
	scriptSandbox(ts).Sandbox.ClearFaults()
}

// scriptEnv lists the variables a script may set that `exits` passes on.
var scriptEnv = []string{"PATH", "HOME", "TMPDIR", "WORK", "GORACE", "SANDBOX_URL", "SANDBOX_URL2", "NOTAPI_URL", "TOKEN", envAPIKey, envToken,
	envK8sIndex, envAWSIndex, envAWSSize}

// cmdExits runs a program and checks its exit code, which exec cannot:
// exits CODE PROG [ARGS...]. Its output is the script's stdout and stderr.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	prog := args[1]
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, args[1]); fileExists(p) {
			prog = p
			break
		}
	}
	cmd := exec.Command(prog, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, name := range scriptEnv {
		cmd.Env = append(cmd.Env, name+"="+ts.Getenv(name))
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = cmd.Run()
	got := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		got = exitErr.ExitCode()
	} else {
		ts.Check(err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// cmdVideo checks the sandbox holds exactly N videos and that the last
// one is complete, holds FILE's bytes and came in CHUNKS chunks:
// video N FILE [CHUNKS].
func cmdVideo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: video N FILE [CHUNKS]")
	}
	videos := scriptSandbox(ts).Sandbox.Videos()
	if n, _ := strconv.Atoi(args[0]); len(videos) != n {
		ts.Fatalf("sandbox holds %d videos, want %s", len(videos), args[0])
	}
	v := videos[len(videos)-1]
	if !v.Complete {
		ts.Fatalf("video %s is not complete: %d bytes in %d chunks", v.VideoID, v.Size, v.Chunks)
	}
	data, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); v.SHA256 != want {
		ts.Fatalf("video %s has sha256 %s, want %s", v.VideoID, v.SHA256, want)
	}
	if len(args) == 3 && strconv.Itoa(v.Chunks) != args[2] {
		ts.Fatalf("video %s came in %d chunks, want %s", v.VideoID, v.Chunks, args[2])
	}
	ts.Setenv("VIDEO_ID", v.VideoID)
	ts.Setenv("VIDEO_SHA256", v.SHA256)
}

// cmdLastVideo sets the environment variable NAME to the id of the video
// the sandbox saw last, complete or not: lastvideo NAME.
func cmdLastVideo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lastvideo NAME")
	}
	videos := scriptSandbox(ts).Sandbox.Videos()
	if len(videos) == 0 {
		ts.Fatalf("the sandbox holds no video")
	}
	ts.Setenv(args[0], videos[len(videos)-1].VideoID)
}

// cmdRequests checks how many requests an operation got, in all or with a
// status: requests OP [STATUS] N.
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: requests OP [STATUS] N")
	}
	stats := scriptSandbox(ts).Sandbox.Stats()
	got := stats.Count(args[0])
	if len(args) == 3 {
		status, err := strconv.Atoi(args[1])
		ts.Check(err)
		got = stats.CountStatus(args[0], status)
	}
	if want := args[len(args)-1]; strconv.Itoa(got) != want {
		ts.Fatalf("%s: %d requests, want %s (stats %+v)", args[0], got, want, stats.Operations[args[0]])
	}
}

// cmdWaitStatus waits until the sandbox answered at least N requests to
// OP with STATUS: waitstatus OP STATUS N.
func cmdWaitStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: waitstatus OP STATUS N")
	}
	status, err := strconv.Atoi(args[1])
	ts.Check(err)
	want, err := strconv.Atoi(args[2])
	ts.Check(err)
	sb := scriptSandbox(ts).Sandbox
	waitFor(ts, fmt.Sprintf("%d answers %d to %s", want, status, args[0]), func() bool {
		return sb.Stats().CountStatus(args[0], status) >= want
	})
}

// waitFor polls cond until it holds, for at most 30 seconds.
func waitFor(ts *testscript.TestScript, what string, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			ts.Fatalf("no %s within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdWaitAcked waits until the state file records at least N acknowledged
// chunks: waitacked FILE N.
func cmdWaitAcked(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitacked FILE N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	waitFor(ts, fmt.Sprintf("%d acknowledged chunks in %s", want, args[0]), func() bool {
		var state struct {
			Acked []json.RawMessage `json:"acked"`
		}
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		return err == nil && json.Unmarshal(data, &state) == nil && len(state.Acked) >= want
	})
}

// cmdSleep waits a while, for the sandbox to finish requests it holds:
// sleep DURATION.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// cmdFlipByte inverts the byte at OFFSET of FILE in place and puts the
// file's modification time back, as `touch -r` or `cp -p` would: flipbyte
// FILE OFFSET.
func cmdFlipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	off, err := parseSize(args[1])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	fi, err := os.Stat(path)
	ts.Check(err)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	ts.Check(err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	ts.Check(err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	ts.Check(err)
	ts.Check(f.Close())
	ts.Check(os.Chtimes(path, fi.ModTime(), fi.ModTime()))
}
