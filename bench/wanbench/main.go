// Command wanbench times whole upload processes across a simulated wide-area
// link: avupload with its defaults, with fixed 50 MiB chunks four at once,
// and (with -clients grid) at several concurrencies over HTTP/2 and over
// parallel HTTP/1.1 connections, against a chunked curl loop and the
// official Node client, all through the same shaping proxy in front of the
// sandbox over TLS, for files of several sizes.
//
// The sandbox runs in this process behind a TLS listener that offers h2 and
// http/1.1 (Go's net/http server with its default HTTP/2 settings), storing
// uploads on disk. The proxy (proxy.go) delays each direction by half the
// round trip and passes each direction's bytes through one link of the given
// rate shared by every connection, so that N connections share the link as
// they would share a real one. Each client runs as a child process (the
// library's in ./client, built with go build unless -client-bin names it;
// node; or bash running curl) and its CPU time is read from the child's
// resource usage when it ends. Settings are alternated within each round
// and medians are printed as a Markdown table, with each one's share of the
// protocol's limit and of its floor (see limit and floor); every upload is
// checked against the file's SHA-256 by the sandbox. -v prints each upload
// request as the server saw it: connection, range, when its headers came,
// when its body was read, when it was answered.
//
//	(cd bench/wanbench/node && npm ci --ignore-scripts)
//	go run ./bench/wanbench -size-mib 20,100,1000 -rounds 3 -node bench/wanbench/node
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avupload/avupload/sandbox"
)

const apiKey = "wanbench-api-key"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wanbench:", err)
		os.Exit(1)
	}
}

type link struct {
	name string
	rtt  time.Duration
}

type setting struct {
	name string
	// proto is the HTTP version every upload request must arrive over: 1
	// or 2; 0 when not checked.
	proto int
	// args are the client's arguments after the common ones; nil for curl
	// and the Node client.
	args []string
	// node runs the official Node client's upload session on the pre-cut
	// chunks.
	node bool
}

type sample struct {
	secs, cpu float64
	conns     int // TLS connections the server accepted for the upload
}

