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
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/avupload/avupload/gen"
)

// send uploads one chunk, retrying it as the policy allows. It returns the
// API's answer, or a nil video and no error when a retry found the chunk
// already on the server (the earlier try landed but its answer was lost).
func (u *upload) send(ctx context.Context, ch *chunk, videoID string) (*gen.Video, error) {
	attempts := u.policy.attempts()
	for attempt := 1; ; attempt++ {
		v, err := u.sendOnce(ctx, ch, videoID)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if videoID != "" && (attempt > 1 || !u.created) && alreadyReceived(err, ch) {
			u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: chunk already on the server",
				slog.Int("chunk", ch.index), slog.String("range", ch.rng.String()))
			return nil, nil
		}
		retry, h := retryableChunkError(ctx, err)
		if !retry || attempt >= attempts {
			return nil, err
		}
		wait := u.policy.backoff(attempt, h)
		u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: retrying chunk", slog.Int("chunk", ch.index),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryableChunkError reports whether a chunk that failed with err may be
// sent again, and the answer's header, whose wait the policy honours just as
// the transport does for every other call.
func retryableChunkError(ctx context.Context, err error) (bool, http.Header) {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return retryableStatus(apiErr.StatusCode), apiErr.header
	}
	if errors.Is(err, errUnreadableAnswer) {
		return false, nil
	}
	if errors.Is(err, errStalled) {
		return true, nil
	}
	var opErr *OpError
	if errors.As(err, &opErr) {
		return retryableError(ctx, opErr.Err), nil
	}
	return false, nil
}

// Texts in the API's refusals of a range or part already received, and the
// specifics its detail gives.
var (
	receivedRange = regexp.MustCompile(`range (\d+)-(\d+) already received`)
	receivedPart  = regexp.MustCompile(`part (\d+) was already received`)
)

// alreadyReceived reports whether err is the API refusing ch because it
// already holds exactly ch's range or part, or because the video is
// complete. When the detail names the range it conflicts with, that range
// must be ch's; when it names none, the title alone decides.
func alreadyReceived(err error, ch *chunk) bool {
	var apiErr *APIError
	if ch.whole || !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		return false
	}
	title := strings.ToLower(apiErr.Title)
	switch {
	case strings.Contains(title, "already been uploaded"):
		// The video is complete: every range, this one included, landed.
		return true
	case !ch.rng.byPart && strings.Contains(title, "overlap"):
		m := receivedRange.FindStringSubmatch(apiErr.Detail)
		if m == nil {
			return true
		}
		return m[1] == strconv.FormatInt(ch.rng.from, 10) && m[2] == strconv.FormatInt(ch.rng.to, 10)
	case ch.rng.byPart && strings.Contains(title, "collide"):
		m := receivedPart.FindStringSubmatch(apiErr.Detail)
		if m == nil {
			return true
		}
		return m[1] == strconv.Itoa(ch.rng.part)
	}
	return false
}

// sendOnce makes one attempt at sending ch, through the generated client.
// The body streams the chunk from its source between a small multipart head
// and tail, with its length known in advance; the stall watchdog cancels
// the attempt when the body stops moving and no answer comes.
func (u *upload) sendOnce(ctx context.Context, ch *chunk, videoID string) (*gen.Video, error) {
	head := u.multipartHead(videoID)
	tail := "\r\n--" + u.boundary + "--\r\n"
	length := int64(len(head)) + ch.n + int64(len(tail))

	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var lastMove atomic.Int64
	lastMove.Store(time.Now().UnixNano())
	newBody := func() io.Reader {
		return &movingReader{r: io.MultiReader(bytes.NewReader(head),
			io.NewSectionReader(ch.data, ch.dataOff, ch.n), strings.NewReader(tail)), last: &lastMove}
	}
	stopWatch := watchStall(u.opts.StallTimeout, &lastMove, cancel)
	defer stopWatch()

	params := &gen.UploadWithUploadTokenParams{Token: u.token}
	if !ch.whole {
		r := ch.rng.String()
		params.ContentRange = &r
	}
	setLength := func(_ context.Context, req *http.Request) error {
		req.ContentLength = length
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(newBody()), nil }
		return nil
	}
	resp, err := u.c.api.UploadWithUploadTokenWithBody(withoutTransportRetry(actx), params, u.contentType, newBody(), setLength)
	var v gen.Video
	err = u.c.decode(opUpload, resp, err, &v, u.token)
	switch {
	case err == nil:
	case errors.Is(err, errUnreadableAnswer) && videoID != "":
		// The chunk landed; an answer with little or nothing in it is
		// all some chunks get.
		v = gen.Video{}
	case ctx.Err() == nil && errors.Is(context.Cause(actx), errStalled):
		return nil, &OpError{Op: opUpload, Err: fmt.Errorf("chunk %d: %w (%s)", ch.index, errStalled, u.opts.StallTimeout)}
	default:
		return nil, err
	}
	if v.VideoID == "" {
		if videoID == "" {
			// The video was made, but its id is unknown: retrying would
			// make another.
			return nil, &OpError{Op: opUpload, Err: fmt.Errorf("%w: the answer holds no videoId", errUnreadableAnswer)}
		}
		v.VideoID = videoID
	}
	return &v, nil
}

// multipartHead is the multipart body up to the file's bytes: the videoId
// field first, when there is one, then the file part's header.
func (u *upload) multipartHead(videoID string) []byte {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary(u.boundary)
	if videoID != "" {
		_ = w.WriteField("videoId", videoID)
	}
	_, _ = w.CreateFormFile("file", u.fileName)
	return b.Bytes()
}

// movingReader records when its reader last gave bytes.
type movingReader struct {
	r    io.Reader
	last *atomic.Int64
}

func (m *movingReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if n > 0 {
		m.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// watchStall cancels with errStalled once last has not moved for timeout;
// timeout 0 watches nothing. The returned function stops the watch.
func watchStall(timeout time.Duration, last *atomic.Int64, cancel context.CancelCauseFunc) func() {
	if timeout <= 0 {
		return func() {}
	}
	var stopped atomic.Bool
	var timer atomic.Pointer[time.Timer]
	check := func() {
		if stopped.Load() {
			return
		}
		idle := time.Since(time.Unix(0, last.Load()))
		if idle >= timeout {
			cancel(errStalled)
			return
		}
		timer.Load().Reset(timeout - idle)
	}
	// Armed far away first, so that check never runs before timer is set.
	timer.Store(time.AfterFunc(time.Hour, check))
	timer.Load().Reset(timeout)
	return func() {
		stopped.Store(true)
		timer.Load().Stop()
	}
}
