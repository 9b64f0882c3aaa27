// Command migrate runs a library migration on Temporal: its workers, and
// the starter that lists the library and starts the workflow.
//
//	AVUPLOAD_API_KEY=... migrate worker -no-uploads       # the control worker: the workflow, token minting
//	migrate worker -root /mnt/library                     # an upload worker (no key), on every machine
//	migrate start -root /mnt/library -dir videos -id library-2026
//
// Every upload worker must see the library at -root: a shared filesystem
// (NFS, SMB, a volume) mounted on every machine, anywhere. The starter
// writes the manifest under -root/.avupload, where the workers read it and
// write the outcomes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	avtemporal "github.com/avupload/avupload/contrib/temporal"
	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

const usage = `usage: migrate worker [flags]   run workers (upload; control too with AVUPLOAD_API_KEY)
       migrate start [flags]    list a library and start its migration`

// run runs the command args (without the program name); getenv reads the
// environment.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "worker":
		return runWorker(ctx, args[1:], getenv, out)
	case "start":
		return runStart(ctx, args[1:], getenv, out)
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// common are the flags of both commands.
type common struct {
	hostPort, namespace, uploads, control, root string
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.hostPort, "temporal", client.DefaultHostPort, "Temporal frontend `host:port`")
	fs.StringVar(&c.namespace, "namespace", client.DefaultNamespace, "Temporal namespace")
	fs.StringVar(&c.uploads, "upload-queue", "avupload-uploads", "task queue of the upload workers")
	fs.StringVar(&c.control, "control-queue", "avupload-control", "task queue of the workflow and of the workers that hold the API key")
	fs.StringVar(&c.root, "root", "", "where this machine mounts the shared library")
}

func (c *common) dial() (client.Client, error) {
	tc, err := client.Dial(client.Options{HostPort: c.hostPort, Namespace: c.namespace})
	if err != nil {
		return nil, fmt.Errorf("connecting to Temporal at %s: %w", c.hostPort, err)
	}
	return tc, nil
}

