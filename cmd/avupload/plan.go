package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/avupload/avupload/wrapper/batch"
)

// planFlags are the upload flags about what a batch takes: --include-hidden
// and --dry-run.
type planFlags struct {
	includeHidden bool
	dryRun        bool
}

func (p *planFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&p.includeHidden, "include-hidden", false,
		"also upload the hidden and system files and folders found in directories (.*, .DS_Store, ._*, Thumbs.db, desktop.ini...)")
	fs.BoolVar(&p.dryRun, "dry-run", false,
		"print the files that would be uploaded and what is left out, and send nothing (no token needed)")
}

// planHelp is the part of the upload help about what a batch leaves out
// and --dry-run.
const planHelp = `

A directory is walked for its videos, and what a library holds beside them is
left out: hidden files and folders (names starting with "."; on Windows, the
hidden attribute too), .DS_Store, ._* (macOS AppleDouble files), Thumbs.db,
desktop.ini, $RECYCLE.BIN, System Volume Information, @eaDir, the --journal
directory, symbolic links (unless --follow-symlinks), devices, sockets and
pipes. One line on standard error counts them; --include-hidden takes the
hidden and system ones back. A path named on the command line is never left
out for its name. An empty file is skipped (the API cannot hold an empty
video): it is not a failure. A folder that cannot be read, or a followed
link that leads nowhere or in a circle, is reported and skipped, and the
other files are uploaded; the exit status is then 1.

--dry-run prints the plan and sends nothing, needs no token and contacts no
server: every file with its size, what is left out and why, the share of
--shard, the total; -q prints only the paths, --json one object per path
("status" is "planned", "left out", "skipped" or "failed"). Its exit status
is what a real run's would be for the plan: 1 if a path could not be read.`

// planBatch plans the batch of args: opts as the batch flags made them,
// with --include-hidden. A path that does not exist or options that are not
// valid are usage errors.
func (p *planFlags) plan(args []string, opts batch.PlanOptions) (*batch.PlanResult, error) {
	opts.IncludeHidden = p.includeHidden
	res, err := batch.Walk(args, opts)
	if err != nil {
		return nil, usageError{err}
	}
	return res, nil
}

// reportLeftOut says on w, standard error, what the plan left out before a
// batch starts: one line of counts and a line per empty file (neither with
// quiet), and a line per path that could not be read (always: these are
// errors).
func reportLeftOut(w io.Writer, res *batch.PlanResult, quiet bool) {
	if line := leftOutLine(res); line != "" && !quiet {
		printf(w, "avupload: left out %s\n", line)
	}
	for _, l := range res.LeftOut {
		if l.Reason.Problem() || l.Reason == batch.ReasonEmpty && !quiet {
			printf(w, "avupload: skipped %s: %s\n", quotePath(l.Path), leftOutWhy(l))
		}
	}
}

// leftOutWhy is why l was left out, in a few words.
func leftOutWhy(l batch.LeftOut) string {
	what := "file"
	if l.Dir {
		what = "folder"
	}
	switch l.Reason {
	case batch.ReasonHidden:
		return "hidden " + what
	case batch.ReasonSystem:
		return "system " + what
	case batch.ReasonJournal:
		return "the journal"
	case batch.ReasonSymlink:
		return "symbolic link, not followed without --follow-symlinks"
	case batch.ReasonSpecial:
		return "not a regular file (a device, socket or pipe)"
	case batch.ReasonEmpty:
		return "empty file (0 bytes), nothing to upload"
	case batch.ReasonDanglingLink:
		if target, err := os.Readlink(l.Path); err == nil {
			return "dangling symbolic link to " + quotePath(target)
		}
		return "dangling symbolic link"
	case batch.ReasonLinkLoop:
		return "symbolic link loop"
	}
	if l.Err != nil {
		return escapeText(osReason(l.Err))
	}
	return string(l.Reason)
}

