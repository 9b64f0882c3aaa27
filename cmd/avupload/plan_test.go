package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper/batch"
)

// TestLeftOutLine checks the line that counts what a batch left out by
// choice, with the flag that takes each kind back.
func TestLeftOutLine(t *testing.T) {
	l := func(path string, why batch.LeftOutReason, dir bool) batch.LeftOut {
		return batch.LeftOut{Path: path, Reason: why, Dir: dir}
	}
	tests := []struct {
		name string
		left []batch.LeftOut
		want string
	}{
		{"nothing", nil, ""},
		{"empty files and problems have lines of their own", []batch.LeftOut{
			l("e.mp4", batch.ReasonEmpty, false),
			{Path: "d", Reason: batch.ReasonUnreadable, Dir: true, Err: fs.ErrPermission},
		}, ""},
		{"one hidden file", []batch.LeftOut{l("v/.x.mp4", batch.ReasonHidden, false)},
			"1 hidden file; --include-hidden takes the hidden and system files back"},
		{"the journal alone needs no flag", []batch.LeftOut{l("v/j", batch.ReasonJournal, true)}, "the journal"},
		{"every kind", []batch.LeftOut{
			l("v/.a", batch.ReasonHidden, false), l("v/.b", batch.ReasonHidden, false), l("v/.git", batch.ReasonHidden, true),
			l("v/.DS_Store", batch.ReasonSystem, false), l("v/s/.DS_Store", batch.ReasonSystem, false),
			l("v/._a.mp4", batch.ReasonSystem, false), l("v/._b.mp4", batch.ReasonSystem, false),
			l(`v\Thumbs.db`, batch.ReasonSystem, false), l("v/desktop.ini", batch.ReasonSystem, false), l("v/ehthumbs.db", batch.ReasonSystem, false),
			l("v/@eaDir", batch.ReasonSystem, true),
			l("v/j", batch.ReasonJournal, true),
			l("v/link", batch.ReasonSymlink, false), l("v/fifo", batch.ReasonSpecial, false), l("v/sock", batch.ReasonSpecial, false),
		}, "2 hidden files, 1 hidden folder, 7 system files (.DS_Store, ._*, Thumbs.db, desktop.ini, ...), 1 system folder (@eaDir), " +
			"1 symbolic link, 2 devices, sockets or pipes and the journal; " +
			"--include-hidden takes the hidden and system files back; --follow-symlinks follows the links"},
		{"a name that would draw on the terminal", []batch.LeftOut{l("v/._\x1b[2J", batch.ReasonSystem, false), l("v/Thumbs\x1b[2J.db", batch.ReasonSystem, false)},
			`2 system files (._*, Thumbs\x1b[2J.db); --include-hidden takes the hidden and system files back`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, leftOutLine(&batch.PlanResult{LeftOut: tt.left}))
		})
	}
}

// TestPlanFailure checks how a batch ends when paths could not be read:
// exit status 1 even when every upload succeeded, the count in the
// message, the batch's own error kept.
func TestPlanFailure(t *testing.T) {
	problem := batch.LeftOut{Path: "v/sub", Reason: batch.ReasonUnreadable, Dir: true, Err: &fs.PathError{Op: "open", Path: "v/sub", Err: fs.ErrPermission}}
	empty := batch.LeftOut{Path: "v/e.mp4", Reason: batch.ReasonEmpty}
	failed := errors.New("1 of 3 files failed; run the same command again to retry them")
	tests := []struct {
		name     string
		left     []batch.LeftOut
		err      error
		want     string // "" for no error
		wantCode int
	}{
		{"nothing wrong", []batch.LeftOut{empty}, nil, "", exitOK},
		{"a failed upload alone", []batch.LeftOut{empty}, failed, failed.Error(), exitFailure},
		{"one path", []batch.LeftOut{empty, problem}, nil, "1 path could not be read and was skipped (see above)", exitFailure},
		{"two paths and a failed upload", []batch.LeftOut{problem, problem}, failed,
			failed.Error() + "; 2 paths could not be read and were skipped (see above)", exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := planFailure(&batch.PlanResult{LeftOut: tt.left}, tt.err)
			assert.Equal(t, tt.wantCode, exitCode(context.Background(), runE(func(*cobra.Command, []string) error { return err })(nil, nil)))
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, describe(err, nil))
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err, "the batch's own error is kept")
			}
		})
	}
}

