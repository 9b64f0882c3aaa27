// Command release builds the avupload CLI for every platform avupload
// ships on, stamped with its version and commit, and writes into one
// folder an archive per platform (tar.gz, zip for Windows), a CycloneDX
// SBOM per platform and SHA256SUMS over them all. It publishes nothing.
//
//	go run ./scripts/release -dir dist [-version 0.1.0] [-commit HASH] -cyclonedx github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
//
// `make release` runs it from the module's root. The version defaults to
// the library's (wrapper.Version), the commit to git's HEAD, with "-dirty"
// when the tree has changes; the binaries report both in `avupload
// --version`. The build is -trimpath, CGO_ENABLED=0 and stripped (-s -w);
// archive entries carry the commit's time, so that two releases of one
// commit hold the same bytes.
package main

import (
	"archive/tar"
	"archive/zip"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/avupload/avupload/wrapper"
)

// platforms are the GOOS/GOARCH pairs released.
var platforms = []string{
	"linux/amd64", "linux/arm64",
	"darwin/amd64", "darwin/arm64",
	"windows/amd64", "windows/arm64",
}

// mainPackage is the CLI's package, relative to the module's root.
const mainPackage = "./cmd/avupload"

// config is one release.
type config struct {
	dir       string    // where the artifacts go
	version   string    // stamped as main.releaseVersion
	commit    string    // stamped as main.releaseCommit; may be empty
	modTime   time.Time // of every archive entry
	platforms []string
	goCmd     string
	sbom      string // the cyclonedx-gomod package@version; "": no SBOM
	log       io.Writer
}

func main() {
	var c config
	c.goCmd = cmp.Or(os.Getenv("GO"), "go")
	flag.StringVar(&c.dir, "dir", "dist", "write the artifacts into `DIR`")
	flag.StringVar(&c.version, "version", wrapper.Version, "the `VERSION` stamped and named in the archives")
	flag.StringVar(&c.commit, "commit", "", "the `COMMIT` stamped (default: git's HEAD, with -dirty when the tree has changes)")
	flag.StringVar(&c.sbom, "cyclonedx", "", "the cyclonedx-gomod `PACKAGE@VERSION` that writes the SBOMs, e.g. github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0")
	flag.Parse()
	c.platforms = platforms
	c.log = os.Stderr
	if err := c.setDefaults(); err != nil {
		fatal(err)
	}
	if c.sbom == "" {
		fatal(errors.New("-cyclonedx is missing: a release carries an SBOM"))
	}
	if err := c.release(context.Background()); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}

// setDefaults fills the commit and the entries' time from git, when the
// tree is a git checkout.
func (c *config) setDefaults() error {
	if strings.ContainsAny(c.version, " \t\n/\\") || c.version == "" {
		return fmt.Errorf("-version %q: want a version without spaces or slashes, e.g. 0.1.0", c.version)
	}
	head, err := git("rev-parse", "HEAD")
	if err != nil {
		// Not a checkout (a source archive): no commit to stamp unless given.
		fmt.Fprintf(os.Stderr, "release: no git commit to stamp (%v)\n", err)
		c.modTime = time.Unix(0, 0)
		return nil
	}
	if c.commit == "" {
		c.commit = head
		if status, err := git("status", "--porcelain"); err == nil && status != "" {
			c.commit += "-dirty"
		}
	}
	when, err := git("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return err
	}
	sec, err := strconv.ParseInt(when, 10, 64)
	if err != nil {
		return fmt.Errorf("git log: commit time %q: %w", when, err)
	}
	c.modTime = time.Unix(sec, 0)
	return nil
}

func git(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(exit.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// release builds, archives and describes every platform, then writes
// SHA256SUMS.
func (c *config) release(ctx context.Context) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "avupload-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sbomTool, sbomDir, err := c.sbomTool(ctx, tmp)
	if err != nil {
		return err
	}
	var made []string
	for _, p := range c.platforms {
		start := time.Now()
		goos, goarch, _ := strings.Cut(p, "/")
		bin, err := c.build(ctx, tmp, goos, goarch)
		if err != nil {
			return err
		}
		archive, err := c.archive(bin, goos, goarch)
		if err != nil {
			return err
		}
		made = append(made, archive)
		if sbomTool != "" {
			sbom, err := c.writeSBOM(ctx, sbomTool, sbomDir, goos, goarch)
			if err != nil {
				return err
			}
			made = append(made, sbom)
		}
		fmt.Fprintf(c.log, "release: %s in %.1fs\n", archive, time.Since(start).Seconds())
	}
	return writeSums(c.dir, made)
}

// name is the stem of a platform's artifacts, e.g. avupload_0.1.0_linux_amd64.
func (c *config) name(goos, goarch string) string {
	return fmt.Sprintf("avupload_%s_%s_%s", c.version, goos, goarch)
}

// ldflags strip the binary and stamp the version and commit.
func (c *config) ldflags() string {
	return "-s -w -X main.releaseVersion=" + c.version + " -X main.releaseCommit=" + c.commit
}

// build builds the CLI for goos/goarch into a folder of tmp and returns
// the binary's path.
func (c *config) build(ctx context.Context, tmp, goos, goarch string) (string, error) {
	exe := "avupload"
	if goos == "windows" {
		exe += ".exe"
	}
	bin := filepath.Join(tmp, goos+"_"+goarch, exe)
	cmd := exec.CommandContext(ctx, c.goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags", c.ldflags(), "-o", bin, mainPackage)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s/%s: %w", goos, goarch, err)
	}
	return bin, nil
}

