//go:build !long

package e2e

// The crash runs of `make test`: four chunks, the last one short, killed at
// eight random points. Each run proves what a long one does (one complete
// video with the source's SHA-256, at most one chunk sent twice per crash);
// `make test-long` tries more kill points over more chunks.
const (
	crashSize = 3*crashChunk + 12345
	crashRuns = 8
)
