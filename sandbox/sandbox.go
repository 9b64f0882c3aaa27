package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/avupload/avupload/gen"
	"github.com/avupload/avupload/internal/route"
)

// DefaultAPIKey is the API key a Sandbox accepts when no [WithAPIKeys] option
// is given.
const DefaultAPIKey = "sandbox-api-key"

// Operation names, the operationIds of openapi.yaml: "createUploadToken",
// "listUploadTokens", "getUploadToken", "deleteUploadToken" and
// "uploadWithUploadToken", as the generated server names them. They name
// routes in [Fault.Op] and in [Stats].
var (
	OpCreateUploadToken     = route.CreateUploadToken
	OpListUploadTokens      = route.ListUploadTokens
	OpGetUploadToken        = route.GetUploadToken
	OpDeleteUploadToken     = route.DeleteUploadToken
	OpUploadWithUploadToken = route.UploadWithUploadToken
)

// Limits of the upload endpoint, as the real service enforces them.
const (
	MaxWholeFileSize = 209715200   // 200 MiB: the largest file part of one request, whole file or chunk
	MinChunkSize     = 5242880     // 5 MiB: the smallest chunk but the last
	MaxParts         = 10000       // the largest part number and number of parts
	MaxTotalSize     = 52428800000 // the largest total size of a chunked upload
	MaxRangeEnd      = 52428799999 // the largest inclusive end of a byte range
)

// DefaultMemoryBudget is how many uploaded bytes a Sandbox without
// [WithDataDir] holds in memory at most, unless [WithMemoryBudget] says
// otherwise: 1 GiB.
const DefaultMemoryBudget = 1 << 30

// Option configures a [Sandbox]; it returns an error for an invalid setting.
type Option func(*config) error

type config struct {
	apiKeys []string
	now     func() time.Time
	dataDir string
	budget  int64
	// bodyIdle is how long a request body may send nothing.
	bodyIdle time.Duration
	// maxConns caps the connections [Start] serves at once.
	maxConns int
	limits   *RateLimits
	faults   []Fault
	logger   *slog.Logger
	baseURL  string // the server's URL, set by [Start]; "" when served otherwise
	tlsCert  *tls.Certificate
	http2    bool // offer h2 over TLS (WithHTTP2)
	cors     corsPolicy
	strict   bool
}

// WithAPIKeys sets the API keys the token routes accept, replacing
// [DefaultAPIKey]. At least one non-empty key is required.
func WithAPIKeys(keys ...string) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return errors.New("sandbox: WithAPIKeys needs at least one key")
		}
		for _, k := range keys {
			if k == "" {
				return errors.New("sandbox: WithAPIKeys: empty API key")
			}
		}
		c.apiKeys = append([]string(nil), keys...)
		return nil
	}
}

// WithClock sets the clock used for token lifetimes, rate-limit windows and
// timestamps. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("sandbox: WithClock: nil clock")
		}
		c.now = now
		return nil
	}
}

// WithDataDir stores tokens, chunks and videos as files under dir (created
// if needed) instead of in memory. Use it for large uploads: request bodies are
// then streamed to disk and never held in memory. A Sandbox started again on
// the same directory finds every live token (with its expiry) and every
// video, complete or partial, where it was: a partial upload can go on.
// Files are written under a temporary name, synced and renamed, so a crash
// loses at most the request in flight. Without WithDataDir nothing is
// written to disk.
//
// The directory is locked while the Sandbox runs (until [Sandbox.Close] or
// the end of the process): [New] on a directory another Sandbox holds
// returns a [*DataDirInUseError]. What New cannot read there (a corrupt
// video.json or token file) it moves to the directory's quarantine/ folder,
// logging the path and the reason, and starts: it deletes no received byte.
// Directories it writes are 0700 and files 0600; token files are named by
// the token's SHA-256 (files named by the token itself, as older sandboxes
// wrote them, are renamed at start).
func WithDataDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("sandbox: WithDataDir: empty directory")
		}
		c.dataDir = dir
		return nil
	}
}

