package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The promise checker: one randomized end-to-end harness for the promise
// "exit 0 means the API holds exactly these bytes, once". Each case draws a
// mode, a source event, a server (honest, or a front that lies), a client
// event and the runs after it, drives the real binary through them, and
// then checks one invariant over everything the runs reported (see
// checkCase). promiseCases (sizes in promise_sizes_test.go and
// promise_long_test.go) says how many cases a run draws.

// promiseChunk is the chunk size of every case: files of one to three
// chunks stay small.
const promiseChunk = 5 << 20

// autoWhole is the largest file --chunk-size auto sends in one request
// (wrapper.DefaultChunkSize).
const autoWhole = 50 << 20

// wholeMax is the largest file the runs of phase send in one request.
func (c promiseCase) wholeMax(phase int) int64 {
	if phase == 1 && c.FirstAuto || phase > 1 && c.RerunAuto {
		return autoWhole
	}
	return promiseChunk
}

// ciPromiseSeed is the seed under CI=true.
const ciPromiseSeed = 20261205

type promiseMode string

const (
	modeFile    promiseMode = "file"
	modeStdin   promiseMode = "stdin"
	modeDir     promiseMode = "dir+journal"
	modeShards  promiseMode = "shards"
	modeVideoID promiseMode = "video-id"
	modeAPIKey  promiseMode = "api-key dir"
	// modeKeyFile is one file with --state-file and the API key: the run
	// mints its own token, as a batch does.
	modeKeyFile promiseMode = "api-key file"
	// modeWatch is avupload watch on a tree with --journal: it never ends
	// on its own, and the checker stops it with SIGTERM once every file of
	// the tree is reported done (or at a cap), which counts as its success.
	modeWatch promiseMode = "watch+journal"
)

func (m promiseMode) batch() bool {
	return m == modeDir || m == modeShards || m == modeAPIKey || m == modeWatch
}

type sourceEvent string

const (
	srcNone   sourceEvent = "none"
	srcEdit   sourceEvent = "edit, mtime kept"
	srcGrow   sourceEvent = "grow"
	srcShrink sourceEvent = "shrink"
	srcDelete sourceEvent = "delete"
)

type clientEvent string

const (
	cliNone clientEvent = "none"
	cliKill clientEvent = "SIGKILL"
	cliTerm clientEvent = "SIGTERM"
	cliPipe clientEvent = "SIGPIPE (stdout closed)"
	cliTwin clientEvent = "second concurrent run"
)

type foreignKind string

const (
	foreignComplete     foreignKind = "complete video of another file, same size"
	foreignCompleteSize foreignKind = "complete video of another file, other size"
	foreignPartial      foreignKind = "partial video of another file, same total"
	foreignPartialSame  foreignKind = "partial video holding this file's first chunk"
)

// weighted draws one of choices by weight.
func weighted[T any](rng *rand.Rand, choices []T, weights []int) T {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	n := rng.IntN(sum)
	for i, w := range weights {
		if n < w {
			return choices[i]
		}
		n -= w
	}
	return choices[len(choices)-1]
}

// The weights of the draw (see drawCase).
var (
	modeChoices   = []promiseMode{modeFile, modeStdin, modeDir, modeShards, modeVideoID, modeAPIKey, modeKeyFile, modeWatch}
	modeWeights   = []int{3, 1, 3, 2, 2, 2, 2, 2}
	sourceChoices = []sourceEvent{srcNone, srcEdit, srcGrow, srcShrink, srcDelete}
	sourceWeights = []int{6, 2, 2, 2, 1}
	lieChoices    = []lieKind{lieNone, lieHTML, lieEmpty, lieOverlap, lieOtherID, lieRedirect, lieStall}
	lieWeights    = []int{8, 2, 2, 2, 2, 1, 1}
	clientChoices = []clientEvent{cliNone, cliKill, cliTerm, cliPipe, cliTwin}
	clientWeights = []int{4, 2, 2, 2, 3}
)

// pfile is one file a case uploads.
type pfile struct {
	name string // base name
	size int64
}

