package wrapper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/avupload/avupload/gen"
)

// send uploads one chunk, retrying it as the policy allows, through the
// client's one retry loop. It returns the API's answer naming the video, or
// a nil video and no error when the API says it already holds exactly the
// chunk's range and this upload sent that range before (see landedBefore).
func (p *pass) send(ctx context.Context, ch *chunk, videoID string) (*videoAnswer, error) {
	u := p.u
	var retried func(Event)
	if p.gate != nil {
		retried = func(Event) { p.gate.pushBack() } // the server asks for less
	}
	v, attempts, err := u.sendChunk(ctx, ch, videoID, retried)
	if err == nil {
		return v, nil
	}
	if ctx.Err() == nil && videoID != "" {
		if held := heldByAPI(err, ch); held != heldNot {
			err = p.landedBefore(ctx, ch, videoID, held, attempts, err)
			if errors.Is(err, ErrRangeTaken) {
				// The video holds bytes this upload did not send: no
				// later run may go on with it, nor trust a record of it.
				p.mu.Lock()
				if u.opts.Store != nil && p.stored {
					err = p.discard(ctx, err, "bytes this upload did not send")
				}
				p.state = nil
				p.mu.Unlock()
			}
			return nil, err
		}
	}
	if ctx.Err() == nil && refused(err) {
		// The API answered and kept nothing of the chunk: the record of
		// its sending no longer stands for bytes that may have landed.
		// Once ctx ended, err may be another chunk's refusal, the cause
		// this request was cut off by, after its bytes landed.
		if serr := p.unsend(ctx, ch); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	var opErr *OpError
	var ua *unexpectedAnswer
	if errors.As(err, &opErr) && !errors.As(err, &ua) && !errors.Is(err, ErrSourceChanged) {
		opErr.Err = fmt.Errorf("chunk %d: %w", ch.index, opErr.Err)
	}
	return nil, err
}

// refused reports whether err is the API refusing a request: a 4xx
// answer, after which the request's bytes are not stored. A 5xx may come
// from a proxy after the API stored them, and no answer says nothing.
func refused(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode <= 499
}

// sourceShort returns the error of a chunk whose last request found the
// source ending before the chunk's end, nil for any other: the file shrank
// while it was being uploaded.
func (u *upload) sourceShort(ch *chunk) error {
	if !ch.ranShort() {
		return nil
	}
	if err := u.src.resized(); err != nil {
		return err
	}
	return fmt.Errorf("%w: the source ended inside chunk %d (bytes %d to %d) while it was being uploaded",
		ErrSourceChanged, ch.index, ch.off, ch.off+ch.n-1)
}

// ErrRangeTaken is matched by errors.Is when the API refuses a chunk
// because it already holds bytes in the chunk's range of the video (a range
// overlapping it, the same part, or the whole video, complete), and this
// upload cannot show that they are its own: the video is not one the upload
// made (UploadOptions.VideoID), or no earlier attempt of this run sent that
// exact range and the saved state does not record it as sent or
// acknowledged. Nothing was overwritten, and the upload stops rather than
// count bytes it cannot vouch for. It comes typically of
// UploadOptions.VideoID naming a video that another upload filled; the
// error wraps the API's *APIError.
var ErrRangeTaken = errors.New("avupload: the video already holds other bytes in this range")

// heldKind is what an API refusal says about a chunk's range.
type heldKind int

const (
	heldNot      heldKind = iota // not a refusal of a range already held
	heldExact                    // the API holds exactly the chunk's range, or part
	heldComplete                 // the video is complete: it takes no more bytes
	heldOverlap                  // the API holds a range overlapping the chunk's, not the same
	heldUnnamed                  // the API holds a range overlapping the chunk's, without naming it
)

// Texts in the API's refusals of a range or part already received, and the
// specifics its detail gives.
var (
	receivedRange = regexp.MustCompile(`range (\d+)-(\d+) already received`)
	receivedPart  = regexp.MustCompile(`part (\d+) was already received`)
)

// heldByAPI says whether err is the API refusing ch because it holds bytes
// in ch's range already. This is the one place that decides it, and it can
// only do so from the API's title and detail texts (see "Error texts" in
// the API facts): the API gives these refusals no code of their own. An
// overlap counts as exactly ch's range only when the detail names the
// range received and it is ch's, bound for bound; a part collision only
// when the detail names ch's part.
func heldByAPI(err error, ch *chunk) heldKind {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		return heldNot
	}
	title := strings.ToLower(apiErr.Title)
	switch {
	case strings.Contains(title, "already been uploaded"):
		return heldComplete
	case ch.whole:
		return heldNot
	case !ch.rng.byPart && strings.Contains(title, "overlap"):
		m := receivedRange.FindStringSubmatch(apiErr.Detail)
		switch {
		case m == nil:
			return heldUnnamed
		case m[1] == strconv.FormatInt(ch.rng.from, 10) && m[2] == strconv.FormatInt(ch.rng.to, 10):
			return heldExact
		}
		return heldOverlap
	case ch.rng.byPart && strings.Contains(title, "collide"):
		m := receivedPart.FindStringSubmatch(apiErr.Detail)
		switch {
		case m == nil:
			return heldUnnamed
		case m[1] == strconv.Itoa(ch.rng.part):
			return heldExact
		}
		return heldOverlap
	}
	return heldNot
}

