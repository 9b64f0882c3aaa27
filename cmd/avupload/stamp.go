package main

import (
	"cmp"
	"strings"

	"github.com/avupload/avupload/wrapper"
)

// releaseVersion and releaseCommit are the version and the commit that
// `make release` stamps into the binaries it builds, with the linker's
// -X main.releaseVersion=... -X main.releaseCommit=...; empty unless
// stamped. The commit is a full hash, with "-dirty" after it when the tree
// had changes. version() prefers them to what the build recorded, which a
// build outside a git checkout (a container, a source archive) or with
// -buildvcs=false lacks.
var releaseVersion, releaseCommit string

// stampedVersion is the version stamped by `make release`, e.g. "0.1.0
// (5bd2b20c1a2b)", or "0.1.0 (5bd2b20c1a2b, modified)" from a tree with
// changes (the library's version when only the commit was stamped); ok is
// false for a build that was not stamped.
func stampedVersion() (v string, ok bool) {
	if releaseVersion == "" && releaseCommit == "" {
		return "", false
	}
	v = cmp.Or(releaseVersion, wrapper.Version)
	if releaseCommit == "" {
		return v, true
	}
	commit, dirty := releaseCommit, false
	if c, found := strings.CutSuffix(commit, "-dirty"); found {
		commit, dirty = c, true
	}
	commit = commit[:min(len(commit), 12)]
	if dirty {
		commit += ", modified"
	}
	return v + " (" + commit + ")", true
}
