package sandbox

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
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
//	lock                     locked by the running sandbox; holds its process id
//	tokens/SHA256.json       one file per live token, named by the token's SHA-256
//	videos/ID/video.json     a video's state: title, times, unit, total, hash
//	videos/ID/source         a whole-file upload's bytes
//	videos/ID/chunk-FROM     a byte-range chunk starting at FROM
//	videos/ID/part-N         part N
//	quarantine/...           what a start could not read, moved aside as it was
//
// Directories are private to their owner (0700), files too (0600).
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

// writeFile writes data to path through a synced temporary file in the
// same directory, a rename and a sync of the directory, so that a crash
// leaves the old content or the new one.
func (d *dirStorage) writeFile(path string, data []byte) error {
	if err := d.hook(); err != nil {
		return storageFailure{err}
	}
	if err := atomicfile.Write(path, data, filePerm); err != nil {
		return storageFailure{err}
	}
	return nil
}

// tokenPath is where a token is stored: under a SHA-256 of the token, so
// that listing the directory shows no token.
func (d *dirStorage) tokenPath(token string) string {
	return filepath.Join(d.dir, "tokens", tokenFileName(token))
}

// tokenFileName is the name of a token's file.
func tokenFileName(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]) + ".json"
}

// saveToken stores a token.
func (d *dirStorage) saveToken(t *tokenRecord) error {
	b, err := json.Marshal(tokenFile{Token: t.token, TTL: t.ttl, CreatedAt: t.createdAt})
	if err != nil {
		return err
	}
	return d.writeFile(d.tokenPath(t.token), b)
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
	if err := os.MkdirAll(vd, dirPerm); err != nil {
		return storageFailure{err}
	}
	return d.writeFile(filepath.Join(vd, videoFileName), b)
}

// Permissions of what a data directory holds: only the user who runs the
// sandbox may list or read its tokens and videos.
const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// privateDir creates dir (and its parents) if needed and makes it private
// to its owner, as directories of older sandboxes were not.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	return os.Chmod(dir, dirPerm)
}

// isTempName reports whether name is the temporary file of an interrupted
// write (atomicfile names them ".NAME.tmpRANDOM"): never a received byte.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp")
}

// load reads the tokens and videos a data directory holds. It removes
// expired tokens, uploads that were in flight (tmp/) and the temporary files
// of interrupted writes. Whatever else it cannot make sense of it moves to
// quarantine/, logging the path and the reason, and goes on: it never
// deletes a file that may hold a user's bytes.
func (d *dirStorage) load(now time.Time) (map[string]*tokenRecord, []*video, error) {
	if err := os.RemoveAll(tempDirFor(d.dir)); err != nil {
		return nil, nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	for _, sub := range []string{tempDirFor(d.dir), filepath.Join(d.dir, "tokens"), filepath.Join(d.dir, "videos")} {
		if err := privateDir(sub); err != nil {
			return nil, nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
	}
	if _, err := os.Stat(d.quarantineDir()); err == nil {
		_ = os.Chmod(d.quarantineDir(), dirPerm)
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

func (d *dirStorage) quarantineDir() string { return filepath.Join(d.dir, "quarantine") }

// quarantine moves path, a file or directory of the data directory, to the
// same place under quarantine/ (with a numbered suffix if an earlier start
// put something there already), and logs why.
func (d *dirStorage) quarantine(path, reason string) error {
	rel, err := filepath.Rel(d.dir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("sandbox: data directory: %s: %s", path, reason)
	}
	dst := filepath.Join(d.quarantineDir(), rel)
	if err := privateDir(d.quarantineDir()); err != nil {
		return fmt.Errorf("sandbox: data directory: %s: %s, and it cannot be moved aside: %w", path, reason, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), dirPerm); err != nil {
		return fmt.Errorf("sandbox: data directory: %s: %s, and it cannot be moved aside: %w", path, reason, err)
	}
	for i, base := 2, dst; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = base + "." + strconv.Itoa(i)
	}
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("sandbox: data directory: %s: %s, and it cannot be moved aside: %w", path, reason, err)
	}
	d.log.Warn("sandbox data directory: moved an unreadable entry to quarantine; nothing was deleted",
		"path", path, "reason", reason, "moved_to", dst)
	return nil
}

func (d *dirStorage) loadTokens(now time.Time) (map[string]*tokenRecord, error) {
	dir := filepath.Join(d.dir, "tokens")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	tokens := map[string]*tokenRecord{}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if isTempName(name) {
			_ = os.Remove(path) // a write that never completed
			continue
		}
		t, reason := readTokenFile(path, e)
		if reason != "" {
			if err := d.quarantine(path, reason); err != nil {
				return nil, err
			}
			continue
		}
		if t.expired(now) {
			_ = os.Remove(path)
			continue
		}
		if name != tokenFileName(t.token) {
			// The layout of older sandboxes named the file after the
			// token: store it under its hash, then drop the old name.
			if err := d.saveToken(t); err != nil {
				return nil, fmt.Errorf("sandbox: data directory: %s: %w", path, err)
			}
			_ = os.Remove(path)
		}
		_ = os.Chmod(d.tokenPath(t.token), filePerm)
		tokens[t.token] = t
	}
	return tokens, nil
}

// readTokenFile reads one token file; reason says why it cannot be used.
func readTokenFile(path string, e fs.DirEntry) (*tokenRecord, string) {
	if !e.Type().IsRegular() {
		return nil, "not a token file"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "cannot be read: " + causeOf(err)
	}
	var tf tokenFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, "not a valid token file: " + err.Error()
	}
	switch {
	case tf.Token == "":
		return nil, "holds no token"
	case tf.TTL < 0 || tf.TTL > MaxTTL:
		return nil, fmt.Sprintf("holds a ttl of %d, not 0 to %d", tf.TTL, MaxTTL)
	case e.Name() != tokenFileName(tf.Token) && e.Name() != tf.Token+".json":
		return nil, "its name does not match the token it holds"
	}
	return &tokenRecord{token: tf.Token, ttl: tf.TTL, createdAt: tf.CreatedAt}, ""
}

