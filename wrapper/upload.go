package wrapper

import (
	"context"
	"fmt"
	"log/slog"
	"mime/multipart"
	"time"
)

// Chunk sizes and the API's limits on uploads.
const (
	// DefaultChunkSize is the chunk size Upload uses unless told otherwise: 50 MiB.
	DefaultChunkSize int64 = 50 << 20
	// MinChunkSize is the smallest chunk size Upload accepts, 5 MiB: every
	// chunk but the last must hold at least this much.
	MinChunkSize int64 = 5 << 20
	// MaxChunkSize is the largest chunk size Upload accepts, 128 MiB.
	MaxChunkSize int64 = 128 << 20
	// MaxConcurrency is the most chunks Upload sends at once.
	MaxConcurrency = 64
	// DefaultStallTimeout is how long a chunk may make no progress before it
	// is aborted and retried, unless UploadOptions.StallTimeout says otherwise.
	DefaultStallTimeout = 2 * time.Minute

	maxParts     = 10000       // the most chunks one video takes
	maxTotalSize = 52428800000 // the most bytes one video takes
)

// The default number of chunks in flight after the first, when
// UploadOptions.Concurrency is 0. They come from the measurements in
// docs/PERFORMANCE.md: on loopback, 2 and 4 chunks at once go faster than one
// request holding the whole file, where 1 stays below it; across a link
// with latency, each chunk's round trips are hidden by the others in
// flight, on connections of their own (see UploadOptions.HTTP2). A stream
// holds each chunk in flight in a buffer, so its default is lower.
const (
	// DefaultConcurrency is how many chunks go at once at the start from a
	// seekable source (File, OSFile, ReaderAt), read straight into each
	// request: memory does not grow with it.
	DefaultConcurrency = 4
	// DefaultMaxConcurrency is the most a seekable source's chunks in
	// flight grow to by default, while each more sends more (see
	// UploadOptions.Concurrency).
	DefaultMaxConcurrency = 8
	// DefaultStreamConcurrency is the default for a Reader, which holds
	// Concurrency+1 chunk-sized buffers: 150 MiB with 50 MiB chunks. It
	// does not grow by default.
	DefaultStreamConcurrency = 2
)

