package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/avupload/avupload/apitime"
	"github.com/avupload/avupload/gen"
)

// VideoInfo describes a video the sandbox holds.
type VideoInfo struct {
	// VideoID is the video's identifier, "vi" and 22 alphanumerics.
	VideoID string `json:"videoId"`
	// Size is the number of bytes received so far; the video's size once
	// Complete.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the assembled video; empty until Complete.
	// A video sent in chunks is hashed when this is first asked for.
	SHA256 string `json:"sha256"`
	// Complete reports whether every byte or part of the video arrived.
	Complete bool `json:"complete"`
	// Chunks is the number of upload requests whose bytes were stored: 1 for
	// a whole-file upload.
	Chunks int `json:"chunks"`
}

type chunk struct {
	from, to int64 // bytes form: inclusive range
	part     int64 // part form
	b        blob
}

// video is the server-side state of one upload; mu guards every field but
// id, seq and createdAt.
type video struct {
	id        string
	seq       int64 // creation order, kept across restarts
	createdAt time.Time

	mu        sync.Mutex
	title     string
	updatedAt time.Time
	unit      rangeUnit // 0 for a whole-file upload
	total     int64     // bytes total, or number of parts (0 while unknown)
	chunks    []chunk
	received  int64
	complete  bool
	source    blob
	sha       string
}

func (s *Sandbox) info(v *video) VideoInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	return VideoInfo{VideoID: v.id, Size: v.received, SHA256: s.checksum(v), Complete: v.complete, Chunks: len(v.chunks)}
}

// checksum is the hex SHA-256 of a complete video, "" for one in progress.
// A video sent in chunks is hashed the first time its checksum is asked
// for, not while its last chunk is answered: hashing reads the whole video
// (about a second per GiB), and the client would wait for it, which no
// client of the API does. The sum is then stored with the video's state; a
// failure to read leaves it "", to be tried again. v.mu is held.
func (s *Sandbox) checksum(v *video) string {
	if !v.complete || v.sha != "" {
		return v.sha
	}
	sum, err := hashBlob(v.source)
	if err != nil {
		s.cfg.logger.Warn("sandbox: cannot read a complete video to hash it", "video", v.id, "err", err)
		return ""
	}
	v.sha = sum
	s.saveFinal(v)
	return v.sha
}

// Videos returns every video, in creation order.
func (s *Sandbox) Videos() []VideoInfo {
	s.mu.Lock()
	vs := make([]*video, 0, len(s.order))
	for _, id := range s.order {
		vs = append(vs, s.videos[id])
	}
	s.mu.Unlock()
	out := make([]VideoInfo, 0, len(vs))
	for _, v := range vs {
		out = append(out, s.info(v))
	}
	return out
}

// Video returns one video by id.
func (s *Sandbox) Video(id string) (VideoInfo, bool) {
	v := s.video(id)
	if v == nil {
		return VideoInfo{}, false
	}
	return s.info(v), true
}

// VideoBytes returns the assembled bytes of a complete video. It reads the
// whole video into memory: use it for small test videos.
func (s *Sandbox) VideoBytes(id string) ([]byte, error) {
	v := s.video(id)
	if v == nil {
		return nil, fmt.Errorf("sandbox: no video %q", id)
	}
	v.mu.Lock()
	src, complete := v.source, v.complete
	v.mu.Unlock()
	if !complete {
		return nil, fmt.Errorf("sandbox: video %q is not complete", id)
	}
	rc, err := src.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (s *Sandbox) video(id string) *video {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.videos[id]
}

// dropVideo forgets a video that was never announced to a client.
func (s *Sandbox) dropVideo(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.videos, id)
	s.order = slices.DeleteFunc(s.order, func(o string) bool { return o == id })
}

func (s *Sandbox) newVideo(title string) *video {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		id := randomID("vi", 22)
		if _, dup := s.videos[id]; dup {
			continue
		}
		now := s.cfg.now()
		s.seq++
		v := &video{id: id, seq: s.seq, createdAt: now, updatedAt: now, title: title}
		s.videos[id] = v
		s.order = append(s.order, id)
		return v
	}
}

// Problems of the file part.
func fileProblem(title, detail string) *apiError {
	return badRequest(typeInvalidFile, title, "file", detail)
}

var (
	errNoFile    = fileProblem("There is no uploaded file in the request.", "send the video as a multipart/form-data file part named \"file\"")
	errTwoFiles  = fileProblem("There are more than one uploaded file in the request.", "send exactly one file part per request")
	errEmptyFile = fileProblem("The uploaded file is empty.", "the file part holds 0 bytes")
)

