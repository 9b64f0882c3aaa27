package wrapper_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/avupload/avupload/wrapper"
)

func ExampleClient_Upload() {
	sb, srv := startSandbox()
	defer srv.Close()
	token, err := sb.CreateToken(0) // in real code, minted by your backend
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	// 12 MiB in 5 MiB chunks: three requests, the state saved after each.
	video := bytes.Repeat([]byte("avupload"), 12<<20/8)
	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL)) // no API key needed
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Upload(context.Background(), token, wrapper.ReaderAt(bytes.NewReader(video), int64(len(video))),
		&wrapper.UploadOptions{
			ChunkSize: wrapper.MinChunkSize,
			FileName:  "talk.mp4",
			Store:     wrapper.NewStateFile(filepath.Join(dir, "talk.state")),
		})
	if err != nil {
		log.Fatal(err)
	}

	sum := sha256.Sum256(video)
	stored, _ := sb.Video(res.Video.VideoID)
	fmt.Println(res.Video.Title, res.Chunks, "chunks")
	fmt.Println("sha256 matches:", res.SHA256 == hex.EncodeToString(sum[:]) && stored.SHA256 == res.SHA256)
	// Output:
	// talk.mp4 3 chunks
	// sha256 matches: true
}
