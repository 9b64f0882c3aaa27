package sandbox

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/avupload/avupload/internal/size"
)

// FaultKind is what a [Fault] does to a request.
type FaultKind int

const (
	// FaultStatus answers Fault.Status without processing the request; the
	// body is read and discarded, nothing is stored.
	FaultStatus FaultKind = iota + 1
	// FaultCutRequest reads Fault.AfterBytes bytes of the request body, then
	// closes the connection without answering.
	FaultCutRequest
	// FaultStall waits Fault.Stall (or until the client goes away), then
	// handles the request normally.
	FaultStall
	// FaultCommitThenCut handles the request fully (an upload's chunk is
	// stored and counted) and then closes the connection before any byte of
	// the response is sent, so the client cannot know the request landed.
	FaultCommitThenCut
)

func (k FaultKind) String() string {
	switch k {
	case FaultStatus:
		return "status"
	case FaultCutRequest:
		return "cut"
	case FaultStall:
		return "stall"
	case FaultCommitThenCut:
		return "commit-cut"
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one scripted failure.
type Fault struct {
	// Op is the operationId of the route, such as "uploadWithUploadToken";
	// empty matches every route.
	Op string
	// Request is which request to the route the fault hits, counted from 1
	// over the Sandbox's lifetime; 0 hits every request. With an empty Op,
	// requests are counted over all routes. With Chunk or EachUpload, only
	// the requests they select are counted.
	Request int
	// Chunk narrows an upload fault to first chunks or to later ones (see
	// [FirstChunk], [LaterChunk]); Request then counts those requests
	// alone. It needs Op uploadWithUploadToken.
	Chunk ChunkSelector
	// EachUpload counts Request per upload rather than over the Sandbox's
	// lifetime, so that Request 1 hits the first request of every upload,
	// a small file sent whole included, and its retry goes through. It
	// needs Op uploadWithUploadToken. The fault is matched before the body
	// is read, so an upload is told apart by what the request line and
	// headers say: its token, and its Content-Range total (a file sent
	// whole: its token and its request's size; chunks by part of unknown
	// total: the token alone). Uploads that share a token and a total count
	// as one.
	EachUpload bool
	// Kind is what the fault does.
	Kind FaultKind
	// Status is the status FaultStatus answers: 403 (with the documented
	// suspended-account body), 429 (with the documented body,
	// X-RateLimit-Remaining 0 and X-RateLimit-Retry-After 1), 500, 502, 503
	// or 504.
	Status int
	// AfterBytes is how many request body bytes FaultCutRequest reads before
	// cutting the connection.
	AfterBytes int64
	// Stall is how long FaultStall waits.
	Stall time.Duration
}

// ChunkSelector narrows an upload fault to some chunks.
type ChunkSelector int

const (
	// AnyChunk selects every request.
	AnyChunk ChunkSelector = iota
	// FirstChunk selects the requests that start an upload: a file sent
	// whole (no Content-Range), "part 1/..." or "bytes 0-...".
	FirstChunk
	// LaterChunk selects any chunk after the first: "part N/..." with
	// N > 1, or a byte range that does not start at 0.
	LaterChunk
)

// chunkOfRequest tells a first chunk from a later one by its Content-Range.
// A header that cannot be read selects nothing.
func chunkOfRequest(r *http.Request) ChunkSelector {
	h := r.Header.Get("Content-Range")
	if h == "" {
		return FirstChunk
	}
	c, e := parseContentRange(h)
	switch {
	case e != nil:
		return AnyChunk
	case c.unit == unitPart && c.part == 1, c.unit == unitBytes && c.from == 0:
		return FirstChunk
	}
	return LaterChunk
}

// uploadOfRequest names the upload a request belongs to, as far as its
// request line and headers tell (see [Fault.EachUpload]).
func uploadOfRequest(r *http.Request) string {
	key := r.URL.Query().Get("token") + "\x00"
	h := r.Header.Get("Content-Range")
	if h == "" {
		return key + "whole " + strconv.FormatInt(r.ContentLength, 10)
	}
	c, e := parseContentRange(h)
	switch {
	case e != nil:
		return key + h
	case c.unit == unitBytes:
		return key + "bytes " + strconv.FormatInt(c.total, 10)
	}
	return key + "part"
}

// String returns the fault in the syntax [ParseFault] reads.
func (f Fault) String() string {
	op, req := f.Op, strconv.Itoa(f.Request)
	if op == "" {
		op = "*"
	}
	if f.Request == 0 {
		req = "*"
	}
	switch {
	case f.EachUpload && f.Chunk == AnyChunk:
		req = "upload/" + req
	case f.Chunk != AnyChunk:
		sel := "first"
		if f.Chunk == LaterChunk {
			sel = "later"
		}
		if f.EachUpload {
			sel += "-each"
		}
		if f.Request == 0 {
			req = sel
		} else {
			req = sel + "/" + req
		}
	}
	var action string
	switch f.Kind {
	case FaultStatus:
		action = "status=" + strconv.Itoa(f.Status)
	case FaultCutRequest:
		action = "cut=" + strconv.FormatInt(f.AfterBytes, 10)
	case FaultStall:
		action = "stall=" + f.Stall.String()
	case FaultCommitThenCut:
		action = "commit-cut"
	default:
		action = f.Kind.String()
	}
	return op + ":" + req + ":" + action
}

var opAliases = map[string]string{
	"upload": OpUploadWithUploadToken,
	"create": OpCreateUploadToken,
	"list":   OpListUploadTokens,
	"get":    OpGetUploadToken,
	"delete": OpDeleteUploadToken,
	"*":      "",
	"":       "",
}

func (f Fault) validate() error {
	switch f.Op {
	case "", OpUploadWithUploadToken, OpCreateUploadToken, OpListUploadTokens, OpGetUploadToken, OpDeleteUploadToken,
		OpAuthenticate, OpRefreshToken:
	default:
		return fmt.Errorf("sandbox: fault: unknown operation %q", f.Op)
	}
	if f.Request < 0 {
		return fmt.Errorf("sandbox: fault: request number %d is negative", f.Request)
	}
	if f.Chunk < AnyChunk || f.Chunk > LaterChunk {
		return fmt.Errorf("sandbox: fault: unknown chunk selector %d", f.Chunk)
	}
	if (f.Chunk != AnyChunk || f.EachUpload) && f.Op != OpUploadWithUploadToken {
		return fmt.Errorf("sandbox: fault: chunks and uploads are selected on the upload route only, not on %q", f.Op)
	}
	switch f.Kind {
	case FaultStatus:
		switch f.Status {
		case 403, 429, 500, 502, 503, 504:
		default:
			return fmt.Errorf("sandbox: fault: status %d is not one of 403, 429, 500, 502, 503, 504", f.Status)
		}
	case FaultCutRequest:
		if f.AfterBytes < 0 {
			return fmt.Errorf("sandbox: fault: cut after %d bytes", f.AfterBytes)
		}
	case FaultStall:
		if f.Stall <= 0 {
			return fmt.Errorf("sandbox: fault: stall of %v", f.Stall)
		}
	case FaultCommitThenCut:
	default:
		return fmt.Errorf("sandbox: fault: unknown kind %d", f.Kind)
	}
	return nil
}

// ParseFault parses the textual form of a [Fault], as the CLI's --fault flag
// takes it:
//
//	OP:REQUEST:ACTION
//
// OP is an operationId (uploadWithUploadToken, createUploadToken,
// listUploadTokens, getUploadToken, deleteUploadToken), one of the short forms
// upload, create, list, get, delete, or * for every route. REQUEST is the
// 1-based request number on that route (1, 2, ...), or * for every request;
// on the upload route it may also be:
//
//	upload/N      the Nth request of each upload (Fault.EachUpload)
//	first         every first chunk: a file sent whole, "part 1/..." or
//	              "bytes 0-..." (Fault.Chunk FirstChunk); first/N the Nth one
//	later         every chunk after the first; later/N the Nth one
//	first-each/N  the Nth first-chunk request of each upload; later-each/N too
//
// Anything else, 0 included, is refused.
// ACTION is one of:
//
//	status=CODE   answer CODE (403, 429, 500, 502, 503 or 504) without processing
//	cut=BYTES     read BYTES of the request body, then drop the connection;
//	              BYTES is written as avupload's sizes are: 1048576,
//	              512K, 2MiB or 1.5GiB
//	stall=DUR     wait DUR (a Go duration such as 5s) before handling normally
//	commit-cut    process the request (store the chunk), then drop the
//	              connection before answering
//
// Examples: "uploadWithUploadToken:2:status=503", "upload:3:cut=1048576",
// "upload:1:stall=5s", "upload:4:commit-cut", "*:*:status=500",
// "upload:upload/1:status=503" (each upload's first attempt fails, its
// retry goes through), "upload:later/1:commit-cut".
func ParseFault(spec string) (Fault, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) != 3 {
		return Fault{}, fmt.Errorf("sandbox: fault %q: want OP:REQUEST:ACTION", spec)
	}
	var f Fault
	op, ok := opAliases[parts[0]]
	if !ok {
		op = parts[0]
	}
	f.Op = op
	sel, num, hasNum := strings.Cut(parts[1], "/")
	if !hasNum {
		sel, num = "", parts[1]
		switch parts[1] {
		case "first", "later", "first-each", "later-each":
			sel, num = parts[1], "*"
		}
	}
	switch sel {
	case "":
	case "upload":
		f.EachUpload = true
	case "first", "first-each":
		f.Chunk, f.EachUpload = FirstChunk, sel == "first-each"
	case "later", "later-each":
		f.Chunk, f.EachUpload = LaterChunk, sel == "later-each"
	default:
		return Fault{}, fmt.Errorf("sandbox: fault %q: request %q is not a request number (1, 2, ...), *, upload/N, first, first/N, later or later/N", spec, parts[1])
	}
	if num != "*" {
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || strconv.Itoa(n) != num {
			return Fault{}, fmt.Errorf("sandbox: fault %q: request %q is not a request number (1, 2, ...) or * for every request", spec, parts[1])
		}
		f.Request = n
	} else if sel == "upload" {
		return Fault{}, fmt.Errorf("sandbox: fault %q: request %q: upload/N needs a request number", spec, parts[1])
	}
	action, value, _ := strings.Cut(parts[2], "=")
	switch action {
	case "status":
		n, err := strconv.Atoi(value)
		if err != nil {
			return Fault{}, fmt.Errorf("sandbox: fault %q: status %q is not a number", spec, value)
		}
		f.Kind, f.Status = FaultStatus, n
	case "cut":
		n, err := size.Parse(value)
		if err != nil {
			return Fault{}, fmt.Errorf("sandbox: fault %q: byte count %q: %w", spec, value, err)
		}
		f.Kind, f.AfterBytes = FaultCutRequest, n
	case "stall":
		d, err := time.ParseDuration(value)
		if err != nil {
			return Fault{}, fmt.Errorf("sandbox: fault %q: stall %q is not a duration such as 500ms, 5s or 1m30s", spec, value)
		}
		f.Kind, f.Stall = FaultStall, d
	case "commit-cut":
		if value != "" {
			return Fault{}, fmt.Errorf("sandbox: fault %q: commit-cut takes no value", spec)
		}
		f.Kind = FaultCommitThenCut
	default:
		return Fault{}, fmt.Errorf("sandbox: fault %q: unknown action %q (want status=, cut=, stall= or commit-cut)", spec, action)
	}
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("%w (in %q)", err, spec)
	}
	return f, nil
}