func run() error {
	sizes := flag.String("size-mib", "20,100,1000", "sizes of the uploaded files in MiB, comma-separated")
	chunkMiB := flag.Int("chunk-mib", 50, "chunk size in MiB for the concurrency grid, the curl loop and the Node client (whose default is 50 MiB)")
	rounds := flag.Int("rounds", 3, "alternated rounds; medians are reported")
	mbit := flag.Float64("mbit", 200, "link rate in Mbit/s (both directions)")
	rtts := flag.String("rtt", "40ms,150ms", "round trips to simulate, comma-separated")
	concs := flag.String("conc", "1,2,4,8", "concurrencies of the grid")
	clients := flag.String("clients", "defaults,fixed,curl,node", "clients to run, comma-separated: defaults (the library's), fixed (50 MiB chunks, 4 at once: the layout before the adaptive one), grid (-conc over HTTP/1.1 and HTTP/2 in -chunk-mib chunks), curl, node")
	nodeDir := flag.String("node", "", "directory of upload.js with the official Node client installed (npm ci); needed by the node client")
	verbose := flag.Bool("v", false, "print every upload request's timeline as the server saw it")
	clientBin := flag.String("client-bin", "", "the library's client, built from ./client; default: built with go build into the work directory")
	workDir := flag.String("work", "", "directory for the files and the sandbox's storage; default the system's temporary directory. "+
		"A memory file system (/dev/shm) keeps the sandbox's disk syncs from slowing its reading")
	flag.Parse()

	want := map[string]bool{}
	for _, c := range strings.Split(*clients, ",") {
		switch c {
		case "defaults", "fixed", "grid", "curl", "node":
			want[c] = true
		default:
			return fmt.Errorf("-clients: unknown client %q", c)
		}
	}
	if want["node"] && *nodeDir == "" {
		return errors.New("-clients node needs -node DIR")
	}
	var sizesMiB []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("-size-mib %q: want sizes in MiB", s)
		}
		sizesMiB = append(sizesMiB, n)
	}

	work, err := os.MkdirTemp(*workDir, "wanbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	client := *clientBin
	if client == "" {
		client = filepath.Join(work, "client")
		if out, err := exec.Command("go", "build", "-o", client, "github.com/avupload/avupload/bench/wanbench/client").CombinedOutput(); err != nil {
			return fmt.Errorf("building the client (or give -client-bin): %w: %s", err, out)
		}
	}

	certPEM, keyPEM, err := sandbox.SelfSignedCertificate()
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	cacert := filepath.Join(work, "cert.pem")
	if err := os.WriteFile(cacert, certPEM, 0o600); err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	sb, err := sandbox.New(sandbox.WithAPIKeys(apiKey), sandbox.WithDataDir(data))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	seen := &protoCount{next: sb, verbose: *verbose}
	srv := &http.Server{Handler: seen, ConnState: seen.connState, ReadHeaderTimeout: 30 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	direct := "https://" + ln.Addr().String()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	api := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	chunk := int64(*chunkMiB) << 20
	var files []*benchFile
	for _, n := range sizesMiB {
		f, err := newBenchFile(work, n, chunk)
		if err != nil {
			return err
		}
		files = append(files, f)
	}

	var settings []setting
	if want["defaults"] {
		settings = append(settings, setting{name: "avupload defaults", proto: 1, args: []string{}})
	}
	if want["fixed"] {
		settings = append(settings, setting{name: "avupload 50 MiB c4 fixed", proto: 1,
			args: []string{"-chunk", strconv.FormatInt(50<<20, 10), "-conc", "4"}})
	}
	if want["grid"] {
		for _, proto := range []string{"h2", "h1"} {
			for _, c := range strings.Split(*concs, ",") {
				settings = append(settings, setting{name: fmt.Sprintf("avupload c%s %s", c, proto), proto: int(proto[1] - '0'),
					args: []string{"-chunk", strconv.FormatInt(chunk, 10), "-conc", c, "-proto", proto}})
			}
		}
	}
	if want["curl"] {
		settings = append(settings, setting{name: "curl loop"})
	}
	if want["node"] {
		settings = append(settings, setting{name: "Node client", node: true})
	}

	var links []link
	for _, s := range strings.Split(*rtts, ",") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("-rtt %q: %w", s, err)
		}
		links = append(links, link{name: s, rtt: d})
	}
	rate := *mbit * 1e6 / 8
	results := map[string][]sample{}
	key := func(l link, f *benchFile, s setting) string { return l.name + "\t" + f.name + "\t" + s.name }
	for _, l := range links {
		px, err := startProxy(ln.Addr().String(), l.rtt, rate)
		if err != nil {
			return err
		}
		url := "https://" + px.Addr()
		for _, f := range files {
			for r := 1; r <= *rounds; r++ {
				for _, s := range settings {
					smp, err := runOne(client, api, direct, url, cacert, *nodeDir, data, seen, f, s)
					if err != nil {
						px.Close()
						return fmt.Errorf("%s, %s over %s: %w", s.name, f.name, l.name, err)
					}
					results[key(l, f, s)] = append(results[key(l, f, s)], smp)
					mib := float64(f.size) / (1 << 20)
					fmt.Fprintf(os.Stderr, "%s round %d/%d %s, %s over %s: %.2f s, %.1f MiB/s (%.1f%% of the limit, %.1f%% of the floor), CPU %.2f s, %d connections\n",
						time.Now().UTC().Format("15:04:05"), r, *rounds, s.name, f.name, l.name, smp.secs, mib/smp.secs,
						100*limit(f.size, rate, l.rtt)/smp.secs, 100*floor(f.size, rate, l.rtt)/smp.secs, smp.cpu, smp.conns)
				}
			}
		}
		px.Close()
	}

	fmt.Printf("WAN bench: %.0f Mbit/s shared link (%.1f MiB/s), TLS, %d MiB chunks for the peers, median of %d alternated rounds\n", *mbit, rate/(1<<20), *chunkMiB, *rounds)
	fmt.Println("The limit is the file at the link's rate plus two round trips no client can overlap: size / rate + 2 x RTT.")
	fmt.Println("The floor counts every round trip no client can overlap: size / rate + 3 x RTT, or + 4 x RTT above 200 MiB (which must go in chunks).")
	fmt.Println()
	fmt.Println("| link RTT | file | limit MiB/s | client | median s | median MiB/s | share of the limit | share of the floor | client CPU s/GiB | connections |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, l := range links {
		for _, f := range files {
			lim := limit(f.size, rate, l.rtt)
			mib := float64(f.size) / (1 << 20)
			for _, s := range settings {
				xs := results[key(l, f, s)]
				secs := median(xs, func(x sample) float64 { return x.secs })
				cpu := median(xs, func(x sample) float64 { return x.cpu })
				conns := median(xs, func(x sample) float64 { return float64(x.conns) })
				fmt.Printf("| %s | %s | %.1f | %s | %.2f | %.1f | %.1f%% | %.1f%% | %.2f | %.0f |\n", l.name, f.name, mib/lim, s.name, secs, mib/secs,
					100*lim/secs, 100*floor(f.size, rate, l.rtt)/secs, cpu/(float64(f.size)/(1<<30)), conns)
			}
		}
	}
	return nil
}