// leftOutLine counts what the plan left out by choice, with the flag that
// takes each kind back: "3 hidden files, 1 system file (.DS_Store) and the
// journal; --include-hidden takes the hidden and system files back", or ""
// when nothing was. Empty files and problems have lines of their own;
// --include, --exclude and --shard are the user's own choices, not repeated.
func leftOutLine(res *batch.PlanResult) string {
	var (
		n       = map[string]int{}
		names   = map[string][]string{} // the names of the system files and folders
		journal bool
	)
	for _, l := range res.LeftOut {
		switch l.Reason {
		case batch.ReasonHidden:
			n[map[bool]string{false: "hidden file", true: "hidden folder"}[l.Dir]]++
		case batch.ReasonSystem:
			kind := map[bool]string{false: "system file", true: "system folder"}[l.Dir]
			n[kind]++
			name := baseName(l.Path)
			if strings.HasPrefix(name, "._") {
				name = "._*"
			}
			if !slices.Contains(names[kind], name) {
				names[kind] = append(names[kind], name)
			}
		case batch.ReasonJournal:
			journal = true
		case batch.ReasonSymlink:
			n["symbolic link"]++
		case batch.ReasonSpecial:
			n["device, socket or pipe"]++
		}
	}
	var parts, hints []string
	for _, kind := range []string{"hidden file", "hidden folder", "system file", "system folder", "symbolic link", "device, socket or pipe"} {
		if n[kind] == 0 {
			continue
		}
		part := plural(n[kind], kind)
		if list := names[kind]; len(list) > 0 {
			slices.Sort(list)
			if len(list) > 4 {
				list = append(list[:4], "...")
			}
			part += " (" + escapeText(strings.Join(list, ", ")) + ")"
		}
		parts = append(parts, part)
	}
	if journal {
		parts = append(parts, "the journal")
	}
	if len(parts) == 0 {
		return ""
	}
	if n["hidden file"]+n["hidden folder"]+n["system file"]+n["system folder"] > 0 {
		hints = append(hints, "--include-hidden takes the hidden and system files back")
	}
	if n["symbolic link"] > 0 {
		hints = append(hints, "--follow-symlinks follows the links")
	}
	line := parts[0]
	if len(parts) > 1 {
		line = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	if len(hints) > 0 {
		line += "; " + strings.Join(hints, "; ")
	}
	return line
}

// plural is "1 system file", "2 system files", "2 devices, sockets or pipes"
// spelled plainly: n and the kind, with an s when n is not 1.
func plural(n int, kind string) string {
	if n == 1 {
		return "1 " + kind
	}
	if kind == "device, socket or pipe" {
		return fmt.Sprintf("%d devices, sockets or pipes", n)
	}
	return fmt.Sprintf("%d %ss", n, kind)
}

// planFailure is the error a batch ends with: err, the batch's own error
// (nil when every upload succeeded), joined with the count of paths the
// plan could not read. It is nil when both are. The run goes on past
// those paths, but they make its exit status 1.
func planFailure(res *batch.PlanResult, err error) error {
	if res == nil { // standard input: no plan
		return err
	}
	n := len(res.Problems())
	if n == 0 {
		return err
	}
	msg := "1 path could not be read and was skipped (see above)"
	if n > 1 {
		msg = fmt.Sprintf("%d paths could not be read and were skipped (see above)", n)
	}
	if err != nil {
		return &planError{msg: err.Error() + "; " + msg, err: err}
	}
	return &planError{msg: msg}
}

// planError is a batch's end when paths could not be read; it wraps the
// batch's own error, if any.
type planError struct {
	msg string
	err error
}

func (e *planError) Error() string { return e.msg }
func (e *planError) Unwrap() error { return e.err }

// planJSON is one path of a plan, as --json prints it: "planned" (a
// dry run's file to upload), "left out" (by choice, a dry run only),
// "skipped" (an empty file) or "failed" (a path that could not be read).
// Path and pathBytes are as in a batch's file lines.
type planJSON struct {
	Path      string `json:"path"`
	PathBytes []byte `json:"pathBytes,omitempty"`
	Status    string `json:"status"`
	Size      int64  `json:"size"`
	Reason    string `json:"reason,omitempty"`
	Error     string `json:"error,omitempty"`
}

// planRecords returns the JSON records of a plan: with all, the files
// planned and everything left out (what --dry-run --json prints); without,
// only the empty files and the problems, which a real run may print among
// its file lines.
func planRecords(res *batch.PlanResult, all bool) []planJSON {
	var recs []planJSON
	rec := func(path, status string, size int64, reason batch.LeftOutReason, msg string) {
		r := planJSON{Path: path, Status: status, Size: size, Reason: string(reason), Error: msg}
		if !utf8.ValidString(path) {
			r.PathBytes = []byte(path)
		}
		recs = append(recs, r)
	}
	if all {
		for _, f := range res.Files {
			rec(f.Path, "planned", f.Size, "", "")
		}
	}
	for _, l := range res.LeftOut {
		switch {
		case l.Reason.Problem():
			rec(l.Path, "failed", 0, l.Reason, leftOutWhy(l))
		case l.Reason == batch.ReasonEmpty:
			rec(l.Path, "skipped", 0, l.Reason, "")
		case all:
			rec(l.Path, "left out", 0, l.Reason, "")
		}
	}
	return recs
}

// printPlan prints a dry run's plan on out, standard output: a line per
// file and per path left out, then the totals (with quiet, only the paths;
// with asJSON, planRecords). Standard error, errw, has what a real run
// would say there before it starts, and the problems make the error
// returned, as in a real run.
func printPlan(out, errw io.Writer, res *batch.PlanResult, opts batch.PlanOptions, o *outputFlags) error {
	switch {
	case o.json:
		for _, r := range planRecords(res, true) {
			line, _ := json.Marshal(r)
			printf(out, "%s\n", escapeJSON(line))
		}
	case o.quiet:
		for _, f := range res.Files {
			printf(out, "%s\n", quotePath(f.Path))
		}
	default:
		for _, f := range res.Files {
			printf(out, "planned   %s  %s\n", formatSize(f.Size), quotePath(f.Path))
		}
		for _, l := range res.LeftOut {
			switch {
			case l.Reason == batch.ReasonEmpty:
				printf(out, "skipped   %s: %s\n", quotePath(l.Path), leftOutWhy(l))
			case !l.Reason.Problem():
				printf(out, "left out  %s: %s\n", quotePath(l.Path), leftOutWhy(l))
			}
		}
		printf(out, "%s\n", planTotals(res, opts))
	}
	if line := leftOutLine(res); line != "" && !o.quiet {
		printf(errw, "avupload: left out %s\n", line)
	}
	for _, l := range res.Problems() {
		printf(errw, "avupload: skipped %s: %s\n", quotePath(l.Path), leftOutWhy(l))
	}
	return planFailure(res, nil)
}

// planTotals is a dry run's last line: "dry run: 3 files, 4.0 MiB to
// upload (shard 2/8: 5 files in other shards); 2 paths left out, 1 empty
// file skipped; nothing was sent".
func planTotals(res *batch.PlanResult, opts batch.PlanOptions) string {
	s := fmt.Sprintf("dry run: %s, %s to upload", plural(len(res.Files), "file"), formatSize(res.Bytes()))
	var also []string
	if opts.Shards > 0 {
		also = append(also, fmt.Sprintf("shard %d/%d: %s in other shards", opts.Shard, opts.Shards, plural(res.OtherShard, "file")))
	}
	if res.Excluded > 0 {
		also = append(also, plural(res.Excluded, "file")+" not matching --include/--exclude")
	}
	if len(also) > 0 {
		s += " (" + strings.Join(also, "; ") + ")"
	}
	var left, empty, problems int
	for _, l := range res.LeftOut {
		switch {
		case l.Reason == batch.ReasonEmpty:
			empty++
		case l.Reason.Problem():
			problems++
		default:
			left++
		}
	}
	var counts []string
	if left > 0 {
		counts = append(counts, plural(left, "path")+" left out")
	}
	if empty > 0 {
		counts = append(counts, plural(empty, "empty file")+" skipped")
	}
	if problems > 0 {
		counts = append(counts, plural(problems, "path")+" could not be read")
	}
	if len(counts) > 0 {
		s += "; " + strings.Join(counts, ", ")
	}
	return s + "; nothing was sent"
}
