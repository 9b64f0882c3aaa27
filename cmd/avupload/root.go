package main

import (
	"github.com/spf13/cobra"
)

// version is what --version tells, e.g. "0.1.0 (5bd2b20c1a2b, modified)".
func version() string { return readBuildInfo().short() }

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