// UploadOptions tunes Upload. The zero value (or a nil pointer) uploads
// in chunks the library sizes for the source, DefaultConcurrency of them in
// flight at once from a seekable source (growing up to
// DefaultMaxConcurrency while that sends more) and DefaultStreamConcurrency
// from a Reader, each on an HTTP/1.1 connection of its own, with the
// client's retry policy and no resume store.
type UploadOptions struct {
	// ChunkSize is the size of every chunk but the first and the last,
	// between MinChunkSize and MaxChunkSize. A source of at most ChunkSize
	// bytes goes whole, in one request. The first chunk goes alone, as its
	// answer names the video the others add to: when Concurrency is above
	// 1 it is MinChunkSize, so that the others start sooner, else
	// ChunkSize too.
	//
	// When 0, the library chooses, so that the chunks in flight stay busy
	// to the end:
	//   - a source of at most DefaultChunkSize (50 MiB) goes whole, in one
	//     request;
	//   - a larger one goes in a first chunk of MinChunkSize, then equal
	//     chunks of at most DefaultChunkSize (multiples of 4 KiB, the last
	//     taking what is left), as many as a multiple of the concurrency
	//     the upload starts at (see Concurrency), so that they go in waves that
	//     start and end together and the last is no lone chunk: 100 MiB
	//     goes as 5 MiB, then 4 chunks of 23.75 MiB; 1 GiB as 5 MiB, then
	//     24 chunks of about 42.5 MiB. With Concurrency 1, the chunks are
	//     equal from the first;
	//   - a Reader of unknown length goes in chunks of DefaultChunkSize.
	//
	// A resumed upload keeps the layout it was saved with.
	ChunkSize int64
	// Concurrency is the most chunks in flight at once after the first,
	// which always goes alone: at most MaxConcurrency. When 0, it is
	// DefaultMaxConcurrency for a seekable source (File, OSFile,
	// ReaderAt) and DefaultStreamConcurrency for a Reader, each of whose
	// chunks in flight is a chunk-sized buffer.
	//
	// The upload starts with DefaultConcurrency chunks at once
	// (DefaultStreamConcurrency from a Reader), or Concurrency when it is
	// lower, and adapts within [1, Concurrency]:
	//   - while chunks are left to start, each level is measured: the
	//     bytes sent over 2 seconds, from 1 second after it began (new
	//     connections first fill their socket buffers, which is no pace).
	//     The first level is kept, and each next one while it sends at
	//     least 10% more than the one below. One chunk in flight is then
	//     added, its connection opened before the chunk needs it, unless
	//     what is left would be sent, at the current pace, before the new
	//     level could be measured (3 seconds);
	//   - a level that sends less than 10% more goes back to the one below,
	//     and the upload stays there;
	//   - when the server pushes back (a retry after a 429, a 5xx, a
	//     failure to answer or a stall, or a chunk three times slower than
	//     the fastest at its level), one chunk fewer is in flight, at most
	//     once every 2 seconds, and the upload never adds one again.
	// Set Concurrency to DefaultConcurrency, or any value at most that, to
	// keep it fixed.
	Concurrency int
	// HTTP2 multiplexes the chunks over one HTTP/2 connection when the
	// server offers HTTP/2. By default each chunk in flight has an HTTP/1.1
	// connection of its own, kept alive for the next chunks: across a link
	// with latency, HTTP/2 shares one flow-control window among all the
	// chunks of its connection, and a server's window (1 MiB per round trip
	// for Go's) caps the upload far below what parallel connections reach,
	// whatever the concurrency (see docs/PERFORMANCE.md). Token calls use
	// HTTP/2 whenever the server offers it. With a transport given through
	// WithHTTPClient that is not an *http.Transport, chunks go as that
	// transport sends them, and HTTP2 changes nothing.
	HTTP2 bool
	// VideoID continues an existing video instead of creating one: every
	// chunk carries it. Such a video may hold bytes other uploads sent, so
	// a chunk the server says it already holds never counts as
	// acknowledged, even when an earlier try of it got no answer: the upload
	// fails with ErrRangeTaken, overwriting nothing. (Into a video the
	// upload made itself, that answer counts for a chunk it sent before: an
	// earlier attempt in this run, or an earlier run whose state in Store
	// records it.) A chunk the server acknowledged, as recorded in Store,
	// is never sent again.
	VideoID string
	// FileName is the file name sent with the video: by default the base
	// name of a file source, or "video".
	FileName string
	// Progress, when set, is told how far the upload got (see
	// UploadProgress): at least every ProgressInterval while bytes move, and
	// whenever a chunk is acknowledged. It is called from one goroutine at a
	// time, never with a smaller Acked or Sent than before, and last with
	// Acked == Sent == Total when the upload succeeds. Calls are coalesced: a
	// slow function misses intermediate counts but never slows the
	// transfer. Upload returns only after the last call returned.
	Progress func(UploadProgress)
	// Store, when set, remembers the acknowledged chunks, each with the
	// source's SHA-256 from its start through the chunk, so that a later Upload of the same source to the
	// same API base URL, with the same store and any token, goes on where
	// this one stopped. Each chunk is also recorded as being sent, state
	// saved, before its first byte goes (UploadState.Sending): a later
	// Upload believes the API's saying it holds a chunk's range already
	// only for a chunk so recorded, or acknowledged, with the same bytes. Before going on, a seekable source is read again up
	// to its last acknowledged chunk and checked: if it differs the upload
	// starts over as a new video (see OnState); a stream's acknowledged
	// chunks are checked as they are read, and the first difference fails
	// the upload with ErrSourceChanged before anything else is sent. A
	// seekable source found changed while it was being sent fails the
	// upload with ErrSourceChanged and its state is deleted. If the API refuses the
	// saved video (it expired, or the new token may not add to it), a
	// seekable source starts over as a new video. A state that cannot be
	// read, or that belongs to another source or video, fails the upload
	// with ErrStateConflict before anything is sent, unless Restart is set.
	// The state is deleted when the upload succeeds.
	Store ResumeStore
	// Restart ignores any state saved in Store for this upload and starts a
	// new video; the new state replaces the old one.
	Restart bool
	// IgnoreStoreErrors lets the upload go on when its state cannot be
	// saved in Store (a full disk, a read-only directory); OnState is told.
	// By default such a failure stops the upload with ErrStateNotSaved, so
	// that chunks are never sent without a way to resume them.
	IgnoreStoreErrors bool
	// OnState, when set, is told what Upload does with Store: resuming a
	// saved video, starting over, failing to save (see StateEvent). It is
	// called from the goroutine that made the decision, before the upload
	// goes on.
	OnState func(StateEvent)
	// Retry is the policy for each chunk; the client's policy when nil.
	// Connection errors, stalls, 408, 429 and 5xx answers are retried,
	// resending the same bytes and range, by the loop every call goes
	// through (see RetryPolicy).
	Retry *RetryPolicy
	// StallTimeout aborts and retries a chunk that sends no byte and gets no
	// answer for this long, or whose answer is not whole within it (see
	// ErrStalled): DefaultStallTimeout when 0, never when negative.
	StallTimeout time.Duration
}

