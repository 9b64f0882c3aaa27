package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// phase1 runs the drawn command (both shards at once in shard mode) with
// the drawn server, source event and client event.
func (pc *pcase) phase1() {
	c := pc.c
	f := pc.srv.f
	if c.Lie != lieNone {
		f.setLie(c.Lie, c.LieTarget, c.LieNth, c.LieRepeat)
	}
	pc.phase1Open = true
	var mainP atomic.Pointer[pproc]

	if c.Source != srcNone && !c.AfterDone { // a watch's event after the upload is its stopper's
		target := pc.srcs[c.SourceFile]
		size := target.spec.size
		editAt := pc.rng.Int64N(size)
		grow := make([]byte, 1+pc.rng.IntN(64<<10))
		_, _ = rand.Read(grow)
		shrinkTo := 1 + pc.rng.Int64N(size-1)
		f.addTrigger(&frontTrigger{file: target.spec.name, at: c.SourceAt, fire: func() {
			var err error
			switch c.Source {
			case srcEdit:
				err = flipKeepingTime(target.path, editAt)
			case srcGrow:
				err = appendTo(target.path, grow)
			case srcShrink:
				err = os.Truncate(target.path, shrinkTo)
			case srcDelete:
				err = os.Remove(target.path)
			}
			pc.mu.Lock()
			defer pc.mu.Unlock()
			pc.srcFired = true
			pc.gen++
			if err != nil {
				pc.fail("harness", "the source event failed: %v", err)
			}
		}})
	}
	cmds := pc.commands()
	switch c.Client {
	case cliKill, cliTerm:
		sig, name := os.Signal(os.Kill), "SIGKILL"
		if c.Client == cliTerm {
			sig, name = syscall.SIGTERM, "SIGTERM"
		}
		f.addTrigger(&frontTrigger{at: c.ClientAt, fire: func() {
			if p := mainP.Load(); p != nil && p.signal(sig, name) {
				pc.mu.Lock()
				pc.signals++
				pc.mu.Unlock()
			}
		}})
	case cliTwin:
		f.addTrigger(&frontTrigger{at: c.ClientAt, fire: func() {
			pc.mu.Lock()
			open := pc.phase1Open
			if open {
				pc.extra.Add(1)
			}
			pc.mu.Unlock()
			if !open {
				return
			}
			go func() {
				defer pc.extra.Done()
				pc.start("second concurrent run", 1, cmds[0], pc.srv, 0).wait()
			}()
		}})
	}

	var procs []*pproc
	for i, cmd := range cmds {
		label := "first run"
		if c.Mode == modeShards {
			label = "first run of " + cmd.key
		}
		pipe := 0
		if c.Client == cliPipe && i == 0 {
			pipe = c.PipeAfter
		}
		p := pc.start(label, 1, cmd, pc.srv, pipe)
		if i == 0 {
			mainP.Store(p)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		p.wait()
		if p.run.sent == "pipe" {
			pc.mu.Lock()
			pc.signals++
			pc.mu.Unlock()
		}
	}
	pc.mu.Lock()
	pc.phase1Open = false
	pc.mu.Unlock()
	if c.Appear >= 0 {
		pc.startLate() // the first watch ended before it watched: the file comes for the reruns
	}
	pc.extra.Wait()
	f.honest()
	pc.phase1Toks = f.Tokens()

	pc.mu.Lock()
	fired := pc.srcFired
	pc.mu.Unlock()
	if fired && c.Source != srcDelete {
		target := pc.srcs[c.SourceFile]
		data, err := os.ReadFile(target.path)
		pc.mu.Lock()
		defer pc.mu.Unlock()
		if err == nil && !target.has(sha256Hex(data)) {
			target.versions = append(target.versions, pversion{sum: sha256Hex(data), size: int64(len(data))})
		}
	}
}

// flipKeepingTime inverts the byte at off and puts the modification time
// back.
func flipKeepingTime(path string, off int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		_ = f.Close()
		return err
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, fi.ModTime(), fi.ModTime())
}

