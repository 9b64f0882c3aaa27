package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The asset links of a video point at the sandbox itself:
//
//	/vod/ID                    a page that plays the video in a <video> element
//	/vod/ID/mp4/source.mp4     the stored bytes, with Range support for seeking
//	/vod/ID/thumbnail.jpg      a placeholder image
//
// They answer GET and HEAD, without credentials, as the CDN's links do.

// playerPage is the page of /vod/ID.
var playerPage = template.Must(template.New("player").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · avupload sandbox</title>
<style>html,body{margin:0;height:100%;background:#000}video{width:100%;height:100%}</style>
</head>
<body>
<video id="player" controls playsinline preload="metadata" poster="{{.Thumbnail}}" src="{{.MP4}}"></video>
</body>
</html>
`))

// servePlayer answers the asset links of a video; it reports whether path
// was one.
func (s *Sandbox) servePlayer(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/vod/")
	if !ok {
		return false
	}
	id, asset, _ := strings.Cut(rest, "/")
	switch asset {
	case "", "mp4/source.mp4", "thumbnail.jpg":
	default:
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, problem{Type: typeBase + "method-not-allowed", Title: "The request method is not allowed on this resource."})
		return true
	}
	v := s.video(id)
	if v == nil {
		writeProblem(w, http.StatusNotFound, problem{Type: typeNotFound, Title: "The requested resource was not found.", Name: "videoId"})
		return true
	}
	v.mu.Lock()
	src, complete, title, updated := v.source, v.complete, v.title, v.updatedAt
	v.mu.Unlock()
	if !complete {
		writeProblem(w, http.StatusNotFound, problem{Type: typeNotFound, Title: "The requested resource was not found.", Name: "videoId",
			Detail: fmt.Sprintf("video %s is not complete: its upload has not sent every chunk yet", id)})
		return true
	}
	switch asset {
	case "":
		var page bytes.Buffer
		// Relative to the page, /vod/ID (or /vod/ID/), so that they hold
		// under a path prefix too.
		dir := id + "/"
		if strings.HasSuffix(rest, "/") {
			dir = ""
		}
		_ = playerPage.Execute(&page, map[string]string{
			"Title": title, "MP4": dir + "mp4/source.mp4", "Thumbnail": dir + "thumbnail.jpg",
		})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "", updated, bytes.NewReader(page.Bytes()))
	case "thumbnail.jpg":
		w.Header().Set("Content-Type", "image/jpeg")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(placeholderThumbnail()))
	default:
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, "", updated, io.NewSectionReader(blobReaderAt{src}, 0, src.size()))
	}
	return true
}

// placeholderThumbnail is a 320×180 dark grey JPEG, made once.
var placeholderThumbnail = sync.OnceValue(func() []byte {
	img := image.NewGray(image.Rect(0, 0, 320, 180))
	for i := range img.Pix {
		img.Pix[i] = 0x30
	}
	img.SetGray(0, 0, color.Gray{Y: 0x31})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic(err) // encoding an in-memory image cannot fail
	}
	return buf.Bytes()
})

// blobReaderAt reads a blob at any offset, so that the mp4 link can answer
// Range requests. It opens at most one file at a time, for as long as one
// read.
type blobReaderAt struct{ b blob }

func (r blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k, err := readAt(r.b, p[n:], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.EOF
		}
	}
	return n, nil
}

// readAt reads from b at off, at least one byte unless at the end.
func readAt(b blob, p []byte, off int64) (int, error) {
	if off >= b.size() {
		return 0, io.EOF
	}
	switch b := b.(type) {
	case concatBlob:
		for _, part := range b {
			if off < part.size() {
				return readAt(part, p, off)
			}
			off -= part.size()
		}
		return 0, io.EOF
	case *memBlob:
		for _, seg := range b.segs {
			if off < int64(len(seg)) {
				return copy(p, seg[off:]), nil
			}
			off -= int64(len(seg))
		}
		return 0, io.EOF
	case *fileBlob:
		f, err := os.Open(b.path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		n, err := f.ReadAt(p[:min(int64(len(p)), b.n-off)], off)
		if errors.Is(err, io.EOF) && n > 0 {
			err = nil
		}
		return n, err
	}
	rc, err := b.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return 0, err
	}
	return io.ReadAtLeast(rc, p, 1)
}