// UploadResult is the outcome of a successful Upload.
type UploadResult struct {
	// Video is the uploaded video, as the last acknowledged chunk's answer
	// described it.
	Video Video
	// Size is the number of bytes uploaded, resumed chunks included.
	Size int64
	// SHA256 is the hex SHA-256 of the bytes the API acknowledged, in
	// order: the source as hashed in order, every chunk this run sent
	// checked to be what was hashed, and those an earlier run sent checked
	// against their saved hashes. Upload fails with ErrSourceChanged rather
	// than report the hash of a file that changed while it was being sent.
	SHA256 string
	// ChunkSize is the chunk size used: a resumed upload keeps the saved one.
	ChunkSize int64
	// Chunks is the number of chunks the video was sent in (1 for a whole upload).
	Chunks int
	// ResumedChunks is how many of them an earlier run had sent, and
	// ResumedBytes their bytes.
	ResumedChunks int
	ResumedBytes  int64
}

// ProgressInterval is the longest time between two calls of
// UploadOptions.Progress while bytes move.
const ProgressInterval = 250 * time.Millisecond

// UploadProgress is how far an upload got. The zero value is an upload
// that has sent nothing.
type UploadProgress struct {
	// Acked is the number of bytes the API acknowledged, chunks of an
	// earlier run included.
	Acked int64
	// Sent is Acked plus the bytes of the chunks in flight: read into a
	// request, not yet acknowledged. A chunk sent again after a failure
	// does not take Sent back: it holds until the new attempt passes the
	// old one.
	Sent int64
	// Total is the source's size, or -1 while a stream's length is unknown.
	Total int64
	// Pending is the number of chunks in flight: read, in part or whole,
	// into a request that is not answered yet. With Sent == Total and
	// Pending > 0, every byte is sent and the upload waits for the API to
	// acknowledge Pending chunks. A chunk waiting to be sent again after a
	// failed attempt is not counted; the last call has Pending == 0.
	Pending int
}

