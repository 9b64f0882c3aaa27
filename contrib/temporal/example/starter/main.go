// Command starter lists a library into a manifest and starts its
// migration, then prints the migration's progress until it ends.
//
//	starter -root /mnt/library -dir videos -exclude '*.tmp' -id library-2026
//
// It needs no API key: the workflow mints the tokens on the workers that
// hold it. With AVUPLOAD_TOKEN set, that token is used as it is (no
// minting; it must outlive the migration).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	avtemporal "github.com/avupload/avupload/contrib/temporal"
	"github.com/avupload/avupload/wrapper/batch"
)

type patterns []string

func (p *patterns) String() string     { return strings.Join(*p, ",") }
func (p *patterns) Set(s string) error { *p = append(*p, s); return nil }

func main() {
	var include, exclude patterns
	var (
		hostPort = flag.String("temporal", client.DefaultHostPort, "Temporal frontend `host:port`")
		ns       = flag.String("namespace", client.DefaultNamespace, "Temporal namespace")
		uploads  = flag.String("upload-queue", "avupload-uploads", "task queue of the upload workers")
		control  = flag.String("control-queue", "avupload-control", "task queue of the workflow and of the workers that hold the API key")
		root     = flag.String("root", "", "where this machine mounts the shared library (required)")
		dir      = flag.String("dir", ".", "directory under -root to migrate")
		id       = flag.String("id", "", "workflow ID of the migration (required; starting it again is refused)")
		inFlight = flag.Int("in-flight", avtemporal.DefaultMaxInFlight, "files uploading at once, across every worker")
		ttl      = flag.Duration("token-ttl", avtemporal.DefaultTokenTTL, "life of each upload token the workflow mints")
		noWait   = flag.Bool("no-wait", false, "start the migration and exit")
	)
	flag.Var(&include, "include", "keep only files whose name matches this pattern (repeatable)")
	flag.Var(&exclude, "exclude", "leave out files whose name matches this pattern (repeatable)")
	flag.Parse()
	if *root == "" || *id == "" {
		log.Fatal("starter: -root and -id are required")
	}
	rel := filepath.ToSlash(filepath.Clean(*dir))
	if !filepath.IsLocal(filepath.FromSlash(rel)) && rel != "." {
		log.Fatalf("starter: -dir %s is not inside -root", *dir)
	}
	// The manifest goes on the shared filesystem, beside the library, so
	// that every upload worker can read it.
	manifest := filepath.ToSlash(filepath.Join(".avupload", *id+".manifest.jsonl"))
	if err := os.MkdirAll(filepath.Join(*root, ".avupload"), 0o755); err != nil {
		log.Fatalf("starter: %v", err)
	}
	f, err := os.Create(filepath.Join(*root, filepath.FromSlash(manifest)))
	if err != nil {
		log.Fatalf("starter: %v", err)
	}
	n, err := avtemporal.WriteManifest(f, *root, rel, batch.PlanOptions{
		Include: include, Exclude: exclude,
		// The manifests and outcomes are not part of the library.
		Skip: []string{filepath.Join(*root, ".avupload")},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Fatalf("starter: listing %s: %v", *dir, err)
	}
	fmt.Printf("starter: %d files listed in %s\n", n, manifest)

	tc, err := client.Dial(client.Options{HostPort: *hostPort, Namespace: *ns})
	if err != nil {
		log.Fatalf("starter: connecting to Temporal at %s: %v", *hostPort, err)
	}
	defer tc.Close()
	ctx := context.Background()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: *id, TaskQueue: *control}, avtemporal.WorkflowName,
		avtemporal.MigrateInput{
			Manifest:    manifest,
			Outcomes:    filepath.ToSlash(filepath.Join(".avupload", *id+".outcomes")),
			MaxInFlight: *inFlight,
			Token:       os.Getenv("AVUPLOAD_TOKEN"),
			TokenTTL:    *ttl,
			UploadQueue: *uploads,
			MintQueue:   *control,
		})
	if err != nil {
		log.Fatalf("starter: %v", err)
	}
	fmt.Printf("starter: migration %s started\n", run.GetID())
	if *noWait {
		return
	}
	done := make(chan error, 1)
	var res avtemporal.MigrateResult
	go func() { done <- run.Get(ctx, &res) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Fatalf("starter: the migration failed: %v", err)
			}
			p := res.Progress
			fmt.Printf("starter: done: %d files (%d bytes) uploaded, %d failed\n", p.FilesDone, p.BytesDone, p.FilesFailed)
			for _, o := range res.Failed {
				fmt.Printf("  %s: %s\n", o.Path, o.Error)
			}
			if p.FilesFailed > 0 {
				os.Exit(1)
			}
			return
		case <-tick.C:
			v, err := tc.QueryWorkflow(ctx, run.GetID(), "", avtemporal.QueryProgress)
			var p avtemporal.Progress
			if err == nil {
				err = v.Get(&p)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "starter: progress: %v\n", err)
				continue
			}
			fmt.Printf("starter: %d/%d files, %d/%d bytes, %d failed, %d in flight\n",
				p.FilesDone, p.FilesTotal, p.BytesDone, p.BytesTotal, p.FilesFailed, p.FilesInFlight)
		}
	}
}
