// Command avupload uploads videos to api.video with delegated upload tokens,
// and runs a local sandbox of the API.
//
// Usage:
//
//	avupload token create [--ttl 1h]      (1h by default; 0 never expires)
//	avupload token list [--sort-by createdAt|ttl] [--order asc|desc] [--page N --page-size N | --all]
//	avupload token get TOKEN
//	avupload token delete TOKEN
//	avupload upload --token TOKEN [--chunk-size 50MiB] [--concurrency auto|N] [--http2] [--state-file PATH] FILE|-
//	avupload upload [--token TOKEN] [--jobs J] [--journal DIR [--repair-journal]] [--shard K/N|auto/N|auto] [--include GLOB]... PATH...
//	avupload watch --journal DIR [--settle 5s] [--rescan 1m] [--jobs J] [--include GLOB]... FOLDER
//	avupload sandbox --addr 127.0.0.1:8080 --api-key KEY [--data-dir DIR] [--rate-limit] [--fault SPEC]... [--tls | --tls-cert FILE --tls-key FILE] [--cors-origin ORIGIN]... [--memory-budget SIZE] [--body-idle-timeout DUR] [--max-connections N]
//
// The token commands read the API key from APIVIDEO_API_KEY (or --api-key);
// upload reads the token from --token or AVUPLOAD_TOKEN. Exit status: 0 on
// success, 1 when the API or the I/O failed, 2 on a usage error (a journal
// or state file another run holds included), 130 when interrupted by SIGINT
// or SIGTERM, or when a batch's standard output is closed.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}, os.Getenv))
}
