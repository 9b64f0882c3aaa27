// Command wanbench times whole upload processes across a simulated wide-area
// link: avupload at several concurrencies over HTTP/2 and over parallel
// HTTP/1.1 connections, against a chunked curl loop and the official Node
// client (with -node), all through the same shaping proxy in front of the
// sandbox over TLS.
//
// The sandbox runs in this process behind a TLS listener that offers h2 and
// http/1.1 (Go's net/http server with its default HTTP/2 settings), storing
// uploads on disk. The proxy (proxy.go) delays each direction by half the
// round trip and passes each direction's bytes through one link of the given
// rate shared by every connection, so that N connections share the link as
// they would share a real one. Each client runs as a child process (this program again with
// -client, or bash running curl) and its CPU time is read from the child's
// resource usage when it ends. Settings are alternated within each round and
// medians are printed as a Markdown table; every upload is checked against
// the file's SHA-256 by the sandbox.
//
//	(cd bench/wanbench/node && npm ci --ignore-scripts)
//	go run ./bench/wanbench -size-mib 64 -chunk-mib 8 -rounds 3 -node bench/wanbench/node
package main

import (
	"bytes"
	"context"
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
	"sync/atomic"
	"time"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
)

const apiKey = "wanbench-api-key"

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "-client" {
		err = client(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wanbench:", err)
		os.Exit(1)
	}
}

// client uploads one file with the wrapper: the child process whose CPU
// time is measured.
func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	url := fs.String("url", "", "base URL")
	token := fs.String("token", "", "upload token")
	file := fs.String("file", "", "file to upload")
	cacert := fs.String("cacert", "", "PEM certificate to trust")
	chunk := fs.Int64("chunk", 0, "chunk size in bytes; 0: the library's default")
	conc := fs.Int("conc", 0, "concurrency; 0: the library's default")
	proto := fs.String("proto", "h1", "h1 (the library's default: an HTTP/1.1 connection per chunk in flight) or h2 (UploadOptions.HTTP2: one multiplexed connection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pem, err := os.ReadFile(*cacert)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in " + *cacert)
	}
	if *proto != "h1" && *proto != "h2" {
		return fmt.Errorf("-proto %q: want h1 or h2", *proto)
	}
	// Only the trust changes: the protocol is the library's to choose.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c, err := wrapper.New(wrapper.WithBaseURL(*url), wrapper.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		return err
	}
	_, err = c.Upload(context.Background(), *token, wrapper.File(*file),
		&wrapper.UploadOptions{ChunkSize: *chunk, Concurrency: *conc, HTTP2: *proto == "h2"})
	return err
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
	// args are the -client arguments after the common ones; nil for curl
	// and the Node client.
	args []string
	// node runs the official Node client's upload session on the pre-cut
	// chunks.
	node bool
}

type sample struct {
	secs, cpu float64
}

