package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lieKind is what the promise checker's front answers to the upload
// request it lies to, without passing it on to the sandbox.
type lieKind string

const (
	lieNone     lieKind = "honest"
	lieHTML     lieKind = "200 HTML page"                    // a captive portal
	lieEmpty    lieKind = "201 {}"                           // a proxy that answers for the API
	lieOverlap  lieKind = "503, then 400 overlap, no detail" // a retry told "already sent", without the range
	lieOtherID  lieKind = "201 another videoId"              // an answer for another video
	lieRedirect lieKind = "3xx redirect"                     // to a portal that answers 200 HTML
	lieStall    lieKind = "stall"                            // the body read, no answer
)

// lieTarget says which upload requests a lie may hit: the first of a
// file (no videoId in the form; a whole-file upload too), or a later chunk
// (the form names the video).
type lieTarget string

const (
	targetFirst lieTarget = "first request of a file"
	targetLater lieTarget = "later chunk"
)

// overlapNoDetail is the API's refusal of a range it already holds, as a
// server may send it: its title, without the detail naming the range.
const overlapNoDetail = `{"type":"https://docs.api.video/reference/invalid-content-range",` +
	`"title":"The \"Content-Range\" header range overlaps a range already sent.","name":"Content-Range","status":400}`

// serverBusy is a 503 problem document: the request is to be retried.
const serverBusy = `{"type":"https://docs.api.video/reference/server-error","title":"The service is unavailable.","status":503}`

// frontTrigger fires once, when the upload bodies of the requests whose
// file name contains file (any file when empty) have reached at bytes.
type frontTrigger struct {
	file  string
	at    int64
	fire  func()
	fired bool
}

// tokenWindow is when the uploads made with one token ran: from the start
// of the first request to the end of the last answer.
type tokenWindow struct {
	first, last time.Time
	requests    int
}

// front stands before a rig: every request goes through it to the sandbox,
// and it can lie to one upload request (and, with repeat, to every retry of
// it) instead of passing it on. It counts the upload body bytes per file
// name, fires triggers on them, and records which token each upload came
// with and when.
type front struct {
	next http.Handler
	URL  string

	firing sync.WaitGroup // triggers being fired

	mu      sync.Mutex
	lying   bool
	lie     lieKind
	target  lieTarget
	nth     int // lie to the nth eligible request
	repeat  bool
	seen    int    // eligible requests seen
	lieKey  string // file name and range of the request lied to
	keyLies int    // lies told to that request and its retries
	lied    int    // lies told
	perFile map[string]int64
	total   int64
	trigs   []*frontTrigger
	windows map[string]*tokenWindow
	tokens  map[string]bool
	made    map[string]string // videoId -> the token of the upload whose answer first named it
	stall   time.Duration
}

func newFront(t testing.TB, next http.Handler) *front {
	f := &front{next: next, lie: lieNone, perFile: map[string]int64{}, windows: map[string]*tokenWindow{},
		tokens: map[string]bool{}, made: map[string]string{}, stall: 8 * time.Second}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// setLie arms a lie for the requests that follow.
func (f *front) setLie(kind lieKind, target lieTarget, nth int, repeat bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lying, f.lie, f.target, f.nth, f.repeat = kind != lieNone, kind, target, nth, repeat
}

// honest stops lying and drops the triggers not fired, then waits for
// those firing: a body the server still reads after its process ended
// must not edit a file under the next run.
func (f *front) honest() {
	f.mu.Lock()
	f.lying = false
	f.trigs = nil
	f.mu.Unlock()
	f.firing.Wait()
}

func (f *front) addTrigger(tr *frontTrigger) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trigs = append(f.trigs, tr)
}

// Lied is the number of lies told.
func (f *front) Lied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lied
}

// Tokens returns every upload token the uploads came with.
func (f *front) Tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for tok := range f.tokens {
		out = append(out, tok)
	}
	return out
}

// Window returns when the uploads made with token ran.
func (f *front) Window(token string) (tokenWindow, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.windows[token]
	if !ok {
		return tokenWindow{}, false
	}
	return *w, true
}

