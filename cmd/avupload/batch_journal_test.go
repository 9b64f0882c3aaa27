package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper/batch"
)

// TestBatchStoppedListsUnrecorded checks what a batch stopped by a journal
// that cannot record a completed file prints: each such file with its
// video id, a line on its own, and an error saying what happened and how
// to go on, which exits 1.
func TestBatchStoppedListsUnrecorded(t *testing.T) {
	var stdout, stderr bytes.Buffer
	out := newBatchOutput(&stdout, &stderr, &outputFlags{}, func(err error) string { return describe(err, nil) })
	full := errors.New("no space left on device")
	out.file(batch.FileResult{File: batch.File{Path: "tree/a.mp4"}, Status: batch.FileUploaded, VideoID: "viA", Size: 10})
	out.file(batch.FileResult{File: batch.File{Path: "tree/b\x1b.mp4"}, Status: batch.FileUnrecorded, VideoID: "viB", Size: 20,
		Err: fmt.Errorf("uploaded as video viB, but not recorded: %w", full)})
	out.file(batch.FileResult{File: batch.File{Path: "tree/c.mp4"}, Status: batch.FileUnrecorded, VideoID: "viC", Size: 30,
		Err: fmt.Errorf("uploaded as video viC, but not recorded: %w", full), Resumable: true})
	res := &batch.Result{Uploaded: 1, Unrecorded: 2, NotStarted: 2, Duration: time.Second}
	out.finish(res)
	cause := fmt.Errorf("%w, so the batch stopped starting files: writing the journal j: %w", batch.ErrJournalNotSaved, full)
	err := out.stopped(cause, res, 5, "j")

	assert.Contains(t, stdout.String(), "1 uploaded, 0 skipped, 0 failed, 2 unrecorded, 2 not started;")
	assert.Contains(t, stderr.String(), `unrecorded viB  20 B  "tree/b\x1b.mp4": uploaded as video viB, but not recorded: no space left on device`+"\n")
	assert.Contains(t, stderr.String(), "avupload: these files are uploaded, but the journal j does not record them:\n"+
		`  viB  "tree/b\x1b.mp4"  (a rerun uploads it again)`+"\n"+
		"  viC  tree/c.mp4  (its state is kept: a rerun completes it without sending it again)\n")
	assert.NotContains(t, stderr.String(), "viA")
	require.ErrorIs(t, err, batch.ErrJournalNotSaved)
	assert.Equal(t, "the journal could not be written, so the batch stopped starting files: writing the journal j: no space left on device "+
		"(of 5 files: 1 uploaded, 2 unrecorded, 0 failed, 2 not started); make j writable (free its disk) and run the same command again: "+
		"it resumes from the saved states and goes on with the rest; it would upload a second time the 1 file(s) marked 'a rerun uploads it again' above: "+
		"leave them out of the command, or delete their videos first", describe(err, nil))
	assert.Equal(t, exitFailure, exitCode(t.Context(), commandError{err}))
}

// TestExitCodeStdoutGone checks that a batch stopped by a standard output
// it could not write exits as an interrupted one, with the run's own
// context still live.
func TestExitCodeStdoutGone(t *testing.T) {
	err := commandError{&batchInterrupted{cause: &stdoutError{err: errors.New("broken")}, res: &batch.Result{}, files: 1}}
	assert.Equal(t, exitInterrupted, exitCode(t.Context(), err))
	assert.True(t, strings.HasPrefix(err.Error(), "standard output could not be written: broken: batch stopped with 0 of 1 files uploaded"), err.Error())
}