// faultTable holds the scripted faults and the request counters.
type faultTable struct {
	mu     sync.Mutex
	faults []Fault
	counts map[string]int // per operationId, and "" for all routes
	// selected counts, per fault (its index) and per upload when it has
	// EachUpload, the requests a fault with Chunk or EachUpload selects.
	selected map[selectedKey]int
}

type selectedKey struct {
	fault  int
	upload string
}

func (t *faultTable) add(f ...Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, f...)
}

func (t *faultTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
	t.selected = nil
}

// match counts a request r to op and returns its number, as the first
// fault that hits it counts it, and that fault.
func (t *faultTable) match(op string, r *http.Request) (int, Fault, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[op]++
	t.counts[""]++
	n, all := t.counts[op], t.counts[""]
	var chunk ChunkSelector
	var upload string
	if op == OpUploadWithUploadToken {
		chunk, upload = chunkOfRequest(r), uploadOfRequest(r)
	}
	hit, hitN := -1, n
	for i, f := range t.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		want := n
		if f.Op == "" {
			want = all
		}
		if f.Chunk != AnyChunk || f.EachUpload {
			if f.Chunk != AnyChunk && f.Chunk != chunk {
				continue
			}
			// Every selecting fault counts the request, hit or not.
			k := selectedKey{fault: i}
			if f.EachUpload {
				k.upload = upload
			}
			if t.selected == nil {
				t.selected = map[selectedKey]int{}
			}
			t.selected[k]++
			want = t.selected[k]
		}
		if hit < 0 && (f.Request == 0 || f.Request == want) {
			hit, hitN = i, want
		}
	}
	if hit < 0 {
		return n, Fault{}, false
	}
	return hitN, t.faults[hit], true
}

