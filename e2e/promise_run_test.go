package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper"
)

// pserver is a sandbox and the front the runs talk to.
type pserver struct {
	name    string
	g       *rig
	f       *front
	foreign map[string]bool // videos made before the case's runs
}

func newPServer(t *testing.T, name string) *pserver {
	g := newRig(t)
	return &pserver{name: name, g: g, f: newFront(t, g.tap), foreign: map[string]bool{}}
}

// pversion is one state of a source's bytes.
type pversion struct {
	sum  string
	size int64
}

// psource is a file (or standard input) a case uploads, and every version
// its bytes had.
type psource struct {
	spec     pfile
	path     string
	data     []byte
	versions []pversion
}

func (s *psource) has(sum string) bool {
	for _, v := range s.versions {
		if v.sum == sum {
			return true
		}
	}
	return false
}

// prun is one run of the binary and what it showed.
type prun struct {
	label  string
	phase  int    // 1: the drawn runs; 2: honest reruns; 3: the journal on another server
	key    string // the command: runs with one key are the same command
	srv    *pserver
	args   []string
	token  string
	stdout string // what the reader of standard output got
	stderr string
	code   int
	signal syscall.Signal // the signal that ended it, if one did
	sent   string         // "SIGKILL", "SIGTERM", "pipe" or "stop": what the checker did to it
	pid    int
	took   time.Duration // from start to exit
	stopAt time.Duration // a watch: when the checker stopped it, from its start
	// A watch: why the checker stopped it with SIGTERM ("stop"): stopDone
	// (every file of the tree reported done), stopGaveUp (phase 1: a file
	// failed twice under a lying server), stopTimeout; and whether it
	// outlived that SIGTERM and was killed.
	stop string
	hung bool
	// otelID names the run in its telemetry, with --otel.
	otelID string
}

// ok reports whether the run succeeded: exit 0, or a watch the checker
// stopped once every file of the tree was reported done, which exited 130.
func (r *prun) ok() bool {
	if r.stop != "" {
		return r.stop == stopDone && r.code == 130 && r.signal == 0 && !r.hung
	}
	return r.code == 0
}

// violation is one breach of the promise.
type violation struct{ cat, detail string }

// pcase is one case being run.
type pcase struct {
	t    *testing.T
	seed uint64
	c    promiseCase
	rng  *rand.Rand
	srv  *pserver
	srcs []*psource
	root string // the tree of a batch
	jrnl []string
	runs []*prun

	foreignID string    // the video --video-id names
	otel      *otelSink // with --otel, where the runs export to
	otelRuns  int       // runs started with --otel, under mu

	// Watch only: the file written once the first watch runs, and whether
	// it is there (written whole); the generation of the sources, moved at
	// each change the checker makes; a cache of their SHA-256.
	appeared    bool
	lateStarted bool
	gen         int
	sumMu       sync.Mutex
	sums        map[string]cachedSum

	mu          sync.Mutex
	phase1Open  bool
	extra       sync.WaitGroup // processes started by triggers
	srcFired    bool
	signals     int
	damaged     bool
	damagedSum  string                       // the SHA-256 the damaged line recorded, whose file a repair sends again
	sizeChanged bool                         // the file grew or shrank during a first run's upload of it
	reported    map[*pserver]map[string]bool // videos reported done, by server
	phase1Toks  []string                     // the upload tokens the first runs used
	explained   int                          // second complete videos the crash window or two runs in a row explain
	secrets     []string
	violations  []violation
}

func (pc *pcase) fail(cat, format string, args ...any) {
	pc.violations = append(pc.violations, violation{cat: cat, detail: fmt.Sprintf(format, args...)})
}

