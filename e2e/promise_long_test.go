//go:build long

package e2e

import "testing"

// promiseCases is how many cases the promise checker draws with the tag
// long: a few minutes of them.
const promiseCases = 120

// TestLongPromise is TestPromise with more cases.
func TestLongPromise(t *testing.T) { TestPromise(t) }