var (
	headFileName = regexp.MustCompile(`filename\*?=(?:UTF-8'')?"?([^";\r\n]*)`)
	headVideoID  = []byte(`name="videoId"`)
)

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/portal" {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Sign in to the network</body></html>")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/upload" {
		f.next.ServeHTTP(w, r)
		return
	}
	token := r.URL.Query().Get("token")
	start := time.Now()
	f.mu.Lock()
	if token != "" {
		f.tokens[token] = true
		win := f.windows[token]
		if win == nil {
			win = &tokenWindow{first: start}
			f.windows[token] = win
		}
		win.requests++
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if win := f.windows[token]; win != nil {
			win.last = time.Now()
		}
		f.mu.Unlock()
	}()

	// The multipart head names the video (later chunks) and the file.
	br := bufio.NewReaderSize(r.Body, 4096)
	head, _ := br.Peek(2048)
	name := ""
	if m := headFileName.FindSubmatch(head); m != nil {
		name = string(m[1])
	}
	later := bytes.Contains(head, headVideoID)
	key := name + " " + r.Header.Get("Content-Range")
	body := &frontBody{r: br, f: f, name: name}
	r.Body = io.NopCloser(body)

	f.mu.Lock()
	lie := lieNone
	if f.lying {
		switch {
		case f.lieKey != "":
			// The overlap comes to the retry of a request answered 503.
			if f.lieKey == key && (f.repeat || f.lie == lieOverlap && f.keyLies == 1) {
				lie = f.lie
			}
		case (f.target == targetLater) == later:
			f.seen++
			if f.seen == f.nth {
				f.lieKey, lie = key, f.lie
			}
		}
	}
	if lie != lieNone {
		f.lied++
		f.keyLies++
	}
	first := f.keyLies == 1
	f.mu.Unlock()

	if lie == lieNone {
		rec := &answerRecorder{ResponseWriter: w}
		f.next.ServeHTTP(rec, r)
		var v struct {
			VideoID string `json:"videoId"`
		}
		if rec.status/100 == 2 && json.Unmarshal(rec.body.Bytes(), &v) == nil && v.VideoID != "" {
			f.mu.Lock()
			if _, ok := f.made[v.VideoID]; !ok {
				f.made[v.VideoID] = token
			}
			f.mu.Unlock()
		}
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	switch lie {
	case lieHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<!doctype html><html><body>Welcome! Accept the terms to go on.</body></html>")
	case lieEmpty:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "{}")
	case lieOverlap:
		w.Header().Set("Content-Type", "application/problem+json")
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, serverBusy)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, overlapNoDetail)
	case lieOtherID:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"videoId":"vi`+strings.Repeat("Z", 22)+`"}`)
	case lieRedirect:
		code := http.StatusFound
		if len(name)%2 == 0 {
			code = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, f.URL+"/portal", code)
	case lieStall:
		select {
		case <-r.Context().Done():
		case <-time.After(f.stall):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	}
}

// MadeBy returns the token of the upload whose answer first named video
// id: the run that made it.
func (f *front) MadeBy(id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.made[id]
	return tok, ok
}

// answerRecorder keeps the status and the start of an answer on its way.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len() < 64<<10 {
		a.body.Write(b)
	}
	return a.ResponseWriter.Write(b)
}

// frontBody counts an upload body's bytes for the front's triggers.
type frontBody struct {
	r    io.Reader
	f    *front
	name string
}

func (b *frontBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.f.read(b.name, int64(n))
	}
	return n, err
}

// read counts n body bytes of file name and fires the triggers due.
func (f *front) read(name string, n int64) {
	f.mu.Lock()
	f.perFile[name] += n
	f.total += n
	var due []func()
	for _, tr := range f.trigs {
		if tr.fired {
			continue
		}
		got := f.total
		if tr.file != "" {
			if !strings.Contains(name, tr.file) {
				continue
			}
			got = f.perFile[name]
		}
		if got >= tr.at {
			tr.fired = true
			due = append(due, tr.fire)
		}
	}
	f.firing.Add(len(due))
	f.mu.Unlock()
	for _, fire := range due {
		fire()
		f.firing.Done()
	}
}
