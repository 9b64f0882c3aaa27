//go:build !long

package e2e

// promiseCases is how many cases TestPromise draws in `make test`: about
// 30 seconds of them (see doc.go); `make test-long` draws more.
const promiseCases = 16
