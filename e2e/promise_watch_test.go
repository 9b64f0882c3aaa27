package e2e

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The watch mode of the promise checker: avupload watch never ends on its
// own, so every run of it has a stopper that reads its --json lines as they
// come and stops it with SIGTERM once every file of the tree is reported
// done with the bytes it holds now; such a stop is the checker's own, and
// the run's success if it then exits 130. The stopper also makes the
// watch's own events: a file written in two parts into a new folder once
// the first watch runs (it must be sent once, whole: the settle rule), and
// a source event after the watch reported a file uploaded (it must send
// the new bytes as a new video).

// watchSettle is the --settle of the watch runs; a file of the case is
// written in two parts well within it.
const watchSettle = 300 * time.Millisecond

// Why the checker stopped a watch.
const (
	stopDone    = "every file reported done"
	stopGaveUp  = "a file failed twice under the lying server"
	stopTimeout = "timeout"
)

// Caps on a watch run: a second watch on the journal must stop at once on
// its own; a first run may meet a lie repeated at each try.
const (
	watchTwinCap   = 10 * time.Second
	watchFirstCap  = 30 * time.Second
	watchHonestCap = 45 * time.Second
	watchTermGrace = 20 * time.Second
)

// cachedSum is the SHA-256 of a file as it was at one size, modification
// time and generation of the case's changes.
type cachedSum struct {
	size  int64
	mtime time.Time
	gen   int
	sum   string
}

// currentSum returns the SHA-256 of the file of s as it is now, and false
// when it is not there.
func (pc *pcase) currentSum(s *psource) (string, bool) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return "", false
	}
	pc.mu.Lock()
	gen := pc.gen
	pc.mu.Unlock()
	pc.sumMu.Lock()
	defer pc.sumMu.Unlock()
	if c, ok := pc.sums[s.path]; ok && c.size == fi.Size() && c.mtime.Equal(fi.ModTime()) && c.gen == gen {
		return c.sum, true
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return "", false
	}
	if pc.sums == nil {
		pc.sums = map[string]cachedSum{}
	}
	sum := sha256Hex(data)
	pc.sums[s.path] = cachedSum{size: fi.Size(), mtime: fi.ModTime(), gen: gen, sum: sum}
	return sum, true
}

// path is the file a --json line names: its bytes when they are not UTF-8.
func (l batchLine) path() string {
	if len(l.PathBytes) > 0 {
		return string(l.PathBytes)
	}
	return l.Path
}

// fileState is what a watch's lines say of one file so far.
type fileState struct {
	last   batchLine // its latest line
	fails  int       // failed lines since its last uploaded or skipped one
	doneAt int       // lines of it reported uploaded or skipped
}

// watchLines reads the whole lines a watch printed so far, by file.
func watchLines(stdout string) map[string]*fileState {
	out := map[string]*fileState{}
	lines := strings.Split(stdout, "\n")
	for _, text := range lines[:len(lines)-1] {
		var l batchLine
		if json.Unmarshal([]byte(text), &l) != nil || l.Status == "" {
			continue
		}
		st := out[l.path()]
		if st == nil {
			st = &fileState{}
			out[l.path()] = st
		}
		st.last = l
		switch l.Status {
		case "uploaded", "skipped":
			st.fails = 0
			st.doneAt++
		case "failed":
			st.fails++
		}
	}
	return out
}

// watchVerdict says whether a watch is done with the tree: "" while not,
// else why it may be stopped.
func (pc *pcase) watchVerdict(r *prun, stdout string) string {
	c := pc.c
	files := watchLines(stdout)
	pc.mu.Lock()
	appeared, fired := pc.appeared, pc.srcFired
	orig := pc.srcs[c.SourceFile].versions[0].sum
	pc.mu.Unlock()
	gaveUp := false
	for i, s := range pc.srcs {
		if i == c.Appear && !appeared && r.phase == 1 {
			return "" // the file is yet to come
		}
		cur, ok := pc.currentSum(s)
		if !ok {
			continue // deleted, or not yet written by a run of another phase
		}
		st := files[s.path]
		if st == nil {
			return ""
		}
		l := st.last
		if (l.Status == "uploaded" || l.Status == "skipped") && l.SHA256 == cur {
			continue
		}
		// An edit that keeps the size and modification time is not seen
		// by a running watch (it settles on both, as its help says); the
		// upload under way sent the file as it was, or failed and is
		// tried again: the bytes of the first version are done.
		if r.phase == 1 && c.Source == srcEdit && !c.AfterDone && fired && i == c.SourceFile &&
			(l.Status == "uploaded" || l.Status == "skipped") && l.SHA256 == orig {
			continue
		}
		if r.phase == 1 && c.Lie != lieNone && st.fails >= 2 {
			gaveUp = true
			continue
		}
		return ""
	}
	if gaveUp {
		return stopGaveUp
	}
	return stopDone
}

