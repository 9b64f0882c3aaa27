package batch

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkJournalRecord is the cost of recording one completed file: one
// appended line, and a sync to disk at most once a second.
func BenchmarkJournalRecord(b *testing.B) {
	j, err := OpenJournal(b.TempDir())
	require.NoError(b, err)
	defer func() { require.NoError(b, j.Close()) }()
	e := JournalEntry{Size: 1024, ModTime: time.Now().UTC(), SHA256: strings.Repeat("a", 64),
		VideoID: "vi4k0jvEUuaTdRAEjQ4Jfrgz", UploadedAt: time.Now().UTC()}
	i := 0
	for b.Loop() {
		e.Path = fmt.Sprintf("/videos/d%02d/t%06d.mp4", i%100, i)
		require.NoError(b, j.record(e))
		i++
	}
}

// BenchmarkUploadTiny uploads 500 files of 1 KiB to the sandbox in
// process, at 4 jobs, with a journal and without, and reports files/s:
// the difference is what the journal costs per file.
func BenchmarkUploadTiny(b *testing.B) {
	const n = 500
	tree := map[string]int64{}
	for i := range n {
		tree[fmt.Sprintf("d%02d/t%04d.mp4", i%20, i)] = 1024
	}
	root := writeTree(b, b.TempDir(), tree)
	files, err := Plan([]string{root}, PlanOptions{})
	require.NoError(b, err)
	for _, journal := range []bool{false, true} {
		b.Run(fmt.Sprintf("journal=%t", journal), func(b *testing.B) {
			env := newUploadEnv(b)
			for b.Loop() {
				opts := &Options{Jobs: 4, Token: env.token}
				if journal {
					j, err := OpenJournal(filepath.Join(b.TempDir(), "j"))
					require.NoError(b, err)
					opts.Journal = j
					defer func() { require.NoError(b, j.Close()) }()
				}
				res, err := Upload(b.Context(), env.client, files, opts)
				require.NoError(b, err)
				require.Equal(b, n, res.Uploaded)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
