package main

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// buildInfo is what 'avupload version' and --version tell: the version,
// the commit the binary was built from (stamped by make release, else
// recorded by the build, if either), the Go release that built it and the
// system it runs on.
type buildInfo struct {
	version, goVersion, platform string
	revision, at                 string // the commit and its time; empty when unknown
	modified                     bool   // the tree had uncommitted changes
}

// readBuildInfo reads the build's record of itself.
func readBuildInfo() buildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return buildInfoOf(info)
}

// buildInfoOf reads info, the build's record of itself, or nil when the
// binary has none; what make release stamped wins over it (a release is
// built with -buildvcs=false).
func buildInfoOf(info *debug.BuildInfo) buildInfo {
	b := buildInfo{version: cmp.Or(releaseVersion, wrapper.Version), goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	if c, dirty := strings.CutSuffix(releaseCommit, "-dirty"); c != "" {
		b.revision, b.modified = c, dirty
		return b
	}
	if info == nil {
		return b
	}
	b.goVersion = cmp.Or(info.GoVersion, b.goVersion)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		case "vcs.time":
			b.at = s.Value
		}
	}
	return b
}

// commit is the commit line of 'avupload version'.
func (b buildInfo) commit() string {
	if b.revision == "" {
		return "unknown (not recorded by this build)"
	}
	s := b.revision
	if b.at != "" {
		s += " (" + b.at + ")"
	}
	if b.modified {
		s += ", with uncommitted changes"
	}
	return s
}

// short is what --version tells: "0.1.0 (5bd2b20c1a2b, modified)".
func (b buildInfo) short() string {
	if b.revision == "" {
		return b.version
	}
	rev := b.revision[:min(len(b.revision), 12)]
	if b.modified {
		rev += ", modified"
	}
	return b.version + " (" + rev + ")"
}

// newVersionCommand returns 'avupload version'.
func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version, the commit, the Go release and the platform of avupload",
		Long: "Show the version of avupload, the commit it was built from (when the build recorded it),\n" +
			"the Go release that built it and the system and architecture it runs on.\n" +
			"'avupload --version' shows the version alone, on one line.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			var out strings.Builder
			fmt.Fprintf(&out, "avupload %s\n", b.version)
			fmt.Fprintf(&out, "commit:   %s\n", b.commit())
			fmt.Fprintf(&out, "go:       %s\n", b.goVersion)
			fmt.Fprintf(&out, "platform: %s\n", b.platform)
			_, err := fmt.Fprint(cmd.OutOrStdout(), out.String())
			return err
		},
	}
}

// completionShells are the shells 'avupload completion' writes scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// fixCompletionCommand makes 'avupload completion SHELL' refuse a shell it
// does not know (cobra shows the help and exits 0), naming those it knows.
func fixCompletionCommand(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Use = "completion SHELL"
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usagef("%s %s: no such shell; avupload writes completion scripts for %s",
				cmd.CommandPath(), quoteIfNeeded(args[0]), strings.Join(completionShells, ", "))
		}
	}
}
