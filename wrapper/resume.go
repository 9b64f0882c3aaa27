package wrapper

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// UploadError is what a failed or cancelled Upload returns. State, when not
// nil, is the upload's state at the time of the failure: Upload has saved
// it in UploadOptions.Store when there is one; without a store, save it in
// a ResumeStore by hand and call Upload again with that store to go on
// where the upload stopped. Unwrap gives the cause, so
// errors.Is(err, context.Canceled) and errors.As(err, new(*APIError)) work
// through it.
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

// ErrSourceChanged is matched by errors.Is when the bytes of the source are
// not those the API acknowledged: a resumed stream whose skipped chunks
// differ from the saved upload's, or a file that changed while it was
// being uploaded. (A file that changed between two runs is not an error:
// its upload starts over as a new video.)
var ErrSourceChanged = errors.New("avupload: the source changed")

// ErrStateNotSaved is matched by errors.Is when the upload stopped because
// its state could not be saved in UploadOptions.Store (see
// UploadOptions.IgnoreStoreErrors).
var ErrStateNotSaved = errors.New("avupload: the upload state could not be saved")

// StateEventKind says what a StateEvent reports.
type StateEventKind int

// The kinds of StateEvent.
const (
	// StateResumed: the upload goes on with a saved state's video, whose
	// acknowledged chunks all still hold the same bytes.
	StateResumed StateEventKind = iota + 1
	// StateStartedOver: a saved state was found but its video is not
	// continued, and a new video is started; Err says why (the source
	// changed, or the API refused the saved video). The state is replaced.
	StateStartedOver
	// StateSaveFailed: the state could not be saved; Err says why. The
	// upload goes on only with UploadOptions.IgnoreStoreErrors; otherwise
	// it stops with ErrStateNotSaved.
	StateSaveFailed
)

// StateEvent tells what Upload did with its ResumeStore; see
// UploadOptions.OnState.
type StateEvent struct {
	// Kind says what happened.
	Kind StateEventKind
	// VideoID is the saved state's video.
	VideoID string
	// Acked is how many chunks the saved state holds.
	Acked int
	// ChunkSize is the saved state's chunk size, which a resumed upload
	// keeps whatever UploadOptions.ChunkSize says.
	ChunkSize int64
	// Err says why the upload started over, or why the save failed.
	Err error
}

// ResumeKey is the key under which Upload keeps the state of an upload of
// source (an UploadState.Source: a file's absolute path, ...) to the API at
// baseURL (Client.BaseURL) in a ResumeStore. It does not depend on the token,
// so a new token goes on with the same state.
func ResumeKey(baseURL, source string) string {
	h := sha256.New()
	_, _ = io.WriteString(h, strings.TrimSuffix(baseURL, "/")+"\x00"+source)
	return "upload-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// describeSource names a source identity as a person would.
func describeSource(id string) string {
	if rest, ok := strings.CutPrefix(id, "stream:"); ok {
		return fmt.Sprintf("a stream sent as %q", rest)
	}
	if rest, ok := strings.CutPrefix(id, "reader:"); ok {
		return fmt.Sprintf("a reader sent as %q", rest)
	}
	return id
}
