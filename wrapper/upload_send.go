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
// client's one retry loop. It returns the API's answer, or a nil video and
// no error when a retry found the chunk already on the server (the earlier
// try landed but its answer was lost).
func (u *upload) send(ctx context.Context, ch *chunk, videoID string) (*videoAnswer, error) {
	v, attempts, err := u.sendChunk(ctx, ch, videoID)
	if err == nil {
		return v, nil
	}
	if ctx.Err() == nil && videoID != "" && (attempts > 1 || !u.created) && alreadyReceived(err, ch) {
		u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: chunk already on the server",
			slog.Int("chunk", ch.index), slog.String("range", ch.rng.String()))
		return nil, nil
	}
	var opErr *OpError
	if errors.As(err, &opErr) {
		opErr.Err = fmt.Errorf("chunk %d: %w", ch.index, opErr.Err)
	}
	return nil, err
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

// sendChunk sends ch, through the generated request builder and the
// client's retry loop, and returns the answer and the attempts made. The
// body streams the chunk from its source between a small multipart head and
// tail, with its length known in advance, so that every attempt can send it
// again.
func (u *upload) sendChunk(ctx context.Context, ch *chunk, videoID string) (*videoAnswer, int, error) {
	head := u.multipartHead(videoID)
	tail := "\r\n--" + u.boundary + "--\r\n"
	length := int64(len(head)) + ch.n + int64(len(tail))
	newBody := func() io.ReadCloser {
		return io.NopCloser(io.MultiReader(bytes.NewReader(head),
			ch.body(), strings.NewReader(tail)))
	}

	params := &gen.UploadWithUploadTokenParams{Token: u.token}
	if !ch.whole {
		r := ch.rng.String()
		params.ContentRange = &r
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
	resp, attempts, err := u.c.caller.do(req, call{
		hc: hc, op: opUpload, policy: u.policy, stall: u.opts.StallTimeout,
		attrs: []slog.Attr{slog.Int("chunk", ch.index)}, secrets: []string{u.token},
	})
	var v videoAnswer
	v.raw, err = u.c.decodeRaw(opUpload, resp, err, &v.Video, u.token)
	switch {
	case err == nil:
	case errors.Is(err, errUnreadableAnswer) && videoID != "":
		// The chunk landed; an answer with little or nothing in it is
		// all some chunks get.
		v = videoAnswer{}
	default:
		return nil, attempts, err
	}
	switch {
	case v.VideoID == "" && videoID == "":
		// The video was made, but its id is unknown: retrying would
		// make another.
		return nil, attempts, &OpError{Op: opUpload, Err: fmt.Errorf("%w: the answer holds no videoId", errUnreadableAnswer)}
	case v.VideoID == "":
		v.VideoID = videoID
	case videoID != "" && v.VideoID != videoID:
		// The chunk went to a video other than the one the upload adds
		// to: nothing says where the rest of the video is.
		return nil, attempts, &OpError{Op: opUpload, Err: fmt.Errorf("%w: the answer names video %q, not %q, which the chunks were sent to",
			ErrVideoChanged, redact(v.VideoID, u.token, u.c.apiKey), videoID)}
	}
	return &v, attempts, nil
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