// promiseCase is one drawn case.
type promiseCase struct {
	Index        int
	Mode         promiseMode
	Files        []pfile
	Concurrency  int // --concurrency; 0: auto
	Source       sourceEvent
	SourceFile   int   // the file the event hits
	SourceAt     int64 // after this many of its upload body bytes
	Lie          lieKind
	LieTarget    lieTarget
	LieNth       int
	LieRepeat    bool
	Client       clientEvent
	ClientAt     int64 // after this many upload body bytes, over all files
	PipeAfter    int   // the reader of stdout closes after this many bytes
	Foreign      foreignKind
	SharedJrnl   bool // shards share one journal
	JournalInDir bool // the journal lies inside the uploaded tree
	OddNames     string
	Damage       bool     // a journal line other than the last is damaged before the rerun
	RerunAnyway  bool     // rerun the batch after a success too
	BWLimit      int64    // --bwlimit, bytes a second; 0: none
	FirstAuto    bool     // the drawn runs give --chunk-size auto (files of at most 50 MiB then go in one request)
	RerunAuto    bool     // the runs after the first phase give --chunk-size auto
	OtherServer  bool     // rerun the batch with its journal against a fresh sandbox
	OTel         otelKind // every run gives --otel, exporting to this
	// Watch only.
	AfterDone bool // the source event hits once the watch reported the file uploaded (an edit moves the mtime)
	Appear    int  // the file written, in two parts, into a new folder only once the first watch runs; -1: none
}

func (c promiseCase) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %d: mode %s; files", c.Index, c.Mode)
	for _, f := range c.Files {
		fmt.Fprintf(&b, " %q(%d)", f.name, f.size)
	}
	fmt.Fprintf(&b, "; concurrency %s; source %s", concurrencyArg(c.Concurrency), c.Source)
	if c.Source != srcNone && c.AfterDone {
		fmt.Fprintf(&b, " of %s once the watch reported it uploaded", c.Files[c.SourceFile].name)
		if c.Source == srcEdit {
			b.WriteString(" (mtime moved)")
		}
	} else if c.Source != srcNone {
		fmt.Fprintf(&b, " of %s after %d of its bytes", c.Files[c.SourceFile].name, c.SourceAt)
	}
	if c.BWLimit > 0 {
		fmt.Fprintf(&b, "; --bwlimit %dMiB", c.BWLimit>>20)
	}
	if c.FirstAuto {
		b.WriteString("; first runs with --chunk-size auto")
	}
	if c.RerunAuto {
		b.WriteString("; reruns with --chunk-size auto")
	}
	if c.OTel != otelNone {
		fmt.Fprintf(&b, "; --otel to %s", c.OTel)
	}
	fmt.Fprintf(&b, "; server %s", c.Lie)
	if c.Lie != lieNone {
		fmt.Fprintf(&b, " on %s #%d", c.LieTarget, c.LieNth)
		if c.LieRepeat {
			b.WriteString(" and its retries")
		}
	}
	fmt.Fprintf(&b, "; client %s", c.Client)
	if c.Client != cliNone {
		fmt.Fprintf(&b, " after %d bytes", c.ClientAt)
	}
	if c.Client == cliPipe {
		fmt.Fprintf(&b, " (reader keeps %d bytes)", c.PipeAfter)
	}
	if c.Foreign != "" {
		fmt.Fprintf(&b, "; into a %s", c.Foreign)
	}
	if c.Mode == modeShards {
		fmt.Fprintf(&b, "; shared journal %t", c.SharedJrnl)
	}
	if c.JournalInDir {
		b.WriteString("; journal inside the tree")
	}
	if c.OddNames != "" {
		fmt.Fprintf(&b, "; odd names: %s", c.OddNames)
	}
	if c.Damage {
		b.WriteString("; journal line damaged before the rerun")
	}
	if c.RerunAnyway {
		b.WriteString("; rerun after success")
	}
	if c.OtherServer {
		b.WriteString("; then the journal on another server")
	}
	if c.Appear >= 0 {
		fmt.Fprintf(&b, "; %q written in two parts once the watch runs", c.Files[c.Appear].name)
	}
	return b.String()
}

// fileSize draws a file: a small one sent in one request, or one of two
// or three chunks (the last one short).
func fileSize(rng *rand.Rand, chunked bool) int64 {
	if !chunked {
		return 1 + rng.Int64N(2<<20)
	}
	chunks := 2 + rng.Int64N(2)
	return (chunks-1)*promiseChunk + 1 + rng.Int64N(promiseChunk-1)
}