// limit is the shortest time, in seconds, in which any client can upload
// size bytes over a link of rate bytes per second and round trip rtt: the
// bytes at the link's rate, plus the TLS handshake and the first chunk's
// answer (which names the video every other chunk needs), two round trips
// that nothing can overlap.
func limit(size int64, rate float64, rtt time.Duration) float64 {
	return float64(size)/rate + 2*rtt.Seconds()
}

// floor is the shortest time, in seconds, in which any client can upload
// size bytes over a link of rate bytes per second and round trip rtt,
// counting every round trip that nothing can overlap: the bytes at the
// link's rate, plus the TCP handshake, the TLS handshake, and the last
// request's way to the server and its answer back. A file above the
// largest the API takes in one request must go in chunks, and pays one
// more: the first chunk's answer, which names the video the others need.
// The process's own start is not counted.
func floor(size int64, rate float64, rtt time.Duration) float64 {
	trips := 3.0
	if size > sandbox.MaxWholeFileSize {
		trips = 4
	}
	return float64(size)/rate + trips*rtt.Seconds()
}

// benchFile is a file of random bytes to upload, with its chunks cut
// beforehand for the curl loop and the Node client.
type benchFile struct {
	name  string // "100 MiB"
	path  string
	size  int64
	sum   string
	parts []string // the pre-cut chunks, in order
	dir   string   // where they are
}

func newBenchFile(work string, mib int, chunk int64) (*benchFile, error) {
	f := &benchFile{name: fmt.Sprintf("%d MiB", mib), size: int64(mib) << 20}
	f.path = filepath.Join(work, fmt.Sprintf("f%d.bin", mib))
	var err error
	if f.sum, err = writeRandom(f.path, f.size); err != nil {
		return nil, err
	}
	f.dir = filepath.Join(work, fmt.Sprintf("chunks%d", mib))
	if err := os.Mkdir(f.dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("split", "-b", strconv.FormatInt(chunk, 10), "-d", "-a", "4", f.path, filepath.Join(f.dir, "c")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("split: %w: %s", err, out)
	}
	f.parts, err = filepath.Glob(filepath.Join(f.dir, "c*"))
	return f, err
}

// runOne uploads f with the client s names through the proxy at url, and
// checks that the sandbox holds it whole.
func runOne(client string, api *http.Client, direct, url, cacert, nodeDir, data string, seen *protoCount, f *benchFile, s setting) (sample, error) {
	tok, err := mintToken(api, direct)
	if err != nil {
		return sample{}, err
	}
	var cmd *exec.Cmd
	switch {
	case s.node:
		cmd = exec.Command("node", append([]string{filepath.Join(nodeDir, "upload.js"), url, tok}, f.parts...)...)
		cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+cacert)
	case s.args == nil:
		cmd = exec.Command("bash", "-c", curlLoop, "curl-loop", url, tok, f.dir, strconv.FormatInt(f.size, 10), cacert)
	default:
		cmd = exec.Command(client, append([]string{"-url", url, "-token", tok, "-file", f.path, "-cacert", cacert}, s.args...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	seen.reset()
	start := time.Now()
	err = cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return sample{}, fmt.Errorf("%w: %s", err, stderr.String())
	}
	seen.print(start)
	if h1, h2 := seen.counts(); s.proto == 1 && h2 > 0 || s.proto == 2 && h1 > 0 {
		return sample{}, fmt.Errorf("want every upload over HTTP/%d, got %d over HTTP/1.1 and %d over HTTP/2", s.proto, h1, h2)
	}
	if err := checkLast(api, direct, f.sum, data); err != nil {
		return sample{}, err
	}
	return sample{secs: secs, cpu: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), conns: seen.connections()}, nil
}

// protoCount counts the upload requests by HTTP version and the
// connections accepted, and keeps the requests' timeline when verbose.
type protoCount struct {
	next    http.Handler
	verbose bool
	h1, h2  atomic.Int64
	conns   atomic.Int64
	mu      sync.Mutex
	events  []event
}

// event is one upload request as the server saw it.
type event struct {
	conn, contentRange string
	start, read, end   time.Time
	status             int
}

// readTimer notes when the last byte of a body was read.
type readTimer struct {
	io.ReadCloser
	last time.Time
}

func (r *readTimer) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 || err == io.EOF {
		r.last = time.Now()
	}
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

func (p *protoCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/upload" {
		p.next.ServeHTTP(w, r)
		return
	}
	if r.ProtoMajor == 2 {
		p.h2.Add(1)
	} else {
		p.h1.Add(1)
	}
	e := event{conn: r.RemoteAddr, contentRange: r.Header.Get("Content-Range"), start: time.Now()}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	body := &readTimer{ReadCloser: r.Body}
	r.Body = body
	p.next.ServeHTTP(sw, r)
	e.end, e.status, e.read = time.Now(), sw.status, body.last
	if p.verbose {
		p.mu.Lock()
		p.events = append(p.events, e)
		p.mu.Unlock()
	}
}

