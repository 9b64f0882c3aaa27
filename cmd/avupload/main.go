// Command avupload uploads videos to api.video with delegated upload tokens,
// and runs a local sandbox of the API.
//
// Usage:
//
//	avupload sandbox --addr 127.0.0.1:8080 --api-key KEY [--data-dir DIR] [--rate-limit] [--fault SPEC]...
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
