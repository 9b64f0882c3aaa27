package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/temporaltest"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	// make test-temporal exports it before the process starts.
	_ = os.Setenv("TEMPORAL_VERSION_CHECK_DISABLED", "1")
	os.Exit(m.Run())
}

// TestWorkerAndStart runs the example as the README shows it: a worker
// with the API key (control and uploads), then the starter, against an
// in-process Temporal server and a sandbox.
func TestWorkerAndStart(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	srv := sandboxtest.NewServer(t)
	root := t.TempDir()
	want := map[string]string{}
	for name, size := range map[string]int{"videos/a.mp4": 6 << 20, "videos/sub/b.mp4": 1000, "videos/skip.tmp": 10, "elsewhere/c.mp4": 10} {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		data := bytes.Repeat([]byte(name), size/len(name)+1)[:size]
		require.NoError(t, os.WriteFile(p, data, 0o644))
		sum := sha256.Sum256(data)
		want[name] = hex.EncodeToString(sum[:])
	}
	temporal := []string{"-temporal", ts.GetFrontendHostPort(), "-namespace", ts.GetDefaultNamespace(), "-root", root}
	env := func(k string) string {
		if k == "AVUPLOAD_API_KEY" {
			return srv.APIKey
		}
		return ""
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var workerOut bytes.Buffer
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- run(ctx, append([]string{"worker", "-api", srv.URL, "-chunk-mib", "5", "-files-per-second", "100"}, temporal...), env, &workerOut)
	}()

	var out bytes.Buffer
	startCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	err := run(startCtx, append([]string{"start", "-dir", "videos", "-exclude", "*.tmp", "-id", "example", "-progress-every", "100ms"}, temporal...), env, &out)
	require.NoError(t, err, out.String())
	assert.Contains(t, out.String(), "migrate: 2 files listed in .avupload/example.manifest.jsonl")
	assert.Contains(t, out.String(), "migrate: done: 2 files")

	videos := srv.Sandbox.Videos()
	require.Len(t, videos, 2, "the .tmp file and the other directory are left out")
	got := map[string]bool{}
	for _, v := range videos {
		assert.True(t, v.Complete)
		got[v.SHA256] = true
	}
	assert.True(t, got[want["videos/a.mp4"]])
	assert.True(t, got[want["videos/sub/b.mp4"]])
	outcomes, err := filepath.Glob(filepath.Join(root, ".avupload", "example.outcomes", "outcomes-*.jsonl"))
	require.NoError(t, err)
	assert.Len(t, outcomes, 1)

	// A second start with the same ID is refused.
	require.ErrorContains(t, run(startCtx, append([]string{"start", "-dir", "videos", "-id", "example", "-no-wait"}, temporal...), env, &out),
		"migration example was started already")
	// Usage mistakes say what is missing.
	require.ErrorContains(t, run(ctx, []string{"worker", "-no-uploads"}, func(string) string { return "" }, &out), "AVUPLOAD_API_KEY")
	require.ErrorContains(t, run(ctx, []string{"start"}, env, &out), "-root and -id are required")

	cancel()
	select {
	case err := <-workerDone:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}
	assert.Contains(t, workerOut.String(), "2 worker(s) running")
}
