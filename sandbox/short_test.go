//go:build !long

package sandbox_test

// concurrentUploads is how many uploads TestConcurrentChunkedUploads runs
// at once in `make test`: 8, 80 MiB in all, enough for every chunk of one
// upload to meet another upload's on two cores. `make test-long` runs 32.
const concurrentUploads = 8
