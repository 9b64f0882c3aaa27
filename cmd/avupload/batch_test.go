package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stretchr/testify/assert"

	"github.com/avupload/avupload/wrapper/batch"
)

// cmdEachOnce checks that every regular file named, or under a
// directory named, is exactly one complete video at the sandbox, by
// SHA-256, and with -total N that the sandbox holds N complete videos in
// all: eachonce [-total N] PATH...
func cmdEachOnce(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: eachonce [-total N] PATH...")
	}
	total := -1
	if args[0] == "-total" && len(args) > 2 {
		n, err := strconv.Atoi(args[1])
		ts.Check(err)
		total, args = n, args[2:]
	}
	bySum := map[string]int{}
	complete := 0
	for _, v := range scriptSandbox(ts).Sandbox.Videos() {
		if v.Complete {
			bySum[v.SHA256]++
			complete++
		}
	}
	for _, arg := range args {
		ts.Check(filepath.WalkDir(ts.MkAbs(arg), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			if n := bySum[hex.EncodeToString(sum[:])]; n != 1 {
				ts.Fatalf("%s is %d complete videos at the sandbox, want 1", p, n)
			}
			return nil
		}))
	}
	if total >= 0 && complete != total {
		ts.Fatalf("the sandbox holds %d complete videos, want %d", complete, total)
	}
}

// TestBatchStatusLine checks the batch's progress line: counts, bytes
// with those in flight, the rate of what this run sent (skipped bytes left
// out) over the window, the ETA at that rate; no rate before there is
// one; a stream's unknown size; the chunks awaiting their answers once
// every byte is sent.
func TestBatchStatusLine(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := batch.Progress{Files: 5, Done: 2, Failed: 1, Bytes: 10 << 20, BytesDone: 4 << 20, BytesSkipped: 1 << 20,
		InFlight: []batch.FileProgress{
			{Path: "dir/a.mp4", Acked: 1 << 20, Sent: 2 << 20, Pending: 1, Total: 2 << 20},
			{Path: "dir/b\x1b[2J.mp4", Acked: 0, Sent: 1 << 19, Pending: 1, Total: 1 << 20},
		}}
	stream := batch.Progress{Files: 1, Bytes: -1, BytesDone: 2 << 20, InFlight: []batch.FileProgress{{Path: "-", Acked: 2 << 20, Sent: 3 << 20, Pending: 1, Total: -1}}}
	waiting := batch.Progress{Files: 2, Done: 1, Bytes: 6 << 20, BytesDone: 4 << 20,
		InFlight: []batch.FileProgress{{Path: "b.mp4", Acked: 0, Sent: 2 << 20, Pending: 2, Total: 2 << 20}}}
	tests := []struct {
		name  string
		p     batch.Progress
		moved []int64 // bytes moved at start, then a second apart
		want  string
	}{
		{"first frame", p, []int64{0}, "files 2/5 (1 failed), 5.5 MiB of 10.0 MiB (55%)"},
		{"under a second", p, []int64{0}, "files 2/5 (1 failed), 5.5 MiB of 10.0 MiB (55%)"},
		{"rate and ETA", p, []int64{0, 1 << 20, 2 << 20, 3 << 20}, "files 2/5 (1 failed), 5.5 MiB of 10.0 MiB (55%), 1.0 MiB/s, ETA 5s"},
		{"stream", stream, []int64{0, 3 << 20}, "files 0/1, 3.0 MiB, 3.0 MiB/s"},
		{"waiting", waiting, []int64{0, 6 << 20}, "files 1/2, 6.0 MiB of 6.0 MiB (100%), waiting for the API to acknowledge 2 chunks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRateWindow(rateSpan, rateLeast)
			now := start
			for i, n := range tt.moved {
				now = start.Add(time.Duration(i) * time.Second)
				w.add(now, n)
			}
			if tt.name == "under a second" {
				w.add(start.Add(900*time.Millisecond), 3<<20)
				now = start.Add(900 * time.Millisecond)
			}
			f := figuresOf(tt.p)
			assert.Equal(t, tt.want, f.filesText()+", "+f.bytesText(w, now))
		})
	}
}

func TestQuotePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"videos/a.mp4", "videos/a.mp4"},
		{`C:\videos\a.mp4`, `C:\videos\a.mp4`},
		{"été/café.mp4", "été/café.mp4"},
		{"a\nb.mp4", `"a\nb.mp4"`},
		{"bell\a.mp4", `"bell\a.mp4"`},
		{" lead.mp4", `" lead.mp4"`},
		{"has space.mp4", "has space.mp4"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, quotePath(tt.in), "%q", tt.in)
	}
}

// cmdPipeHead runs a program with its standard output into a pipe whose
// reader, as `| head -N` does, reads N lines and goes away; then checks the
// program's exit code (-1 when a signal killed it): pipehead N CODE PROG
// [ARGS...]. The lines read are the script's stdout, the program's
// standard error its stderr.
func cmdPipeHead(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: pipehead N CODE PROG [ARGS...]")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	prog := args[2]
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, prog); fileExists(p) {
			prog = p
			break
		}
	}
	r, w, err := os.Pipe()
	ts.Check(err)
	cmd := exec.Command(prog, args[3:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, name := range scriptEnv {
		cmd.Env = append(cmd.Env, name+"="+ts.Getenv(name))
	}
	cmd.Stdout, cmd.Stderr = w, ts.Stderr()
	ts.Check(cmd.Start())
	_ = w.Close()
	br := bufio.NewReader(r)
	for range n {
		line, err := br.ReadString('\n')
		_, _ = io.WriteString(ts.Stdout(), line)
		if err != nil {
			break
		}
	}
	_ = r.Close() // the reader is gone: the next write fails
	err = cmd.Wait()
	got := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		got = exitErr.ExitCode()
	} else {
		ts.Check(err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d (%v)", args[2], got, want, err)
	}
}

// cmdChop removes the newline that ends FILE, as a crash that tore the
// last line would leave it: chop FILE.
func cmdChop(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: chop FILE")
	}
	p := ts.MkAbs(args[0])
	data, err := os.ReadFile(p)
	ts.Check(err)
	ts.Check(os.WriteFile(p, []byte(strings.TrimSuffix(string(data), "\n")), 0o600))
}

// TestParseShard checks which --shard values are read, and as what.
func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		k, n int
		ok   bool
	}{
		{"1/1", 1, 1, true},
		{"3/8", 3, 8, true},
		{"0/2", 0, 0, false},
		{"3/2", 0, 0, false},
		{"1/0", 0, 0, false},
		{"1", 0, 0, false},
		{"a/b", 0, 0, false},
		{"1/2x", 0, 0, false},
		{" 1/2", 0, 0, false},
		{"-1/2", 0, 0, false},
	}
	for _, tt := range tests {
		k, n, ok := parseShard(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, [2]int{tt.k, tt.n}, [2]int{k, n}, tt.in)
	}
}