// connState counts the connections the server accepts.
func (p *protoCount) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		p.conns.Add(1)
	}
}

func (p *protoCount) reset() {
	p.h1.Store(0)
	p.h2.Store(0)
	p.conns.Store(0)
	p.mu.Lock()
	p.events = nil
	p.mu.Unlock()
}

func (p *protoCount) counts() (h1, h2 int64) { return p.h1.Load(), p.h2.Load() }

func (p *protoCount) connections() int { return int(p.conns.Load()) }

// print writes the timeline of the upload requests since reset, in seconds
// from start, when verbose.
func (p *protoCount) print(start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		fmt.Fprintf(os.Stderr, "  %-21s %-40s %6.3f .. %6.3f (read) .. %6.3f (answered) s  %d\n", e.conn, e.contentRange,
			e.start.Sub(start).Seconds(), e.read.Sub(start).Seconds(), e.end.Sub(start).Seconds(), e.status)
	}
}

// curlLoop sends the pre-cut chunks in order, one curl each, with
// Content-Range; the first without videoId, the rest with it. Arguments:
// URL TOKEN CHUNK-DIR SIZE CACERT.
const curlLoop = `set -euo pipefail
url=$1 tok=$2 dir=$3 size=$4 ca=$5 from=0 vid=
for c in "$dir"/c*; do
	n=$(stat -c %s "$c")
	to=$((from + n - 1))
	if [[ -z $vid ]]; then
		vid=$(curl -sS --fail --cacert "$ca" -H 'Expect:' -H "Content-Range: bytes $from-$to/$size" \
			-F "file=@$c;filename=big.bin" "$url/upload?token=$tok" |
			sed -E 's/.*"videoId":"([^"]+)".*/\1/')
	else
		curl -sS --fail --cacert "$ca" -o /dev/null -H 'Expect:' -H "Content-Range: bytes $from-$to/$size" \
			-F "videoId=$vid" -F "file=@$c;filename=big.bin" "$url/upload?token=$tok"
	fi
	from=$((to + 1))
done
`

func median(xs []sample, f func(sample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func writeRandom(path string, n int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

func mintToken(api *http.Client, base string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/upload-tokens", strings.NewReader(`{"ttl":0}`))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(apiKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := api.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var t struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.Token == "" {
		return "", fmt.Errorf("minting a token: status %d, %w", resp.StatusCode, err)
	}
	return t.Token, nil
}

// checkLast makes sure the newest video is complete with the file's SHA-256,
// then removes the sandbox's files so that the disk does not fill up.
func checkLast(api *http.Client, base, sum, data string) error {
	resp, err := api.Get(base + "/_sandbox/videos")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var vs []struct {
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256"`
		Complete bool   `json:"complete"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vs); err != nil {
		return err
	}
	if len(vs) == 0 {
		return errors.New("the sandbox holds no video")
	}
	if v := vs[len(vs)-1]; !v.Complete || v.SHA256 != sum {
		return fmt.Errorf("the sandbox holds the upload as %d bytes, complete %t, SHA-256 %s; want %s", v.Size, v.Complete, v.SHA256, sum)
	}
	return os.RemoveAll(filepath.Join(data, "videos"))
}