// applyFault applies f; it reports whether the request is finished.
func (s *Sandbox) applyFault(rec *recorder, r *http.Request, op string, f Fault) bool {
	switch f.Kind {
	case FaultStatus:
		drainBody(r)
		h := rec.Header()
		switch f.Status {
		case http.StatusTooManyRequests:
			// An injected 429 stands for a spent window that is about to
			// reset: it asks for a one-second wait, so that scripted faults
			// keep tests and demos quick while clients still honour it.
			lim := s.limiter.take(categoryOf(op))
			lim.remaining, lim.retryAfter = 0, 1
			lim.setHeaders(h)
			writeTooManyRequests(rec)
		case http.StatusForbidden:
			s.limiter.take(categoryOf(op)).setHeaders(h)
			writeProblem(rec, f.Status, problem{Type: typeSuspended, Title: "Suspended account"})
		default:
			s.limiter.take(categoryOf(op)).setHeaders(h)
			writeProblem(rec, f.Status, problem{Type: typeServerError, Title: http.StatusText(f.Status),
				Detail: "fault injected by the sandbox"})
		}
		return true
	case FaultCutRequest:
		if r.Body != nil && f.AfterBytes > 0 {
			_, _ = io.CopyN(io.Discard, r.Body, f.AfterBytes)
		}
		cutConnection(rec)
		return true
	case FaultStall:
		t := time.NewTimer(f.Stall)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-r.Context().Done():
			rec.cut = true
			return true
		}
	case FaultCommitThenCut:
		rec.swallow = true
		s.serveAPI(rec, r, op)
		cutConnection(rec)
		return true
	}
	return false
}

// cutConnection closes the client's connection without a response, with a
// TCP reset where possible.
func cutConnection(rec *recorder) {
	rec.cut = true
	rec.settle()
	conn, _, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err != nil {
		// Not HTTP/1 (or not hijackable): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
