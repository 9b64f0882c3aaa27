package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper"
)

// batchTree writes n files of size bytes, spread over two directory
// levels, and returns the tree's root and the files' sources by path.
func batchTree(t *testing.T, n int, size int64, seed uint64) (string, map[string]source) {
	t.Helper()
	root := t.TempDir()
	files := map[string]source{}
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%3), fmt.Sprintf("v%02d.mp4", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		src := newSource(seed+uint64(i), size)
		require.NoError(t, os.WriteFile(p, src.data, 0o600))
		files[p] = src
	}
	return root, files
}

// completeBySum counts the rig's complete videos by SHA-256, and the
// incomplete ones.
func (g *rig) completeBySum() (bySum map[string]int, incomplete int) {
	bySum = map[string]int{}
	for _, v := range g.SB.Videos() {
		if v.Complete {
			bySum[v.SHA256]++
		} else {
			incomplete++
		}
	}
	return bySum, incomplete
}

// batchLines decodes the --json lines of a batch run.
func batchLines(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		out = append(out, m)
	}
	return out
}

// TestBatchCrashResume kills a batch of chunked files with SIGKILL at random
// moments, three times in a row (mid-body, or right after an answer), and
// reruns it with its journal to the end, five times over. Every file must
// end as exactly one complete video with its SHA-256: a file done is
// skipped, a partial one resumes from its state, and the last chunk of a
// file whose answer the kill lost is recognised as already received.
// E2E_CRASH_SEED replays a run.
func TestBatchCrashResume(t *testing.T) {
	seed, err := crashSeed(os.Getenv, uint64(time.Now().UnixNano()))
	require.NoError(t, err)
	t.Logf("seed %d (replay with E2E_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0xba7c4))
	const (
		files = 6
		size  = 2*crashChunk + 4321 // three chunks
	)
	root, srcs := batchTree(t, files, size, 100)

	var report strings.Builder
	for round := range 5 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			g := newRig(t)
			journal := filepath.Join(t.TempDir(), "journal")
			args := []string{"upload", "--base-url", g.URL, "--chunk-size", "5MiB", "--jobs", "2", "--concurrency", "2",
				"--journal", journal, "--json", root}
			env := cliEnv("AVUPLOAD_TOKEN=" + g.token(t))
			var kills []string
			for range 3 {
				plan := crashPlan{}
				if rng.IntN(2) == 0 {
					plan.afterAnswer = len(g.tap.Uploads()) + 1 + rng.IntN(4)
				} else {
					plan.afterBytes = g.tap.BodyBytes() + 1 + rng.Int64N(3*crashChunk)
				}
				if killBatch(t, g, env, args, plan) {
					kills = append(kills, plan.String())
				}
			}
			run := runCLI(t, env, args...)
			require.Equal(t, 0, run.code, "the last rerun failed: %s", run.stderr)
			for _, l := range batchLines(t, run.stdout) {
				assert.NotEqual(t, "failed", l["status"], "%v", l)
			}
			bySum, incomplete := g.completeBySum()
			for p, src := range srcs {
				assert.Equal(t, 1, bySum[src.sum], "%s is exactly one complete video", p)
			}
			assert.Len(t, bySum, files, "complete videos: %+v", g.SB.Videos())
			// A kill may lose the answer to a file's first chunk: that
			// video is left incomplete and the file starts over.
			assert.LessOrEqual(t, incomplete, len(kills)*2, "incomplete videos: %+v", g.SB.Videos())
			fmt.Fprintf(&report, "| %d | %s | %d | %d |\n", round, strings.Join(kills, "; "), len(bySum), incomplete)
		})
	}
	t.Logf("\n| round | kills | complete videos (one per file) | incomplete (lost first answers) |\n|---|---|---|---|\n%s", report.String())
}

// killBatch runs the batch until plan kills it, and reports whether it was
// killed (it may finish first).
func killBatch(t *testing.T, g *rig, env, args []string, plan crashPlan) bool {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	started := make(chan struct{})
	var once sync.Once
	kill := func() {
		<-started
		once.Do(func() { _ = cmd.Process.Kill() })
	}
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
	defer g.tap.setHooks(nil)
	require.NoError(t, cmd.Start())
	close(started)
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		require.Equal(t, "signal: killed", exit.String(), "the batch failed on its own: %s", out.String())
		return true
	}
	require.NoError(t, err, out.String())
	return false
}

// TestBatchShardsWithAPIKey runs a tree as two shards on two "machines"
// (two journals), with the API key and no token: together they upload
// every file exactly once, the --json lines say so, and no minted token is
// left behind. A rerun of each shard skips everything.
func TestBatchShardsWithAPIKey(t *testing.T) {
	g := newRig(t)
	root, srcs := batchTree(t, 14, 300<<10, 200)
	env := cliEnv("APIVIDEO_API_KEY=" + g.APIKey)
	seen := map[string]string{}
	for _, shard := range []string{"1/2", "2/2"} {
		args := []string{"upload", "--base-url", g.URL, "--shard", shard, "--journal", filepath.Join(t.TempDir(), "j"), "--json", root}
		run := runCLI(t, env, args...)
		require.Equal(t, 0, run.code, "shard %s: %s", shard, run.stderr)
		assert.NotContains(t, run.stdout+run.stderr, g.APIKey)
		lines := batchLines(t, run.stdout)
		assert.NotEmpty(t, lines, "shard %s took no file", shard)
		for _, l := range lines {
			p := l["path"].(string)
			assert.Equal(t, "uploaded", l["status"], "%v", l)
			assert.Equal(t, srcs[p].sum, l["sha256"], p)
			_, dup := seen[p]
			assert.False(t, dup, "%s is in both shards", p)
			seen[p] = l["videoId"].(string)
		}
		again := runCLI(t, env, args...)
		require.Equal(t, 0, again.code, again.stderr)
		for _, l := range batchLines(t, again.stdout) {
			assert.Equal(t, "skipped", l["status"], "%v", l)
			assert.Equal(t, seen[l["path"].(string)], l["videoId"])
		}
	}
	assert.Len(t, seen, len(srcs), "the shards cover the tree")
	bySum, incomplete := g.completeBySum()
	assert.Zero(t, incomplete)
	for p, src := range srcs {
		assert.Equal(t, 1, bySum[src.sum], "%s is exactly one complete video", p)
		info, ok := g.SB.Video(seen[p])
		require.True(t, ok, p)
		assert.Equal(t, src.sum, info.SHA256, p)
	}

	c := g.client(t, true)
	var left []wrapper.UploadToken
	for tok, err := range c.AllUploadTokens(t.Context(), wrapper.ListOptions{}) {
		require.NoError(t, err)
		left = append(left, tok)
	}
	assert.Empty(t, left, "API-key mode leaves no token behind")
	for _, r := range g.tap.Uploads() {
		assert.Empty(t, r.Authorization, "the API key never reaches POST /upload")
	}
}
