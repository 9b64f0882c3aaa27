package main

import (
	"github.com/spf13/cobra"
)

// version is the avupload version, set at build time with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// newRootCommand returns the avupload command with every subcommand. Each
// subcommand lives in its own file and is added here.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "avupload",
		Short:         "Upload videos to api.video with delegated upload tokens",
		Long:          "avupload mints upload tokens and uploads videos of any size to api.video, in resumable chunks.\nIt also runs a local sandbox of the API for tests and demos.",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newSandboxCommand())
	return root
}
