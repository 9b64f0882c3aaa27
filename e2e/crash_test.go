package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// Sizes of the crash runs; crashSize and crashRuns depend on the build tag
// long (sizes_test.go, sizes_long_test.go).
const (
	crashChunk = 5 << 20
	// crashSlack covers the multipart framing of the extra requests a
	// crash causes, on top of the one chunk it may cost.
	crashSlack = 8 << 10
)

// crashPlan says when one run is killed: once the sandbox has read
// afterBytes of upload bodies (mid-chunk), or right after it answered the
// afterAnswer-th upload request (the window between a chunk's
// acknowledgement and the state file's update).
//
// With edit set, one byte of an acknowledged chunk changes between the kill
// and the resume, the file's modification time put back: the resume must
// see it and start over as a new video.
type crashPlan struct {
	concurrency int
	afterBytes  int64
	afterAnswer int
	edit        bool
	editAt      float64 // where in the acknowledged chunks, 0 to 1
}

func (p crashPlan) String() string {
	s := fmt.Sprintf("after %d bytes", p.afterBytes)
	if p.afterAnswer > 0 {
		s = fmt.Sprintf("after answer %d", p.afterAnswer)
	}
	if p.edit {
		s += ", then an edit"
	}
	return s
}

// crashResult is what one run showed.
type crashResult struct {
	plan      crashPlan
	killed    bool  // the process died of SIGKILL (else it had finished)
	stateSeen bool  // a state file existed after the kill
	acked     int   // chunks the state file held after the kill
	served    int   // chunks the sandbox had acknowledged when the kill was sent
	dup       int64 // body bytes read beyond one clean upload's
	orphans   int
	edited    bool // an acknowledged chunk was edited before the resume
	ok        bool
}

