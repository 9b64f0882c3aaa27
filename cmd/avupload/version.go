package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// buildInfo is what 'avupload version' tells: the version, the commit the
// binary was built from (when the build recorded one), the Go release that
// built it and the system it runs on.
type buildInfo struct {
	version, commit, goVersion, platform string
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
// binary has none.
func buildInfoOf(info *debug.BuildInfo) buildInfo {
	b := buildInfo{version: wrapper.Version, commit: "unknown (not recorded by this build)",
		goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		b.stamp()
		return b
	}
	if info.GoVersion != "" {
		b.goVersion = info.GoVersion
	}
	var revision, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if revision != "" {
		b.commit = revision
		if at != "" {
			b.commit += " (" + at + ")"
		}
		if modified == "true" {
			b.commit += ", with uncommitted changes"
		}
	}
	b.stamp()
	return b
}

// stamp puts in b the version and commit `make release` stamped, which win
// over what the build recorded (a release is built with -buildvcs=false).
func (b *buildInfo) stamp() {
	if releaseVersion != "" {
		b.version = releaseVersion
	}
	if c, dirty := strings.CutSuffix(releaseCommit, "-dirty"); c != "" {
		b.commit = c
		if dirty {
			b.commit += ", with uncommitted changes"
		}
	}
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
			fmt.Fprintf(&out, "commit:   %s\n", b.commit)
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
