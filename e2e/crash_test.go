package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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
type crashPlan struct {
	concurrency int
	afterBytes  int64
	afterAnswer int
}

func (p crashPlan) String() string {
	if p.afterAnswer > 0 {
		return fmt.Sprintf("after answer %d", p.afterAnswer)
	}
	return fmt.Sprintf("after %d bytes", p.afterBytes)
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
	ok        bool
}

// TestCrashResume kills the avupload binary with SIGKILL at a random point
// of an upload, crashRuns times (8; 20 with the tag long), and resumes each
// upload from its state file. Every video must complete with the source's
// SHA-256, and each crash may cost at most one chunk sent twice.
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
		plan := crashPlan{concurrency: 1}
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
			crashAndResume(t, &res, file, src, clean)
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Crash-resume runs, %s, seed %d: %d-byte file in %d-byte chunks (%d chunks), concurrency 1.\n",
		time.Now().UTC().Format(time.DateOnly), seed, crashSize, crashChunk, chunks)
	fmt.Fprintf(&b, "A clean upload makes the sandbox read %d body bytes; dup is what a crashed and resumed upload read beyond that.\n\n", clean)
	b.WriteString("| run | SIGKILL | killed | acked by the sandbox at the kill | state file after the kill | dup bytes | dup / chunk | orphans | result |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var killed, ok int
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
		if r.killed {
			killed++
		}
		dupTotal += r.dup
		dupMax = max(dupMax, r.dup)
		fmt.Fprintf(&b, "| %d | %s | %t | %d | %s | %d | %.2f | %d | %s |\n", i, r.plan, r.killed, r.served, state,
			r.dup, float64(r.dup)/crashChunk, r.orphans, verdict)
	}
	fmt.Fprintf(&b, "\n%d of %d runs complete with the right SHA-256; %d killed mid-upload; bytes sent twice: %d in all, %.2f chunks per crash on average, %.2f at most (bound: 1 chunk + %d bytes of framing).\n",
		ok, len(results), killed, dupTotal, float64(dupTotal)/float64(max(killed, 1))/crashChunk, float64(dupMax)/crashChunk, crashSlack)
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
	if s := getenv("E2E_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("E2E_CRASH_SEED=%q is not a seed: want a number from 0 to %d", s, uint64(math.MaxUint64))
		}
		return n, nil
	}
	if getenv("CI") == "true" {
		return ciCrashSeed, nil
	}
	return random, nil
}

// cleanCLIUpload uploads file once with the binary, without a crash, and
// returns the body bytes the sandbox read.
func cleanCLIUpload(t *testing.T, file string, src source) int64 {
	g := newRig(t)
	run := runCLI(t, cliEnv("AVUPLOAD_TOKEN="+g.token(t)), crashArgs(g, 1, filepath.Join(t.TempDir(), "state.json"), file)...)
	require.Equal(t, 0, run.code, "clean upload: %s", run.stderr)
	requireOneComplete(t, g, src)
	return g.tap.BodyBytes()
}

func crashArgs(g *rig, concurrency int, stateFile, file string) []string {
	return []string{"upload", "--base-url", g.URL, "--chunk-size", "5MiB", "--concurrency", strconv.Itoa(concurrency),
		"--state-file", stateFile, "--json", file}
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
	if err == nil {
		res.stateSeen = true
		var s struct {
			Acked []int `json:"acked"`
		}
		require.NoError(t, json.Unmarshal(data, &s), "state file: %s", data)
		res.acked = len(s.Acked)
		assert.NotContains(t, string(data), token, "the state file holds the token")
	} else {
		require.ErrorIs(t, err, fs.ErrNotExist)
	}

	if res.killed || res.stateSeen {
		run := runCLI(t, env, args...)
		require.Equal(t, 0, run.code, "resumed upload failed: %s", run.stderr)
		var v struct {
			VideoID string `json:"videoId"`
		}
		require.NoError(t, json.Unmarshal([]byte(run.stdout), &v), "stdout: %s", run.stdout)
		info, ok := g.SB.Video(v.VideoID)
		require.True(t, ok, "the video %s the resumed run reports is unknown", v.VideoID)
		assert.True(t, info.Complete)
		assert.Equal(t, src.sum, info.SHA256)
	}
	_, err = os.Stat(state)
	assert.ErrorIs(t, err, fs.ErrNotExist, "the state file outlived the upload")

	res.orphans = requireOneComplete(t, g, src)
	maxOrphans := 0
	if !res.stateSeen && res.killed {
		maxOrphans = 1 // the first chunk landed, its answer did not
	}
	assert.LessOrEqual(t, res.orphans, maxOrphans, "incomplete videos: %+v", g.SB.Videos())

	res.dup = g.tap.BodyBytes() - clean
	if res.killed {
		assert.LessOrEqual(t, res.dup, int64(crashChunk+crashSlack),
			"bytes sent twice for one crash: the sandbox had acknowledged %d chunks when the kill was sent, the state file held %d",
			res.served, res.acked)
	} else {
		assert.LessOrEqual(t, res.dup, int64(crashSlack))
	}
}

// requireOneComplete checks that the sandbox holds exactly one complete
// video, with src's bytes, and returns how many incomplete ones it holds.
func requireOneComplete(t *testing.T, g *rig, src source) (orphans int) {
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
	assert.Equal(t, src.sum, complete[0].SHA256)
	assert.Equal(t, int64(len(src.data)), complete[0].Size)
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