// entry is a file of an archive.
type entry struct {
	name string // inside the archive's folder
	path string // on disk
	mode os.FileMode
}

// archive writes the platform's archive, a folder named after it holding
// the binary and the README, and returns its name.
func (c *config) archive(bin, goos, goarch string) (string, error) {
	stem := c.name(goos, goarch)
	files := []entry{
		{name: filepath.Base(bin), path: bin, mode: 0o755},
		{name: "README.md", path: "README.md", mode: 0o644},
	}
	name := stem + ".tar.gz"
	write := writeTarGz
	if goos == "windows" {
		name, write = stem+".zip", writeZip
	}
	f, err := os.Create(filepath.Join(c.dir, name))
	if err != nil {
		return "", err
	}
	if err := write(f, stem, files, c.modTime); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return name, f.Close()
}

// writeTarGz writes files under the folder dir as a gzip-compressed tar.
func writeTarGz(w io.Writer, dir string, files []entry, modTime time.Time) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: modTime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	for _, e := range files {
		data, err := os.ReadFile(e.path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + e.name, Mode: int64(e.mode), Size: int64(len(data)), ModTime: modTime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes files under the folder dir as a zip archive.
func writeZip(w io.Writer, dir string, files []entry, modTime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range files {
		data, err := os.ReadFile(e.path)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: dir + "/" + e.name, Method: zip.Deflate, Modified: modTime.UTC()}
		hdr.SetMode(e.mode)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// sbomModule is the folder of the module cyclonedx-gomod describes: this
// one, or, in a linked git worktree, whose .git is a file that the git
// library of cyclonedx-gomod cannot follow to the refs, a clone of HEAD in
// tmp (the SBOMs then describe HEAD, without uncommitted changes).
func (c *config) sbomModule(tmp string) (string, error) {
	fi, err := os.Stat(".git")
	if err != nil || fi.IsDir() {
		return ".", nil
	}
	dir := filepath.Join(tmp, "clone")
	if _, err := git("clone", "--quiet", "--local", "--no-hardlinks", ".", dir); err != nil {
		return "", err
	}
	fmt.Fprintf(c.log, "release: a linked git worktree: the SBOMs describe a clone of HEAD\n")
	return dir, nil
}

// sbomTool installs c.sbom, built for this machine, into tmp, and returns
// its path and the folder of the module it is to describe (see
// sbomModule); "" when the release has no SBOM.
func (c *config) sbomTool(ctx context.Context, tmp string) (tool, moduleDir string, err error) {
	if c.sbom == "" {
		return "", "", nil
	}
	bin := filepath.Join(tmp, "bin")
	cmd := exec.CommandContext(ctx, c.goCmd, "install", c.sbom)
	// For this machine, whatever the environment says: GOOS and GOARCH are
	// the targets' alone.
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go install %s: %w", c.sbom, err)
	}
	name, _, _ := strings.Cut(path.Base(c.sbom), "@")
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	moduleDir, err = c.sbomModule(tmp)
	return filepath.Join(bin, name), moduleDir, err
}

// writeSBOM writes the platform's CycloneDX SBOM (JSON) of the CLI in the
// module at moduleDir, and returns its name.
func (c *config) writeSBOM(ctx context.Context, tool, moduleDir, goos, goarch string) (string, error) {
	name := c.name(goos, goarch) + ".cdx.json"
	out, err := filepath.Abs(filepath.Join(c.dir, name))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, tool, "app", "-json", "-licenses", "-main", strings.TrimPrefix(mainPackage, "./"), "-output", out, ".")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("SBOM for %s/%s: %w", goos, goarch, err)
	}
	return name, nil
}

// writeSums writes dir/SHA256SUMS over the files named, in the format
// `sha256sum -c` checks.
func writeSums(dir string, names []string) error {
	names = slices.Sorted(slices.Values(names))
	var b strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		_ = f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}