// loadVideo reads one video directory. What it cannot read goes to
// quarantine; it returns nil for a directory moved there, or for an empty
// one (a video whose first chunk never arrived), which it removes.
func (d *dirStorage) loadVideo(id string) (*video, error) {
	vd := d.videoDir(id)
	if info, err := os.Lstat(vd); err != nil || !info.IsDir() {
		return nil, d.quarantine(vd, "not a video directory")
	}
	_ = os.Chmod(vd, dirPerm)
	vf, reason := readVideoFile(vd, id)
	if reason != "" {
		if empty, _ := onlyTempFiles(vd); empty {
			// A video whose state was never written received nothing.
			return nil, os.RemoveAll(vd)
		}
		return nil, d.quarantine(vd, reason)
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
		return nil, d.quarantine(vd, "cannot be listed: "+causeOf(err))
	}
	for _, e := range entries {
		name := e.Name()
		if name == videoFileName {
			continue
		}
		path := filepath.Join(vd, name)
		if isTempName(name) {
			_ = os.Remove(path)
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("sandbox: data directory: %w", err)
		}
		ch, ok := chunkOf(v.unit, name, info.Size())
		if !ok || !info.Mode().IsRegular() {
			if err := d.quarantine(path, "not a chunk of video "+id); err != nil {
				return nil, err
			}
			continue
		}
		ch.b = &fileBlob{path: path, n: info.Size()}
		v.chunks = append(v.chunks, ch)
		v.received += info.Size()
	}
	if reason := v.inconsistency(); reason != "" {
		return nil, d.quarantine(vd, reason)
	}
	if v.unit == 0 && len(v.chunks) == 1 {
		v.complete = true
	} else if v.unit != 0 {
		v.complete = v.done()
	}
	if v.complete {
		// The checksum saved, if any; else hashed when first asked for.
		v.source, v.sha = concatBlob(sortedBlobs(v.chunks)), vf.SHA256
		if !vf.Complete {
			// The last chunk landed but the state saying so did not.
			if err := d.saveVideo(v); err != nil {
				return nil, fmt.Errorf("sandbox: data directory: video %s: %w", id, err)
			}
		}
	}
	return v, nil
}

// readVideoFile reads and checks a video's state; reason says why it
// cannot be used.
func readVideoFile(vd, id string) (videoFile, string) {
	var vf videoFile
	b, err := os.ReadFile(filepath.Join(vd, videoFileName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return vf, videoFileName + " is missing"
	case err != nil:
		return vf, videoFileName + " cannot be read: " + causeOf(err)
	}
	if err := json.Unmarshal(b, &vf); err != nil {
		return vf, videoFileName + " is not a valid video state: " + err.Error()
	}
	switch {
	case vf.VideoID != id:
		return vf, fmt.Sprintf("%s names video %q, not its directory's", videoFileName, vf.VideoID)
	case vf.Unit != "" && vf.Unit != "bytes" && vf.Unit != "part":
		return vf, fmt.Sprintf("%s names an unknown unit %q", videoFileName, vf.Unit)
	case vf.Total < 0:
		return vf, fmt.Sprintf("%s holds a negative total %d", videoFileName, vf.Total)
	}
	return vf, ""
}

// causeOf is what err says without the path it names.
func causeOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// onlyTempFiles reports whether dir holds nothing but temporary files.
func onlyTempFiles(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !isTempName(e.Name()) {
			return false, nil
		}
	}
	return true, nil
}

// inconsistency says why chunks read from disk cannot belong together, or
// returns "".
func (v *video) inconsistency() string {
	if v.unit == 0 {
		if len(v.chunks) > 1 {
			return "a whole-file video holds more than one file"
		}
		return ""
	}
	sorted := slices.Clone(v.chunks)
	slices.SortFunc(sorted, func(x, y chunk) int { return cmp.Or(cmp.Compare(x.from, y.from), cmp.Compare(x.part, y.part)) })
	for i, ch := range sorted {
		if v.unit == unitBytes {
			if v.total != 0 && ch.to >= v.total {
				return fmt.Sprintf("chunk %d-%d ends beyond the total of %d bytes", ch.from, ch.to, v.total)
			}
			if i > 0 && ch.from <= sorted[i-1].to {
				return fmt.Sprintf("chunks %d-%d and %d-%d overlap", sorted[i-1].from, sorted[i-1].to, ch.from, ch.to)
			}
		} else if v.total != 0 && ch.part > v.total {
			return fmt.Sprintf("part %d is beyond the %d parts", ch.part, v.total)
		}
	}
	return ""
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
