package e2e

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain gives the package a scratch directory for the avupload binary
// and fails the package when a test leaves a goroutine behind: every server,
// client pool and upload the tests start must be gone at the end.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "avupload-e2e-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	goleak.VerifyTestMain(cleanupM{m: m, dir: dir})
}

// cleanupM removes the scratch directory once the tests ran.
type cleanupM struct {
	m   *testing.M
	dir string
}

func (c cleanupM) Run() int {
	defer os.RemoveAll(c.dir)
	return c.m.Run()
}