// watchStopper watches a watch run: it makes the watch's own events, then
// stops it with SIGTERM when it is done with the tree or at its cap, and
// kills it if it outlives that SIGTERM.
func (pc *pcase) watchStopper(p *pproc) {
	r := p.run
	first := r.phase == 1 && r.label == "first run"
	limit := watchHonestCap
	switch {
	case r.label == "second concurrent run":
		limit = watchTwinCap
	case r.phase == 1:
		limit = watchFirstCap
	}
	start := time.Now()
	var termAt time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	appearing := false
	for {
		select {
		case <-p.waited:
			return
		case <-tick.C:
		}
		if first && pc.c.Appear >= 0 && !appearing && strings.Contains(p.stderr.String(), "avupload: watching ") {
			appearing = true
			pc.startLate()
		}
		stdout := p.stdout.String()
		if first && pc.c.AfterDone {
			pc.afterDone(stdout)
		}
		if !termAt.IsZero() {
			if time.Since(termAt) > watchTermGrace {
				p.mu.Lock()
				if !p.exited {
					r.hung = true
					_ = p.cmd.Process.Kill()
				}
				p.mu.Unlock()
				return
			}
			continue
		}
		reason := pc.watchVerdict(r, stdout)
		if reason == "" && time.Since(start) > limit {
			reason = stopTimeout
		}
		if reason == "" {
			continue
		}
		p.mu.Lock()
		if p.run.sent == "" && !p.exited {
			if p.cmd.Process.Signal(syscall.SIGTERM) == nil {
				r.sent, r.stop, r.stopAt = "stop", reason, time.Since(p.started)
			}
		}
		p.mu.Unlock()
		termAt = time.Now() // a SIGTERM of the client event counts too
	}
}

// startLate writes the late file on a goroutine of its own, once.
func (pc *pcase) startLate() {
	pc.mu.Lock()
	started := pc.lateStarted
	pc.lateStarted = true
	if !started {
		pc.extra.Add(1)
	}
	pc.mu.Unlock()
	if started {
		return
	}
	go func() {
		defer pc.extra.Done()
		pc.writeLate()
	}()
}

// writeLate writes the late file into a new folder of the tree, in two
// parts a moment apart: the watch must send it once, whole. A pause
// longer than the settle time (a busy machine) makes the first part a
// version of its own, which the watch may rightly send.
func (pc *pcase) writeLate() {
	s := pc.srcs[pc.c.Appear]
	half := int64(len(s.data)) / 2
	fail := func(err error) {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		pc.fail("harness", "writing %s during the watch: %v", s.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		fail(err)
		return
	}
	start := time.Now()
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fail(err)
		return
	}
	if _, err := f.Write(s.data[:half]); err != nil {
		_ = f.Close()
		fail(err)
		return
	}
	time.Sleep(watchSettle / 3)
	mid := time.Since(start)
	if _, err := f.Write(s.data[half:]); err != nil {
		_ = f.Close()
		fail(err)
		return
	}
	if err := f.Close(); err != nil {
		fail(err)
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if mid > watchSettle*3/4 {
		// Unchanged for about --settle: the first part may be sent.
		for _, part := range [][]byte{nil, s.data[:half]} {
			s.versions = append(s.versions, pversion{sum: sha256Hex(part), size: int64(len(part))})
		}
		pc.t.Logf("case %d: the late file's first part stayed %s before the second", pc.c.Index, mid)
	}
	pc.appeared = true
	pc.gen++
}

// afterDone makes the source event once the first watch reported the file
// uploaded: an edit (the modification time moved, as an editor does), a
// growth, a truncation or a deletion. The watch must send the new bytes as
// a new video.
func (pc *pcase) afterDone(stdout string) {
	pc.mu.Lock()
	fired := pc.srcFired
	pc.mu.Unlock()
	if fired {
		return
	}
	target := pc.srcs[pc.c.SourceFile]
	st := watchLines(stdout)[target.path]
	if st == nil || st.doneAt == 0 {
		return
	}
	var err error
	switch pc.c.Source {
	case srcEdit:
		var fi os.FileInfo
		if fi, err = os.Stat(target.path); err == nil {
			if err = flipKeepingTime(target.path, pc.rng.Int64N(fi.Size())); err == nil {
				later := fi.ModTime().Add(2 * time.Second)
				err = os.Chtimes(target.path, later, later)
			}
		}
	case srcGrow:
		grow := make([]byte, 1+pc.rng.IntN(64<<10))
		_, _ = rand.Read(grow)
		err = appendTo(target.path, grow)
	case srcShrink:
		err = os.Truncate(target.path, 1+pc.rng.Int64N(target.spec.size-1))
	case srcDelete:
		err = os.Remove(target.path)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.srcFired = true
	pc.gen++
	if err != nil {
		pc.fail("harness", "the source event failed: %v", err)
		return
	}
	if data, rerr := os.ReadFile(target.path); rerr == nil && !target.has(sha256Hex(data)) {
		target.versions = append(target.versions, pversion{sum: sha256Hex(data), size: int64(len(data))})
	}
}