// drawCase draws case i of seed. Every case has its own generator, so that
// E2E_PROMISE_CASE replays one case alone.
func drawCase(seed uint64, i int) promiseCase {
	rng := rand.New(rand.NewPCG(seed, uint64(i)+0x9e3779b9))
	c := promiseCase{Index: i, Appear: -1}
	c.Mode = weighted(rng, modeChoices, modeWeights)
	if c.Mode == modeWatch && runtime.GOOS == "windows" {
		c.Mode = modeDir // the checker stops a watch with SIGTERM, which Windows does not send
	}
	c.Concurrency = []int{1, 2, 4}[rng.IntN(3)]
	c.Client = weighted(rng, clientChoices, clientWeights)
	if !c.Mode.batch() && c.Client == cliPipe {
		// A single upload prints once, at the end: SIGPIPE is a batch's.
		c.Client = cliKill
	}
	if runtime.GOOS == "windows" && (c.Client == cliTerm || c.Client == cliPipe) {
		c.Client = cliKill
	}
	c.Lie = weighted(rng, lieChoices, lieWeights)
	c.LieTarget = targetLater
	if rng.IntN(4) == 0 {
		c.LieTarget = targetFirst
	}
	if c.Lie == lieOtherID {
		c.LieTarget = targetLater // a first answer names the video: any id is believable
	}
	c.LieNth = 1 + rng.IntN(2)
	c.LieRepeat = rng.IntN(4) == 0
	if c.Mode == modeWatch && c.Lie == lieStall {
		// A watch tries a failed file again at every rescan: a stall on
		// every retry would fill the case with 8 s waits.
		c.LieRepeat = false
	}

	switch c.Mode {
	case modeFile, modeStdin, modeVideoID:
		chunked := rng.IntN(4) != 0 || c.Client == cliTwin || c.Lie != lieNone && c.LieTarget == targetLater
		c.Files = []pfile{{name: "video.mp4", size: fileSize(rng, chunked)}}
	default:
		n := 3 + rng.IntN(2)
		for j := range n {
			chunked := j == 0 || rng.IntN(3) == 0
			c.Files = append(c.Files, pfile{name: fmt.Sprintf("clip%02d.mp4", j), size: fileSize(rng, chunked)})
		}
		if runtime.GOOS == "linux" {
			switch rng.IntN(8) {
			case 0:
				c.OddNames = "control characters"
				c.Files[len(c.Files)-1].name = "bell\a esc\x1b[31m.mp4"
			case 1:
				c.OddNames = "invalid UTF-8"
				c.Files = append(c.Files, pfile{name: "take\xff.mp4", size: fileSize(rng, false)},
					pfile{name: "take\xfe.mp4", size: fileSize(rng, false)})
			}
		}
		c.SharedJrnl = rng.IntN(2) == 0
		c.JournalInDir = rng.IntN(6) == 0
		if c.JournalInDir {
			// A run keeps its own journal out of the tree; another
			// shard's journal is, to it, files like any other.
			c.SharedJrnl = true
		}
		c.Damage = rng.IntN(8) == 0
		c.RerunAnyway = rng.IntN(3) == 0 || c.JournalInDir || c.Damage || c.OddNames == "invalid UTF-8"
		c.OtherServer = rng.IntN(4) == 0
		if c.Mode == modeWatch {
			// Files appear during a watch: that is its point.
			if rng.IntN(2) == 0 {
				c.Files = append(c.Files, pfile{name: "late.mp4", size: fileSize(rng, rng.IntN(2) == 0)})
				c.Appear = len(c.Files) - 1
			}
		}
	}
	if c.Mode == modeVideoID {
		c.Foreign = []foreignKind{foreignComplete, foreignCompleteSize, foreignPartial, foreignPartialSame}[rng.IntN(4)]
		if c.Foreign == foreignPartial || c.Foreign == foreignPartialSame {
			c.Files[0].size = fileSize(rng, true)
		}
	}

	c.Source = weighted(rng, sourceChoices, sourceWeights)
	if c.Mode == modeStdin || c.Client == cliTwin {
		c.Source = srcNone // stdin has no file; a concurrent run would read either version
	}
	if c.Source == srcDelete && runtime.GOOS == "windows" {
		c.Source = srcEdit // Windows does not delete a file another process holds open
	}
	c.SourceFile = 0 // the first file is always chunked in a batch
	if c.Mode == modeWatch && c.Source != srcNone {
		c.AfterDone = rng.IntN(2) == 0
	}
	if c.Source == srcGrow || c.Source == srcShrink {
		if c.Files[0].size <= promiseChunk {
			c.Files[0].size = fileSize(rng, true)
		}
		// Within the first chunk, which goes alone: the client has not read
		// the last bytes yet.
		c.SourceAt = 1 + rng.Int64N(promiseChunk/2)
	} else {
		c.SourceAt = 1 + rng.Int64N(c.Files[0].size)
	}
	var total int64
	for _, f := range c.Files {
		total += f.size
	}
	c.ClientAt = 1 + rng.Int64N(total)
	if c.Client == cliTwin {
		c.ClientAt = 1 + rng.Int64N(promiseChunk/4) // early: the first run is far from done
	}
	c.PipeAfter = 1 + rng.IntN(400)
	// The pacer's bandwidth limit, drawn from a generator of its own so
	// that drawing it changed no other draw of a seed.
	pace := rand.New(rand.NewPCG(seed^0x70ace, uint64(i)))
	if pace.IntN(4) == 0 {
		c.BWLimit = []int64{32 << 20, 64 << 20}[pace.IntN(2)]
	}
	// --concurrency auto (the default: 4 at first, up to 8 by the adaptive
	// rule) in one case in three, from a generator of its own too.
	if rand.New(rand.NewPCG(seed^0xada9, uint64(i))).IntN(3) == 0 {
		c.Concurrency = 0
	}
	// The runs after the drawn ones with --chunk-size auto (the default
	// layout) in one case in three, from a generator of its own: a rerun
	// that resumes must keep the 5 MiB chunks the first run saved, and one
	// that starts over sends a file of at most 50 MiB in one request.
	c.RerunAuto = rand.New(rand.NewPCG(seed^0xa470, uint64(i))).IntN(3) == 0
	// The drawn runs with --chunk-size auto in one case in four, from a
	// generator of its own: every file of a case (15 MiB at most) then goes
	// in one request, so a signal or a source event hits one, and a rerun
	// in 5 MiB chunks (unless RerunAuto) finds no state to resume.
	c.FirstAuto = rand.New(rand.NewPCG(seed^0xa471, uint64(i))).IntN(4) == 0
	// --otel in one case in five, from a generator of its own: every run
	// exports its traces and metrics to a collector, to an address that
	// refuses, or to one that never answers.
	if tel := rand.New(rand.NewPCG(seed^0x07e2, uint64(i))); tel.IntN(5) == 0 {
		c.OTel = weighted(tel, otelChoices, otelWeights)
	}
	return c
}