// WithMemoryBudget caps the uploaded bytes a Sandbox without [WithDataDir]
// holds in memory, videos and uploads in flight together; the default is
// [DefaultMemoryBudget]. An upload that would go past it is refused with 507
// Insufficient Storage, and what it had sent is freed. Stored bytes cost their
// size: a budget of 1 GiB holds about 1 GiB of videos.
func WithMemoryBudget(bytes int64) Option {
	return func(c *config) error {
		if bytes <= 0 {
			return fmt.Errorf("sandbox: WithMemoryBudget: budget must be positive, got %d", bytes)
		}
		c.budget = bytes
		return nil
	}
}

// WithBodyIdleTimeout ends a request whose body sends no byte for d: an
// upload gets 408 and its connection is closed. The default is
// [DefaultBodyIdleTimeout]. It needs a server that lets the handler set read
// deadlines, as net/http's does.
func WithBodyIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("sandbox: WithBodyIdleTimeout: timeout must be positive, got %v", d)
		}
		c.bodyIdle = d
		return nil
	}
}

// WithMaxConnections caps the connections a server from [Start] serves at
// once; the default is [DefaultMaxConnections]. Further clients wait to be
// accepted until a connection closes. Slow or stalled uploads cannot hold
// more than n connections (and their files), so the process never runs out
// of file descriptors. A bare [Sandbox] used as a handler ignores it.
func WithMaxConnections(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("sandbox: WithMaxConnections: need at least one connection, got %d", n)
		}
		c.maxConns = n
		return nil
	}
}

// WithRateLimits enforces per-minute request limits per category; without it
// no request is refused for its rate, though the headers are still sent.
func WithRateLimits(l RateLimits) Option {
	return func(c *config) error {
		if l.Upload <= 0 || l.Write <= 0 || l.Read <= 0 {
			return fmt.Errorf("sandbox: WithRateLimits: every limit must be positive, got %+v", l)
		}
		c.limits = &l
		return nil
	}
}

// WithFaults scripts faults from the start; see [Sandbox.AddFaults].
func WithFaults(f ...Fault) Option {
	return func(c *config) error {
		for _, x := range f {
			if err := x.validate(); err != nil {
				return err
			}
		}
		c.faults = append(c.faults, f...)
		return nil
	}
}

// WithLogger logs each request and each injected fault to l. The default
// discards logs. Upload tokens and API keys never reach l: they are replaced
// by REDACTED in every message and attribute.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sandbox: WithLogger: nil logger")
		}
		c.logger = l
		return nil
	}
}

// Sandbox is the local delegated-upload server. It implements [http.Handler]
// and is safe for concurrent use. Create one with [New].
type Sandbox struct {
	cfg     config
	handler http.Handler
	store   storage
	disk    *dirStorage // nil without a data directory
	lock    *dirLock    // the data directory's lock, nil without one
	limiter *rateLimiter
	stats   *statsRecorder
	faults  *faultTable
	bearer  bearerTokens
	lint    lintRecorder

	mu     sync.Mutex
	tokens map[string]*tokenRecord
	videos map[string]*video
	order  []string // video ids in creation order
	seq    int64    // the creation number of the newest video
}

// New returns a Sandbox configured by opts.
func New(opts ...Option) (*Sandbox, error) {
	cfg := config{now: time.Now, budget: DefaultMemoryBudget, bodyIdle: DefaultBodyIdleTimeout, maxConns: DefaultMaxConnections}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if len(cfg.apiKeys) == 0 {
		cfg.apiKeys = []string{DefaultAPIKey}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	cfg.logger = slog.New(newRedactingHandler(cfg.logger.Handler(), cfg.apiKeys))
	s := &Sandbox{
		cfg:     cfg,
		limiter: newRateLimiter(cfg.limits, cfg.now),
		stats:   newStatsRecorder(),
		faults:  &faultTable{counts: map[string]int{}},
		tokens:  map[string]*tokenRecord{},
		videos:  map[string]*video{},
	}
	s.faults.add(cfg.faults...)
	if cfg.dataDir != "" {
		if err := os.MkdirAll(cfg.dataDir, dirPerm); err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		lock, err := lockDataDir(cfg.dataDir)
		if err != nil {
			return nil, err
		}
		ds, err := newDirStorage(cfg.dataDir, cfg.logger)
		if err != nil {
			_ = lock.release()
			return nil, err
		}
		tokens, videos, err := ds.load(cfg.now())
		if err != nil {
			_ = lock.release()
			return nil, err
		}
		s.lock = lock
		s.tokens = tokens
		for _, v := range videos {
			s.videos[v.id] = v
			s.order = append(s.order, v.id)
			s.seq = max(s.seq, v.seq)
		}
		s.store, s.disk = ds, ds
	} else {
		s.store = newMemStorage(cfg.budget)
	}
	strict := gen.NewStrictHandlerWithOptions(&api{s: s}, nil, gen.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  s.requestError,
		ResponseErrorHandlerFunc: s.responseError,
	})
	s.handler = gen.HandlerWithOptions(strict, gen.StdHTTPServerOptions{
		BaseRouter:       http.NewServeMux(),
		ErrorHandlerFunc: s.paramError,
	})
	return s, nil
}

