// Command uploadbench uploads one file or standard input to a
// delegated-upload server with the avupload wrapper and prints the
// throughput and the process's peak resident memory, so that whole-process
// figures can be compared with a single-request baseline (curl) against the
// same server:
//
//	go run ./cmd/avupload sandbox --addr 127.0.0.1:8080 --data-dir /tmp/sb &
//	go run ./bench/uploadbench -url http://127.0.0.1:8080 -api-key sandbox-api-key -file big.bin
//	go run ./bench/uploadbench -url http://127.0.0.1:8080 -api-key sandbox-api-key -stdin < big.bin
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/avupload/avupload/wrapper"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "uploadbench:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:8080", "base URL of the server")
	token := flag.String("token", "", "upload token (or -api-key to mint one)")
	apiKey := flag.String("api-key", "", "API key to mint an upload token with")
	file := flag.String("file", "", "file to upload")
	stdin := flag.Bool("stdin", false, "upload standard input, of unknown length")
	chunk := flag.Int64("chunk-size", wrapper.DefaultChunkSize, "chunk size in bytes")
	conc := flag.Int("concurrency", 1, "chunks in flight after the first")
	flag.Parse()
	if (*file == "") == !*stdin {
		return errors.New("give exactly one of -file and -stdin")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	opts := []wrapper.Option{wrapper.WithBaseURL(*url)}
	if *apiKey != "" {
		opts = append(opts, wrapper.WithAPIKey(*apiKey))
	}
	c, err := wrapper.New(opts...)
	if err != nil {
		return err
	}
	if *token == "" {
		if *apiKey == "" {
			return errors.New("give -token or -api-key")
		}
		t, err := c.CreateUploadToken(ctx, 0)
		if err != nil {
			return err
		}
		*token = t.Token
	}
	src := wrapper.File(*file)
	if *stdin {
		src = wrapper.Reader(os.Stdin, -1)
	}
	start := time.Now()
	res, err := c.Upload(ctx, *token, src, &wrapper.UploadOptions{ChunkSize: *chunk, Concurrency: *conc})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("video      %s\n", res.Video.VideoID)
	fmt.Printf("bytes      %d in %d chunks\n", res.Size, res.Chunks)
	fmt.Printf("sha256     %s\n", res.SHA256)
	fmt.Printf("elapsed    %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput %.1f MiB/s\n", float64(res.Size)/(1<<20)/elapsed.Seconds())
	fmt.Printf("peak RSS   %s\n", peakRSS())
	return nil
}

// peakRSS reads the process's peak resident set size (VmHWM) from /proc.
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