// landedBefore decides what to make of the API's saying that it holds
// bytes in ch's range already (held, from the refusal err after attempts
// tries): nil, so that the chunk counts as landed, when the API holds
// exactly ch's range of a video this upload made and this upload sent it
// before: an earlier attempt in this run, or an earlier run whose saved
// state records the chunk as sent or acknowledged, with the source's
// SHA-256 through it the same as now.
// Otherwise an error matching ErrRangeTaken (or ErrSourceChanged, when the
// earlier run sent other bytes), which leaves the API's bytes as they are.
func (p *pass) landedBefore(ctx context.Context, ch *chunk, videoID string, held heldKind, attempts int, err error) error {
	u := p.u
	if (held == heldExact || held == heldComplete) && p.madeHere() {
		// Only in a video this upload made: into one it did not, the
		// bytes the API holds may be others', sent before this upload's
		// first try, whose answer it never saw.
		ours := attempts > 1
		if !ours {
			var perr error
			if ours, perr = p.sentBefore(ctx, ch); perr != nil {
				return perr
			}
		}
		if ours {
			u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: chunk already on the server",
				slog.Int("chunk", ch.index), slog.String("range", ch.rng.String()))
			return nil
		}
	}
	what := fmt.Sprintf("chunk %d (%s)", ch.index, ch.rng)
	if ch.whole {
		what = "the file"
	}
	var why string
	switch held {
	case heldComplete:
		why = fmt.Sprintf("video %s is complete already, with bytes this upload did not send", videoID)
	case heldExact:
		why = fmt.Sprintf("video %s already holds that range, with bytes this upload did not send", videoID)
	case heldOverlap:
		why = fmt.Sprintf("video %s already holds another range overlapping it", videoID)
	default:
		why = fmt.Sprintf("video %s already holds a range overlapping it, and the API does not say which, so nothing says the bytes it holds are these", videoID)
	}
	return &rangeTakenError{msg: fmt.Sprintf("avupload: the API refused %s: %s; nothing was overwritten", what, why), api: err}
}

// rangeTakenError is the refusal landedBefore returns: its text says what
// the video holds in words; it matches ErrRangeTaken and wraps the API's
// own refusal, whose title is the API's and not repeated here.
type rangeTakenError struct {
	msg string
	api error
}

func (e *rangeTakenError) Error() string   { return e.msg }
func (e *rangeTakenError) Unwrap() []error { return []error{ErrRangeTaken, e.api} }

// madeHere reports whether the video the chunks go to was made by this
// upload's first chunk, in this run or in the earlier one the state records.
func (p *pass) madeHere() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state != nil && p.state.VideoMade
}

// sentBefore reports whether the saved state this upload resumed records ch
// as sent or acknowledged by an earlier run. The record's SHA-256 of the
// source through the chunk must be the source's now: when it is not, the
// earlier run sent other bytes, and that is ErrSourceChanged.
func (p *pass) sentBefore(ctx context.Context, ch *chunk) (bool, error) {
	rec, ok := p.prior[ch.index]
	if !ok {
		return false, nil
	}
	prefix, err := p.k.prefix(ctx, ch)
	if err != nil {
		return false, err
	}
	if rec.Size != ch.n || rec.PrefixSHA256 != prefix {
		return false, fmt.Errorf("%w: %s, through chunk %d, differ from those an earlier run sent to the video, which holds that chunk's range: nothing was overwritten",
			ErrSourceChanged, byteSpan("the source's", 0, ch.off+ch.n), ch.index)
	}
	return true, nil
}

