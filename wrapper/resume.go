package wrapper

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
)

// UploadError is what a failed or cancelled Upload returns. State, when not
// nil, is the upload's state at the time of the failure: save it in a
// ResumeStore and call Upload again with that store to go on where the
// upload stopped. Unwrap gives the cause, so errors.Is(err, context.Canceled)
// and errors.As(err, new(*APIError)) work through it.
type UploadError struct {
	// State is the state of the upload, nil when no chunk was acknowledged.
	State *UploadState
	// Err is the cause of the failure.
	Err error
}

// Error reports the cause and how far the upload got.
func (e *UploadError) Error() string {
	msg := "avupload: upload failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.State == nil {
		return msg
	}
	return fmt.Sprintf("%s (video %s: %d chunks acknowledged)", msg, e.State.VideoID, len(e.State.Acked))
}

// Unwrap returns the cause.
func (e *UploadError) Unwrap() error { return e.Err }

// hashToken is the hex SHA-256 of an upload token: what a state holds in
// place of the token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// resumeKey names a state in a ResumeStore: a hash of the token's hash, the
// source's identity (a file's path, or the file name) and its size. The
// content is checked against the state's fingerprint, not the key, so that a
// changed file overwrites its stale state instead of leaving it behind.
func resumeKey(tokenHash, identity string, size int64) string {
	h := sha256.New()
	_, _ = io.WriteString(h, tokenHash+"\x00"+identity+"\x00"+strconv.FormatInt(size, 10))
	return "upload-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// hashRange is the hex SHA-256 of n bytes of r from off, read through a
// small buffer.
func hashRange(r io.ReaderAt, off, n int64, buf []byte) (string, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, off, n), buf); err != nil {
		return "", fmt.Errorf("avupload: reading the source: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// seekableFingerprint fingerprints a source of known size read with
// ReadAt: its size, modification time and the hashes of its first and last
// chunks of chunkSize bytes.
func seekableFingerprint(src *openSource, chunkSize int64) (Fingerprint, error) {
	fp := Fingerprint{Size: src.size, ModTime: src.modTime}
	buf := make([]byte, hashBufferSize)
	head := min(chunkSize, src.size)
	var err error
	if fp.HeadSHA256, err = hashRange(src.at, 0, head, buf); err != nil {
		return fp, err
	}
	lastFrom := (src.size - 1) / chunkSize * chunkSize
	if lastFrom == 0 {
		fp.TailSHA256 = fp.HeadSHA256
		return fp, nil
	}
	fp.TailSHA256, err = hashRange(src.at, lastFrom, src.size-lastFrom, buf)
	return fp, err
}