// TestLeftOutWhy checks each reason's words, a path's error in the user's
// words, and that a link's target cannot draw on the terminal.
func TestLeftOutWhy(t *testing.T) {
	tests := []struct {
		l    batch.LeftOut
		want string
	}{
		{batch.LeftOut{Path: "v/.git", Reason: batch.ReasonHidden, Dir: true}, "hidden folder"},
		{batch.LeftOut{Path: "v/Thumbs.db", Reason: batch.ReasonSystem}, "system file"},
		{batch.LeftOut{Path: "v/e.mp4", Reason: batch.ReasonEmpty}, "empty file (0 bytes), nothing to upload"},
		{batch.LeftOut{Path: "v/sub", Reason: batch.ReasonUnreadable, Dir: true, Err: &fs.PathError{Op: "open", Path: "v/sub", Err: fs.ErrPermission}},
			"permission denied"},
		{batch.LeftOut{Path: "v/x", Reason: batch.ReasonUnreadable, Err: &fs.PathError{Op: "stat", Path: "v/x", Err: errors.New("input/output error\x1b[2J")}},
			`input/output error\x1b[2J`},
		{batch.LeftOut{Path: "v/loop", Reason: batch.ReasonLinkLoop, Err: fs.ErrInvalid}, "symbolic link loop"},
		{batch.LeftOut{Path: "v/no-such-link", Reason: batch.ReasonDanglingLink, Err: fs.ErrNotExist}, "dangling symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, leftOutWhy(tt.l))
		})
	}
}

// TestPlanRecords checks the JSON records of a plan: the files and what
// was left out for a dry run, only the empty files and problems for a
// real run; a path that is not UTF-8 kept byte for byte.
func TestPlanRecords(t *testing.T) {
	res := &batch.PlanResult{
		Files: []batch.File{{Path: "v/a.mp4", Size: 10}, {Path: "v/b\xff.mp4", Size: 20}},
		LeftOut: []batch.LeftOut{
			{Path: "v/.DS_Store", Reason: batch.ReasonSystem},
			{Path: "v/e.mp4", Reason: batch.ReasonEmpty},
			{Path: "v/sub", Reason: batch.ReasonUnreadable, Dir: true, Err: &fs.PathError{Op: "open", Path: "v/sub", Err: fs.ErrPermission}},
		},
	}
	lines := func(recs []planJSON) string {
		var b strings.Builder
		for _, r := range recs {
			line, err := json.Marshal(r)
			require.NoError(t, err)
			b.Write(line)
			b.WriteByte('\n')
		}
		return b.String()
	}
	assert.Equal(t, `{"path":"v/a.mp4","status":"planned","size":10}
{"path":"v/b\ufffd.mp4","pathBytes":"di9i/y5tcDQ=","status":"planned","size":20}
{"path":"v/.DS_Store","status":"left out","size":0,"reason":"system"}
{"path":"v/e.mp4","status":"skipped","size":0,"reason":"empty"}
{"path":"v/sub","status":"failed","size":0,"reason":"unreadable","error":"permission denied"}
`, lines(planRecords(res, true)))
	assert.Equal(t, `{"path":"v/e.mp4","status":"skipped","size":0,"reason":"empty"}
{"path":"v/sub","status":"failed","size":0,"reason":"unreadable","error":"permission denied"}
`, lines(planRecords(res, false)))

	// A dry run prints them, the problem on standard error too, and
	// fails as the real run would.
	var out, errw bytes.Buffer
	err := printPlan(&out, &errw, res, batch.PlanOptions{}, &outputFlags{json: true})
	assert.Equal(t, lines(planRecords(res, true)), out.String())
	assert.Equal(t, "avupload: left out 1 system file (.DS_Store); --include-hidden takes the hidden and system files back\navupload: skipped v/sub: permission denied\n", errw.String())
	assert.EqualError(t, err, "1 path could not be read and was skipped (see above)")
}