// concurrencyArg is the --concurrency a case gives: auto for 0.
func concurrencyArg(n int) string {
	if n == 0 {
		return "auto"
	}
	return strconv.Itoa(n)
}

// watchStopTitle heads the table of the watch runs the checker stopped.
const watchStopTitle = "watch run stopped by the checker, because"

// promiseSeed picks the seed: E2E_PROMISE_SEED, else ciPromiseSeed when
// CI=true, else random.
func promiseSeed(getenv func(string) string, random uint64) (uint64, error) {
	return pickSeed(getenv, "E2E_PROMISE_SEED", ciPromiseSeed, random)
}

// promiseStats are the figures of a checker run.
type promiseStats struct {
	mu         sync.Mutex
	cases      int
	seconds    float64
	modes      map[string]int
	sources    map[string]int
	servers    map[string]int
	clients    map[string]int
	telemetry  map[string]int // cases with --otel, by collector
	lies       int            // cases where the front lied
	signals    int            // cases where a signal was sent or stdout closed
	reruns     int
	others     int
	explained  int            // second complete videos allowed (crash window, runs in a row)
	watchStops map[string]int // watch runs the checker stopped, by why
	late       int            // files written during a watch
	categories map[string]int
	failed     []string
}

func newPromiseStats() *promiseStats {
	return &promiseStats{modes: map[string]int{}, sources: map[string]int{}, servers: map[string]int{},
		clients: map[string]int{}, categories: map[string]int{}, watchStops: map[string]int{}, telemetry: map[string]int{}}
}