func run() error {
	sizeMiB := flag.Int("size-mib", 128, "size of the uploaded file in MiB")
	chunkMiB := flag.Int("chunk-mib", 16, "chunk size in MiB for the concurrency grid and the curl loop")
	rounds := flag.Int("rounds", 3, "alternated rounds; medians are reported")
	mbit := flag.Float64("mbit", 200, "link rate in Mbit/s (both directions)")
	rtts := flag.String("rtt", "40ms,150ms", "round trips to simulate, comma-separated")
	concs := flag.String("conc", "1,2,4,8", "concurrencies to compare")
	nodeDir := flag.String("node", "", "directory of upload.js with the official Node client installed (npm ci); empty: no Node client")
	flag.Parse()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "wanbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

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
	seen := &protoCount{next: sb}
	srv := &http.Server{Handler: seen, ReadHeaderTimeout: 30 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	direct := "https://" + ln.Addr().String()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	api := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	file := filepath.Join(work, "big.bin")
	sum, err := writeRandom(file, int64(*sizeMiB)<<20)
	if err != nil {
		return err
	}
	chunk := int64(*chunkMiB) << 20
	chunks := filepath.Join(work, "chunks")
	if err := os.Mkdir(chunks, 0o700); err != nil {
		return err
	}
	if out, err := exec.Command("split", "-b", strconv.FormatInt(chunk, 10), "-d", "-a", "4", file, filepath.Join(chunks, "c")).CombinedOutput(); err != nil {
		return fmt.Errorf("split: %w: %s", err, out)
	}

	parts, err := filepath.Glob(filepath.Join(chunks, "c*"))
	if err != nil {
		return err
	}
	var settings []setting
	settings = append(settings, setting{
		name:  fmt.Sprintf("avupload defaults (%d MiB chunks, c%d, HTTP/1.1)", wrapper.DefaultChunkSize>>20, wrapper.DefaultConcurrency),
		proto: 1, args: []string{},
	})
	for _, proto := range []string{"h2", "h1"} {
		for _, c := range strings.Split(*concs, ",") {
			settings = append(settings, setting{name: fmt.Sprintf("avupload c%s %s", c, proto), proto: int(proto[1] - '0'),
				args: []string{"-chunk", strconv.FormatInt(chunk, 10), "-conc", c, "-proto", proto}})
		}
	}
	settings = append(settings, setting{name: "curl loop"})
	if *nodeDir != "" {
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
	size := int64(*sizeMiB) << 20
	results := map[string][]sample{}
	for _, l := range links {
		px, err := startProxy(ln.Addr().String(), l.rtt, rate)
		if err != nil {
			return err
		}
		url := "https://" + px.Addr()
		for r := 1; r <= *rounds; r++ {
			for _, s := range settings {
				tok, err := mintToken(api, direct)
				if err != nil {
					px.Close()
					return err
				}
				var cmd *exec.Cmd
				switch {
				case s.node:
					cmd = exec.Command("node", append([]string{filepath.Join(*nodeDir, "upload.js"), url, tok}, parts...)...)
					cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+cacert)
				case s.args == nil:
					cmd = exec.Command("bash", "-c", curlLoop, "curl-loop", url, tok, chunks, strconv.FormatInt(size, 10), cacert)
				default:
					cmd = exec.Command(self, append([]string{"-client", "-url", url, "-token", tok, "-file", file, "-cacert", cacert}, s.args...)...)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				seen.reset()
				start := time.Now()
				err = cmd.Run()
				secs := time.Since(start).Seconds()
				if err != nil {
					px.Close()
					return fmt.Errorf("%s over %s: %w: %s", s.name, l.name, err, stderr.String())
				}
				if h1, h2 := seen.counts(); s.proto == 1 && h2 > 0 || s.proto == 2 && h1 > 0 {
					px.Close()
					return fmt.Errorf("%s over %s: want every upload over HTTP/%d, got %d over HTTP/1.1 and %d over HTTP/2", s.name, l.name, s.proto, h1, h2)
				}
				if err := checkLast(api, direct, sum, data); err != nil {
					px.Close()
					return fmt.Errorf("%s over %s: %w", s.name, l.name, err)
				}
				cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
				key := l.name + "\t" + s.name
				results[key] = append(results[key], sample{secs: secs, cpu: cpu})
				fmt.Fprintf(os.Stderr, "%s round %d/%d %s over %s: %.2f s, %.1f MiB/s, CPU %.2f s\n",
					time.Now().UTC().Format("15:04:05"), r, *rounds, s.name, l.name, secs, float64(size)/(1<<20)/secs, cpu)
			}
		}
		px.Close()
	}

	gib := float64(size) / (1 << 30)
	fmt.Printf("WAN bench: %d MiB file, %d MiB chunks in the grid, %.0f Mbit/s shared link, TLS, median of %d alternated rounds\n\n", *sizeMiB, *chunkMiB, *mbit, *rounds)
	fmt.Println("| link RTT | client | median s | median MiB/s | client CPU s/GiB |")
	fmt.Println("|---|---|---|---|---|")
	for _, l := range links {
		for _, s := range settings {
			xs := results[l.name+"\t"+s.name]
			secs := median(xs, func(x sample) float64 { return x.secs })
			cpu := median(xs, func(x sample) float64 { return x.cpu })
			fmt.Printf("| %s | %s | %.2f | %.1f | %.2f |\n", l.name, s.name, secs, float64(size)/(1<<20)/secs, cpu/gib)
		}
	}
	return nil
}

// protoCount counts the upload requests by HTTP version.
type protoCount struct {
	next   http.Handler
	h1, h2 atomic.Int64
}

func (p *protoCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/upload" {
		if r.ProtoMajor == 2 {
			p.h2.Add(1)
		} else {
			p.h1.Add(1)
		}
	}
	p.next.ServeHTTP(w, r)
}

func (p *protoCount) reset() { p.h1.Store(0); p.h2.Store(0) }

func (p *protoCount) counts() (h1, h2 int64) { return p.h1.Load(), p.h2.Load() }

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