// TestCrashResume kills the avupload binary with SIGKILL at a random point
// of an upload, crashRuns times (8; 20 with the tag long), and resumes each
// upload from its state file with a new token. Every video must complete
// with the source's SHA-256, which must be the one the run printed, and each
// crash may cost at most one chunk sent twice. In about one run in three, an
// acknowledged chunk of the file is edited before the resume with its
// modification time put back: the resume must start over as a new video
// holding the edited bytes.
// E2E_CRASH_SEED replays a run.
func TestCrashResume(t *testing.T) {
	seed, err := crashSeed(os.Getenv, uint64(time.Now().UnixNano()))
	require.NoError(t, err)
	t.Logf("seed %d (replay with E2E_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	dir := t.TempDir()
	file := filepath.Join(dir, "video.bin")
	src := newSource(11, crashSize)
	require.NoError(t, os.WriteFile(file, src.data, 0o600))
	chunks := (crashSize + crashChunk - 1) / crashChunk

	clean := cleanCLIUpload(t, file, src)
	t.Logf("a clean upload makes the sandbox read %d body bytes", clean)

	results := make([]crashResult, crashRuns)
	var mu sync.Mutex
	for i := range crashRuns {
		plan := crashPlan{concurrency: 1, edit: rng.IntN(3) == 0, editAt: rng.Float64()}
		if rng.IntN(3) == 0 {
			plan.afterAnswer = 1 + rng.IntN(chunks)
		} else {
			plan.afterBytes = 1 + rng.Int64N(crashSize-1)
		}
		t.Run(fmt.Sprintf("run%02d", i), func(t *testing.T) {
			res := crashResult{plan: plan}
			defer func() {
				res.ok = !t.Failed()
				mu.Lock()
				results[i] = res
				mu.Unlock()
			}()
			crashAndResume(t, &res, copyFile(t, file), src, clean)
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Crash-resume runs, %s, seed %d: %d-byte file in %d-byte chunks (%d chunks), concurrency 1.\n",
		time.Now().UTC().Format(time.DateOnly), seed, crashSize, crashChunk, chunks)
	fmt.Fprintf(&b, "A clean upload makes the sandbox read %d body bytes; dup is what a crashed and resumed upload read beyond that.\n\n", clean)
	b.WriteString("| run | SIGKILL | killed | acked by the sandbox at the kill | state file after the kill | dup bytes | dup / chunk | orphans | result |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var killed, ok, edited int
	var dupTotal, dupMax int64
	for i, r := range results {
		state := "none"
		if r.stateSeen {
			state = fmt.Sprintf("%d acked", r.acked)
		}
		verdict := "FAIL"
		if r.ok {
			verdict = "ok"
			ok++
		}
		if r.edited {
			edited++
			state += ", edited"
			fmt.Fprintf(&b, "| %d | %s | %t | %d | %s | started over | - | %d | %s |\n", i, r.plan, r.killed, r.served, state,
				r.orphans, verdict)
			continue
		}
		if r.killed {
			killed++
		}
		dupTotal += r.dup
		dupMax = max(dupMax, r.dup)
		fmt.Fprintf(&b, "| %d | %s | %t | %d | %s | %d | %.2f | %d | %s |\n", i, r.plan, r.killed, r.served, state,
			r.dup, float64(r.dup)/crashChunk, r.orphans, verdict)
	}
	fmt.Fprintf(&b, "\n%d of %d runs complete with the right SHA-256, printed and stored alike; every resume used a new token; %d resumed after an edit of an acknowledged chunk (time kept) and started over as a new video.\n",
		ok, len(results), edited)
	fmt.Fprintf(&b, "Of the %d other runs killed mid-upload, bytes sent twice: %d in all, %.2f chunks per crash on average, %.2f at most (bound: 1 chunk + %d bytes of framing).\n",
		killed, dupTotal, float64(dupTotal)/float64(max(killed, 1))/crashChunk, float64(dupMax)/crashChunk, crashSlack)
	t.Log("\n" + b.String())
	writeResult(t, "crash-resume.md", "# Crash-resume runs\n\n"+b.String())
}

// ciCrashSeed is the seed of the crash runs in CI, so that a red CI run
// can be replayed and a green one says the same thing every time.
const ciCrashSeed = 20260101

// crashSeed picks the crash runs' seed: E2E_CRASH_SEED when set (to replay
// a run), ciCrashSeed when CI=true, else random (the clock's), so that
// local runs keep exploring new kill points.
func crashSeed(getenv func(string) string, random uint64) (uint64, error) {
	return pickSeed(getenv, "E2E_CRASH_SEED", ciCrashSeed, random)
}

// pickSeed picks a randomized test's seed: the variable replay when set,
// ci when CI=true, else random.
func pickSeed(getenv func(string) string, replay string, ci, random uint64) (uint64, error) {
	if s := getenv(replay); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s=%q is not a seed: want a number from 0 to %d", replay, s, uint64(math.MaxUint64))
		}
		return n, nil
	}
	if getenv("CI") == "true" {
		return ci, nil
	}
	return random, nil
}

// cleanCLIUpload uploads file once with the binary, without a crash, and
// returns the body bytes the sandbox read.
func cleanCLIUpload(t *testing.T, file string, src source) int64 {
	g := newRig(t)
	run := runCLI(t, cliEnv("AVUPLOAD_TOKEN="+g.token(t)), crashArgs(g, 1, filepath.Join(t.TempDir(), "state.json"), file)...)
	require.Equal(t, 0, run.code, "clean upload: %s", run.stderr)
	requireOneComplete(t, g, src.sum, int64(len(src.data)))
	requirePrintedIsStored(t, g, run)
	return g.tap.BodyBytes()
}

func crashArgs(g *rig, concurrency int, stateFile, file string) []string {
	return []string{"upload", "--base-url", g.URL, "--chunk-size", "5MiB", "--concurrency", strconv.Itoa(concurrency),
		"--state-file", stateFile, file}
}

// copyFile copies file into a fresh temporary directory, so that a run
// may edit its copy.
func copyFile(t *testing.T, file string) string {
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), filepath.Base(file))
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// requirePrintedIsStored checks that the video and SHA-256 a run printed
// are a complete video of the sandbox and the hash the sandbox computed
// over the bytes it holds.
func requirePrintedIsStored(t *testing.T, g *rig, run cliRun) (sum string) {
	t.Helper()
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + ` +(\S+)$`).FindStringSubmatch(run.stdout)
		require.NotNil(t, m, "no %s in stdout: %s", name, run.stdout)
		return m[1]
	}
	id, sum := field("video id"), field("sha256")
	info, ok := g.SB.Video(id)
	require.True(t, ok, "the video %s the run reports is unknown", id)
	assert.True(t, info.Complete)
	assert.Equal(t, info.SHA256, sum, "the SHA-256 printed is the one the sandbox stores")
	return sum
}

// editKeepingTime inverts one byte of file at off and puts its
// modification time back.
func editKeepingTime(t *testing.T, file string, off int64) {
	fi, err := os.Stat(file)
	require.NoError(t, err)
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chtimes(file, fi.ModTime(), fi.ModTime()))
}

