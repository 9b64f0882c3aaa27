//go:build !unix && !windows

package sandbox

import "os"

// tryLock cannot lock on this platform: the directory is not protected.
func tryLock(*os.File) error { return nil }
