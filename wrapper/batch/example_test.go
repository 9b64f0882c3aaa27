package batch_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

// Example uploads a directory with a journal, then runs again: the second
// run skips every file the first one recorded.
func Example() {
	// A local sandbox stands in for api.video here.
	sb, err := sandbox.New()
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	defer srv.Close()
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithAPIKey(sandbox.DefaultAPIKey))
	if err != nil {
		log.Fatal(err)
	}
	defer client.CloseIdleConnections()

	// A folder of clips, and a journal beside it.
	tmp, err := os.MkdirTemp("", "batch-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	clips := filepath.Join(tmp, "clips")
	for _, name := range []string{"a.mp4", "b.mp4", "notes.txt", "sub/c.mp4"} {
		path := filepath.Join(clips, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("video bytes of "+name), 0o600); err != nil {
			log.Fatal(err)
		}
	}

	files, err := batch.Plan([]string{clips}, batch.PlanOptions{Include: []string{"*.mp4"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(f.ShardKey, f.Size)
	}

	for run := 1; run <= 2; run++ {
		journal, err := batch.OpenJournal(filepath.Join(tmp, "journal"))
		if err != nil {
			log.Fatal(err)
		}
		// With the API key and no Token, the batch mints its own upload
		// tokens and deletes them at the end.
		res, err := batch.Upload(context.Background(), client, files, &batch.Options{Journal: journal})
		if err != nil {
			log.Fatal(err)
		}
		if err := journal.Close(); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("run %d: %d uploaded, %d skipped, %d failed\n", run, res.Uploaded, res.Skipped, res.Failed)
	}
	// Output:
	// a.mp4 20
	// b.mp4 20
	// sub/c.mp4 24
	// run 1: 3 uploaded, 0 skipped, 0 failed
	// run 2: 0 uploaded, 3 skipped, 0 failed
}

// ExampleWalk plans a folder as a real library holds it: the videos are
// listed, the rest is left out with its reason, and a problem (here an
// empty file is not one) would not stop the walk.
func ExampleWalk() {
	tmp, err := os.MkdirTemp("", "batch-walk-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for name, content := range map[string]string{
		"a.mp4": "video", ".DS_Store": "finder", "._a.mp4": "appledouble", ".cache/x.mp4": "hidden", "empty.mp4": "",
	} {
		path := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			log.Fatal(err)
		}
	}

	res, err := batch.Walk([]string{tmp}, batch.PlanOptions{})
	if err != nil {
		log.Fatal(err) // only a path named that is missing, or bad options
	}
	for _, f := range res.Files {
		fmt.Println("upload", f.ShardKey, f.Size)
	}
	for _, l := range res.LeftOut {
		fmt.Println("left out", filepath.Base(l.Path), l.Reason, l.Reason.Problem())
	}
	fmt.Println("problems:", res.Err())
	// Output:
	// upload a.mp4 5
	// left out .DS_Store system false
	// left out ._a.mp4 system false
	// left out .cache hidden false
	// left out empty.mp4 empty false
	// problems: <nil>
}