// normalize applies the defaults and checks the values.
func (o *UploadOptions) normalize() error {
	switch {
	case o.ChunkSize == 0:
		// The layout's to choose (see autoLayout).
	case o.ChunkSize < MinChunkSize || o.ChunkSize > MaxChunkSize:
		return invalidInput("chunk size %d is outside [%d, %d] (5 MiB to 128 MiB)", o.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	// A Concurrency of 0 stays 0 until the source is known (see
	// defaultConcurrency).
	if o.Concurrency < 0 || o.Concurrency > MaxConcurrency {
		return invalidInput("concurrency %d is outside [1, %d]", o.Concurrency, MaxConcurrency)
	}
	switch {
	case o.StallTimeout == 0:
		o.StallTimeout = DefaultStallTimeout
	case o.StallTimeout < 0:
		o.StallTimeout = 0
	}
	if o.Retry != nil {
		if err := o.Retry.validate(); err != nil {
			return err
		}
	}
	return nil
}

// Upload sends src to the API with the upload token and returns the video
// it made. A source of at most ChunkSize bytes goes in one request; a larger
// one in chunks, the first alone (MinChunkSize bytes when others go at once
// after it) and the rest Concurrency at a time
// (DefaultConcurrency from a seekable source, DefaultStreamConcurrency from
// a Reader, unless told otherwise), each carrying the video id the first one
// got, each on an HTTP/1.1 connection of its own unless
// UploadOptions.HTTP2. Seekable sources (File, OSFile, ReaderAt) are
// streamed from the source into each request without chunk-sized copies; a
// Reader goes through at most Concurrency+1 chunk-sized buffers. The
// source's SHA-256 is computed along the way.
//
// Each chunk is retried on its own (see UploadOptions.Retry). With a Store,
// every acknowledged chunk is remembered with the source's SHA-256 through
// it, and a later call checks and skips them; see UploadOptions.Store for what a resume checks
// and when it starts over.
//
// An empty source, a chunk size out of bounds or a source beyond the API's
// limits (10,000 chunks, 52,428,800,000 bytes) is refused with
// ErrInvalidInput before any request; a context already done or a source
// that cannot be opened is returned as it is. Any later failure,
// cancellation included, is an *UploadError holding the state to resume
// from; it wraps the cause (ctx.Err() when ctx ended, an *APIError when the
// API refused a chunk, ErrRangeTaken when it refused one because it holds
// bytes in its range this upload did not send, ErrVideoChanged,
// ErrStateConflict, ErrSourceChanged, ErrStateNotSaved). A chunk counts as
// acknowledged only from a 2xx answer that is a JSON object naming the
// video: any other 2xx (an HTML page, an empty body, {}) is retried, then
// fails the upload. opts may be nil.
func (c *Client) Upload(ctx context.Context, token string, src Source, opts *UploadOptions) (*UploadResult, error) {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, invalidInput("upload token is empty")
	}
	if err := c.checkTokenScheme(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, invalidInput("source is nil")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := src.open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.close() }()
	if s.size == 0 {
		return nil, invalidInput("the source is empty: there is nothing to upload")
	}
	if s.size > maxTotalSize {
		return nil, invalidInput("the source holds %d bytes, above the API's limit of %d", s.size, int64(maxTotalSize))
	}
	start := defaultConcurrency(s)
	if o.Concurrency == 0 {
		o.Concurrency = defaultCeiling(s)
	}
	name := o.FileName
	if name == "" {
		name = s.name
	}
	policy := c.retry
	if o.Retry != nil {
		policy = *o.Retry
	}
	mw := multipart.NewWriter(nil)
	u := &upload{
		c:        c,
		token:    token,
		opts:     o,
		policy:   policy,
		src:      s,
		fileName: name,
		boundary: mw.Boundary(),
		log:      c.logger,
		start:    min(start, o.Concurrency),
	}
	u.contentType = mw.FormDataContentType()
	u.source = s.identity
	switch {
	case u.source != "":
	case s.at != nil:
		u.source = "reader:" + name
	default:
		u.source = "stream:" + name
	}
	u.key = ResumeKey(c.baseURL, u.source)
	u.prog = newProgress(o.Progress)
	defer u.prog.close()
	return u.runTraced(ctx)
}

// defaultConcurrency is how many chunks go at once after the first from
// s at the start.
func defaultConcurrency(s *openSource) int {
	if s.at != nil {
		return DefaultConcurrency
	}
	return DefaultStreamConcurrency
}

// defaultCeiling is UploadOptions.Concurrency's default for s: the most
// chunks in flight the adaptive rule may go up to.
func defaultCeiling(s *openSource) int {
	if s.at != nil {
		return DefaultMaxConcurrency
	}
	return DefaultStreamConcurrency
}

// upload is one call of Upload: what every pass of it shares (see
// upload.run). What one pass works with lives in the pass.
type upload struct {
	c           *Client
	token       string
	opts        UploadOptions
	policy      RetryPolicy
	src         *openSource
	fileName    string
	boundary    string
	contentType string
	source      string // the source's identity, UploadState.Source
	key         string // the state's key in the store
	log         *slog.Logger
	prog        *progress // shared by the passes, so that it never goes back
	// start is how many chunks go at once after the first at the start of
	// the pump; opts.Concurrency is the most they may grow to (see adaptive).
	start int
}

// ackSet is a growable set of chunk indexes.
type ackSet []bool

func (a ackSet) has(i int) bool { return i < len(a) && a[i] }

// count is the number of indexes in a.
func (a ackSet) count() int {
	n := 0
	for _, ok := range a {
		if ok {
			n++
		}
	}
	return n
}

func (a *ackSet) add(i int) {
	for len(*a) <= i {
		*a = append(*a, false)
	}
	(*a)[i] = true
}

// interrupted wraps the end of ctx so that errors.Is(err, ctx.Err()) holds.
func interrupted(ctx context.Context) error {
	return fmt.Errorf("avupload: upload interrupted: %w", ctx.Err())
}
