package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

// Sizes of the fault matrix: four chunks, the last one short and odd.
const (
	matrixChunk = 5 << 20
	matrixSize  = 3*matrixChunk + 1<<20 + 123
	matrixStall = 3 * time.Second // the client's StallTimeout
)

// matrixFault is one row of the matrix: a fault the sandbox injects.
type matrixFault struct {
	name  string
	fault sandbox.Fault // Op and Request are set by the tap
	// orphan is set when the fault may leave one incomplete video behind:
	// a first chunk stored whose answer, and so whose video id, was lost.
	orphanOnFirst bool
}

var matrixFaults = []matrixFault{
	{name: "none"},
	{name: "status 500", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}},
	{name: "status 503", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}},
	{name: "status 429", fault: sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429}},
	{name: "cut after 1 MiB", fault: sandbox.Fault{Kind: sandbox.FaultCutRequest, AfterBytes: 1 << 20}},
	{name: "stall > StallTimeout", fault: sandbox.Fault{Kind: sandbox.FaultStall, Stall: matrixStall + 2*time.Second}},
	{name: "commit, then cut", fault: sandbox.Fault{Kind: sandbox.FaultCommitThenCut}, orphanOnFirst: true},
}

// matrixPositions are the chunks a fault is aimed at, by index.
var matrixPositions = []struct {
	name  string
	index int64
}{
	{"first", 0},
	{"middle", 2},
	{"last", 3},
}

var matrixConcurrency = []int{1, 4}

// cellResult is one upload of the matrix.
type cellResult struct {
	ok       bool
	requests int
	extra    int64 // body bytes the sandbox read beyond one clean upload's
	orphans  int
	elapsed  time.Duration
}

func (c cellResult) String() string {
	mark := "FAIL"
	if c.ok {
		mark = "ok"
	}
	s := fmt.Sprintf("%s %dr", mark, c.requests)
	if c.extra > 0 {
		s += fmt.Sprintf(" +%.1fM", float64(c.extra)/(1<<20))
	}
	if c.orphans > 0 {
		s += fmt.Sprintf(" %do", c.orphans)
	}
	return s
}