func (s *promiseStats) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d cases in %.1f s (%.2f s a case); the front lied in %d, a signal or a closed stdout hit %d; %d honest reruns, %d runs on another server; %d second complete videos explained (a stopped single request, two runs in a row, an edit during a run, a repaired journal).\n\n",
		s.cases, s.seconds, s.seconds/float64(max(s.cases, 1)), s.lies, s.signals, s.reruns, s.others, s.explained)
	section := func(title string, m map[string]int) {
		unit := "cases"
		if title == watchStopTitle {
			unit = "runs"
		}
		fmt.Fprintf(&b, "| %s | %s |\n|---|---|\n", title, unit)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "| %s | %d |\n", k, m[k])
		}
		b.WriteString("\n")
	}
	section("mode", s.modes)
	section("source event", s.sources)
	section("server", s.servers)
	section("client event", s.clients)
	if len(s.telemetry) > 0 {
		section("--otel to", s.telemetry)
	}
	if len(s.watchStops) > 0 {
		fmt.Fprintf(&b, "%d files written in two parts during a watch.\n\n", s.late)
		section(watchStopTitle, s.watchStops)
	}
	if len(s.categories) == 0 {
		b.WriteString("No failure.\n")
	} else {
		section("failure", s.categories)
		fmt.Fprintf(&b, "Failed cases: %s\n", strings.Join(s.failed, ", "))
	}
	return b.String()
}

// TestPromise draws promiseCases cases and checks the promise in each.
// E2E_PROMISE_SEED replays a run; E2E_PROMISE_CASE=N runs only case N of it.
func TestPromise(t *testing.T) {
	seed, err := promiseSeed(os.Getenv, uint64(time.Now().UnixNano()))
	require.NoError(t, err)
	t.Logf("seed %d (replay with E2E_PROMISE_SEED=%d)", seed, seed)
	only := -1
	if s := os.Getenv("E2E_PROMISE_CASE"); s != "" {
		only, err = strconv.Atoi(s)
		require.NoError(t, err, "E2E_PROMISE_CASE=%q: want a case number", s)
	}
	stats := newPromiseStats()
	start := time.Now()
	for i := range promiseCases {
		if only >= 0 && i != only {
			continue
		}
		c := drawCase(seed, i)
		t.Run(fmt.Sprintf("case%03d", i), func(t *testing.T) {
			runPromiseCase(t, seed, c, stats)
		})
	}
	stats.seconds = time.Since(start).Seconds()
	table := stats.table()
	t.Logf("seed %d\n%s", seed, table)
	writeResult(t, "promise.md", fmt.Sprintf("# Promise checker, seed %d\n\n%s", seed, table))
}

// TestPromiseSeed: the checker's seed comes from its own variable and CI
// seed (pickSeed itself is tested by TestCrashSeed), and the draw depends
// on the seed and the case number alone.
func TestPromiseSeed(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	got, err := promiseSeed(env(map[string]string{"CI": "true"}), 1)
	require.NoError(t, err)
	require.Equal(t, uint64(ciPromiseSeed), got)
	got, err = promiseSeed(env(map[string]string{"CI": "true", "E2E_PROMISE_SEED": "7"}), 1)
	require.NoError(t, err)
	require.Equal(t, uint64(7), got)
	_, err = promiseSeed(env(map[string]string{"E2E_PROMISE_SEED": "seven"}), 1)
	require.ErrorContains(t, err, "E2E_PROMISE_SEED")
	// The draw depends on the seed and the case number alone.
	require.Equal(t, drawCase(42, 3), drawCase(42, 3))
	require.NotEqual(t, drawCase(42, 3), drawCase(43, 3))
}

// TestPromiseCIDraws: CI's seed draws, among the 16 cases of `make test`,
// at least one watch, so that every CI run stops a watch and checks what it
// reported, and at least one case stopped or lied to whose first runs or
// reruns give --chunk-size auto, so that every CI run meets a failure
// under the library's layout, and at least one case with --otel.
func TestPromiseCIDraws(t *testing.T) {
	var watches, auto, tel []string
	for i := range 16 {
		c := drawCase(ciPromiseSeed, i)
		if c.Mode == modeWatch {
			watches = append(watches, c.String())
		}
		if c.OTel != otelNone {
			tel = append(tel, c.String())
		}
		if (c.FirstAuto || c.RerunAuto) && (c.Client != cliNone || c.Lie != lieNone) {
			auto = append(auto, c.String())
		}
	}
	require.NotEmpty(t, watches, "CI's seed %d draws no watch case in its first 16", ciPromiseSeed)
	require.NotEmpty(t, auto, "CI's seed %d draws no failure under --chunk-size auto in its first 16", ciPromiseSeed)
	require.NotEmpty(t, tel, "CI's seed %d draws no --otel case in its first 16", ciPromiseSeed)
	t.Logf("CI's watch cases:\n%s\nCI's failures under --chunk-size auto:\n%s\nCI's --otel cases:\n%s",
		strings.Join(watches, "\n"), strings.Join(auto, "\n"), strings.Join(tel, "\n"))
}
