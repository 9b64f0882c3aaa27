// Command flaky serves a sandbox that answers 503 to a share of the upload
// requests, drawn at random from a fixed seed, and counts what the clients
// sent: the figures of docs/PERFORMANCE.md's "One pacer per client".
//
//	go run ./bench/flaky -addr 127.0.0.1:8099 -fail 0.5 &
//	AVUPLOAD_BASE_URL=http://127.0.0.1:8099 APIVIDEO_API_KEY=flaky-api-key \
//	  avupload upload --jobs 8 --concurrency 4 --chunk-size 5MiB dir/
//	curl -s http://127.0.0.1:8099/_flaky/stats
//
// /_flaky/stats gives the upload requests received, the 503s given, the
// chunks the sandbox acknowledged, the body bytes received and their rate
// between the first 10% and the first 90% of them (leaving out the start,
// when the first chunk goes alone, and the end, when the last chunks are
// assembled); POST /_flaky/reset zeroes them. With -fail 0 it is a plain
// sandbox with a byte meter.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/avupload/avupload/sandbox"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "address to listen on")
	fail := flag.Float64("fail", 0.5, "share of upload requests answered 503")
	seed := flag.Uint64("seed", 1, "seed of the draws")
	dir := flag.String("data-dir", "", "store uploads in this directory; empty: a temporary one")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "flaky-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "flaky:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	sb, err := sandbox.New(sandbox.WithAPIKeys("flaky-api-key"), sandbox.WithDataDir(*dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "flaky:", err)
		os.Exit(1)
	}
	var (
		mu    sync.Mutex
		rng   = rand.New(rand.NewPCG(*seed, *seed))
		stats struct {
			Requests, Refused, Acknowledged int
			Bytes                           int64
			MiddleMiBps                     float64
		}
		marks []mark
	)
	middle := func() float64 {
		if len(marks) == 0 {
			return 0
		}
		total := marks[len(marks)-1].n
		var t10, t90 mark
		for _, m := range marks {
			if t10.n == 0 && m.n >= total/10 {
				t10 = m
			}
			if m.n >= total*9/10 {
				t90 = m
				break
			}
		}
		if d := t90.at.Sub(t10.at).Seconds(); d > 0 {
			return float64(t90.n-t10.n) / d / (1 << 20)
		}
		return 0
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_flaky/stats":
			mu.Lock()
			defer mu.Unlock()
			stats.MiddleMiBps = middle()
			_ = json.NewEncoder(w).Encode(stats)
			return
		case "/_flaky/reset":
			mu.Lock()
			stats.Requests, stats.Refused, stats.Acknowledged, stats.Bytes = 0, 0, 0, 0
			marks = nil
			mu.Unlock()
			return
		case "/upload":
			mu.Lock()
			stats.Requests++
			refuse := rng.Float64() < *fail
			if refuse {
				stats.Refused++
			}
			mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"title":"Service unavailable.","status":503}`))
				return
			}
			r.Body = &meter{ReadCloser: r.Body, add: func(n int) {
				mu.Lock()
				stats.Bytes += int64(n)
				marks = append(marks, mark{time.Now(), stats.Bytes})
				mu.Unlock()
			}}
			rec := &status{ResponseWriter: w}
			sb.ServeHTTP(rec, r)
			if rec.code/100 == 2 {
				mu.Lock()
				stats.Acknowledged++
				mu.Unlock()
			}
			return
		}
		sb.ServeHTTP(w, r)
	})
	fmt.Printf("export AVUPLOAD_BASE_URL=http://%s\nexport APIVIDEO_API_KEY=flaky-api-key\n", *addr)
	if err := http.ListenAndServe(*addr, h); err != nil {
		fmt.Fprintln(os.Stderr, "flaky:", err)
		os.Exit(1)
	}
}

type mark struct {
	at time.Time
	n  int64
}

// meter tells add of the bytes read from a request body.
type meter struct {
	io.ReadCloser
	add func(int)
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.ReadCloser.Read(p)
	if n > 0 {
		m.add(n)
	}
	return n, err
}

// status records the status an answer was given.
type status struct {
	http.ResponseWriter
	code int
}

func (s *status) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *status) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *status) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