func alreadyUploaded(id string) *apiError {
	return fileProblem("This video source has already been uploaded.",
		fmt.Sprintf("video %s is complete; start a new video with a request without videoId", id))
}

type baseURLKey struct{}

// upload is what one request brought.
type upload struct {
	file     blob
	n        int64
	sum      string
	fileName string
	videoID  string
	kept     bool // file was stored as a video's: the request does not remove it
}

// readUpload streams the multipart body: the single file part (under any
// field name) is spooled to storage, reading at most limit+1 bytes of it
// (and nothing after it when it holds more than limit), and
// the videoId field is read whatever its position.
func (s *Sandbox) readUpload(mr *multipart.Reader, limit int64) (*upload, *apiError) {
	u := &upload{}
	fail := func(e *apiError) (*upload, *apiError) {
		if u.file != nil {
			u.file.remove()
		}
		return nil, e
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errBodyStalled) {
			return fail(s.bodyStalled())
		}
		if err != nil {
			return fail(fileProblem("The uploaded file is invalid.", "malformed multipart/form-data body: "+err.Error()))
		}
		name, fileName := p.FormName(), p.FileName()
		switch {
		case fileName != "" || name == "file":
			if u.file != nil {
				_ = p.Close()
				return fail(errTwoFiles)
			}
			b, n, sum, err := s.store.spool(p, limit)
			if errors.Is(err, errMemoryBudget) {
				_ = p.Close()
				return fail(s.memoryBudgetSpent())
			}
			if errors.Is(err, errBodyStalled) {
				return fail(s.bodyStalled())
			}
			if sf := (storageFailure{}); errors.As(err, &sf) {
				_ = p.Close()
				return fail(s.storageProblem(err))
			}
			if err != nil {
				_ = p.Close()
				return fail(fileProblem("The uploaded file is invalid.", "reading the file part: "+err.Error()))
			}
			u.file, u.n, u.sum, u.fileName = b, n, sum, fileName
			if n > limit {
				// The caller reports the size. The part is not closed:
				// closing it would read the rest of the body.
				return u, nil
			}
		case name == "videoId":
			v, err := io.ReadAll(io.LimitReader(p, 256))
			if err != nil {
				return fail(fileProblem("The uploaded file is invalid.", "malformed multipart/form-data body: "+err.Error()))
			}
			u.videoID = strings.TrimSpace(string(v))
		default:
			if _, err := io.Copy(io.Discard, p); err != nil {
				return fail(fileProblem("The uploaded file is invalid.", "malformed multipart/form-data body: "+err.Error()))
			}
		}
		_ = p.Close()
	}
	if u.file == nil {
		return nil, errNoFile
	}
	return u, nil
}

// tooLarge refuses a file part above the single-request limit.
func tooLarge(detail string) *apiError {
	return fileProblem("The uploaded file is too large.", detail)
}

// memoryBudgetSpent refuses an upload that does not fit in the memory budget.
func (s *Sandbox) memoryBudgetSpent() *apiError {
	return &apiError{status: http.StatusInsufficientStorage, p: problem{
		Type: typeServerError, Title: "The sandbox memory budget is spent.", Name: "file",
		Detail: fmt.Sprintf("this sandbox holds uploads in memory, %d bytes at most (avupload sandbox --memory-budget); "+
			"restart it, raise the budget, or store uploads on disk with --data-dir", s.cfg.budget),
	}}
}

// storageProblem answers a failure of the sandbox's own disk: 507 when it
// is full, 500 otherwise. The answer names no path of the server; the log
// has the whole error.
func (s *Sandbox) storageProblem(err error) *apiError {
	s.cfg.logger.Error("sandbox data directory: cannot store an upload", "err", err)
	if isDiskFull(err) {
		return &apiError{status: http.StatusInsufficientStorage, p: problem{
			Type: typeServerError, Title: "The sandbox's disk is full.", Name: "file",
			Detail: "the disk that holds the sandbox's data directory has no space left; nothing of this request was kept, " +
				"what the video received before is: free some space and send this request again",
		}}
	}
	detail := "the sandbox could not write to its data directory"
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		detail += ": " + pe.Err.Error()
	case errors.As(err, &le):
		detail += ": " + le.Err.Error()
	}
	return &apiError{status: http.StatusInternalServerError, p: problem{
		Type: typeServerError, Title: "The sandbox could not store the upload.", Name: "file",
		Detail: detail + "; see the sandbox's log, then send this request again",
	}}
}

