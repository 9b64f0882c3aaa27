//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sandbox under abuse, measured from outside: each case runs the real
// avupload binary and reads its peak resident memory (VmHWM) from /proc.
// The bounds asserted are far below what the sandbox took before it was
// bounded (3.6 GB for a 600 MiB part, 2.19 GB for 50 uploads of 20 MiB), and
// far above the figures measured since, so that they catch a regression, not
// noise. The figures are logged; docs/RELIABILITY.md quotes them.

const abuseKey = "abuse-api-key"

// sandboxProc is a running `avupload sandbox`.
type sandboxProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *strings.Builder
	done   chan error
}

// startSandbox runs `avupload sandbox` with args and waits for it to listen.
func startSandbox(t *testing.T, args ...string) *sandboxProc {
	t.Helper()
	args = append([]string{"sandbox", "--addr", "127.0.0.1:0", "--api-key", abuseKey}, args...)
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = cliEnv()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &sandboxProc{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`sandbox listening on (http://\S+)`)
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	require.NotEmpty(t, p.url, "the sandbox did not start: %s", p.stderr)
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop interrupts the sandbox and waits for it to exit.
func (p *sandboxProc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil || p.done == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		assert.NoError(t, err, "the sandbox exits cleanly: %s", p.stderr)
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		t.Errorf("the sandbox did not stop on SIGINT (killed: %v)", err)
	}
	p.done = nil
}

// peakRSS returns the sandbox's peak resident memory, in bytes.
func (p *sandboxProc) peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// token mints an upload token that never expires.
func (p *sandboxProc) token(t *testing.T) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+"/upload-tokens", strings.NewReader(`{"ttl":0}`))
	require.NoError(t, err)
	req.SetBasicAuth(abuseKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.NotEmpty(t, tok.Token)
	return tok.Token
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// postFile uploads a file part of size zero bytes, streamed, and returns the
// status and body of the answer.
func (p *sandboxProc) postFile(t *testing.T, client *http.Client, token, contentRange, videoID string, size int64) (int, string) {
	t.Helper()
	const boundary = "abuseboundary"
	head := ""
	if videoID != "" {
		head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"videoId\"\r\n\r\n" + videoID + "\r\n"
	}
	head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"abuse.mp4\"\r\nContent-Type: video/mp4\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	body := io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader(tail))
	req, err := http.NewRequest(http.MethodPost, p.url+"/upload?token="+token, body)
	require.NoError(t, err)
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	if contentRange != "" {
		req.Header.Set("Content-Range", contentRange)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

const mib = 1 << 20

func TestSandboxUnderAbuse(t *testing.T) {
	t.Run("600 MiB file part in memory mode", func(t *testing.T) {
		p := startSandbox(t)
		tok := p.token(t)
		for _, cr := range []string{"part 1/*", "bytes 0-629145599/629145600", ""} {
			status, body := p.postFile(t, http.DefaultClient, tok, cr, "", 600*mib)
			assert.Equal(t, http.StatusBadRequest, status, "%q: %s", cr, body)
			assert.Contains(t, body, "The uploaded file is too large.", cr)
		}
		peak := p.peakRSS(t)
		t.Logf("peak RSS after three 600 MiB file parts: %.0f MiB", float64(peak)/mib)
		assert.Less(t, peak, int64(400*mib), "a refused part must not be buffered")
	})

	t.Run("50 concurrent 20 MiB uploads in memory mode", func(t *testing.T) {
		p := startSandbox(t)
		tok := p.token(t)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
		defer client.CloseIdleConnections()
		var wg sync.WaitGroup
		statuses := make([]int, 50)
		for i := range statuses {
			wg.Go(func() { statuses[i], _ = p.postFile(t, client, tok, "", "", 20*mib) })
		}
		wg.Wait()
		for i, s := range statuses {
			assert.Equal(t, http.StatusCreated, s, "upload %d", i)
		}
		peak := p.peakRSS(t)
		t.Logf("peak RSS holding 50 x 20 MiB = 1000 MiB: %.0f MiB (%.2fx)", float64(peak)/mib, float64(peak)/(1000*mib))
		assert.Less(t, peak, int64(1400*mib), "stored bytes cost about their size")
	})

	t.Run("normal upload while 3000 slow connections are held", func(t *testing.T) {
		p := startSandbox(t)
		tok := p.token(t)
		timed := func() time.Duration {
			client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{}} // a failure detector
			defer client.CloseIdleConnections()
			start := time.Now()
			status, body := p.postFile(t, client, tok, "", "", 20*mib)
			require.Equal(t, http.StatusCreated, status, body)
			return time.Since(start)
		}
		alone := timed()
		addr := strings.TrimPrefix(p.url, "http://")
		const held = 3000
		conns := make([]net.Conn, 0, held)
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for range held {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			conns = append(conns, c)
			_, err = fmt.Fprintf(c, "POST /upload?token=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 10485760\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.mp4\"\r\n\r\nfirst bytes", tok, addr)
			require.NoError(t, err)
		}
		busy := timed()
		t.Logf("20 MiB upload: %v alone, %v while %d slow connections are held", alone.Round(time.Millisecond), busy.Round(time.Millisecond), held)
	})

	t.Run("restart with a data directory", func(t *testing.T) {
		dir := t.TempDir()
		p := startSandbox(t, "--data-dir", dir)
		tok := p.token(t)
		for range 200 {
			p.token(t)
		}
		const videos = 20
		var partial []string
		for i := range videos {
			status, body := p.postFile(t, http.DefaultClient, tok, fmt.Sprintf("bytes 0-%d/%d", 5*mib-1, 10*mib), "", 5*mib)
			require.Equal(t, http.StatusCreated, status, body)
			var v struct{ VideoID string }
			require.NoError(t, json.Unmarshal([]byte(body), &v))
			if i%2 == 0 {
				status, body = p.postFile(t, http.DefaultClient, tok, fmt.Sprintf("bytes %d-%d/%d", 5*mib, 10*mib-1, 10*mib), v.VideoID, 5*mib)
				require.Equal(t, http.StatusCreated, status, body)
			} else {
				partial = append(partial, v.VideoID)
			}
		}
		p.stop(t)

		start := time.Now()
		q := startSandbox(t, "--data-dir", dir)
		restart := time.Since(start)
		for _, id := range partial {
			status, body := q.postFile(t, http.DefaultClient, tok, fmt.Sprintf("bytes %d-%d/%d", 5*mib, 10*mib-1, 10*mib), id, 5*mib)
			require.Equal(t, http.StatusCreated, status, "the partial video goes on after the restart: %s", body)
		}
		resp, err := http.Get(q.url + "/_sandbox/videos")
		require.NoError(t, err)
		defer resp.Body.Close()
		var infos []struct{ Complete bool }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&infos))
		require.Len(t, infos, videos)
		for _, v := range infos {
			assert.True(t, v.Complete)
		}
		t.Logf("restart on a data directory with 201 tokens and %d videos (%d partial): listening after %v", videos, len(partial), restart.Round(time.Millisecond))
	})
}