// TestFaultMatrix uploads the same four-chunk source through every fault
// the sandbox injects, aimed at the first, a middle and the last chunk, at
// concurrency 1 and 4. Every upload must succeed, the sandbox must hold
// exactly one complete video whose SHA-256 is the source's, and nothing
// else but, when a first chunk's answer was lost, one incomplete orphan.
func TestFaultMatrix(t *testing.T) {
	src := newSource(7, matrixSize)
	clean := cleanUploadBytes(t, src)

	var mu sync.Mutex
	results := map[string]cellResult{}
	key := func(f string, pos string, c int) string { return fmt.Sprintf("%s|%s|%d", f, pos, c) }

	t.Run("cells", func(t *testing.T) {
		for _, mf := range matrixFaults {
			for _, pos := range matrixPositions {
				for _, conc := range matrixConcurrency {
					if mf.name == "none" && pos.name != "first" {
						continue
					}
					t.Run(fmt.Sprintf("%s/%s/c%d", mf.name, pos.name, conc), func(t *testing.T) {
						t.Parallel()
						var res cellResult
						defer func() {
							res.extra -= clean
							res.ok = !t.Failed()
							mu.Lock()
							results[key(mf.name, pos.name, conc)] = res
							mu.Unlock()
						}()
						runCell(t, &res, src, mf, pos.index, conc)
					})
				}
			}
		}
	})

	var b strings.Builder
	fmt.Fprintf(&b, "Fault matrix, %s: %d-byte source in %d-byte chunks (4 chunks), StallTimeout %s.\n",
		time.Now().UTC().Format(time.DateOnly), matrixSize, matrixChunk, matrixStall)
	b.WriteString("Each cell: ok/FAIL, upload requests made, body bytes read beyond a clean upload, incomplete orphans.\n\n")
	b.WriteString("| fault |")
	for _, pos := range matrixPositions {
		for _, conc := range matrixConcurrency {
			fmt.Fprintf(&b, " %s c%d |", pos.name, conc)
		}
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(matrixPositions)*len(matrixConcurrency)))
	b.WriteString("\n")
	for _, mf := range matrixFaults {
		fmt.Fprintf(&b, "| %s |", mf.name)
		for _, pos := range matrixPositions {
			for _, conc := range matrixConcurrency {
				cell, ok := results[key(mf.name, pos.name, conc)]
				if !ok {
					b.WriteString(" - |")
					continue
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
		}
		b.WriteString("\n")
	}
	t.Log("\n" + b.String())
	writeResult(t, "fault-matrix.md", "# Fault matrix\n\n"+b.String())
}

// cleanUploadBytes is what one upload of src without faults makes the
// sandbox read: the reference the matrix's extra bytes are counted from.
func cleanUploadBytes(t *testing.T, src source) int64 {
	g := newRig(t)
	c := g.client(t, false)
	_, err := c.Upload(context.Background(), g.token(t), wrapper.ReaderAt(bytes.NewReader(src.data), int64(len(src.data))),
		&wrapper.UploadOptions{ChunkSize: matrixChunk})
	require.NoError(t, err)
	return g.tap.BodyBytes()
}

// runCell makes one upload of the matrix and checks what the sandbox holds.
func runCell(t *testing.T, out *cellResult, src source, mf matrixFault, index int64, conc int) {
	var opts []rigOption
	if mf.name != "none" {
		from := index * matrixChunk
		prefix := fmt.Sprintf("bytes %d-", from)
		opts = append(opts, withAim(func(cr string) (sandbox.Fault, bool) {
			return mf.fault, strings.HasPrefix(cr, prefix)
		}))
	}
	g := newRig(t, opts...)
	c := g.client(t, false)
	start := time.Now()
	res, err := c.Upload(context.Background(), g.token(t), wrapper.ReaderAt(bytes.NewReader(src.data), int64(len(src.data))),
		&wrapper.UploadOptions{
			ChunkSize:    matrixChunk,
			Concurrency:  conc,
			Retry:        fastRetries(),
			StallTimeout: matrixStall,
		})
	out.elapsed, out.requests, out.extra = time.Since(start), len(g.tap.Uploads()), g.tap.BodyBytes()
	require.NoError(t, err)
	assert.Equal(t, src.sum, res.SHA256, "the client's SHA-256")
	assert.Equal(t, int64(len(src.data)), res.Size)
	assert.Equal(t, 4, res.Chunks)
	if mf.name != "none" {
		assert.EqualValues(t, 1, g.faults.Load(), "the fault fired once")
	}

	var complete []sandbox.VideoInfo
	for _, v := range g.SB.Videos() {
		if v.Complete {
			complete = append(complete, v)
		} else {
			out.orphans++
		}
	}
	require.Len(t, complete, 1, "exactly one complete video; all: %+v", g.SB.Videos())
	assert.Equal(t, src.sum, complete[0].SHA256, "the sandbox's SHA-256")
	assert.Equal(t, int64(len(src.data)), complete[0].Size)
	assert.Equal(t, complete[0].VideoID, res.Video.VideoID)
	maxOrphans := 0
	if mf.orphanOnFirst && index == 0 {
		maxOrphans = 1
	}
	assert.LessOrEqual(t, out.orphans, maxOrphans, "incomplete videos left behind: %+v", g.SB.Videos())
}

// writeResult also writes a report to the directory E2E_RESULTS names
// (an absolute path such as $PWD/bench/results, which git ignores); without it, tests
// write nothing outside their temporary directories and the report is only
// logged.
func writeResult(t *testing.T, name, text string) {
	dir := os.Getenv("E2E_RESULTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("writing %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Errorf("writing %s: %v", name, err)
		return
	}
	t.Logf("written to %s", p)
}