// bodyStalled ends a request whose body stopped arriving.
func (s *Sandbox) bodyStalled() *apiError {
	return &apiError{status: http.StatusRequestTimeout, p: problem{
		Type: typeServerError, Title: "The request body stopped arriving.", Name: "file",
		Detail: fmt.Sprintf("no byte of the body arrived for %v (avupload sandbox --body-idle-timeout); send the request again", s.cfg.bodyIdle),
	}}
}

// UploadWithUploadToken implements POST /upload: it checks the token and
// the Content-Range header, reads the body, and hands the file to
// uploadWhole when it comes without Content-Range, to uploadChunk
// otherwise. The file read is removed when the request ends, unless one of
// them kept it as the video's.
func (a *api) UploadWithUploadToken(ctx context.Context, req gen.UploadWithUploadTokenRequestObject) (gen.UploadWithUploadTokenResponseObject, error) {
	s := a.s
	if p, ok := s.checkUploadTokenParam(req.Params.Token); !ok {
		return gen.UploadWithUploadToken401JSONResponse{UnauthorizedJSONResponse: gen.UnauthorizedJSONResponse{
			Body: p.wire(http.StatusUnauthorized),
		}}, nil
	}
	var cr *contentRange
	limit := int64(MaxWholeFileSize)
	if req.Params.ContentRange != nil {
		c, e := s.checkContentRange(ctx, *req.Params.ContentRange)
		if e != nil {
			return uploadError(e), nil
		}
		cr = &c
		if c.unit == unitBytes {
			limit = c.to - c.from + 1
		}
	}
	u, e := s.readUpload(req.Body, limit)
	if e != nil {
		return uploadError(e), nil
	}
	defer func() {
		if !u.kept {
			u.file.remove()
		}
	}()
	if u.n == 0 {
		return uploadError(errEmptyFile), nil
	}
	base, _ := ctx.Value(baseURLKey{}).(string)
	if base == "" {
		base = s.cfg.baseURL
	}
	if cr == nil {
		return s.uploadWhole(u, base), nil
	}
	return s.uploadChunk(ctx, *cr, u, base)
}

// checkContentRange parses and checks a Content-Range header on its own,
// before the body is read: its syntax, its bounds, and a byte range no
// larger than one request carries.
func (s *Sandbox) checkContentRange(ctx context.Context, header string) (contentRange, *apiError) {
	c, e := parseContentRange(header)
	if e != nil {
		return contentRange{}, e
	}
	if e := c.check(); e != nil {
		return contentRange{}, s.lintChunk(ctx, e, nil, c, nil)
	}
	if c.unit == unitBytes && c.to-c.from+1 > MaxWholeFileSize {
		return contentRange{}, tooLarge(fmt.Sprintf("range %d-%d announces %d bytes; one request carries at most %d bytes of file",
			c.from, c.to, c.to-c.from+1, MaxWholeFileSize))
	}
	return c, nil
}

