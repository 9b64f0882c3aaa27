// Command worker runs the workers of a library migration: an upload worker
// (no API key: uploads with the tokens the workflow hands it) and, when
// AVUPLOAD_API_KEY is set, a control worker that runs the Migrate workflow
// and mints and deletes the upload tokens.
//
//	AVUPLOAD_API_KEY=... worker -root /mnt/library          # both
//	worker -root /mnt/library                                # uploads only
//
// Every upload worker must see the library at -root: a shared filesystem
// (NFS, SMB, a CSI volume) mounted on every machine, anywhere.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	avtemporal "github.com/avupload/avupload/contrib/temporal"
	"github.com/avupload/avupload/wrapper"
)

func main() {
	var (
		hostPort   = flag.String("temporal", client.DefaultHostPort, "Temporal frontend `host:port`")
		namespace  = flag.String("namespace", client.DefaultNamespace, "Temporal namespace")
		uploads    = flag.String("upload-queue", "avupload-uploads", "task queue of the upload workers")
		control    = flag.String("control-queue", "avupload-control", "task queue of the workflow and of the workers that hold the API key")
		root       = flag.String("root", "", "where this machine mounts the shared library (required)")
		apiURL     = flag.String("api", "https://sandbox.api.video", "API base `URL` (https://ws.api.video in production)")
		chunkMiB   = flag.Int64("chunk-mib", 50, "chunk size in MiB (5 to 128)")
		conc       = flag.Int("concurrency", 4, "chunks in flight per file")
		files      = flag.Int("files", 4, "files this worker uploads at once")
		perSecond  = flag.Float64("files-per-second", 0.5, "files started per second across every upload worker of the queue (the API takes 40 uploads a minute on the sandbox, 100 in production: each chunk is one)")
		noUploader = flag.Bool("no-uploads", false, "run only the control worker (needs AVUPLOAD_API_KEY)")
	)
	flag.Parse()
	key := os.Getenv("AVUPLOAD_API_KEY")
	if *root == "" && !*noUploader {
		log.Fatal("worker: -root is required: where this machine mounts the library")
	}
	if *noUploader && key == "" {
		log.Fatal("worker: -no-uploads runs only the control worker, which needs AVUPLOAD_API_KEY")
	}
	tc, err := client.Dial(client.Options{HostPort: *hostPort, Namespace: *namespace})
	if err != nil {
		log.Fatalf("worker: connecting to Temporal at %s: %v", *hostPort, err)
	}
	defer tc.Close()

	var workers []worker.Worker
	if key != "" {
		api, err := wrapper.New(wrapper.WithBaseURL(*apiURL), wrapper.WithAPIKey(key))
		if err != nil {
			log.Fatalf("worker: %v", err)
		}
		w := worker.New(tc, *control, worker.Options{})
		avtemporal.RegisterWorkflow(w)
		(&avtemporal.Minter{Client: api}).Register(w)
		workers = append(workers, w)
	}
	if !*noUploader {
		// The upload client holds no key: a worker that only uploads
		// cannot mint tokens nor touch anything else of the account.
		api, err := wrapper.New(wrapper.WithBaseURL(*apiURL))
		if err != nil {
			log.Fatalf("worker: %v", err)
		}
		w := worker.New(tc, *uploads, worker.Options{
			DisableWorkflowWorker:              true,
			MaxConcurrentActivityExecutionSize: *files,
			// The server holds this limit for the task queue, across all
			// its workers: it bounds how many files start per second,
			// whatever the number of workers.
			TaskQueueActivitiesPerSecond: *perSecond,
		})
		(&avtemporal.Uploader{Client: api, Root: *root, ChunkSize: *chunkMiB << 20, Concurrency: *conc}).Register(w)
		workers = append(workers, w)
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			log.Fatalf("worker: %v", err)
		}
	}
	fmt.Fprintf(os.Stderr, "worker: running (%d worker(s)); Ctrl-C stops\n", len(workers))
	<-worker.InterruptCh()
	for _, w := range workers {
		w.Stop()
	}
}