// runPromiseCase runs one case and checks the promise over its runs.
func runPromiseCase(t *testing.T, seed uint64, c promiseCase, stats *promiseStats) {
	start := time.Now()
	pc := &pcase{t: t, seed: seed, c: c, rng: rand.New(rand.NewPCG(seed^0x51ed, uint64(c.Index)))}
	pc.srv = newPServer(t, "sandbox")
	pc.secrets = append(pc.secrets, pc.srv.g.APIKey)
	if c.OTel != otelNone {
		pc.otel = newOTelSink(t, c.OTel)
	}
	pc.setup()
	pc.phase1()
	pc.reruns()
	pc.otherServer()
	pc.check()

	stats.mu.Lock()
	stats.cases++
	stats.modes[string(c.Mode)]++
	stats.sources[string(c.Source)]++
	stats.servers[string(c.Lie)]++
	stats.clients[string(c.Client)]++
	if c.OTel != otelNone {
		stats.telemetry[string(c.OTel)]++
	}
	if pc.srv.f.Lied() > 0 {
		stats.lies++
	}
	if pc.signals > 0 {
		stats.signals++
	}
	stats.explained += pc.explained
	if pc.appeared {
		stats.late++
	}
	for _, r := range pc.runs {
		if r.stop != "" {
			stats.watchStops[r.stop]++
		}
		switch r.phase {
		case 2:
			stats.reruns++
		case 3:
			stats.others++
		}
	}
	seen := map[string]bool{}
	for _, v := range pc.violations {
		if !seen[v.cat] {
			stats.categories[v.cat]++
			seen[v.cat] = true
		}
	}
	if len(pc.violations) > 0 {
		stats.failed = append(stats.failed, strconv.Itoa(c.Index))
	}
	stats.mu.Unlock()

	if len(pc.violations) == 0 {
		t.Logf("%s: ok in %s (%d runs)", c, time.Since(start).Round(time.Millisecond), len(pc.runs))
		if os.Getenv("E2E_PROMISE_VERBOSE") != "" {
			t.Log(pc.describe("the promise holds"))
		}
		return
	}
	t.Error(pc.describe("the promise is broken"))
}

// describe tells what the case did: the draw, how to replay it, the
// violations and every run with its output.
func (pc *pcase) describe(verdict string) string {
	c, seed := pc.c, pc.seed
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s\nreplay: E2E_PROMISE_SEED=%d E2E_PROMISE_CASE=%d go test -race -count=1 -run 'TestPromise$' ./e2e\n",
		verdict, c, seed, c.Index)
	for _, v := range pc.violations {
		fmt.Fprintf(&b, "  [%s] %s\n", v.cat, v.detail)
	}
	b.WriteString("runs:\n")
	for _, r := range pc.runs {
		fmt.Fprintf(&b, "  %s (phase %d, %s): avupload %s\n    exit %d", r.label, r.phase, r.srv.name, pc.redact(strings.Join(r.args, " ")), r.code)
		if r.signal != 0 {
			fmt.Fprintf(&b, " (signal %v)", r.signal)
		}
		if r.sent != "" {
			fmt.Fprintf(&b, " (the checker sent %s)", r.sent)
		}
		fmt.Fprintf(&b, " in %s%s", r.took.Round(time.Millisecond), r.stopNote())
		if r.stop != "" {
			fmt.Fprintf(&b, ", stopped at %s", r.stopAt.Round(time.Millisecond))
		}
		fmt.Fprintf(&b, "\n    stdout: %s\n    stderr: %s\n", indentTail(r.stdout), indentTail(r.stderr))
	}
	return b.String()
}

// indentTail keeps the end of a run's output, on one line.
func indentTail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1500 {
		s = "..." + s[len(s)-1500:]
	}
	return strings.ReplaceAll(s, "\n", "\n      ")
}

// redact hides the case's secrets in what the checker prints.
func (pc *pcase) redact(s string) string {
	for _, sec := range pc.allSecrets() {
		s = strings.ReplaceAll(s, sec, "<secret>")
	}
	return s
}

func (pc *pcase) allSecrets() []string {
	out := append([]string(nil), pc.secrets...)
	for _, r := range pc.runs {
		if r.srv != nil {
			out = append(out, r.srv.f.Tokens()...)
		}
	}
	return out
}

// setup writes the sources and, for --video-id, makes the video this case
// did not make.
func (pc *pcase) setup() {
	t := pc.t
	dir := t.TempDir()
	if pc.c.Mode.batch() {
		pc.root = filepath.Join(dir, "tree")
		dir = pc.root
	}
	for i, f := range pc.c.Files {
		sub := ""
		if pc.c.Mode.batch() && i%2 == 1 {
			sub = "sub"
		}
		if i == pc.c.Appear {
			sub = "late" // a folder made during the watch
		}
		p := filepath.Join(dir, sub, f.name)
		if i != pc.c.Appear {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		}
		src := newSource(pc.seed*31+uint64(pc.c.Index)*7+uint64(i), f.size)
		s := &psource{spec: f, path: p, data: src.data, versions: []pversion{{sum: src.sum, size: f.size}}}
		if pc.c.Mode == modeStdin {
			s.path = "-"
		} else if i != pc.c.Appear {
			require.NoError(t, os.WriteFile(p, src.data, 0o600))
		}
		pc.srcs = append(pc.srcs, s)
	}
	if pc.c.Mode.batch() {
		jdir := t.TempDir()
		if pc.c.JournalInDir {
			jdir = pc.root
		}
		pc.jrnl = []string{filepath.Join(jdir, "journal")}
		if pc.c.Mode == modeShards && !pc.c.SharedJrnl {
			pc.jrnl = append(pc.jrnl, filepath.Join(jdir, "journal2"))
		}
	} else {
		pc.jrnl = []string{filepath.Join(t.TempDir(), "upload.state")}
	}
	if pc.c.Mode == modeVideoID {
		pc.makeForeign()
	}
	for _, v := range pc.srv.g.SB.Videos() {
		pc.srv.foreign[v.VideoID] = true
	}
}