// uploadWhole stores a file sent without Content-Range as a new video, or
// as the whole of the video named by videoId, which must have received
// nothing in chunks.
func (s *Sandbox) uploadWhole(u *upload, base string) gen.UploadWithUploadTokenResponseObject {
	if u.n > MaxWholeFileSize {
		return uploadError(tooLarge(fmt.Sprintf("a file sent without \"Content-Range\" holds at most %d bytes; send larger files in chunks", MaxWholeFileSize)))
	}
	var v *video
	if u.videoID != "" {
		if v = s.video(u.videoID); v == nil {
			return uploadError(unknownVideo(u.videoID))
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		if v.complete {
			return uploadError(alreadyUploaded(v.id))
		}
		if v.unit != 0 {
			return uploadError(rangeError(`This video source has already been initiated with a "Content-Range" upload.`,
				fmt.Sprintf("video %s is being uploaded in chunks by %s; send this file with a \"Content-Range\" header", v.id, v.unit)))
		}
	} else {
		v = s.newVideo(titleOf(u.fileName))
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	v.updatedAt = s.cfg.now()
	if err := s.saveVideo(v); err != nil {
		s.abandon(v, u.videoID == "")
		return uploadError(s.storageProblem(err))
	}
	b, err := s.store.keep(v.id, "source", u.file)
	if err != nil {
		s.abandon(v, u.videoID == "")
		return uploadError(s.storageProblem(err))
	}
	u.kept = true
	v.chunks = append(v.chunks, chunk{from: 0, to: u.n - 1, b: b})
	v.source, v.sha, v.received, v.complete = b, u.sum, u.n, true
	s.saveFinal(v)
	return videoAnswer{Body: v.model(base)}
}

// checkChunkSize refuses a chunk of n bytes that one request cannot carry,
// or that is not the size its byte range announces.
func checkChunkSize(c contentRange, n int64) *apiError {
	if c.unit == unitPart && n > MaxWholeFileSize {
		return tooLarge(fmt.Sprintf("part %d holds more than %d bytes, the most one request carries; send smaller parts", c.part, MaxWholeFileSize))
	}
	if c.unit == unitBytes && n != c.to-c.from+1 {
		got := strconv.FormatInt(n, 10)
		if n > c.to-c.from+1 {
			got = "more than " + strconv.FormatInt(c.to-c.from+1, 10)
		}
		return fileProblem(`The uploaded file size differs from the "Content-Range" header range length.`,
			fmt.Sprintf("range %d-%d announces %d bytes, the file holds %s", c.from, c.to, c.to-c.from+1, got))
	}
	return nil
}

// uploadChunk stores the chunk c of a new video, or of the video named by
// videoId, once its size agrees with c and the video accepts it, and
// assembles the video when it was the last one missing.
func (s *Sandbox) uploadChunk(ctx context.Context, c contentRange, u *upload, base string) (gen.UploadWithUploadTokenResponseObject, error) {
	if e := checkChunkSize(c, u.n); e != nil {
		return uploadError(e), nil
	}
	if u.videoID == "" {
		if e := s.lintMissingVideoID(ctx, c); e != nil {
			return uploadError(e), nil
		}
	}
	var v *video
	created := u.videoID == ""
	if created {
		v = s.newVideo(titleOf(u.fileName))
	} else if v = s.video(u.videoID); v == nil {
		return uploadError(unknownVideo(u.videoID)), nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e := v.accept(c, u.n); e != nil {
		if created {
			// Refused as the first chunk: no video was started.
			s.dropVideo(v.id)
		}
		return uploadError(s.lintChunk(ctx, e, v, c, u.file)), nil
	}
	key := "chunk-" + strconv.FormatInt(c.from, 10)
	if c.unit == unitPart {
		key = "part-" + strconv.FormatInt(c.part, 10)
	}
	// The state that says how to read the chunk is stored before the chunk.
	unit, total, updated := v.unit, v.total, v.updatedAt
	v.unit = c.unit
	if c.unit == unitBytes || c.parts != 0 {
		v.total = cmp.Or(c.total, c.parts)
	}
	v.updatedAt = s.cfg.now()
	if err := s.saveVideo(v); err != nil {
		// What the video held is untouched: the chunk can be sent again.
		v.unit, v.total, v.updatedAt = unit, total, updated
		s.abandon(v, created)
		return uploadError(s.storageProblem(err)), nil
	}
	b, err := s.store.keep(v.id, key, u.file)
	if err != nil {
		s.abandon(v, created)
		return uploadError(s.storageProblem(err)), nil
	}
	u.kept = true
	v.chunks = append(v.chunks, chunk{from: c.from, to: c.to, part: c.part, b: b})
	v.received += u.n
	if !v.done() {
		return videoAnswer{Body: gen.Video{VideoID: v.id}}, nil
	}
	v.source, v.complete = concatBlob(sortedBlobs(v.chunks)), true
	s.saveFinal(v)
	return videoAnswer{Body: v.model(base)}, nil
}

// sortedBlobs returns the chunks' blobs in the order of the video's bytes.
func sortedBlobs(chunks []chunk) []blob {
	sorted := slices.Clone(chunks)
	slices.SortFunc(sorted, func(x, y chunk) int { return cmp.Or(cmp.Compare(x.from, y.from), cmp.Compare(x.part, y.part)) })
	parts := make([]blob, len(sorted))
	for i, ch := range sorted {
		parts[i] = ch.b
	}
	return parts
}

// abandon forgets a video whose first request could not be stored: the
// client never learnt its id. Its directory holds nothing but the state the
// sandbox wrote. v.mu is held.
func (s *Sandbox) abandon(v *video, created bool) {
	if !created {
		return
	}
	s.dropVideo(v.id)
	if s.disk != nil {
		_ = os.RemoveAll(s.disk.videoDir(v.id))
	}
}

// saveFinal stores the state of a video that just completed, or whose
// checksum was just computed. Its bytes are
// all on disk: if the state cannot be written, the next start finds the
// video complete from its chunks, so the failure is only logged. v.mu is
// held.
func (s *Sandbox) saveFinal(v *video) {
	if err := s.saveVideo(v); err != nil {
		s.cfg.logger.Warn("sandbox data directory: cannot record a completed video; the next start will", "video", v.id, "err", err)
	}
}

// saveVideo stores a video's state in the data directory, if there is one;
// v.mu is held.
func (s *Sandbox) saveVideo(v *video) error {
	if s.disk == nil {
		return nil
	}
	return s.disk.saveVideo(v)
}

// accept checks a chunk against what the video already holds; v.mu is held.
func (v *video) accept(c contentRange, n int64) *apiError {
	if v.complete {
		return alreadyUploaded(v.id)
	}
	if v.unit != 0 && v.unit != c.unit {
		return rangeError(`The "Content-Range" header unit differs from the one this upload was initiated with.`,
			fmt.Sprintf("video %s was initiated with %q ranges, got %q", v.id, v.unit, c.unit))
	}
	if c.unit == unitBytes {
		if v.total != 0 && c.total != v.total {
			return rangeError(`The "Content-Range" header total size differs from the one already set.`,
				fmt.Sprintf("total already set: %d, got %d", v.total, c.total))
		}
		for _, ch := range v.chunks {
			if c.from <= ch.to && ch.from <= c.to {
				return rangeError(`The "Content-Range" header range overlaps a range already sent.`,
					fmt.Sprintf("range %d-%d overlaps range %d-%d already received", c.from, c.to, ch.from, ch.to))
			}
			if c.total <= ch.to {
				return rangeError(`The "Content-Range" header total size is not above the end of a range already sent.`,
					fmt.Sprintf("total %d, range %d-%d already received", c.total, ch.from, ch.to))
			}
		}
		return nil
	}
	if c.parts != 0 && v.total != 0 && c.parts != v.total {
		return rangeError(`The "Content-Range" header number of parts differs from the one already set.`,
			fmt.Sprintf("total_parts already set: %d, got %d", v.total, c.parts))
	}
	total := cmp.Or(c.parts, v.total)
	for _, ch := range v.chunks {
		if ch.part == c.part {
			return rangeError(`The "Content-Range" header part collides with a part already sent.`,
				fmt.Sprintf("part %d was already received", c.part))
		}
		if total != 0 && total < ch.part {
			return partsBelowSent(total, ch.part)
		}
	}
	if total != 0 && c.part > total {
		return partsBelowSent(total, c.part)
	}
	if n < MinChunkSize && (total == 0 || c.part != total) {
		return fileProblem(fmt.Sprintf("The uploaded part is smaller than %d bytes and is not the last one.", MinChunkSize),
			fmt.Sprintf("part %d holds %d bytes; every part but the last must hold at least %d", c.part, n, MinChunkSize))
	}
	return nil
}

// done reports whether every byte or part arrived; v.mu is held.
func (v *video) done() bool {
	if v.total == 0 {
		return false
	}
	if v.unit == unitBytes {
		return v.received == v.total
	}
	return int64(len(v.chunks)) == v.total
}

// unknownVideo refuses a videoId that names no video. The contract gives
// the upload operation no 404, so this is a 400 naming the field.
func unknownVideo(id string) *apiError {
	return badRequest(typeInvalidAttribute, "The video ID is invalid.", "videoId",
		fmt.Sprintf("no video %s was started with this sandbox; send the first chunk without videoId", id))
}

// titleOf makes a video title from an uploaded file's name.
func titleOf(fileName string) string {
	if fileName == "" {
		return "file"
	}
	return fileName
}

// model is the complete video as the API writes it; v.mu is held.
func (v *video) model(base string) gen.Video {
	vod := base + "/vod/" + v.id
	iframe := `<iframe src="` + vod + `" width="100%" height="100%" frameborder="0" scrolling="no" allowfullscreen=""></iframe>`
	hls, thumbnail, mp4 := vod+"/hls/manifest.m3u8", vod+"/thumbnail.jpg", vod+"/mp4/source.mp4"
	source := "/videos/" + v.id + "/source"
	title, description, public, panoramic, mp4Support, discarded := v.title, "", true, false, true, false
	return gen.Video{
		VideoID:     v.id,
		Title:       &title,
		Description: &description,
		Public:      &public,
		Panoramic:   &panoramic,
		Mp4Support:  &mp4Support,
		Tags:        &[]string{},
		Metadata:    &[]gen.Metadata{},
		PublishedAt: stamp(v.createdAt),
		CreatedAt:   stamp(v.createdAt),
		UpdatedAt:   stamp(v.updatedAt),
		Discarded:   &discarded,
		DiscardedAt: nullable.NewNullNullable[apitime.Time](),
		DeletesAt:   nullable.NewNullNullable[apitime.Time](),
		Source:      &gen.VideoSource{URI: &source},
		Assets:      &gen.VideoAssets{Iframe: &iframe, Player: &vod, Hls: &hls, Thumbnail: &thumbnail, Mp4: &mp4},
	}
}
