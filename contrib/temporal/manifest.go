package temporal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/avupload/avupload/wrapper/batch"
)

// WriteManifest lists the files under dir, a directory relative to root
// ("." for root itself), that opts selects (the batch planner's include and
// exclude patterns, symbolic links, shards), and writes them to w as a
// manifest: one JSON File per line, its path relative to root with forward
// slashes, as the workers resolve it under their own mount of root. It
// returns how many files it wrote.
func WriteManifest(w io.Writer, root, dir string, opts batch.PlanOptions) (int, error) {
	d := filepath.FromSlash(dir)
	if !filepath.IsLocal(d) && filepath.Clean(d) != "." {
		return 0, fmt.Errorf("the directory %q is not inside %s", dir, root)
	}
	files, err := batch.Plan([]string{filepath.Join(root, d)}, opts)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, f := range files {
		// ShardKey is the file's path under dir, with forward slashes.
		p := path.Join(filepath.ToSlash(filepath.Clean(d)), f.ShardKey)
		if err := enc.Encode(File{Path: p, Size: f.Size}); err != nil {
			return 0, err
		}
	}
	return len(files), bw.Flush()
}

// maxManifestLine bounds one manifest line.
const maxManifestLine = 64 << 10

// ReadManifest returns in.Limit files of the manifest file from in.Offset
// (0-based), and with in.Count the number of files and bytes in it all.
func (u *Uploader) ReadManifest(_ context.Context, in ReadManifestInput) (*ManifestPage, error) {
	path, err := u.resolve(in.Path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, temporal.NewNonRetryableApplicationError("reading the manifest: "+err.Error(), ErrSourceUnreadable, err)
		}
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxManifestLine)
	page := &ManifestPage{Files: []File{}}
	n, line := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		inPage := n >= in.Offset && n < in.Offset+in.Limit
		if !inPage && !in.Count {
			if n >= in.Offset+in.Limit {
				break
			}
			n++
			continue
		}
		var fl File
		if err := json.Unmarshal([]byte(text), &fl); err != nil || fl.Path == "" || fl.Size < 0 {
			msg := fmt.Sprintf("manifest %s, line %d: want {\"path\": ..., \"size\": ...}", in.Path, line)
			return nil, temporal.NewNonRetryableApplicationError(msg, ErrSourceUnreadable, err)
		}
		if inPage {
			page.Files = append(page.Files, fl)
		}
		if in.Count {
			page.TotalFiles++
			page.TotalBytes += fl.Size
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("manifest %s, line %d: %v", in.Path, line+1, err), ErrSourceUnreadable, err)
	}
	return page, nil
}

// WriteOutcomes writes one run's outcomes to outcomes-RUN.jsonl in the
// directory in.Dir under the root, replacing the file whole, so that a
// retried attempt writes the same file again.
func (u *Uploader) WriteOutcomes(_ context.Context, in WriteOutcomesInput) error {
	dir, err := u.resolve(in.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing the outcomes: %w", err)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, o := range in.Outcomes {
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	name := filepath.Join(dir, fmt.Sprintf("outcomes-%06d.jsonl", in.Run))
	if err := writeFile(name, []byte(b.String())); err != nil {
		return fmt.Errorf("writing the outcomes: %w", err)
	}
	return nil
}

// writeFile replaces the file name with data whole: written to a
// temporary file beside it, synced, then renamed over it.
func writeFile(name string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), ".outcomes-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
