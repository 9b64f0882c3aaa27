package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// version is the avupload version: the library's, which the command shares
// since both ship in one module, then the commit it was built from when the
// build recorded one, e.g. "0.1.0 (5bd2b20c1a2b, modified)".
func version() string {
	if v, ok := stampedVersion(); ok { // make release: stamp.go
		return v
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return wrapper.Version
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return wrapper.Version
	}
	revision = revision[:min(len(revision), 12)]
	if modified == "true" {
		revision += ", modified"
	}
	return wrapper.Version + " (" + revision + ")"
}

// newRootCommand returns the avupload command with the sandbox subcommand,
// which needs no credential; run adds the token and upload commands (see
// addCommands). Each subcommand lives in its own file.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "avupload",
		Short: "Upload videos to api.video with delegated upload tokens",
		Long: "avupload mints upload tokens and uploads videos of any size to api.video, in resumable chunks.\n" +
			"It also runs a local sandbox of the API for tests and demos.\n\n" +
			"Sizes (--chunk-size, --memory-budget, a fault's cut=) are a number of bytes (52428800) or a number\n" +
			"with a binary unit: 512K, 50MiB, 1.5GiB; KB, MB and GB mean KiB, MiB and GiB (powers of 1024).",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newSandboxCommand(), newVersionCommand())
	return root
}