// Close releases the lock a Sandbox with [WithDataDir] holds on its
// directory, so that another Sandbox may use it; [Server.Close] and
// [Server.Shutdown] call it. The Sandbox must not serve requests after it.
// The lock is the operating system's: it also ends with the process.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.lock.release()
	s.lock = nil
	return err
}

// AddFaults scripts more faults at run time. Request numbers count every
// request to a route since the Sandbox was created, so a fault for a request
// already served never fires. The first matching fault applies.
func (s *Sandbox) AddFaults(f ...Fault) {
	s.faults.add(f...)
}

// ClearFaults removes every scripted fault.
func (s *Sandbox) ClearFaults() {
	s.faults.clear()
}

// ServeHTTP serves the five API operations, the two authentication routes
// and the /_sandbox/ inspection routes, and answers CORS preflights.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveCORS(w, r) {
		return
	}
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.serveInspection(w, r)
		return
	}
	if s.servePlayer(w, r) {
		return
	}
	op, allowed := routeOf(r.Method, r.URL.Path)
	if op == "" {
		cat := catWrite
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			cat = catRead
		}
		s.limiter.peek(cat).setHeaders(w.Header())
		if allowed != "" {
			w.Header().Set("Allow", allowed)
			writeProblem(w, http.StatusMethodNotAllowed, problem{
				Type:   typeBase + "method-not-allowed",
				Title:  "The request method is not allowed on this resource.",
				Detail: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allowed),
			})
			return
		}
		writeProblem(w, http.StatusNotFound, problem{
			Type:  typeBase + "resource-not-found",
			Title: "The requested resource was not found.",
		})
		return
	}

	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &idleBody{body: r.Body, rc: http.NewResponseController(w), timeout: s.cfg.bodyIdle}
	}
	rec := &recorder{ResponseWriter: w, onStatus: func(status int) { s.stats.record(op, status) }}
	defer func() {
		rec.settle()
		s.cfg.logger.Debug("sandbox request", "op", op, "method", r.Method, "path", redactPath(r.URL.Path), "status", rec.statusOrCut())
	}()

	r = r.WithContext(context.WithValue(r.Context(), lintClientKey{}, clientOf(r)))
	n, fault, ok := s.faults.match(op, r)
	if ok {
		s.cfg.logger.Info("sandbox fault", "op", op, "request", n, "fault", fault.String())
		if s.applyFault(rec, r, op, fault) {
			return
		}
	}

	s.serveAPI(rec, r, op)
}

// serveAPI applies the rate limit and the credentials check, then serves the
// operation.
func (s *Sandbox) serveAPI(rec *recorder, r *http.Request, op string) {
	lim := s.limiter.take(categoryOf(op))
	lim.setHeaders(rec.Header())
	if lim.exceeded {
		drainBody(r)
		writeTooManyRequests(rec)
		return
	}

	switch op {
	case OpAuthenticate, OpRefreshToken:
		// The body holds the credential.
	case OpUploadWithUploadToken:
		if q := r.URL.Query(); q.Has("token") {
			if p, ok := s.checkUploadTokenParam(q.Get("token")); !ok {
				drainBody(r)
				writeProblem(rec, http.StatusUnauthorized, s.lintUploadCredential(r, q.Get("token"), p))
				return
			}
		}
	default:
		if p, ok := s.checkAPIKey(r); !ok {
			writeProblem(rec, http.StatusUnauthorized, s.lintAPIKeyCredential(r, p))
			return
		}
	}

	if s.cfg.baseURL == "" {
		r = r.WithContext(context.WithValue(r.Context(), baseURLKey{}, requestBase(r)))
	}
	s.handler.ServeHTTP(rec, r)
	if op == OpUploadWithUploadToken {
		// Send the answer, then read some of what the handler left of the
		// body, so that the client reads the answer before the connection
		// closes instead of a reset.
		if !rec.swallow {
			_ = http.NewResponseController(rec).Flush()
		}
		drainBody(r)
	}
}