// sendChunk sends ch, through the generated request builder and the
// client's retry loop, and returns the answer and the attempts made. The
// body streams the chunk from its source between a small multipart head and
// tail, with its length known in advance, so that every attempt can send it
// again. Only a 2xx answer that is a JSON object naming the video (any
// video, for the request that makes one) is returned as an answer; any
// other 2xx is an *unexpectedAnswer, retried but for the request that
// makes a new video. retried, when not nil, is told of every retry.
func (u *upload) sendChunk(ctx context.Context, ch *chunk, videoID string, retried func(Event)) (*videoAnswer, int, error) {
	head := u.multipartHead(videoID)
	tail := "\r\n--" + u.boundary + "--\r\n"
	length := int64(len(head)) + ch.n + int64(len(tail))
	newBody := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(head),
			ch.body(), strings.NewReader(tail)))
	}

	params := &gen.UploadWithUploadTokenParams{Token: u.token}
	what := "the file"
	if !ch.whole {
		r := ch.rng.String()
		params.ContentRange = &r
		what = "chunk " + strconv.Itoa(ch.index) + " (" + r + ")"
	}
	req, err := gen.NewUploadWithUploadTokenRequestWithBody(u.c.baseURL+"/", params, u.contentType, newBody())
	if err != nil {
		return nil, 0, &OpError{Op: opUpload, Err: errors.New(redact(err.Error(), u.token))}
	}
	req = req.WithContext(ctx)
	req.ContentLength = length
	req.GetBody = func() (io.ReadCloser, error) { return newBody(), nil }

	hc := u.c.caller.chunks
	if u.opts.HTTP2 {
		hc = u.c.caller.hc
	}
	var v *videoAnswer
	resp, attempts, err := u.c.caller.do(req, call{
		hc: hc, op: opUpload, policy: u.policy, stall: u.opts.StallTimeout,
		attrs: []slog.Attr{slog.Int("chunk", ch.index)}, secrets: []string{u.token},
		check: func(resp *http.Response) error {
			var err error
			v, err = readVideoAnswer(resp, what, videoID)
			return err
		},
		retried: retried,
	})
	if serr := u.sourceShort(ch); serr != nil {
		// The source ended before the chunk did: whatever the transport
		// made of it, the file shrank.
		if resp != nil {
			_ = resp.Body.Close()
		}
		return nil, attempts, serr
	}
	switch {
	case err != nil:
		return nil, attempts, wrapTransportError(opUpload, err, u.token, u.c.apiKey)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, attempts, u.c.decode(opUpload, resp, nil, nil, u.token)
	case v == nil:
		// Every 2xx goes through check; this is for safety's sake.
		_ = resp.Body.Close()
		return nil, attempts, &OpError{Op: opUpload, Err: errors.New("internal error: a 2xx answer was not checked")}
	}
	return v, attempts, nil
}

// multipartHead is the multipart body up to the file's bytes: the videoId
// field first, when there is one, then the file part's header, whose file
// name is escaped by headerFileName.
func (u *upload) multipartHead(videoID string) []byte {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary(u.boundary)
	if videoID != "" {
		_ = w.WriteField("videoId", videoID)
	}
	h := make(textproto.MIMEHeader, 2)
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+headerFileName(u.fileName)+`"`)
	h.Set("Content-Type", "application/octet-stream")
	_, _ = w.CreatePart(h)
	return b.Bytes()
}

// headerFileName makes name fit the quoted file name of a part's
// Content-Disposition header, where it is the one thing of the user's that
// reaches a header: no byte of it goes there as it is unless it may. A
// control character (0x00 to 0x1F, 0x7F: CR and LF would end the header,
// ESC or BEL make it malformed) becomes '_', a byte that is not UTF-8
// becomes U+FFFD, and a quote or a backslash is escaped with a backslash,
// as multipart.Writer.CreateFormFile does. Everything else, non-ASCII
// letters included, is kept, so the title the API makes of it stays
// readable.
func headerFileName(name string) string {
	clean := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return name
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 || r == 0x7f:
			b.WriteByte('_')
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	return b.String()
}