// makeForeign makes the video that --video-id names: a complete or
// partial upload of other bytes, or the first chunk of this file sent by
// someone else.
func (pc *pcase) makeForeign() {
	t := pc.t
	g := pc.srv.g
	tok := g.token(t)
	pc.secrets = append(pc.secrets, tok)
	b := pc.srcs[0]
	other := newSource(pc.seed+991, b.spec.size)
	switch pc.c.Foreign {
	case foreignCompleteSize:
		other = newSource(pc.seed+992, fileSize(pc.rng, pc.rng.IntN(2) == 0))
		fallthrough
	case foreignComplete:
		c := g.client(t, false)
		res, err := c.Upload(t.Context(), tok, wrapper.Reader(bytes.NewReader(other.data), int64(len(other.data))),
			&wrapper.UploadOptions{ChunkSize: promiseChunk})
		require.NoError(t, err)
		pc.foreignID = res.Video.VideoID
	case foreignPartial:
		pc.foreignID = postFirstChunk(t, g, tok, other.data[:promiseChunk], b.spec.size)
	case foreignPartialSame:
		pc.foreignID = postFirstChunk(t, g, tok, b.data[:promiseChunk], b.spec.size)
	}
}

// postFirstChunk starts a chunked upload of total bytes with chunk, and
// returns its videoId.
func postFirstChunk(t *testing.T, g *rig, token string, chunk []byte, total int64) string {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("file", "other.mp4")
	require.NoError(t, err)
	_, err = w.Write(chunk)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.URL+"/upload?token="+token, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(chunk)-1, total))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v struct {
		VideoID string `json:"videoId"`
	}
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v.VideoID
}

// command is one command of the case: its key, and its arguments for srv.
type command struct {
	key    string
	shard  string
	jrnl   string
	repair bool // --repair-journal
}

func (pc *pcase) commands() []command {
	switch pc.c.Mode {
	case modeShards:
		j2 := pc.jrnl[len(pc.jrnl)-1]
		return []command{{key: "shard 1/2", shard: "1/2", jrnl: pc.jrnl[0]}, {key: "shard 2/2", shard: "2/2", jrnl: j2}}
	default:
		return []command{{key: "main", jrnl: pc.jrnl[0]}}
	}
}

// args are the arguments of cmd against srv in phase (see prun.phase).
func (pc *pcase) args(cmd command, srv *pserver, phase int) []string {
	verb := "upload"
	if pc.c.Mode == modeWatch {
		verb = "watch"
	}
	chunk := "5MiB"
	if pc.c.wholeMax(phase) == autoWhole {
		chunk = "auto"
	}
	a := []string{verb, "--base-url", srv.f.URL, "--chunk-size", chunk, "--concurrency", concurrencyArg(pc.c.Concurrency)}
	if pc.c.Lie == lieStall {
		a = append(a, "--stall-timeout", "2s")
	}
	if pc.c.BWLimit > 0 {
		a = append(a, "--bwlimit", fmt.Sprintf("%dMiB", pc.c.BWLimit>>20))
	}
	if pc.c.OTel != otelNone {
		a = append(a, "--otel")
	}
	if pc.c.Mode == modeWatch {
		a = append(a, "--settle", watchSettle.String(), "--rescan", "2s")
	}
	if pc.c.Mode.batch() {
		a = append(a, "--jobs", "2", "--journal", cmd.jrnl, "--json")
		if cmd.shard != "" {
			a = append(a, "--shard", cmd.shard)
		}
		if cmd.repair {
			a = append(a, "--repair-journal")
		}
		return append(a, pc.root)
	}
	a = append(a, "--state-file", cmd.jrnl)
	if pc.c.Mode == modeVideoID {
		a = append(a, "--video-id", pc.foreignID)
	}
	return append(a, pc.srcs[0].path)
}

