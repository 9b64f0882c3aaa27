package sandbox_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// BenchmarkLargeStreamedUpload uploads 200 MiB (the most one request may
// hold), generated on the fly through an io.Pipe, as one request to a sandbox with directory storage, and reports
// how far the process heap grew above its level before the upload
// (peak-heap-MiB), sampled every few milliseconds. Client and server share the
// process, so the figure bounds both together.
//
//	go test -run '^$' -bench LargeStreamedUpload -benchtime 1x ./sandbox/
func BenchmarkLargeStreamedUpload(b *testing.B) {
	const size = 200 << 20
	srv := sandboxtest.NewServer(b, sandbox.WithDataDir(b.TempDir()))
	tok, err := srv.Sandbox.CreateToken(0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	var peakGrowth uint64
	for b.Loop() {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Go(func() {
			var ms runtime.MemStats
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
				}
			}
		})

		body, contentType, _ := streamedUpload(b, size)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+tok, body)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", size-1, size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		close(stop)
		sampler.Wait()
		if resp.StatusCode != 201 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		if p := peak.Load(); p > base.HeapInuse && p-base.HeapInuse > peakGrowth {
			peakGrowth = p - base.HeapInuse
		}
	}
	b.ReportMetric(float64(peakGrowth)/(1<<20), "peak-heap-MiB")
}