func runWorker(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate worker", flag.ContinueOnError)
	var c common
	c.flags(fs)
	apiURL := fs.String("api", "https://sandbox.api.video", "API base `URL` (https://ws.api.video in production)")
	chunkMiB := fs.Int64("chunk-mib", 50, "chunk size in MiB, 5 to 128")
	conc := fs.Int("concurrency", 4, "chunks in flight per file")
	files := fs.Int("files", 4, "files this worker uploads at once")
	perSecond := fs.Float64("files-per-second", 0.5, "files started per second across every upload worker of the queue: the API takes 40 uploads a minute on the sandbox, 100 in production, and each chunk is one")
	noUploads := fs.Bool("no-uploads", false, "run only the control worker (needs AVUPLOAD_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key := getenv("AVUPLOAD_API_KEY")
	switch {
	case *noUploads && key == "":
		return errors.New("-no-uploads runs only the control worker, which needs AVUPLOAD_API_KEY")
	case !*noUploads && c.root == "":
		return errors.New("-root is required: where this machine mounts the library")
	}
	tc, err := c.dial()
	if err != nil {
		return err
	}
	defer tc.Close()

	var workers []worker.Worker
	if key != "" {
		api, err := wrapper.New(wrapper.WithBaseURL(*apiURL), wrapper.WithAPIKey(key))
		if err != nil {
			return err
		}
		w := worker.New(tc, c.control, worker.Options{})
		avtemporal.RegisterWorkflow(w)
		(&avtemporal.Minter{Client: api}).Register(w)
		workers = append(workers, w)
	}
	if !*noUploads {
		// The upload client holds no key: a worker that only uploads can
		// neither mint tokens nor touch anything else of the account.
		api, err := wrapper.New(wrapper.WithBaseURL(*apiURL))
		if err != nil {
			return err
		}
		w := worker.New(tc, c.uploads, worker.Options{
			DisableWorkflowWorker:              true,
			MaxConcurrentActivityExecutionSize: *files,
			// The Temporal server holds this limit for the task queue,
			// across all its workers: it bounds how many files start per
			// second, however many workers there are.
			TaskQueueActivitiesPerSecond: *perSecond,
		})
		(&avtemporal.Uploader{Client: api, Root: c.root, ChunkSize: *chunkMiB << 20, Concurrency: *conc}).Register(w)
		workers = append(workers, w)
	}
	for i, w := range workers {
		if err := w.Start(); err != nil {
			for _, started := range workers[:i] {
				started.Stop()
			}
			return err
		}
	}
	fmt.Fprintf(out, "migrate: %d worker(s) running; Ctrl-C stops them\n", len(workers))
	<-ctx.Done()
	for _, w := range workers {
		w.Stop()
	}
	return nil
}

type patterns []string

func (p *patterns) String() string     { return strings.Join(*p, ",") }
func (p *patterns) Set(s string) error { *p = append(*p, s); return nil }

func runStart(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate start", flag.ContinueOnError)
	var c common
	c.flags(fs)
	var include, exclude patterns
	fs.Var(&include, "include", "keep only the files whose name matches this `pattern` (repeatable)")
	fs.Var(&exclude, "exclude", "leave out the files whose name matches this `pattern` (repeatable)")
	dir := fs.String("dir", ".", "directory under -root to migrate")
	id := fs.String("id", "", "workflow ID of the migration (required; once used, an ID is refused: a second migration of the same files would upload them again)")
	inFlight := fs.Int("in-flight", avtemporal.DefaultMaxInFlight, "files uploading at once, across every worker")
	ttl := fs.Duration("token-ttl", avtemporal.DefaultTokenTTL, "life of each upload token the workflow mints")
	every := fs.Duration("progress-every", 5*time.Second, "how often to print the progress")
	noWait := fs.Bool("no-wait", false, "start the migration and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.root == "" || *id == "" {
		return errors.New("-root and -id are required")
	}
	// The manifest goes on the shared filesystem, beside the library, so
	// that every upload worker reads the same one.
	meta := filepath.Join(c.root, ".avupload")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return err
	}
	manifest := ".avupload/" + *id + ".manifest.jsonl"
	// Never over a running migration's manifest.
	f, err := os.OpenFile(filepath.Join(c.root, filepath.FromSlash(manifest)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("migration %s was started already (%s exists): pick another -id, or remove that file if the start failed", *id, manifest)
	}
	if err != nil {
		return err
	}
	n, err := avtemporal.WriteManifest(f, c.root, filepath.ToSlash(*dir), batch.PlanOptions{
		Include: include, Exclude: exclude,
		Skip: []string{meta}, // the manifests and outcomes are not videos
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", *dir, err)
	}
	fmt.Fprintf(out, "migrate: %d files listed in %s\n", n, manifest)

	tc, err := c.dial()
	if err != nil {
		return err
	}
	defer tc.Close()
	wr, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: *id, TaskQueue: c.control,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, avtemporal.WorkflowName,
		avtemporal.MigrateInput{
			Manifest:    manifest,
			Outcomes:    ".avupload/" + *id + ".outcomes",
			MaxInFlight: *inFlight,
			// With AVUPLOAD_TOKEN set, that token is used as it is: nothing
			// is minted; it must outlive the migration.
			Token:       getenv("AVUPLOAD_TOKEN"),
			TokenTTL:    *ttl,
			UploadQueue: c.uploads,
			MintQueue:   c.control,
		})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "migrate: migration %s started\n", wr.GetID())
	if *noWait {
		return nil
	}
	done := make(chan error, 1)
	var res avtemporal.MigrateResult
	go func() { done <- wr.Get(ctx, &res) }()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("the migration failed: %w", err)
			}
			p := res.Progress
			fmt.Fprintf(out, "migrate: done: %d files (%d bytes) uploaded, %d failed; outcomes in .avupload/%s.outcomes\n",
				p.FilesDone, p.BytesDone, p.FilesFailed, *id)
			for _, o := range res.Failed {
				fmt.Fprintf(out, "  %s: %s\n", o.Path, o.Error)
			}
			if p.FilesFailed > 0 {
				return fmt.Errorf("%d files failed", p.FilesFailed)
			}
			return nil
		case <-tick.C:
			v, err := tc.QueryWorkflow(ctx, wr.GetID(), "", avtemporal.QueryProgress)
			var p avtemporal.Progress
			if err == nil {
				err = v.Get(&p)
			}
			if err != nil {
				fmt.Fprintf(out, "migrate: progress: %v\n", err)
				continue
			}
			fmt.Fprintf(out, "migrate: %d/%d files, %d/%d bytes, %d failed, %d in flight\n",
				p.FilesDone, p.FilesTotal, p.BytesDone, p.BytesTotal, p.FilesFailed, p.FilesInFlight)
		}
	}
}
