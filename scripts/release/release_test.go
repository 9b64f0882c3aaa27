package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// archived is a file read back from an archive.
type archived struct {
	mode    os.FileMode
	modTime time.Time
	data    string
}

// TestArchives checks that the tar.gz and the zip hold the files under
// one folder, with their bytes, modes and the given time.
func TestArchives(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "avupload")
	readme := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF binary"), 0o600))
	require.NoError(t, os.WriteFile(readme, []byte("# avupload\n"), 0o600))
	files := []entry{{name: "avupload", path: bin, mode: 0o755}, {name: "README.md", path: readme, mode: 0o644}}
	when := time.Date(2026, 12, 5, 3, 4, 6, 0, time.UTC)
	want := map[string]archived{
		"avupload_1.2.3_os_arch/avupload":  {mode: 0o755, modTime: when, data: "\x7fELF binary"},
		"avupload_1.2.3_os_arch/README.md": {mode: 0o644, modTime: when, data: "# avupload\n"},
	}

	var tgz bytes.Buffer
	require.NoError(t, writeTarGz(&tgz, "avupload_1.2.3_os_arch", files, when))
	gz, err := gzip.NewReader(&tgz)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	got := map[string]archived{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if hdr.Typeflag == tar.TypeDir {
			assert.Equal(t, "avupload_1.2.3_os_arch/", hdr.Name)
			continue
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		got[hdr.Name] = archived{mode: os.FileMode(hdr.Mode), modTime: hdr.ModTime.UTC(), data: string(data)}
		assert.Zero(t, hdr.Uid, "no user of the machine that built it")
		assert.Empty(t, hdr.Uname)
	}
	assert.Equal(t, want, got, "tar.gz")

	var zbuf bytes.Buffer
	require.NoError(t, writeZip(&zbuf, "avupload_1.2.3_os_arch", files, when))
	zr, err := zip.NewReader(bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len()))
	require.NoError(t, err)
	got = map[string]archived{}
	for _, f := range zr.File {
		r, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, r.Close())
		got[f.Name] = archived{mode: f.Mode().Perm(), modTime: f.Modified.UTC(), data: string(data)}
	}
	assert.Equal(t, want, got, "zip")
}

// TestWriteSums checks SHA256SUMS: a line per file, sorted, in the format
// of sha256sum, with each file's digest.
func TestWriteSums(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"b.zip": "bee", "a.tar.gz": "ay", "a.cdx.json": "{}"}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	require.NoError(t, writeSums(dir, []string{"b.zip", "a.tar.gz", "a.cdx.json"}))
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	require.NoError(t, err)
	var want strings.Builder
	for _, name := range []string{"a.cdx.json", "a.tar.gz", "b.zip"} {
		sum := sha256.Sum256([]byte(files[name]))
		want.WriteString(hex.EncodeToString(sum[:]) + "  " + name + "\n")
	}
	assert.Equal(t, want.String(), string(sums))
	require.Error(t, writeSums(dir, []string{"missing.zip"}), "a file that is not there")
}

// TestReleaseBinaryIsStamped builds the release of this machine's
// platform and runs the binary from its archive: --version names the
// version and commit stamped, and SHA256SUMS holds the archive's digest.
func TestReleaseBinaryIsStamped(t *testing.T) {
	t.Chdir("../..") // the module's root, where make release runs it
	dir := t.TempDir()
	var log bytes.Buffer
	c := &config{
		dir:       dir,
		version:   "9.9.9-test",
		commit:    "0123456789abcdef0123456789abcdef01234567-dirty",
		modTime:   time.Unix(1764900000, 0),
		platforms: []string{runtime.GOOS + "/" + runtime.GOARCH},
		goCmd:     "go",
		log:       &log,
	}
	require.NoError(t, c.release(context.Background()), log.String())

	stem := "avupload_9.9.9-test_" + runtime.GOOS + "_" + runtime.GOARCH
	archive, exe := stem+".tar.gz", "avupload"
	if runtime.GOOS == "windows" {
		archive, exe = stem+".zip", "avupload.exe"
	}
	data, err := os.ReadFile(filepath.Join(dir, archive))
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:])+"  "+archive+"\n", string(sums))

	bin := filepath.Join(t.TempDir(), exe)
	require.NoError(t, os.WriteFile(bin, extract(t, archive, data, stem+"/"+exe), 0o755))
	out, err := exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "avupload version 9.9.9-test (0123456789ab, modified)\n", string(out))
}

// extract returns the bytes of the file name in the archive data.
func extract(t *testing.T, archive string, data []byte, name string) []byte {
	t.Helper()
	if strings.HasSuffix(archive, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		r, err := zr.Open(name)
		require.NoError(t, err)
		defer r.Close()
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		return b
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		require.NoError(t, err, "%s holds %s", archive, name)
		if hdr.Name == name {
			assert.Equal(t, int64(0o755), hdr.Mode, "executable")
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			return b
		}
	}
}