// maxDrain is how many bytes of a refused request's body are read and
// discarded, at most, before the connection is closed: enough for a client
// to read the answer, too little for a body the sandbox refused to cost much.
const maxDrain = 4 << 20

// drainBody reads and discards at most maxDrain more bytes of the request
// body. If more remain, the server closes the connection after the answer.
func drainBody(r *http.Request) {
	if r.Body != nil {
		_, _ = io.CopyN(io.Discard, r.Body, maxDrain)
	}
}

// routeOf maps a request to its operationId. When the path exists but the
// method does not, op is empty and allowed lists the methods. The table is
// the one the client uses, read from the generated server's routes.
func routeOf(method, path string) (op, allowed string) {
	return route.Of(method, path)
}

// recorder remembers the status a handler wrote, and can swallow the whole
// response (for FaultCommitThenCut). It reports the status the client will
// see through onStatus exactly once, before the client can see it, so that
// Stats read right after a response (or a cut) already counts that request.
type recorder struct {
	http.ResponseWriter
	status   int
	swallow  bool
	cut      bool
	hdr      http.Header
	onStatus func(status int)
	settled  bool
}

// settle reports the outcome through onStatus, once.
func (rw *recorder) settle() {
	if !rw.settled {
		rw.settled = true
		rw.onStatus(rw.statusOrCut())
	}
}

func (rw *recorder) Header() http.Header {
	if rw.swallow {
		if rw.hdr == nil {
			rw.hdr = http.Header{}
		}
		return rw.hdr
	}
	return rw.ResponseWriter.Header()
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	if !rw.swallow {
		rw.settle()
		rw.ResponseWriter.WriteHeader(code)
	}
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.swallow {
		return len(p), nil
	}
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// statusOrCut returns the status the client saw, or 0 when the connection was
// cut without a response.
func (rw *recorder) statusOrCut() int {
	if rw.cut {
		return 0
	}
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}

// randomID returns prefix followed by n random alphanumerics.
func randomID(prefix string, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	buf := make([]byte, n*2)
	i := 0
	for i < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		for _, c := range buf {
			// 248 = 4*62: reject the tail to keep the distribution uniform.
			if c < 248 && i < n {
				b[i] = alphabet[int(c)%62]
				i++
			}
		}
	}
	return prefix + string(b)
}

// serveInspection answers GET /_sandbox/videos, GET /_sandbox/stats and
// GET /_sandbox/lint.
func (s *Sandbox) serveInspection(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeProblem(w, http.StatusMethodNotAllowed, problem{Type: typeBase + "method-not-allowed", Title: "The request method is not allowed on this resource."})
		return
	}
	var body any
	switch r.URL.Path {
	case "/_sandbox/videos":
		body = s.Videos()
	case "/_sandbox/stats":
		body = s.Stats()
	case "/_sandbox/lint":
		body = s.Lint()
	default:
		writeProblem(w, http.StatusNotFound, problem{Type: typeBase + "resource-not-found", Title: "The requested resource was not found."})
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// writeJSON writes v as an application/json answer, outside the strict
// handlers (which return writeModel's error instead).
func writeJSON(w http.ResponseWriter, status int, v any) {
	_ = writeModel(w, status, v)
}

// tempDirFor returns the spool directory of a data directory.
func tempDirFor(dataDir string) string { return filepath.Join(dataDir, "tmp") }

// requestBase is the URL the client reached the sandbox at, for the asset
// links of its answers: the scheme and Host of the request, and the path
// prefix a mux stripped before handing it over (http.StripPrefix leaves
// RequestURI as the client sent it), so that a link the client follows
// comes back to this sandbox.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if sent, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasPrefix(sent, "/") {
		if p, ok := strings.CutSuffix(sent, r.URL.EscapedPath()); ok {
			prefix = strings.TrimSuffix(p, "/")
		}
	}
	return scheme + "://" + r.Host + prefix
}