// env is the environment of one run: a fresh upload token, or the API key.
func (pc *pcase) env(srv *pserver) ([]string, string) {
	if pc.c.Mode == modeAPIKey || pc.c.Mode == modeKeyFile {
		return cliEnv("APIVIDEO_API_KEY=" + srv.g.APIKey), ""
	}
	tok := srv.g.token(pc.t)
	pc.secrets = append(pc.secrets, tok)
	return cliEnv("AVUPLOAD_TOKEN=" + tok), tok
}

// pproc is a running process of the binary.
type pproc struct {
	run     *prun
	cmd     *exec.Cmd
	stdout  lockedBuf // read while the process runs, by a watch's stopper
	stderr  lockedBuf
	piped   chan struct{} // closed when the pipe reader is done
	waited  chan struct{} // closed when Wait returned
	stopper chan struct{} // closed when a watch's stopper is done
	closed  bool          // the pipe reader closed stdout early
	exited  bool          // Wait returned
	started time.Time
	mu      sync.Mutex
}

// lockedBuf is a buffer written by one goroutine and read by others.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start starts the binary; with pipeAfter > 0 its standard output is a
// pipe whose reader closes after pipeAfter bytes.
func (pc *pcase) start(label string, phase int, cmd command, srv *pserver, pipeAfter int) *pproc {
	t := pc.t
	env, tok := pc.env(srv)
	r := &prun{label: label, phase: phase, key: cmd.key, srv: srv, args: pc.args(cmd, srv, phase), token: tok}
	if pc.otel != nil {
		pc.mu.Lock()
		pc.otelRuns++
		r.otelID = otelRunID(pc.otelRuns)
		pc.mu.Unlock()
		env = append(env, pc.otel.env(r.otelID)...)
	}
	p := &pproc{run: r, cmd: exec.Command(cliBinary(t), r.args...), waited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	if pc.c.Mode == modeStdin {
		p.cmd.Stdin = bytes.NewReader(pc.srcs[0].data)
	}
	var pw *os.File
	if pipeAfter > 0 {
		pr, w, err := os.Pipe()
		require.NoError(t, err)
		pw = w
		p.cmd.Stdout = w
		p.piped = make(chan struct{})
		go func() {
			defer close(p.piped)
			// Read as it comes (a watch's stopper reads the lines), then
			// close after pipeAfter bytes.
			buf := make([]byte, pipeAfter)
			n := 0
			for n < pipeAfter {
				m, err := pr.Read(buf[n:])
				_, _ = p.stdout.Write(buf[n : n+m])
				n += m
				if err != nil {
					break
				}
			}
			if n == pipeAfter {
				p.mu.Lock()
				p.closed = true
				p.mu.Unlock()
			}
			_ = pr.Close()
		}()
	} else {
		p.cmd.Stdout = &p.stdout
	}
	require.NoError(t, p.cmd.Start())
	if pw != nil {
		_ = pw.Close()
	}
	r.pid = p.cmd.Process.Pid
	p.started = time.Now()
	pc.mu.Lock()
	pc.runs = append(pc.runs, r)
	pc.mu.Unlock()
	if pc.c.Mode == modeWatch {
		p.stopper = make(chan struct{})
		go func() {
			defer close(p.stopper)
			pc.watchStopper(p)
		}()
	}
	return p
}

// signal sends sig to a running process and notes it.
func (p *pproc) signal(sig os.Signal, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run.sent != "" || p.exited {
		return false
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return false
	}
	p.run.sent = name
	return true
}

// wait waits for the process and fills its run.
func (p *pproc) wait() {
	err := p.cmd.Wait()
	p.run.took = time.Since(p.started)
	close(p.waited)
	if p.stopper != nil {
		<-p.stopper
	}
	if p.piped != nil {
		<-p.piped
	}
	r := p.run
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exited = true
	if p.closed && r.sent == "" {
		r.sent = "pipe"
	}
	r.stdout, r.stderr = p.stdout.String(), p.stderr.String()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signal = ws.Signal()
		}
	case err != nil:
		r.code = -1
		r.stderr += "\n(checker: waiting for the process: " + err.Error() + ")"
	}
}