func appendTo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// reruns damages the journal when drawn, then runs again, against the
// honest server, every command that did not succeed (a batch also after a
// success when drawn).
func (pc *pcase) reruns() {
	c := pc.c
	if c.Damage {
		pc.damageJournal()
	}
	for _, cmd := range pc.commands() {
		ok, failed := false, false
		for _, r := range pc.runs {
			if r.key == cmd.key {
				ok = ok || r.ok()
				failed = failed || !r.ok()
			}
		}
		need := !ok // one upload: a success is not repeated (it would upload again, rightly)
		if c.Mode.batch() {
			need = failed || c.RerunAnyway || pc.damaged || c.JournalInDir
		}
		if need {
			pc.start("rerun", 2, cmd, pc.srv, 0).wait()
		}
		if failed && c.Mode.batch() && (c.RerunAnyway || pc.damaged) {
			// The rerun that retried the failures is followed by one that
			// should find everything done.
			pc.start("rerun after the rerun", 2, cmd, pc.srv, 0).wait()
		}
		if pc.damaged {
			// The runs refused the damaged journal; the user repairs it,
			// which drops the line: its file is sent again.
			cmd.repair = true
			pc.start(repairLabel, 2, cmd, pc.srv, 0).wait()
		}
	}
}

// damageJournal replaces a line of the journal that is not the last (a
// torn last line is what a crash leaves, and is read past) with a torn
// record.
func (pc *pcase) damageJournal() {
	files, _ := filepath.Glob(filepath.Join(pc.jrnl[0], "*.jsonl"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.SplitAfter(string(data), "\n")
		if n := len(lines); n > 0 && lines[n-1] == "" {
			lines = lines[:n-1]
		}
		// Line 0 is the journal's header: a record is damaged, the one
		// before the last.
		if len(lines) < 3 || !strings.HasSuffix(lines[len(lines)-1], "\n") {
			continue
		}
		var rec struct {
			SHA256 string `json:"sha256"`
		}
		_ = json.Unmarshal([]byte(lines[len(lines)-2]), &rec)
		lines[len(lines)-2] = `{"path":"` + "\n"
		if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err == nil {
			pc.damaged, pc.damagedSum = true, rec.SHA256
			return
		}
	}
}

// repairLabel names the run that repairs a damaged journal.
const repairLabel = "rerun with --repair-journal"

// otherServer runs the batch again, with the same journal, against a
// fresh sandbox, as a user does who tried the sandbox first.
func (pc *pcase) otherServer() {
	if !pc.c.OtherServer || !pc.c.Mode.batch() {
		return
	}
	srv := newPServer(pc.t, "another sandbox")
	pc.secrets = append(pc.secrets, srv.g.APIKey)
	for _, cmd := range pc.commands() {
		pc.start("journal on another server", 3, cmd, srv, 0).wait()
	}
}

var (
	resultField = regexp.MustCompile(`(?m)^(video id|size|sha256) +(.+)$`)
	resultBytes = regexp.MustCompile(`\((\d+) bytes\)`)
	// sizeWords are the words in which a source that changed size is said.
	sizeWords = regexp.MustCompile(`(?i)\b(grew|grown|shrank|shrunk|changed|truncated|smaller|larger)\b`)
)

// batchLine is one --json line of a batch.
type batchLine struct {
	Path      string `json:"path"`
	PathBytes []byte `json:"pathBytes"`
	Status    string `json:"status"`
	VideoID   string `json:"videoId"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Error     string `json:"error"`
}

// check holds the runs of the case to the promise:
//
//   - every file reported done (exit 0 of one upload; a line "uploaded" or
//     "skipped" of a batch) is a complete video of the sandbox the run
//     talked to, with the size and SHA-256 reported, that this case's runs
//     made (not one made before them), holding the bytes of a version the
//     file had (the one of that path, when the path is known), and not a
//     file whose size changed during that run's upload of it;
//   - no version of a file is two complete videos on one sandbox (videos
//     made before the case's runs aside), except for the single-request
//     crash window: a version sent in one request (at most one chunk) may
//     have one more complete video for each of its videos that no run
//     reported done and that was made (its first answer went out) to a run
//     the checker stopped with SIGKILL, SIGTERM or a closed stdout: the
//     request landed, the process stopped before it could record it, and
//     the rerun rightly sent the file again; and except when the second
//     concurrent run of one upload (--state-file) sent its first request
//     after the first run had its last answer (two uploads in a row, each
//     of which may make a video);
//   - no run prints the API key or an upload token;
//   - a run that fails says so on stderr (a run killed with SIGKILL, or
//     whose stdout was closed, may be quiet), and no run dies of a signal
//     the checker did not send (a closed stdout is no excuse);
//   - a run that fails because its file grew or shrank says it in words;
//   - with the source left alone, no --video-id and an undamaged journal,
//     every honest rerun, and the journal on another server, finishes; a
//     damaged journal's rerun with --repair-journal finishes too, and may
//     send the file of the dropped line again.
//
// A watch (see promise_watch_test.go) is held to the same: its "uploaded"
// and "skipped" lines are a batch's, and a rerun of it finishes when the
// checker stopped it once every file was reported done and it exited 130.
// A file it saw change is another version, sent as a new video by design,
// not a second video of one version; the file written during the watch is
// one version, the whole file. Its own: a watch the checker stopped, or
// whose stdout closed, exits 130 and does not outlive the SIGTERM; a
// second watch on the journal exits 2 at once, naming the first.
func (pc *pcase) check() {
	c := pc.c
	target := pc.srcs[c.SourceFile]
	pc.mu.Lock()
	fired, signals := pc.srcFired, pc.signals
	pc.mu.Unlock()
	pc.signals = signals
	// A watch's event after the upload changes a file no upload is
	// reading: the watch sends the new bytes, as a new video.
	sizeEvent := (c.Source == srcGrow || c.Source == srcShrink) && fired && !c.AfterDone
	pc.sizeChanged = sizeEvent
	// A --video-id run into a video holding other bytes is refused for
	// those first: its failure need not speak of the size.
	wordsDue := sizeEvent && c.Lie == lieNone && c.Client == cliNone && c.Mode != modeVideoID
	live := c.Source == srcNone && c.Mode != modeVideoID && !pc.damaged
	secrets := pc.allSecrets()
	for _, r := range pc.runs {
		out := r.stdout + r.stderr
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(out, s) {
				pc.fail("a secret printed", "%s printed %s", r.label, secretKind(s))
			}
		}
		killed := r.sent == "SIGKILL" && r.signal == syscall.SIGKILL
		if r.signal != 0 && !killed {
			pc.fail("died of a signal", "%s died of %v (the checker sent %q)", r.label, r.signal, r.sent)
		}
		if r.code != 0 && r.signal == 0 && r.sent != "pipe" && strings.TrimSpace(r.stderr) == "" {
			pc.fail("failed without a message", "%s exited %d with nothing on stderr", r.label, r.code)
		}
		if r.phase >= 2 && live && !r.ok() {
			pc.fail("an honest rerun did not finish", "%s exited %d%s: %s", r.label, r.code, r.stopNote(), lastLine(r.stderr))
		}
		if c.Mode == modeWatch {
			pc.checkWatchRun(r)
		}
		if r.label == repairLabel && c.Source == srcNone && !r.ok() {
			pc.fail("a repaired journal did not finish", "%s exited %d: %s", r.label, r.code, lastLine(r.stderr))
		}
		if !c.Mode.batch() {
			if r.code == 0 {
				pc.checkSingle(r)
			} else if wordsDue && r.phase == 1 && r.signal == 0 {
				pc.checkWords(r, r.stderr)
			}
			continue
		}
		lines := strings.Split(r.stdout, "\n")
		for _, text := range lines[:len(lines)-1] { // the last piece is not a whole line
			var l batchLine
			if err := json.Unmarshal([]byte(text), &l); err != nil {
				pc.fail("stdout is not JSON lines", "%s printed %q", r.label, text)
				continue
			}
			switch l.Status {
			case "uploaded", "skipped":
				pc.checkDone(r, l.VideoID, l.SHA256, l.Size, l.path())
			case "failed":
				if wordsDue && r.phase == 1 && l.path() == target.path {
					pc.checkWords(r, l.Error)
				}
			}
		}
	}
	pc.checkOTel()
	pc.checkDuplicates(pc.srv)
	for _, r := range pc.runs {
		if r.phase == 3 {
			pc.checkDuplicates(r.srv)
			break
		}
	}
}

// secretKind names a secret of the case: the API key or an upload token.
func secretKind(s string) string {
	if strings.HasPrefix(s, "e2e-api-key-") {
		return "the API key"
	}
	return "an upload token"
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// checkSingle checks the result an upload that exited 0 printed.
func (pc *pcase) checkSingle(r *prun) {
	fields := map[string]string{}
	for _, m := range resultField.FindAllStringSubmatch(r.stdout, -1) {
		fields[m[1]] = strings.TrimSpace(m[2])
	}
	size := int64(-1)
	if m := resultBytes.FindStringSubmatch(fields["size"]); m != nil {
		size, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if fields["video id"] == "" || fields["sha256"] == "" || size < 0 {
		pc.fail("exit 0 without the result", "%s exited 0 and printed %q", r.label, r.stdout)
		return
	}
	pc.checkDone(r, fields["video id"], fields["sha256"], size, pc.srcs[0].path)
}

// checkWords checks that the failure of a file whose size changed says so.
func (pc *pcase) checkWords(r *prun, msg string) {
	if !sizeWords.MatchString(msg) || strings.Contains(msg, "ContentLength") {
		pc.fail("a size change not said in words", "%s failed after the file's %s with %q", r.label, pc.c.Source, lastLine(msg))
	}
}

// checkDone checks one file reported done.
func (pc *pcase) checkDone(r *prun, id, sum string, size int64, path string) {
	where := fmt.Sprintf("%s reported %s done as video %s (sha256 %s, %d bytes)", r.label, quotePathForLog(path), id, sum, size)
	info, ok := r.srv.g.SB.Video(id)
	if !ok || !info.Complete {
		pc.fail("reported done, not held by the API", "%s; %s holds %+v (found %t)", where, r.srv.name, info, ok)
		return
	}
	if info.SHA256 != sum || info.Size != size {
		pc.fail("reported done with bytes the API does not hold", "%s; %s holds sha256 %s, %d bytes", where, r.srv.name, info.SHA256, info.Size)
	}
	if pc.reported == nil {
		pc.reported = map[*pserver]map[string]bool{}
	}
	if pc.reported[r.srv] == nil {
		pc.reported[r.srv] = map[string]bool{}
	}
	pc.reported[r.srv][id] = true
	if r.srv.foreign[id] {
		pc.fail("reported done into a video this case did not make", "%s; that video was made before the case's runs", where)
	}
	held := pc.bySum(info.SHA256)
	named := pc.byPath(path)
	switch {
	case held == nil:
		pc.fail("reported done with bytes no source had", "%s; the API holds bytes no version of any file of the case had", where)
	case named != nil && named != held:
		pc.fail("reported done with bytes no source had", "%s; the API holds the bytes of %s", where, quotePathForLog(held.path))
	}
	target := pc.srcs[pc.c.SourceFile]
	// A watch sends the file again once it settles after the change: its
	// new bytes may be done, never the bytes it had when the change came.
	afterChange := pc.c.Mode == modeWatch && sum != target.versions[0].sum
	if (pc.c.Source == srcGrow || pc.c.Source == srcShrink) && pc.sizeChanged && r.phase == 1 && (held == target || named == target) && !afterChange {
		pc.fail("reported done after a size change", "%s, though the file's %s happened during that run's upload of it", where, pc.c.Source)
	}
}

func quotePathForLog(p string) string { return strconv.Quote(p) }

func (pc *pcase) bySum(sum string) *psource {
	for _, s := range pc.srcs {
		if s.has(sum) {
			return s
		}
	}
	return nil
}

func (pc *pcase) byPath(path string) *psource {
	for _, s := range pc.srcs {
		if s.path == path {
			return s
		}
	}
	return nil
}

// changedVideo is how a run that failed as its source changed names the
// video that holds the bytes it sent.
var changedVideo = regexp.MustCompile(`video (vi\w+) holds the bytes sent while the source changed`)

// checkDuplicates checks that no version of a file is two complete videos
// of srv, but where the single-request crash window or two uploads in a
// row explain it.
func (pc *pcase) checkDuplicates(srv *pserver) {
	count := map[string]int{}
	var ids = map[string][]string{}
	for _, v := range srv.g.SB.Videos() {
		if v.Complete && !srv.foreign[v.VideoID] {
			count[v.SHA256]++
			ids[v.SHA256] = append(ids[v.SHA256], v.VideoID)
		}
	}
	inRow := pc.twinInRow()
	signalled := pc.signalledTokens()
	pc.mu.Lock()
	edited := pc.c.Source == srcEdit && pc.srcFired
	pc.mu.Unlock()
	changed := map[string]bool{}
	for _, r := range pc.runs {
		for _, m := range changedVideo.FindAllStringSubmatch(r.stdout+r.stderr, -1) {
			changed[m[1]] = true
		}
	}
	for sum, n := range count {
		src := pc.bySum(sum)
		if src == nil {
			continue
		}
		allowed := 1
		for _, v := range src.versions {
			if v.sum != sum || v.size > max(pc.c.wholeMax(1), pc.c.wholeMax(2)) {
				continue
			}
			// The single-request crash window: a video no run reported,
			// made by a run the checker stopped.
			for _, id := range ids[sum] {
				if tok, ok := srv.f.MadeBy(id); ok && signalled[tok] && !pc.reported[srv][id] {
					allowed++
				}
			}
		}
		if inRow && srv == pc.srv {
			allowed++
		}
		if pc.damaged && sum == pc.damagedSum && srv == pc.srv {
			allowed++ // --repair-journal dropped its record: it is sent again, as the help says
		}
		// A file edited while it was sent: the run failed, naming the
		// video that holds the bytes it sent, which may be the file as it
		// is now; a rerun makes a new video of it. The name may not reach
		// the checker (stdout closed), so a video of the edited file that
		// a first run made and no run reported is allowed too.
		for _, id := range ids[sum] {
			tok, _ := srv.f.MadeBy(id)
			if !pc.reported[srv][id] && (changed[id] || edited && slices.Contains(pc.phase1Toks, tok)) {
				allowed++
			}
		}
		if n > 1 && n <= allowed {
			pc.explained += n - 1
		}
		if n > allowed {
			pc.fail("two complete videos of one file", "%s holds %d complete videos of %s (sha256 %s): %v; at most %d explained",
				srv.name, n, quotePathForLog(src.path), sum, ids[sum], allowed)
		}
	}
}

// signalledTokens returns the upload tokens of the runs the checker
// stopped (a signal, or stdout closed). With the API key, a run mints its
// own: a signal goes to the first run alone, which runs alone (a second
// concurrent run is another client event), so the first runs' tokens are
// its own.
func (pc *pcase) signalledTokens() map[string]bool {
	out := map[string]bool{}
	for _, r := range pc.runs {
		if r.sent == "" || r.stop == stopDone { // a watch stopped with nothing under way
			continue
		}
		if r.token != "" {
			out[r.token] = true
		} else if r.phase == 1 {
			for _, tok := range pc.phase1Toks {
				out[tok] = true
			}
		}
	}
	return out
}

// twinInRow reports whether the second run of one upload (--state-file)
// sent its first chunk only after the first run had its last answer: two
// uploads in a row, each of which may rightly make a video.
func (pc *pcase) twinInRow() bool {
	if pc.c.Client != cliTwin || pc.c.Mode.batch() {
		return false
	}
	var wins []tokenWindow
	for _, r := range pc.runs {
		if r.phase != 1 {
			continue
		}
		if r.token == "" {
			// With the API key, each run minted its own token: the two
			// tokens of the first runs are theirs, whichever is whose.
			for _, tok := range pc.phase1Toks {
				if w, ok := r.srv.f.Window(tok); ok {
					wins = append(wins, w)
				}
			}
			break
		}
		w, ok := r.srv.f.Window(r.token)
		if !ok {
			return false // a run that sent nothing made no video
		}
		wins = append(wins, w)
	}
	if len(wins) != 2 {
		return false
	}
	return wins[1].first.After(wins[0].last) || wins[0].first.After(wins[1].last)
}

// stopNote tells how the checker stopped a watch, for a message.
func (r *prun) stopNote() string {
	switch {
	case r.stop == "":
		return ""
	case r.hung:
		return " (stopped by the checker: " + r.stop + "; killed, as it outlived the SIGTERM)"
	default:
		return " (stopped by the checker: " + r.stop + ")"
	}
}

// checkWatchRun checks what is the watch's own: a watch the checker
// stopped with SIGTERM exits 130 at once, saying so; a second watch on the
// journal stops at once on its lock, exit 2, naming the process that holds
// it.
func (pc *pcase) checkWatchRun(r *prun) {
	if r.hung {
		pc.fail("a watch outlived SIGTERM", "%s still ran %s after the SIGTERM%s", r.label, watchTermGrace, r.stopNote())
	} else if (r.stop != "" || r.sent == "SIGTERM" || r.sent == "pipe") && r.code != 130 {
		pc.fail("a stopped watch did not exit 130", "%s exited %d after %s%s: %s", r.label, r.code, r.sent, r.stopNote(), lastLine(r.stderr))
	}
	if r.label != "second concurrent run" {
		return
	}
	holder := ""
	for _, o := range pc.runs {
		if o.label == "first run" && o.phase == 1 {
			holder = fmt.Sprintf("process %d", o.pid)
		}
	}
	if r.stop != "" || r.code != 2 || !strings.Contains(r.stderr, "in use by "+holder) {
		pc.fail("a second watch on the journal did not stop on its lock", "%s exited %d%s; want exit 2 naming %s: %s",
			r.label, r.code, r.stopNote(), holder, lastLine(r.stderr))
	}
}
