package sandbox

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avupload/avupload/internal/atomicfile"
)

// A data directory holds, besides tmp/ for uploads in flight:
//
//	tokens/TOKEN.json        one file per live token
//	videos/ID/video.json     a video's state: title, times, unit, total, hash
//	videos/ID/source         a whole-file upload's bytes
//	videos/ID/chunk-FROM     a byte-range chunk starting at FROM
//	videos/ID/part-N         part N
//
// Every file is written whole under a temporary name, synced, and renamed
// into place, so a crash leaves either the old file or the new one. A chunk
// counts as received once its file is renamed into the video's directory:
// video.json, which says how to read the chunks, is written before that.

// tokenFile is a token as stored in the data directory.
type tokenFile struct {
	Token     string    `json:"token"`
	TTL       int       `json:"ttl"`
	CreatedAt time.Time `json:"createdAt"`
}

// videoFile is a video's state as stored in the data directory; its chunks
// are the files beside it.
type videoFile struct {
	VideoID   string    `json:"videoId"`
	Seq       int64     `json:"seq"` // creation order
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Unit      string    `json:"unit,omitempty"` // "bytes", "part", or empty for a whole file
	Total     int64     `json:"total,omitempty"`
	Complete  bool      `json:"complete"`
	SHA256    string    `json:"sha256,omitempty"`
}

const videoFileName = "video.json"

// writeFileAtomic writes data to path through a synced temporary file in the
// same directory, a rename and a sync of the directory, so that a crash
// leaves the old content or the new one.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	return nil
}

func (d *dirStorage) tokenPath(token string) string {
	return filepath.Join(d.dir, "tokens", token+".json")
}

// saveToken stores a token.
func (d *dirStorage) saveToken(t *tokenRecord) error {
	b, err := json.Marshal(tokenFile{Token: t.token, TTL: t.ttl, CreatedAt: t.createdAt})
	if err != nil {
		return err
	}
	return writeFileAtomic(d.tokenPath(t.token), b)
}

// removeToken forgets a stored token.
func (d *dirStorage) removeToken(token string) { _ = os.Remove(d.tokenPath(token)) }

// saveVideo stores a video's state; v.mu is held.
func (d *dirStorage) saveVideo(v *video) error {
	vf := videoFile{VideoID: v.id, Seq: v.seq, Title: v.title, CreatedAt: v.createdAt, UpdatedAt: v.updatedAt,
		Total: v.total, Complete: v.complete, SHA256: v.sha}
	if v.unit != 0 {
		vf.Unit = v.unit.String()
	}
	b, err := json.Marshal(vf)
	if err != nil {
		return err
	}
	vd := d.videoDir(v.id)
	if err := os.MkdirAll(vd, 0o755); err != nil {
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	return writeFileAtomic(filepath.Join(vd, videoFileName), b)
}

// load reads the tokens and videos a data directory holds, removing expired
// tokens, uploads that were in flight, and files no video accounts for.
func (d *dirStorage) load(now time.Time) (map[string]*tokenRecord, []*video, error) {
	if err := os.RemoveAll(tempDirFor(d.dir)); err != nil {
		return nil, nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	for _, sub := range []string{tempDirFor(d.dir), filepath.Join(d.dir, "tokens"), filepath.Join(d.dir, "videos")} {
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return nil, nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
	}
	tokens, err := d.loadTokens(now)
	if err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(filepath.Join(d.dir, "videos"))
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	var videos []*video
	for _, e := range entries {
		v, err := d.loadVideo(e.Name())
		if err != nil {
			return nil, nil, err
		}
		if v != nil {
			videos = append(videos, v)
		}
	}
	slices.SortFunc(videos, func(x, y *video) int {
		return cmp.Or(cmp.Compare(x.seq, y.seq), x.createdAt.Compare(y.createdAt), strings.Compare(x.id, y.id))
	})
	return tokens, videos, nil
}

func (d *dirStorage) loadTokens(now time.Time) (map[string]*tokenRecord, error) {
	dir := filepath.Join(d.dir, "tokens")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	tokens := map[string]*tokenRecord{}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		var tf tokenFile
		if !strings.HasSuffix(e.Name(), ".json") || json.Unmarshal(b, &tf) != nil || tf.Token+".json" != e.Name() {
			_ = os.Remove(path) // a temporary file, or not ours
			continue
		}
		t := &tokenRecord{token: tf.Token, ttl: tf.TTL, createdAt: tf.CreatedAt}
		if t.expired(now) {
			_ = os.Remove(path)
			continue
		}
		tokens[t.token] = t
	}
	return tokens, nil
}

// loadVideo reads one video directory. A directory without a readable
// video.json held no received chunk and is removed; so are files that are
// not chunks. It returns nil for a removed directory.
func (d *dirStorage) loadVideo(id string) (*video, error) {
	vd := d.videoDir(id)
	b, err := os.ReadFile(filepath.Join(vd, videoFileName))
	var vf videoFile
	if err == nil {
		err = json.Unmarshal(b, &vf)
	}
	if err != nil || vf.VideoID != id {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			var syntax *json.SyntaxError
			if !errors.As(err, &syntax) {
				return nil, fmt.Errorf("sandbox: data directory: %w", err)
			}
		}
		if err := os.RemoveAll(vd); err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		return nil, nil
	}
	v := &video{id: id, seq: vf.Seq, createdAt: vf.CreatedAt, updatedAt: vf.UpdatedAt, title: vf.Title, total: vf.Total}
	switch vf.Unit {
	case "bytes":
		v.unit = unitBytes
	case "part":
		v.unit = unitPart
	}
	entries, err := os.ReadDir(vd)
	if err != nil {
		return nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == videoFileName {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		ch, ok := chunkOf(v.unit, name, info.Size())
		if !ok {
			_ = os.Remove(filepath.Join(vd, name))
			continue
		}
		ch.b = &fileBlob{path: filepath.Join(vd, name), n: info.Size()}
		v.chunks = append(v.chunks, ch)
		v.received += info.Size()
	}
	if v.unit == 0 && len(v.chunks) == 1 {
		v.complete = true
	} else if v.unit != 0 {
		v.complete = v.done()
	}
	switch {
	case v.complete && vf.Complete && vf.SHA256 != "":
		v.source, v.sha = concatBlob(sortedBlobs(v.chunks)), vf.SHA256
	case v.complete:
		// The last chunk landed but the state saying so did not.
		src, sum, err := assemble(sortedBlobs(v.chunks))
		if err != nil {
			return nil, fmt.Errorf("sandbox: data directory: video %s: %w", id, err)
		}
		v.source, v.sha = src, sum
		if err := d.saveVideo(v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// chunkOf reads a chunk's place from its file name.
func chunkOf(unit rangeUnit, name string, size int64) (chunk, bool) {
	switch {
	case unit == 0 && name == "source":
		return chunk{from: 0, to: size - 1}, size > 0
	case unit == unitBytes && strings.HasPrefix(name, "chunk-"):
		from, err := strconv.ParseInt(strings.TrimPrefix(name, "chunk-"), 10, 64)
		return chunk{from: from, to: from + size - 1}, err == nil && from >= 0 && size > 0
	case unit == unitPart && strings.HasPrefix(name, "part-"):
		part, err := strconv.ParseInt(strings.TrimPrefix(name, "part-"), 10, 64)
		return chunk{part: part}, err == nil && part > 0
	}
	return chunk{}, false
}