// crashAndResume runs the binary until the plan kills it, then runs it
// again to completion and checks what the sandbox holds.
func crashAndResume(t *testing.T, res *crashResult, file string, src source, clean int64) {
	g := newRig(t)
	token := g.token(t)
	env := cliEnv("AVUPLOAD_TOKEN=" + token)
	state := filepath.Join(t.TempDir(), "upload.state")
	args := crashArgs(g, res.plan.concurrency, state, file)

	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	var proc sync.Once
	started := make(chan struct{})
	kill := func() {
		<-started
		proc.Do(func() {
			res.served = g.SB.Stats().CountStatus(sandbox.OpUploadWithUploadToken, 201)
			_ = cmd.Process.Kill()
		})
	}
	plan := res.plan
	g.tap.setHooks(&tapHooks{
		read: func(total int64) {
			if plan.afterBytes > 0 && total >= plan.afterBytes {
				kill()
			}
		},
		answered: func(n int) {
			if plan.afterAnswer > 0 && n == plan.afterAnswer {
				kill()
			}
		},
	})
	require.NoError(t, cmd.Start())
	close(started)
	err := cmd.Wait()
	g.tap.setHooks(nil)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.killed = exit.String() == "signal: killed"
		require.True(t, res.killed, "the first run failed on its own: %v\n%s", err, out.String())
	default:
		require.NoError(t, err, out.String())
	}

	data, err := os.ReadFile(state)
	var acked []int
	if err == nil {
		res.stateSeen = true
		var s struct {
			Acked []struct {
				Index int `json:"index"`
			} `json:"acked"`
		}
		require.NoError(t, json.Unmarshal(data, &s), "state file: %s", data)
		for _, c := range s.Acked {
			acked = append(acked, c.Index)
		}
		res.acked = len(acked)
		assert.NotContains(t, string(data), token, "the state file holds the token")
	} else {
		require.ErrorIs(t, err, fs.ErrNotExist)
	}

	want := src
	if plan.edit && len(acked) > 0 {
		// One byte inside an acknowledged chunk, the time put back.
		chunk := acked[int(plan.editAt*float64(len(acked)))]
		off := int64(chunk)*crashChunk + min(crashChunk, crashSize-int64(chunk)*crashChunk)/2
		editKeepingTime(t, file, off)
		edited, err := os.ReadFile(file)
		require.NoError(t, err)
		want = source{data: edited, sum: sha256Hex(edited)}
		res.edited = true
	}

	if res.killed || res.stateSeen {
		// Tokens are short-lived: the resume comes with a new one.
		fresh := g.token(t)
		require.NotEqual(t, token, fresh)
		run := runCLI(t, cliEnv("AVUPLOAD_TOKEN="+fresh), args...)
		require.Equal(t, 0, run.code, "resumed upload failed: %s", run.stderr)
		assert.Equal(t, want.sum, requirePrintedIsStored(t, g, run), "the SHA-256 printed is the file's")
		if res.edited {
			assert.Contains(t, run.stderr, "starting over as a new video", "the resume says it starts over")
		} else if res.acked > 0 {
			assert.Contains(t, run.stderr, "resuming video", "the resume goes on with the saved video")
		}
	}
	_, err = os.Stat(state)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the state file outlived the upload")

	if res.edited {
		// The video of the bytes before the edit is abandoned; it is
		// complete when the kill came after its last chunk landed.
		videos := g.SB.Videos()
		assert.Len(t, videos, 2, "the abandoned video and the new one: %+v", videos)
		var edited int
		for _, v := range videos {
			if v.Complete && v.SHA256 == want.sum {
				edited++
			} else if !v.Complete {
				res.orphans++
			}
		}
		assert.Equal(t, 1, edited, "one complete video of the edited file: %+v", videos)
	} else {
		res.orphans = requireOneComplete(t, g, want.sum, int64(len(want.data)))
		maxOrphans := 0
		if !res.stateSeen && res.killed {
			maxOrphans = 1 // the first chunk landed, its answer did not
		}
		assert.LessOrEqual(t, res.orphans, maxOrphans, "incomplete videos: %+v", g.SB.Videos())
	}

	res.dup = g.tap.BodyBytes() - clean
	switch {
	case res.edited:
		// The whole file went again, as a new video.
	case res.killed:
		assert.LessOrEqual(t, res.dup, int64(crashChunk+crashSlack),
			"bytes sent twice for one crash: the sandbox had acknowledged %d chunks when the kill was sent, the state file held %d",
			res.served, res.acked)
	default:
		assert.LessOrEqual(t, res.dup, int64(crashSlack))
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// requireOneComplete checks that the sandbox holds exactly one complete
// video, with the wanted bytes, and returns how many incomplete ones it holds.
func requireOneComplete(t *testing.T, g *rig, sum string, size int64) (orphans int) {
	t.Helper()
	var complete []sandbox.VideoInfo
	for _, v := range g.SB.Videos() {
		if v.Complete {
			complete = append(complete, v)
		} else {
			orphans++
		}
	}
	require.Len(t, complete, 1, "complete videos: %+v", g.SB.Videos())
	assert.Equal(t, sum, complete[0].SHA256)
	assert.Equal(t, size, complete[0].Size)
	return orphans
}

func TestCrashSeed(t *testing.T) {
	const random = 987654321
	cases := []struct {
		name    string
		env     map[string]string
		want    uint64
		wantErr bool
	}{
		{name: "local runs are random", env: map[string]string{}, want: random},
		{name: "CI is fixed", env: map[string]string{"CI": "true"}, want: ciCrashSeed},
		{name: "CI must say true", env: map[string]string{"CI": "1"}, want: random},
		{name: "a replay wins locally", env: map[string]string{"E2E_CRASH_SEED": "42"}, want: 42},
		{name: "a replay wins in CI", env: map[string]string{"CI": "true", "E2E_CRASH_SEED": "42"}, want: 42},
		{name: "a bad replay seed", env: map[string]string{"E2E_CRASH_SEED": "forty-two"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := crashSeed(func(k string) string { return tc.env[k] }, random)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "E2E_CRASH_SEED")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
