package batch

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

// TestFilesByStatusMetric runs a batch of two files and an empty one, then
// again with the journal, through a client given a meter provider, and
// checks the files counted by status, next to the client's uploads.
func TestFilesByStatusMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()))
	c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithRetryPolicy(fastRetries), wrapper.WithMeterProvider(mp))
	require.NoError(t, err)
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)

	root := writeTree(t, t.TempDir(), map[string]int64{"1.mp4": 1000, "2.mp4": 2000})
	require.NoError(t, os.WriteFile(filepath.Join(root, "0-empty.mp4"), nil, 0o600))
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(t, err)
	files = append(files, File{Path: filepath.Join(root, "0-empty.mp4"), ShardKey: "0-empty.mp4"})
	journal := t.TempDir()
	for range 2 {
		j, err := OpenJournal(journal)
		require.NoError(t, err)
		_, err = Upload(t.Context(), c, files, batchOpts(j, token, &collect{}))
		require.NoError(t, err)
		require.NoError(t, j.Close())
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	got := map[string]map[string]int64{} // metric, attribute value: count
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				for _, kv := range p.Attributes.ToSlice() {
					if got[m.Name] == nil {
						got[m.Name] = map[string]int64{}
					}
					got[m.Name][kv.Value.String()] += p.Value
				}
			}
		}
	}
	assert.Equal(t, map[string]int64{"uploaded": 2, "failed": 2, "skipped": 2}, got["avupload.batch.files"])
	assert.Equal(t, map[string]int64{"ok": 2}, got["avupload.uploads"], "the client's own metrics, on the same provider")
}
